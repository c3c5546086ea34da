// The "Scale-out over RabbitMQ" section of docs/performance.md from bench/bus.sh's raw results.
//
//   node bench/lib/bus-report.mjs <results>/bus <out.md> "<command>"   write (or replace) the section
//   node bench/lib/bus-report.mjs --one <setup dir>                     one line for bus.sh's log
//   node bench/lib/bus-report.mjs --bind <bind dir>                     one line for bus.sh's log
//
// The rest of the page is left as it is (bench/lib/report.mjs keeps this section too, as one it
// does not generate).

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execSync } from "node:child_process";
import { loadgenFiles, readJson, sum } from "./common.mjs";

const TITLE = "Scale-out over RabbitMQ (bus)";
const exists = (f) => fs.existsSync(f) && fs.statSync(f).size > 0;
const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "n/a");
const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "n/a");
const verdict = (ok) => (ok ? "**met**" : "**not met**");

// Cumulative telemetries received per load generator, from its progress lines: [{ms, n}].
function progress(file) {
  return fs
    .readFileSync(file, "utf8")
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
    .map((o) => ({ ms: o.unix_ms, n: o.telemetries }));
}
function countAt(s, ms) {
  if (!s.length) return NaN;
  if (ms <= s[0].ms) return s[0].n;
  for (let i = 1; i < s.length; i++) {
    if (ms <= s[i].ms) return s[i - 1].n + ((s[i].n - s[i - 1].n) * (ms - s[i - 1].ms)) / Math.max(1, s[i].ms - s[i - 1].ms);
  }
  return s[s.length - 1].n;
}

// Prometheus text: the value of a sample (name with its labels as written), summed over lines.
function metric(text, name) {
  let v = NaN;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/);
    if (m && m[1] === name) v = (Number.isNaN(v) ? 0 : v) + Number(m[3]);
  }
  return v;
}
function histogram(text, name) {
  const buckets = [];
  for (const line of text.split("\n")) {
    const m = line.match(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}\\s+(\\S+)`));
    if (m) buckets.push({ le: m[1] === "+Inf" ? Infinity : Number(m[1]), n: Number(m[2]) });
  }
  const count = metric(text, `${name}_count`);
  const total = metric(text, `${name}_sum`);
  const quantile = (q) => {
    const b = buckets.find((x) => x.n >= q * count);
    return b ? b.le : NaN;
  };
  return { count, sum: total, mean: total / count, p50: quantile(0.5), p99: quantile(0.99) };
}
const readText = (f) => (exists(f) ? fs.readFileSync(f, "utf8") : "");

// --- one setup --------------------------------------------------------------------------------
export function summarizeSetup(dir) {
  const s = readJson(path.join(dir, "setup.json"));
  const pub = exists(path.join(dir, "publish.json")) ? readJson(path.join(dir, "publish.json")) : null;
  const lgs = loadgenFiles(dir, "json").filter(exists).map(readJson);
  const series = loadgenFiles(dir, "log").map(progress);
  const w0 = s.window_start * 1000;
  const w1 = s.window_end * 1000;
  const windowS = s.window_end - s.window_start;
  const delivered = sum(series.map((x) => countAt(x, w1) - countAt(x, w0)));
  const cpu = s.cpu_after_s.map((a, i) => a - s.cpu_before_s[i]);
  const cpuSum = sum(cpu);
  const broker = s.broker_pid ? s.broker_cpu_after_s - s.broker_cpu_before_s : NaN;
  const brokerQuietShare = s.broker_pid ? (s.broker_quiet_cpu_after_s - s.broker_quiet_cpu_before_s) / (s.quiet_end - s.quiet_start) : NaN;
  const accepted = pub?.accepted ?? 0;
  const perDevice = s.subscribers / s.devices;
  const bys = lgs.map((r) => r.telemetries?.by_step?.["1"] ?? { received: 0 });
  const received = sum(bys.map((b) => b.received ?? 0));
  const expected = accepted * perDevice;
  const deliveries = [];
  for (let i = 0; i < s.instances; i++) {
    const before = readText(path.join(dir, `metrics-${i}-before.txt`));
    const after = readText(path.join(dir, `metrics-${i}-after.txt`));
    if (before && after) deliveries.push(metric(after, "kamea_bus_deliveries_total") - metric(before, "kamea_bus_deliveries_total"));
  }
  return {
    dir,
    setup: s,
    kind: s.kind,
    instances: s.instances,
    subscribed: sum(lgs.map((r) => r.subscribe?.ok ?? 0)),
    subscribe_errors: sum(lgs.map((r) => r.subscribe?.errors ?? 0)),
    connect_errors: sum(lgs.map((r) => r.errors ?? 0)),
    accepted,
    in_rate: pub?.rate_achieved ?? NaN,
    publisher_errors: pub?.errors ?? NaN,
    request_p50_ms: pub?.request_latency?.p50_ms,
    request_p99_ms: pub?.request_latency?.p99_ms,
    max_behind_s: pub?.max_behind_s,
    window_s: windowS,
    delivered,
    out_rate: delivered / windowS,
    received,
    expected,
    lost: expected - received,
    gaps: sum(lgs.map((r) => r.telemetries?.gaps ?? 0)),
    out_of_order: sum(lgs.map((r) => r.telemetries?.out_of_order ?? 0)),
    p50_ms: Math.max(...bys.map((b) => b.p50_ms ?? NaN)),
    p99_ms: Math.max(...bys.map((b) => b.p99_ms ?? NaN)),
    p999_ms: Math.max(...bys.map((b) => b.p999_ms ?? NaN)),
    cpu,
    cpu_sum_s: cpuSum,
    cpu_share: cpuSum / windowS,
    us_per_msg: (cpuSum / delivered) * 1e6,
    broker_cpu_s: broker,
    broker_share: broker / windowS,
    broker_us_per_telemetry: (broker / accepted) * 1e6,
    broker_quiet_share: brokerQuietShare,
    total_us_per_msg: ((cpuSum + (Number.isFinite(broker) ? broker : 0)) / delivered) * 1e6,
    rss_kib: s.rss_kib,
    idle_rss_kib: s.idle_rss_kib,
    deliveries,
    connect_subscribe_s: Math.max(...lgs.map((r) => r.subscribe?.last_subscribed_unix_ms ?? NaN)) / 1000 - Math.min(...lgs.map((r) => r.started_unix_ms)) / 1000,
  };
}

// --- binding and a lost instance --------------------------------------------------------------
export function summarizeBind(dir) {
  const b = readJson(path.join(dir, "bind.json"));
  const lgs = loadgenFiles(dir, "json").filter(exists).map(readJson);
  const m = readText(path.join(dir, "metrics.txt"));
  const out = {
    dir,
    count: b.count,
    bus: b.bus === 1,
    subscribed: sum(lgs.map((r) => r.subscribe?.ok ?? 0)),
    errors: sum(lgs.map((r) => r.subscribe?.errors ?? 0)), // connection drops follow the kill: not counted
    all_acks_s: (Math.max(...lgs.map((r) => r.subscribe?.last_subscribed_unix_ms ?? NaN)) - Math.min(...lgs.map((r) => r.started_unix_ms))) / 1000,
    bindings: metric(m, "kamea_bus_bindings"),
    bind: histogram(m, "kamea_bus_bind_duration_seconds"),
    rss_kib: b.rss_kib,
  };
  const killFile = path.join(dir, "kill.json");
  if (exists(killFile)) {
    const k = readJson(killFile);
    const killMs = k.kill_at * 1000;
    const tsv = (name) => readText(path.join(dir, name))
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split("\t"))
      .map(([t, lat, pending]) => ({ t: Number(t), lat: Number(lat), pending: pending === "pending" }));
    const q = (xs, p) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] : NaN);
    // stall: from the kill until the last answer slower than 100 ms (0 when none)
    const stallOf = (rows) => {
      const slow = rows.filter((r) => r.t >= killMs - 1000 && r.lat > 100);
      return slow.length ? Math.max(0, Math.max(...slow.map((r) => r.t + r.lat)) / 1000 - k.kill_at) : 0;
    };
    const rows = tsv("probe.tsv");
    const binds = tsv("probe-bind.tsv");
    const before = rows.filter((r) => r.t < killMs).map((r) => r.lat).sort((x, y) => x - y);
    const bindsBefore = binds.filter((r) => r.t < killMs).map((r) => r.lat).sort((x, y) => x - y);
    const after = rows.filter((r) => r.t >= killMs - 1000);
    const slow = after.filter((r) => r.lat > 100);
    const baseRate = (k.broker_cpu_at_kill - k.broker_cpu_base_start) / (k.kill_at - k.base_start);
    out.kill = {
      base_p50_ms: q(before, 0.5),
      base_p99_ms: q(before, 0.99),
      max_ms: Math.max(0, ...after.map((r) => r.lat)),
      // from the kill until the last slow message (> 100 ms) was confirmed
      stall_s: stallOf(rows),
      bind_base_p50_ms: q(bindsBefore, 0.5),
      bind_stall_s: stallOf(binds),
      bind_max_ms: Math.max(0, ...binds.filter((r) => r.t >= killMs - 1000).map((r) => r.lat)),
      slow_messages: slow.length,
      still_stalled: k.still_stalled === 1,
      pending_at_end: rows.filter((r) => r.pending).length,
      watched_s: k.watch_end - k.kill_at,
      broker_extra_cpu_s: k.broker_cpu_end - k.broker_cpu_at_kill - baseRate * (k.watch_end - k.kill_at),
      watch_limit_s: k.watch_limit_s,
    };
  }
  return out;
}

const setupLabel = {
  http: "1 kamea-wss, no broker (HTTP path)",
  kamea1: "1 kamea-wss, RabbitMQ",
  kamea3: "3 kamea-wss, RabbitMQ",
  "node-redis3": "3 Node.js socket.io, Redis adapter",
  "node-amqp3": "3 Node.js socket.io, RabbitMQ (amqplib)",
};

function oneLine(r) {
  return `in ${int(r.in_rate)}/s, out ${int(r.out_rate)} msgs/s, lost ${int(r.lost)}, instances' CPU ${f(r.us_per_msg, 2)} µs/msg ` +
    `(${f(r.cpu_share * 100, 0)} % of a core), broker ${f(r.broker_us_per_telemetry, 1)} µs/telemetry, p50/p99 ${f(r.p50_ms, 1)}/${f(r.p99_ms, 1)} ms` +
    (r.deliveries.length ? `, bus deliveries per instance ${r.deliveries.map(int).join("/")}` : "");
}
function bindLine(b) {
  let s = `${int(b.subscribed)}/${int(b.count)} subscribed, all acks after ${f(b.all_acks_s, 2)} s`;
  if (b.bus) s += `, bindings ${int(b.bindings)}, bind p50 ≤ ${b.bind.p50 * 1000} ms p99 ≤ ${b.bind.p99 * 1000} ms`;
  if (b.kill) s += `; after SIGKILL: confirms stalled ${f(b.kill.stall_s, 2)} s (max ${int(b.kill.max_ms)} ms), binds ${f(b.kill.bind_stall_s, 2)} s (max ${int(b.kill.bind_max_ms)} ms)${b.kill.still_stalled ? ", still stalled at the end of the watch" : ""}`;
  return s;
}

const args = process.argv.slice(2);
if (args[0] === "--one") {
  console.log(oneLine(summarizeSetup(args[1])));
  process.exit(0);
}
if (args[0] === "--bind") {
  console.log(bindLine(summarizeBind(args[1])));
  process.exit(0);
}
const [resultsDir, outFile, command] = args;
if (!resultsDir || !outFile) {
  console.error("usage: bus-report.mjs <results>/bus <out.md> [command] | --one <dir> | --bind <dir>");
  process.exit(2);
}

// --- the section ------------------------------------------------------------------------------
const dirsOf = (sub) => {
  const d = path.join(resultsDir, sub);
  return fs.existsSync(d) ? fs.readdirSync(d).map((x) => path.join(d, x)).filter((x) => exists(path.join(x, "setup.json")) || exists(path.join(x, "bind.json"))) : [];
};
const setups = Object.fromEntries(dirsOf("setups").map((d) => [path.basename(d), summarizeSetup(d)]));
const order = ["http", "kamea1", "kamea3", "node-redis3", "node-amqp3"].filter((k) => setups[k]);
const few = dirsOf("few").map(summarizeSetup)[0];
const prefetch = dirsOf("prefetch").map(summarizeSetup).sort((a, b) => Number(path.basename(a.dir)) - Number(path.basename(b.dir)));
const binds = dirsOf("bind").map(summarizeBind).sort((a, b) => a.count - b.count || Number(b.bus) - Number(a.bus));
const txt = (f) => readText(path.join(resultsDir, f)).trim();
const sh = (c) => {
  try {
    return execSync(c, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
};

let out = `## ${TITLE}\n\n`;
const first = setups[order[0]];
if (first) {
  const s = first.setup;
  out += `Issue "Scale out over RabbitMQ", Performance. The same load for every setup, one after the other: ${int(s.subscribers)} subscribers over ${int(s.devices)} devices `;
  out += `(${int(s.subscribers / s.devices)} per device), spread evenly over the instances (so every instance has subscribers of every device), `;
  out += `and \`kamea-publish\` posting ${int(s.rate)} telemetries/s in batches of ${s.batch} (${s.pub_connections} connections) to the **first** instance for ${s.step_s} s: `;
  out += `${int(s.rate * s.subscribers / s.devices)} deliveries/s expected. `;
  out += "Through a broker, ingestion answers 202 once the broker confirmed the batch (kamea-wss: publisher confirms; the amqplib server: a confirm channel; the Redis adapter has no confirms: it answers after `PUBLISH`). ";
  out += "CPU is user+system from `/proc/<pid>/stat` over the publisher's window, summed over the instances; the broker is `beam.smp` (RabbitMQ) or `redis-server`. ";
  out += "Latency is publish (the telemetry's `ts`) to receive, the worst load generator process's percentile. RSS at the end of the step.\n\n";
  out += "The Node.js servers are `bench/reference/server.mjs` (socket.io 4.8, default options) with `--bus`: `bench/reference-cluster/redis.mjs` ";
  out += "(`@socket.io/redis-adapter` with node-redis, its README's setup; classic mode, every broadcast reaches every node) or `bench/reference-cluster/amqp.mjs` ";
  out += "(amqplib: per-device bindings on the direct exchange, bound on a room's first local socket before the ack, unbound when socket.io deletes the room, one ack per message, prefetch 200, publisher confirms).\n\n";

  const rows = [
    ["Instances", (r) => r.instances],
    ["Subscribed (errors)", (r) => `${int(r.subscribed)} (${int(r.subscribe_errors + r.connect_errors)})`],
    ["Telemetries/s in (accepted)", (r) => `${int(r.in_rate)} (${int(r.accepted)})`],
    ["**Delivered messages/s**", (r) => `**${int(r.out_rate)}**`],
    ["Lost (expected − received) / out of order", (r) => `${int(r.lost)} / ${int(r.out_of_order)}`],
    ["Instances' CPU (% of one core, sum)", (r) => f(r.cpu_share * 100, 0)],
    ["**Instances' CPU per delivered message (µs, sum)**", (r) => `**${f(r.us_per_msg, 2)}**`],
    ["Per instance (s of CPU)", (r) => r.cpu.map((c) => f(c, 2)).join(" / ")],
    ["Broker CPU (% of one core)", (r) => (Number.isFinite(r.broker_share) ? f(r.broker_share * 100, 0) : "—")],
    ["… of which with no telemetry (% of one core, the 3 s before)", (r) => (Number.isFinite(r.broker_quiet_share) ? f(r.broker_quiet_share * 100, 1) : "—")],
    ["**Broker CPU per telemetry (µs)**", (r) => (Number.isFinite(r.broker_us_per_telemetry) ? `**${f(r.broker_us_per_telemetry, 1)}**` : "—")],
    ["Instances + broker per delivered message (µs)", (r) => f(r.total_us_per_msg, 2)],
    ["Latency p50 / p99 / p99.9 (ms)", (r) => `${f(r.p50_ms, 1)} / ${f(r.p99_ms, 1)} / ${f(r.p999_ms, 1)}`],
    ["Ingestion request p50 / p99 (ms)", (r) => `${f(r.request_p50_ms, 1)} / ${f(r.request_p99_ms, 1)}`],
    ["RSS per instance (MiB)", (r) => r.rss_kib.map((k) => f(k / 1024, 0)).join(" / ")],
    ["Connect+subscribe of all (s)", (r) => f(r.connect_subscribe_s, 1)],
  ];
  out += `| | ${order.map((k) => setupLabel[k]).join(" | ")} |\n|---|${order.map(() => "---:").join("|")}|\n`;
  for (const [title, fn] of rows) out += `| ${title} | ${order.map((k) => fn(setups[k])).join(" | ")} |\n`;
  out += "\n";

  const h = setups.http, k1 = setups.kamea1, k3 = setups.kamea3, nr = setups["node-redis3"], na = setups["node-amqp3"];
  out += "### Against the targets\n\n";
  if (h && k1) {
    const r = k1.us_per_msg / h.us_per_msg;
    out += `- CPU per delivered message through the bus ≤ 1.2× the HTTP path's: one instance ${f(k1.us_per_msg, 2)} against ${f(h.us_per_msg, 2)} µs = **${f(r, 2)}×** — ${verdict(r <= 1.2)}`;
    if (k3) out += ` (three instances: ${f(k3.us_per_msg / h.us_per_msg, 2)}×)`;
    out += ".\n";
  }
  if (k1 && k3) {
    const g = k3.us_per_msg / k1.us_per_msg - 1;
    out += `- The sum of instance CPU per delivered message grows ≤ 10 % from one to three instances: ${f(k1.us_per_msg, 2)} → ${f(k3.us_per_msg, 2)} µs = **${g >= 0 ? "+" : ""}${f(g * 100, 0)} %** — ${verdict(g <= 0.1)}.\n`;
  }
  if (k3 && nr) {
    const r = nr.us_per_msg / k3.us_per_msg;
    out += `- Instance CPU per delivered message ≥ 2.5× less than three Node.js + Redis adapter: ${f(nr.us_per_msg, 2)} against ${f(k3.us_per_msg, 2)} µs = **${f(r, 1)}× less** — ${verdict(r >= 2.5)}.\n`;
  }
  if (k3 && na) {
    const r = na.total_us_per_msg / k3.total_us_per_msg;
    out += `- Instances + broker ≥ 2× less than three Node.js on the same RabbitMQ: ${f(na.total_us_per_msg, 2)} against ${f(k3.total_us_per_msg, 2)} µs per delivered message = **${f(r, 1)}× less** — ${verdict(r >= 2)}.\n`;
    out += `- Broker CPU per telemetry no higher than with the Node.js amqplib servers: ${f(k3.broker_us_per_telemetry, 1)} against ${f(na.broker_us_per_telemetry, 1)} µs — ${verdict(k3.broker_us_per_telemetry <= na.broker_us_per_telemetry)}`;
    out += ` (both are the same broker doing the same routing to three queues, so the two figures differ by the clients' protocol use: acks per message or per batch, the publishers' frames; a difference of a few % is within this shared machine's noise).\n`;
  }
  out += "\n### Reading these figures\n\n";
  if (h && k1) {
    const perTelemetry = ((k1.cpu_sum_s - h.cpu_sum_s) / k1.accepted) * 1e6;
    out += `- Through the broker one instance spends ${f(perTelemetry, 0)} µs more per telemetry than the HTTP path (publish with confirms, consume, ack), `;
    out += `${f((k1.us_per_msg - h.us_per_msg), 1)} µs per delivered message at ${f(k1.setup.subscribers / k1.setup.devices, 0)} subscribers per device: the fewer subscribers per device, the larger the ratio.\n`;
  }
  if (k3) {
    out += `- With three instances every instance has subscribers of every device, so each one consumes every telemetry (bus deliveries ${k3.deliveries.map(int).join(" / ")}) while the deliveries stay the same: `;
    out += `the consume cost is paid three times. The first instance also ingests and publishes: ${k3.cpu.map((c) => f(c, 2)).join(" / ")} s of CPU. `;
    out += "Three instances of two threads each also share the machine's two cores with the broker and the load generators.\n";
  }
  for (const r of [nr, na].filter(Boolean)) {
    if (r.in_rate < 0.95 * r.setup.rate) {
      out += `- ${setupLabel[path.basename(r.dir)]} did not keep up: the publisher got ${int(r.in_rate)} telemetries/s through of ${int(r.setup.rate)} (its 202s come after the confirms), so its figures are at a lower load than the others'; latency p50 ${f(r.p50_ms, 1)} ms.\n`;
    }
  }
  if (nr && k3) {
    out += `- For scale: the Redis broker costs ${f(nr.broker_us_per_telemetry, 1)} µs per telemetry against RabbitMQ's ${f(k3.broker_us_per_telemetry, 1)} µs for kamea-wss.\n`;
  }
  out += "\n";
}

if (few) {
  const s = few.setup;
  out += "### Few subscribers per device: what interest-based routing saves\n\n";
  out += `Three kamea-wss through RabbitMQ, ${int(s.subscribers)} subscribers over ${int(s.devices)} devices (one each, so each instance watches a third of the devices), `;
  out += `${int(s.rate)} telemetries/s for ${s.step_s} s posted to the first instance. Each instance counts what the broker sent it (\`kamea_bus_deliveries_total\` on \`/metrics\`, before and after the step); `;
  out += "a fan-out-to-all design (the Redis adapter, every other socket.io adapter) would send every instance every telemetry.\n\n";
  out += "| instance | bus deliveries | telemetries published | received / published |\n|---|---:|---:|---:|\n";
  few.deliveries.forEach((d, i) => {
    out += `| ${i} | ${int(d)} | ${int(few.accepted)} | ${f(d / few.accepted, 3)} |\n`;
  });
  const total = sum(few.deliveries);
  out += `\nAll three received ${int(total)} messages from the broker where a fan-out to all would have sent ${int(few.accepted * few.instances)}: `;
  out += `**${f((few.accepted * few.instances) / total, 2)}× less**, each instance about ${f(few.accepted / (total / few.instances), 2)}× less than it would have been sent. `;
  out += `Delivered ${int(few.out_rate)} messages/s, lost ${int(few.lost)}, instances' CPU ${f(few.us_per_msg, 2)} µs per delivered message, broker ${f(few.broker_us_per_telemetry, 1)} µs per telemetry, p50/p99 ${f(few.p50_ms, 1)}/${f(few.p99_ms, 1)} ms.\n\n`;
}

if (prefetch.length) {
  const k1 = setups.kamea1;
  const all = [...prefetch.map((p) => [Number(path.basename(p.dir)), p]), ...(k1 ? [[200, k1]] : [])].sort((a, b) => a[0] - b[0]);
  out += "### Prefetch\n\n";
  out += `One kamea-wss through RabbitMQ, the setups' load, \`--amqp-prefetch\` varied (200, the default, is the setup above, ${k1?.setup.step_s ?? "?"} s; the others ${prefetch[0].setup.step_s} s).\n\n`;
  out += "| prefetch | delivered msgs/s | lost | instance µs/msg | broker µs/telemetry | p50 / p99 (ms) |\n|---:|---:|---:|---:|---:|---:|\n";
  for (const [p, r] of all) out += `| ${p} | ${int(r.out_rate)} | ${int(r.lost)} | ${f(r.us_per_msg, 2)} | ${f(r.broker_us_per_telemetry, 1)} | ${f(r.p50_ms, 1)} / ${f(r.p99_ms, 1)} |\n`;
  out += "\n";
}

if (binds.length) {
  out += "### Binding cost, and what a lost instance costs the broker\n\n";
  out += "One kamea-wss through RabbitMQ, N clients subscribing to N distinct devices (one binding each; 19,000 rather than 20,000: one server stays under the machine's 20,000 open files). ";
  out += "*All acks*: from the first connection attempt to the last subscription ack (handshakes included: the row without a broker shows their share). ";
  out += "*Bind*: `kamea_bus_bind_duration_seconds` (a device's first subscriber to the broker's bind-ok; bucket bounds). ";
  out += "Then a probe (`bench/reference-cluster/confirm-probe.mjs`) publishes on the exchange with confirms (one message every 10 ms, a key nobody binds) and binds and unbinds a key of its own (every 100 ms: what a new subscriber's ack waits for) ";
  out += "while the instance is killed with SIGKILL, so the broker deletes its exclusive queue and all its bindings at once: ";
  out += "*stall* is the time from the kill until the last confirm (or bind-ok) slower than 100 ms came back, *slowest* the longest wait, and the broker's extra CPU is its CPU over the watch beyond its rate just before the kill.\n\n";
  out += "| N | broker | subscribed | all acks (s) | bindings | bind p50 / p99 (ms, ≤) | confirm p50 / p99 before (ms) | confirms: stall after SIGKILL (s) / slowest (ms) | binds: p50 before (ms), stall (s) / slowest (ms) | broker extra CPU (s) |\n";
  out += "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const b of binds) {
    const k = b.kill;
    out += `| ${int(b.count)} | ${b.bus ? "RabbitMQ" : "none"} | ${int(b.subscribed)}${b.errors ? ` (${int(b.errors)} errors)` : ""} | ${f(b.all_acks_s, 2)} | ${b.bus ? int(b.bindings) : "—"} | `;
    out += `${b.bus ? `${f(b.bind.p50 * 1000, 1)} / ${f(b.bind.p99 * 1000, 1)}` : "—"} | `;
    const more = k?.still_stalled ? ` (still stalled after ${f(k.watched_s, 0)} s)` : "";
    out += k ? `${f(k.base_p50_ms, 0)} / ${f(k.base_p99_ms, 0)} | ${f(k.stall_s, 2)} / ${int(k.max_ms)}${more} | ${f(k.bind_base_p50_ms, 0)}, ${f(k.bind_stall_s, 2)} / ${int(k.bind_max_ms)} | ${f(k.broker_extra_cpu_s, 2)} |\n` : "— | — | — | — |\n";
  }
  const killed = binds.filter((b) => b.kill && !b.kill.still_stalled);
  if (killed.length) {
    out += `\nAfter the kill: confirms stalled ${killed.map((b) => `${f(b.kill.stall_s, 2)} s`).join(", ")} and binds ${killed.map((b) => `${f(b.kill.bind_stall_s, 2)} s`).join(", ")} `;
    out += `for ${killed.map((b) => int(b.count)).join(", ")} bindings (0: no answer slower than 100 ms). `;
    out += "A confirm stall holds every publisher on the exchange (every instance's ingestion answers its 202s that much later); a bind stall holds the first ack of every new device subscription on every instance, ";
    out += "just when the lost instance's clients reconnect to the others and need bindings there.\n";
    const errs = binds.filter((b) => b.errors);
    if (errs.length) {
      out += `\nSubscription errors at ${errs.map((b) => int(b.count)).join(", ")}: the Management API stand-in's timeouts in a burst of ${errs.map((b) => int(b.count)).join(", ")} authorizations (\`management API timeout\`), not the bus.\n`;
    }
    // --amqp-max-bindings: the most bindings whose loss keeps binds stalled ≤ 3 s (a client's
    // subscription ack still arrives within a usual 5 s ack timeout), from the measured points.
    const ok = killed.filter((b) => b.kill.stall_s <= 3 && b.kill.bind_stall_s <= 3);
    const largest = killed[killed.length - 1];
    out += `\n**--amqp-max-bindings.** Rule: a lost instance may stall the broker's binds and confirms by at most 3 s, so that a subscription's ack still comes within a client's usual 5 s. `;
    out += ok.length
      ? `Measured: the largest N that kept within it is **${int(ok[ok.length - 1].count)}**`
      : "No measured N kept within it";
    out += ` (at ${int(largest.count)}: binds ${f(largest.kill.bind_stall_s, 2)} s, about ${f((largest.kill.bind_stall_s / largest.count) * 1000 * 1000, 0)} ms per 1,000 bindings; confirms ${f(largest.kill.stall_s, 2)} s).\n`;
  }
  out += "\n";
}

out += "### Machine and command\n\n";
out += `- ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${os.release()}, ${f(os.totalmem() / 2 ** 30, 0)} GiB; RabbitMQ ${txt("rabbitmq-version.txt") || "?"}; ${sh("redis-server --version").split(" ").slice(0, 3).join(" ") || "redis-server ?"}; Node.js ${process.version}\n`;
out += `- kamea-wss at commit ${txt("commit.txt") || "?"}, Release build (a copy taken when the run started)\n`;
out += `- Run on ${txt("date.txt")}; load average before:${txt("load-before.txt").replace(/^.*load average:/, "")}, after:${txt("load-after.txt").replace(/^.*load average:/, "")}. `;
out += "**The machine was shared** with other engineers building and testing meanwhile: absolute figures drift, the ratios of one run hold better.\n\n";
out += "```sh\n" + (command ?? "bench/bus.sh") + "\n```\n\n";
out += "What it started, for each setup (ports free at run time):\n\n```sh\n";
for (const k of order) {
  const s = setups[k].setup;
  out += `# ${setupLabel[k]}\n`;
  for (const c of [...s.server_commands, ...s.loadgen_commands, s.publish_command]) out += `${c}\n`;
}
out += "```\n\n";
out += "Raw results: `bench/results/<time>/bus/` (`setups/<setup>/`, `few/`, `prefetch/<n>/`, `bind/<n>/`: `setup.json`|`bind.json`, `loadgen-*.json|log`, `publish.json`, `metrics-*.txt`, `probe.tsv`), not committed.\n\n";

// Replace the section, or put it before "Where the time goes" (or at the end).
let page = fs.existsSync(outFile) ? fs.readFileSync(outFile, "utf8") : "# Performance\n\n";
const parts = page.split(/^(?=## )/m);
const idx = parts.findIndex((p) => p.startsWith(`## ${TITLE}`));
if (idx >= 0) parts[idx] = out;
else {
  const at = parts.findIndex((p) => p.startsWith("## Where the time goes"));
  if (at >= 0) parts.splice(at, 0, out);
  else parts.push((parts[parts.length - 1].endsWith("\n\n") ? "" : "\n") + out);
}
fs.writeFileSync(outFile, parts.join("").trimEnd() + "\n");
