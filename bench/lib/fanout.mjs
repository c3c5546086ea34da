// Figures of the fan-out scenario from the raw results of bench/run.sh
// (<results>/fanout/<server>/: loadgen-<i>.{json,log}, publish-<step>.json, steps.tsv,
// fanout-run.json). The latency and scaling scenarios are fan-out runs too (<results>/latency/
// <server>/, <results>/scaling/kamea-<n>t/): one step, or pinned with taskset.
//
//   node bench/lib/fanout.mjs step <dir> <step>   one line for run.sh: "continue: …" or "stop: …"
//   import { summarizeFanout } from "./fanout.mjs"  for report.mjs
//
// Messages/s out is measured on the subscribers' side over the publisher's window: the
// subscribers print their cumulative count of received telemetries every 250 ms with the wall
// clock (progress lines), interpolated linearly at the window's start and end.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadgenFiles, merge, readJson, readTsv, sum } from "./common.mjs";

// steps.tsv, written by run.sh after each step (no header; the last three columns are missing
// in runs before they were added): the load generators' CPU seconds and the wall seconds
// while the publisher ran, and each server thread's share of the server's CPU meanwhile
// ("50/50", threads under 2 % left out).
const stepColumns = ["step", "target_rate", "server_rss_kib", "server_cpu_total_s", "clients_cpu_s", "clients_wall_s", "thread_shares"];

// Per load generator process: [{ms, n}] sorted by time.
function progressSeries(dir) {
  return loadgenFiles(dir, "log").map((f) =>
    fs
      .readFileSync(f, "utf8")
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return null;
        }
      })
      .filter((o) => o && typeof o.unix_ms === "number" && typeof o.telemetries === "number")
      .map((o) => ({ ms: o.unix_ms, n: o.telemetries }))
      .sort((a, b) => a.ms - b.ms),
  );
}

function countAt(series, ms) {
  if (series.length === 0) return NaN;
  if (ms <= series[0].ms) return series[0].n;
  for (let i = 1; i < series.length; i++) {
    const b = series[i];
    if (ms <= b.ms) {
      const a = series[i - 1];
      return a.n + ((b.n - a.n) * (ms - a.ms)) / Math.max(1, b.ms - a.ms);
    }
  }
  return series[series.length - 1].n;
}

function stepFigures(dir, step, series) {
  const file = path.join(dir, `publish-${step}.json`);
  if (!fs.existsSync(file) || fs.statSync(file).size === 0) return null;
  const pub = readJson(file);
  const windowS = pub.server?.window_s ?? pub.window_s;
  const t0 = pub.start_unix_ms;
  const t1 = t0 + windowS * 1000;
  const delivered = sum(series.map((s) => countAt(s, t1) - countAt(s, t0)));
  const cpu = pub.server?.cpu_s ?? NaN;
  return {
    step,
    target_rate: pub.settings.rate,
    in_rate: pub.rate_achieved,
    accepted: pub.accepted,
    publisher_errors: pub.errors,
    statuses: pub.statuses,
    io_errors: pub.io_errors,
    request_p50_ms: pub.request_latency?.p50_ms,
    request_p99_ms: pub.request_latency?.p99_ms,
    max_behind_s: pub.max_behind_s,
    timed_out: pub.timed_out,
    window_s: windowS,
    delivered_in_window: delivered,
    out_rate: delivered / windowS,
    server_cpu_s: cpu,
    server_cpu_share: cpu / windowS, // of one core
    server_cpu_us_per_msg: (cpu / delivered) * 1e6,
    server_cpu_s_per_100k: (cpu / delivered) * 1e5,
    server_rss_kib_end: pub.server?.rss_kib_end,
  };
}

export function stepVerdict(dir, step) {
  const series = progressSeries(dir);
  const cur = stepFigures(dir, step, series);
  if (!cur) return "stop: no publisher report";
  const prev = step > 1 ? stepFigures(dir, step - 1, series) : null;
  const desc =
    `in ${Math.round(cur.in_rate)}/s (target ${cur.target_rate}), out ${Math.round(cur.out_rate)} msgs/s, ` +
    `server CPU ${cur.server_cpu_s.toFixed(2)} s = ${(cur.server_cpu_share * 100).toFixed(0)} % of a core, ` +
    `${cur.server_cpu_s_per_100k.toFixed(2)} s per 100k, publisher errors ${cur.publisher_errors}`;
  if (cur.publisher_errors > 0) return `stop: publisher errors; ${desc}`;
  if (prev && cur.out_rate < prev.out_rate * 1.1) return `stop: delivered msgs/s stopped growing; ${desc}`;
  return `continue: ${desc}`;
}

export function summarizeFanout(dir) {
  const run = readJson(path.join(dir, "fanout-run.json"));
  const series = progressSeries(dir);
  const loadgens = loadgenFiles(dir, "json").map(readJson);
  const perDevice = run.connections / run.devices;
  const tsv = readTsv(path.join(dir, "steps.tsv"), stepColumns);
  const steps = [];
  for (let step = 1; ; step++) {
    const s = stepFigures(dir, step, series);
    if (!s) break;
    // Latency and per-step delivery from the subscribers' final reports (worst process for
    // the percentiles: the processes are alike, and their histograms are not merged here).
    const bys = loadgens.map((r) => r.telemetries?.by_step?.[String(step)]).filter(Boolean);
    s.received_total = sum(bys.map((b) => b.received));
    s.expected_total = s.accepted * perDevice;
    s.p50_ms = Math.max(...bys.map((b) => b.p50_ms));
    s.p99_ms = Math.max(...bys.map((b) => b.p99_ms));
    s.p999_ms = Math.max(...bys.map((b) => b.p999_ms));
    s.max_ms = Math.max(...bys.map((b) => b.max_ms));
    s.lost = s.expected_total - s.received_total;
    const row = tsv.find((r) => r.step === step);
    s.clients_cpu_s = row?.clients_cpu_s ?? NaN;
    s.clients_cpu_share = s.clients_cpu_s / (row?.clients_wall_s ?? NaN); // of one core
    s.thread_shares = row?.thread_shares ?? "";
    steps.push(s);
  }
  const start = Math.min(...loadgens.map((r) => r.started_unix_ms));
  const lastSub = Math.max(...loadgens.map((r) => r.subscribe?.last_subscribed_unix_ms ?? 0));
  const subscribed = sum(loadgens.map((r) => r.subscribe?.ok ?? 0));
  const best = steps.reduce((m, x) => (x.out_rate > m.out_rate ? x : m), steps[0]);
  return {
    name: run.name,
    run,
    connections: run.connections,
    devices: run.devices,
    established: sum(loadgens.map((r) => r.connections.established)),
    open_at_end: sum(loadgens.map((r) => r.connections.open)),
    errors: sum(loadgens.map((r) => r.errors)),
    failures: merge(loadgens.map((r) => r.failures)),
    drops: merge(loadgens.map((r) => r.drops)),
    subscribed,
    subscribe_errors: sum(loadgens.map((r) => r.subscribe?.errors ?? 0)),
    subscribe_error_kinds: merge(loadgens.map((r) => r.subscribe?.error_kinds)),
    other_events: merge(loadgens.map((r) => r.telemetries?.other_events)),
    out_of_order: sum(loadgens.map((r) => r.telemetries?.out_of_order ?? 0)),
    gaps: sum(loadgens.map((r) => r.telemetries?.gaps ?? 0)),
    received: sum(loadgens.map((r) => r.telemetries?.received ?? 0)),
    connect_subscribe_s: (lastSub - start) / 1000,
    connect_subscribe_rate: subscribed / ((lastSub - start) / 1000),
    cpu_connect_subscribe_s: run.ready_cpu_s - run.idle_cpu_s,
    idle_rss_kib: run.idle_rss_kib,
    ready_rss_kib: run.ready_rss_kib,
    rss_per_subscribed_conn_kib: (run.ready_rss_kib - run.idle_rss_kib) / subscribed,
    loadgen_cpu_s: sum(loadgens.map((r) => r.loadgen.cpu_s)),
    steps,
    max_out_rate: best?.out_rate ?? NaN,
    best_step: best, // the step with the most delivered messages/s
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [cmd, dir, step] = process.argv.slice(2);
  if (cmd === "step") {
    console.log(stepVerdict(dir, Number(step)));
  } else if (cmd === "summary") {
    console.log(JSON.stringify(summarizeFanout(dir), null, 2));
  } else {
    console.error("usage: fanout.mjs step <dir> <step> | summary <dir>");
    process.exit(2);
  }
}
