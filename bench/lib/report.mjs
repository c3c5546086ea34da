// Turns the raw results of bench/run.sh into docs/performance.md (and summary.json beside the
// raw data).   node bench/lib/report.mjs <results-dir> <out.md> "<command>"
//
// One section per scenario (idle, fanout, latency, large, scaling); the section of a scenario
// this run did not measure is carried over from the previous page, and so are the sections this
// script does not write (e.g. "Where the time goes").

import { execSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadgenFiles, median, merge, readJson, readTsv, runDirs, serverLabel, sum } from "./common.mjs";
import { summarizeFanout } from "./fanout.mjs";
import { writeFanoutPlots } from "./plots.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const [resultsDir, outFile, command] = process.argv.slice(2);
if (!resultsDir || !outFile) {
  console.error("usage: report.mjs <results-dir> <out.md> [command]");
  process.exit(2);
}

const readText = (f, fallback = "?") =>
  fs.existsSync(path.join(resultsDir, f)) ? fs.readFileSync(path.join(resultsDir, f), "utf8").trim() : fallback;
const sh = (cmd) => {
  try {
    return execSync(cmd, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
};

// A run that holds its population (idle: <results>/<server>/, large: <results>/large/<server>/):
// run.json, steady.tsv, loadgen-<i>.json.
function summarizeHold(dir) {
  const run = readJson(path.join(dir, "run.json"));
  const loadgens = loadgenFiles(dir, "json").map(readJson);
  const steady = readTsv(path.join(dir, "steady.tsv")).map((r) => ({ t: r.t_s, rss: r.rss_kib, cpu: r.cpu_s, fds: r.fds }));

  const established = sum(loadgens.map((r) => r.connections.established));
  const requested = sum(loadgens.map((r) => r.settings.connections));
  const openAtEnd = sum(loadgens.map((r) => r.connections.open));
  const errors = sum(loadgens.map((r) => r.errors));
  const start = Math.min(...loadgens.map((r) => r.started_unix_ms));
  const last = Math.max(...loadgens.map((r) => r.connect.last_established_unix_ms));
  const connectWall = (last - start) / 1000;
  const steadyRss = median(steady.slice(-5).map((s) => s.rss));
  const lastCpu = steady.length ? steady[steady.length - 1].cpu : run.ready_cpu_s;
  const cpuConnecting = run.ready_cpu_s - run.idle_cpu_s;
  // with subscriptions (large): until the last ack
  const subscribed = sum(loadgens.map((r) => r.subscribe?.ok ?? 0));
  const lastSub = Math.max(...loadgens.map((r) => r.subscribe?.last_subscribed_unix_ms ?? 0));
  return {
    name: run.name,
    server_command: run.server_command,
    loadgen_commands: run.loadgen_commands,
    processes: loadgens.length,
    devices: run.devices || null,
    requested,
    established,
    open_at_end: openAtEnd,
    errors,
    failures: merge(loadgens.map((r) => r.failures)),
    drops: merge(loadgens.map((r) => r.drops)),
    all_ready: run.ready === 1,
    connect_wall_s: connectWall,
    connect_rate_per_s: established / connectWall,
    connect_latency_p50_ms: Math.max(...loadgens.map((r) => r.connect.latency.p50_ms)),
    connect_latency_p99_ms: Math.max(...loadgens.map((r) => r.connect.latency.p99_ms)),
    subscribed,
    subscribe_errors: sum(loadgens.map((r) => r.subscribe?.errors ?? 0)),
    subscribe_error_kinds: merge(loadgens.map((r) => r.subscribe?.error_kinds)),
    connect_subscribe_rate: subscribed / ((lastSub - start) / 1000),
    idle_rss_kib: run.idle_rss_kib,
    ready_rss_kib: run.ready_rss_kib,
    steady_rss_kib: steadyRss,
    peak_rss_kib: Math.max(run.ready_rss_kib, ...steady.map((s) => s.rss)),
    rss_per_conn_kib: (steadyRss - run.idle_rss_kib) / established,
    cpu_connecting_s: cpuConnecting,
    cpu_per_conn_us: (cpuConnecting / established) * 1e6,
    steady_s: run.steady_s,
    cpu_steady_s: lastCpu - run.ready_cpu_s,
    peak_fds: Math.max(run.idle_fds, ...steady.map((s) => s.fds)),
    pings_answered: sum(loadgens.map((r) => r.traffic.pings_answered)),
    loadgen_cpu_s: sum(loadgens.map((r) => r.loadgen.cpu_s)),
    loadgen_cpu_connecting_s: sum(loadgens.map((r) => r.loadgen.cpu_s_connecting ?? NaN)),
  };
}

// kamea-wss, then the reference, then the floors (run.sh's SERVERS order may differ).
const serverOrder = ["kamea", "node", "floor", "floor-epoll"];
const rank = (s) => (serverOrder.includes(s.name) ? serverOrder.indexOf(s.name) : serverOrder.length);
const inOrder = (list) => [...list].sort((a, b) => rank(a) - rank(b)); // stable: scaling keeps its runs' order
const idle = inOrder(runDirs(resultsDir, "run.json").map(summarizeHold));
const large = inOrder(runDirs(path.join(resultsDir, "large"), "run.json").map(summarizeHold));
const fanoutRuns = (sub) => inOrder(runDirs(path.join(resultsDir, sub), "fanout-run.json").map(summarizeFanout));
const fanout = fanoutRuns("fanout");
const latency = fanoutRuns("latency");
const scaling = fanoutRuns("scaling");
fs.writeFileSync(
  path.join(resultsDir, "summary.json"),
  JSON.stringify({ idle, fanout, latency, large, scaling }, null, 2) + "\n",
);

// --- the machine and the code measured ---
const cpuModel = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").trim() || os.cpus()[0]?.model;
const machine = {
  nproc: sh("nproc"),
  cpu: cpuModel,
  kernel: sh("uname -r"),
  memory_gib: (os.totalmem() / 2 ** 30).toFixed(1),
  os: sh(". /etc/os-release && echo $PRETTY_NAME"),
  node: process.version,
  socketio: (() => {
    try {
      const v = (p) => readJson(path.join(root, "bench/reference/node_modules", p, "package.json")).version;
      return `socket.io ${v("socket.io")}, engine.io ${v("engine.io")}, ws ${v("ws")}`;
    } catch {
      return "?";
    }
  })(),
  // Recorded by run.sh when the run started: the report may be regenerated later.
  commit: readText("commit.txt", sh("git rev-parse --short HEAD")),
  load_before: readText("load-before.txt").replace(/.*load average:/, ""),
  date: readText("date.txt", new Date().toISOString().replace(/\.\d+Z$/, "Z")),
};

// --- formatting ---
const f = (v, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : "n/a");
const int = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString("en-US") : "n/a");
const pct = (share) => (Number.isFinite(share) ? `${f(100 * share, 0)} %` : "n/a");
const label = serverLabel;
const nameOf = (s) => label[s.name] ?? s.name;
const ratioCell = (r) => (Number.isFinite(r) && r > 0 ? ` ${f(r, r < 10 ? 2 : 1)}× |` : " |");
const verdict = (ok) => (ok ? "met" : "not met");
// ratios for a table row, (kamea, node) => above 1 when kamea-wss is better
const higher = (key) => (a, b) => a[key] / b[key];
const lower = (key) => (a, b) => b[key] / a[key];
// the latency target is for 20,000 delivered messages/s: judged within 10 % of that
const nearTarget = (outRate) => Math.abs(outRate - 20000) <= 2000;
const kameaAndNode = (list) => [list.find((s) => s.name === "kamea"), list.find((s) => s.name === "node")];

// Definitions shared by several sections.
const rssPerConnDefinition =
  "- *RSS per connection*: (median VmRSS of the last 5 one-second samples of the steady period − VmRSS of " +
  "the idle server) / connections established.\n";
const advantageDefinition = (higherIsBetter) =>
  `- *kamea-wss advantage*: the reference's value over kamea-wss's (for ${higherIsBetter}, kamea-wss's over the reference's): above 1 means kamea-wss is better.\n`;

// The servers side by side, one row a figure: rows are [title, format(summary), ratio(kamea,
// node) or null]; the last column (kamea-wss advantage) when both servers ran, or the given
// columns and ratio title otherwise.
function sideBySide(list, rows, { heads = list.map(nameOf), ratioTitle = "kamea-wss advantage", pair = kameaAndNode(list) } = {}) {
  const [a, b] = pair;
  const withRatio = Boolean(a && b);
  let out = `| | ${heads.join(" | ")} |${withRatio ? ` ${ratioTitle} |` : ""}\n`;
  out += `|---|${heads.map(() => "---:").join("|")}|${withRatio ? "---:|" : ""}\n`;
  for (const [title, fmt, ratio] of rows) {
    out += `| ${title} | ${list.map(fmt).join(" | ")} |`;
    if (withRatio) out += ratioCell(ratio ? ratio(a, b) : NaN);
    out += "\n";
  }
  return out + "\n";
}

// The fan-out steps of several runs, one row a step.
function perStepTable(runs, runLabel = nameOf) {
  let out = "| server | target (telemetries/s) | in (telemetries/s) | **out (messages/s)** | delivered / expected | server CPU (% of one core) | subscribers' CPU (% of one core) | **server CPU s per 100k delivered** | µs per message | latency p50 / p99 / p99.9 (ms) | publisher errors |\n";
  out += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const s of runs) {
    for (const st of s.steps) {
      out += `| ${runLabel(s)} | ${int(st.target_rate)} | ${int(st.in_rate)} | **${int(st.out_rate)}** | `;
      out += `${int(st.received_total)} / ${int(st.expected_total)} | ${pct(st.server_cpu_share)} | ${pct(st.clients_cpu_share)} | `;
      out += `**${f(st.server_cpu_s_per_100k, 2)}** | ${f(st.server_cpu_us_per_msg, 1)} | `;
      out += `${f(st.p50_ms, 1)} / ${f(st.p99_ms, 1)} / ${f(st.p999_ms, 1)} | ${int(st.publisher_errors)} |\n`;
    }
  }
  return out;
}

// "**Problems seen during the run:**" and a line per run that had any, or "".
function problemsList(list, hasProblem, describe, runLabel = nameOf) {
  const bad = list.filter(hasProblem);
  if (!bad.length) return "";
  return "**Problems seen during the run:**\n\n" + bad.map((s) => `- ${runLabel(s)}: ${describe(s)}\n`).join("") + "\n";
}
const fanoutProblem = (s) =>
  s.errors > 0 || s.subscribe_errors > 0 || s.out_of_order > 0 || s.gaps > 0 || s.steps.some((st) => st.lost > 0);
const describeFanoutProblem = (s) =>
  `failures ${JSON.stringify(s.failures)}, drops ${JSON.stringify(s.drops)}, ` +
  `subscription errors ${JSON.stringify(s.subscribe_error_kinds)}, other events ${JSON.stringify(s.other_events)}, ` +
  `out of order ${s.out_of_order}, gaps ${s.gaps}, messages not delivered ${int(sum(s.steps.map((st) => st.lost)))}`;

// The commands of each run, for the Command block: # <label>, then one command a line.
const standinCommand = (cpus) =>
  `${cpus !== "" && cpus != null ? `taskset -c ${cpus} ` : ""}node tools/management-api/server.mjs --port <free> --host 127.0.0.1 --quiet`;
function commandBlocks(list, runLabel = nameOf) {
  let out = "";
  for (const s of list) {
    const run = s.run ?? s; // fan-out summaries keep run.json in .run
    out += `# ${runLabel(s)}\n`;
    if (s.run || s.devices) out += `${standinCommand(run.client_cpus)}\n`;
    for (const c of [run.server_command, ...run.loadgen_commands, ...(run.publish_commands ?? [])]) {
      out += `${Array.isArray(c) ? c.join(" ") : c}\n`;
    }
  }
  return out;
}

// The page keeps a section of an earlier run when this run did not measure that scenario.
const previous = {};
if (fs.existsSync(outFile)) {
  const old = fs.readFileSync(outFile, "utf8");
  const parts = old.split(/^(?=## )/m);
  for (const part of parts.slice(1)) previous[part.split("\n", 1)[0].slice(3).trim()] = part;
  // Pages written before the fan-out scenario had "## Machine" and "## Command" after the idle
  // section: they belong to it.
  if (previous["Idle connections"] && previous.Machine && !/^### Machine/m.test(previous["Idle connections"])) {
    previous["Idle connections"] +=
      previous.Machine.replace(/^## /, "### ") + (previous.Command ?? "").replace(/^## /, "### ");
  }
}

function machineAndCommand(blocks) {
  let out = "### Machine\n\n";
  out += `- CPU: ${machine.nproc} × ${machine.cpu}\n`;
  out += `- Kernel: ${machine.kernel}; ${machine.os}; ${machine.memory_gib} GiB RAM\n`;
  out += `- Node.js ${machine.node}; ${machine.socketio}\n`;
  out += `- kamea-wss at commit ${machine.commit}, Release build\n`;
  out += `- Run on ${machine.date}; load average before the run:${machine.load_before} (a shared machine: absolute figures drift, ratios hold better)\n`;
  out += "\n### Command\n\n";
  out += "```sh\n" + (command ?? "bench/run.sh") + "\n```\n\n";
  out += "It started, for each server in turn (ports picked free at run time; `bench/results/<time>/bin/kamea-wss` is a copy of ";
  out += "`build/kamea-wss` taken when the run started):\n\n";
  out += "```sh\n" + blocks + "```\n\n";
  return out;
}

// The sections in page order: [title, what this run measured, how to write it].
const sections = [
  ["Idle connections", idle, idleSection],
  ["Fan-out", fanout, fanoutSection],
  ["Latency", latency, latencySection],
  ["Large population", large, largeSection],
  ["Scaling with cores", scaling, scalingSection],
];
let md = "";
for (const [title, runs, write] of sections) {
  if (runs.length) md += write();
  else if (previous[title]) md += previous[title].trimEnd() + "\n\n";
}

// Sections this script does not generate (e.g. "Where the time goes", written from a profile)
// are kept as they are, after the measured ones.
const generated = new Set([...sections.map(([title]) => title), "Machine", "Command"]);
for (const [title, part] of Object.entries(previous)) {
  if (!generated.has(title)) md += part.trimEnd() + "\n\n";
}

let page = "# Performance\n\n";
page += "Measured by `bench/run.sh` (`make bench`); regenerate this page with it, do not edit the numbers by hand.\n";
page += "The load generator, the publisher, the reference server and the method are described in `bench/README.md`.\n";
page += "Each section says when and how it was measured (a run may measure only some scenarios: `SCENARIOS=…`).\n\n";
fs.writeFileSync(outFile, page + md.trimEnd() + "\n");

// --- idle ---------------------------------------------------------------------------------------
function idleSection() {
  const [k, n] = kameaAndNode(idle);
  let out = "## Idle connections\n\n";
  out += `${int(idle[0]?.requested)} WebSocket clients per server, each doing what the stock client does with `;
  out += "`io(url + \"/devices\", {transports: [\"websocket\"], auth: {token}})`: WebSocket upgrade on ";
  out += "`/socket.io/?EIO=4&transport=websocket`, Engine.IO open, `40/devices,{\"token\":…}`, wait for the ";
  out += "CONNECT reply with a sid, then answer every server ping. The servers ran one after the other, with default ";
  out += `settings (pingInterval 25 s), and the connections were held for ${idle[0]?.steady_s} s after the last one `;
  out += `was established, ${heartbeatClause(idle)} before memory was read.\n\n`;

  out += sideBySide(idle, [
    ["Connections established / requested", (s) => `${int(s.established)} / ${int(s.requested)}`, null],
    ["Errors (failed + dropped)", (s) => int(s.errors), null],
    ["Connect rate (connections/s)", (s) => int(s.connect_rate_per_s), higher("connect_rate_per_s")],
    ["Connect latency p50 / p99 (ms)", (s) => `${f(s.connect_latency_p50_ms)} / ${f(s.connect_latency_p99_ms)}`, null],
    ["Server CPU spent connecting (s)", (s) => f(s.cpu_connecting_s, 2), lower("cpu_connecting_s")],
    ["Load generators' CPU meanwhile (s)", (s) => f(s.loadgen_cpu_connecting_s, 2), null],
    ["Server CPU per connection (µs)", (s) => f(s.cpu_per_conn_us, 0), lower("cpu_per_conn_us")],
    ["Server RSS idle (MiB)", (s) => f(s.idle_rss_kib / 1024), null],
    ["Server RSS with all connections, steady (MiB)", (s) => f(s.steady_rss_kib / 1024), null],
    ["**RSS per connection (KiB)**", (s) => `**${f(s.rss_per_conn_kib, 2)}**`, lower("rss_per_conn_kib")],
    [`Server CPU while holding them (s)`, (s) => f(s.cpu_steady_s, 2), lower("cpu_steady_s")],
    ["Heartbeats answered during the run", (s) => int(s.pings_answered), null],
    ["Server open files (peak)", (s) => int(s.peak_fds), null],
  ]);
  out += "- *Connect rate*: connections established divided by the time from the first attempt to the last ";
  out += "CONNECT reply (all load generator processes together). It depends on how many handshakes are in flight ";
  out += "(`--concurrency`) and on the load generator sharing the two cores with the server.\n";
  out += "- *Connect latency*: from the start of the TCP connect to the CONNECT reply, as seen by the clients ";
  out += "(the worst of the load generator processes); it includes waiting in the server's accept queue.\n";
  out += "- *CPU spent connecting*: the server's user+system CPU seconds (`/proc/<pid>/stat`) from just before the ";
  out += "first connection until all were established.\n";
  out += rssPerConnDefinition + advantageDefinition("the connect rate");
  out += "- *Load generators' CPU meanwhile*: what the load generator processes spent over the same interval. ";
  out += "When server and load generators together use both cores for the whole interval, the connect rate shows ";
  out += "the machine's limit rather than the server's; the CPU per connection is the fairer comparison then.\n";

  if (k) {
    const busy = (k.cpu_connecting_s + k.loadgen_cpu_connecting_s) / (Number(machine.nproc) * k.connect_wall_s);
    out += "\n### Against the targets of issue 5\n\n";
    out += `- RSS per idle connection ≤ 4 KiB: **${f(k.rss_per_conn_kib, 2)} KiB** — ${verdict(k.rss_per_conn_kib <= 4)}.\n`;
    if (n) {
      const r = k.connect_rate_per_s / n.connect_rate_per_s;
      out += `- Connect rate (without subscribing; with it, see the fan-out section): `;
      out += `connecting alone runs at **${f(r, 2)}×** the reference's rate`;
      out += Number.isFinite(busy)
        ? ` (server and load generators together used ${f(100 * Math.min(busy, 1), 0)} % of the ${machine.nproc} cores meanwhile).\n`
        : ".\n";
    }
  }
  out += holdProblems(idle);
  out += "\n";
  out += machineAndCommand(commandBlocks(idle));
  out += "Each load generator prints a JSON report (`bench/results/<time>/<server>/loadgen-*.json`, not committed); ";
  out += "`summary.json` there holds the figures of this page.\n\n";
  return out;
}

// Whether the hold was long enough for a heartbeat on every connection (pingInterval 25 s).
function heartbeatClause(list) {
  if (list.every((s) => s.pings_answered >= s.established)) return "so every connection went through a heartbeat";
  return `shorter than the ping interval, so not every connection went through a heartbeat (${list.map((s) => `${nameOf(s)}: ${int(s.pings_answered)} answered`).join(", ")})`;
}

function holdProblems(list) {
  const bad = list.filter((s) => s.errors > 0 || s.subscribe_errors > 0 || !s.all_ready || s.open_at_end !== s.requested);
  if (!bad.length) return "";
  let out = "\n**Errors during the run:**\n\n";
  for (const s of bad) {
    out += `- ${nameOf(s)}: ${int(s.established)} established of ${int(s.requested)}, ${int(s.open_at_end)} still open at the end; `;
    out += `failures ${JSON.stringify(s.failures)}, drops ${JSON.stringify(s.drops)}`;
    out += s.devices ? `, subscription errors ${JSON.stringify(s.subscribe_error_kinds)}\n` : "\n";
  }
  return out;
}

// --- fan-out ------------------------------------------------------------------------------------
// The population of the fan-out, latency and scaling runs, in one sentence.
function populationSentence(first) {
  let out = `${int(first.connections)} WebSocket clients per server, each joining \`/devices\` with the token \`allow-bench\` and then `;
  out += `subscribing with an ack to one of ${int(first.devices)} devices (\`telemetries\` {deviceId: "dev-<k mod ${first.devices}>", tenantId: "bench"}), `;
  out += `so ${int(first.connections / first.devices)} subscribers per device; each subscription is authorized by the Management API stand-in `;
  out += "(`tools/management-api/`).";
  return out;
}

// The definitions shared by the fan-out and scaling sections.
function stepDefinitions() {
  let out = "- *in*: telemetries accepted (202) per second over the publisher's window (first request to last answer); the publisher ";
  out += "waits for each answer before its next request, so a server that cannot keep up lowers it below the target.\n";
  out += "- *out*: `telemetries` events received by all subscribers over the same window (from their cumulative counts, printed every 250 ms).\n";
  out += "- *delivered / expected*: events of that step received by the end of the run / telemetries accepted × subscribers per device.\n";
  out += "- *server CPU*: user+system seconds of the server process (`/proc/<pid>/stat`) over the publisher's window, ";
  out += "divided by the messages delivered in it; it includes parsing the ingestion requests and the heartbeats.\n";
  out += "- *subscribers' CPU*: user+system seconds of the load generator processes while the publisher ran, over that time ";
  out += "(100 % = one core busy); near the cores they may use, the subscribers are the limit, not the server.\n";
  out += "- *latency*: from the `ts` the publisher wrote into each telemetry (unix ns when its batch was built) to its ";
  out += "arrival at a subscriber, per step; the worst of the load generator processes (their histograms are alike).\n";
  return out;
}

function fanoutSection() {
  const [fk, fn] = kameaAndNode(fanout);
  const first = fanout[0];
  let out = "## Fan-out\n\n";
  out += populationSentence(first) + " Then `kamea-publish` POSTs telemetries to `/internal/v1/telemetries` on ";
  out += `${first.run.pub_connections ?? 1} keep-alive connection(s) (each device always on the same one, so its order is kept), ${first.run.batch} per request (a JSON array), spread evenly over the devices, at each rate for ${first.run.step_s} s, `;
  out += "each stamped with its publish time; the subscribers count what they receive and record publish-to-receive latency. ";
  out += "Stepping stops once delivered messages/s grow by less than 10 % from one step to the next (or the publisher sees an error).\n\n";

  out += sideBySide(fanout, [
    ["Subscribed / connections", (s) => `${int(s.subscribed)} / ${int(s.connections)}`, null],
    ["Connect+subscribe rate (clients/s)", (s) => int(s.connect_subscribe_rate), higher("connect_subscribe_rate")],
    ["Server CPU to connect+subscribe (s)", (s) => f(s.cpu_connect_subscribe_s, 2), lower("cpu_connect_subscribe_s")],
    ["Server RSS after subscribing, per connection (KiB)", (s) => f(s.rss_per_subscribed_conn_kib, 2), lower("rss_per_subscribed_conn_kib")],
    ["**Most delivered messages/s (any step)**", (s) => `**${int(s.max_out_rate)}**`, higher("max_out_rate")],
    ["Telemetries received in all / out of order / sequence gaps", (s) => `${int(s.received)} / ${int(s.out_of_order)} / ${int(s.gaps)}`, null],
    ["Subscriber errors (failed + dropped connections, error acks)", (s) => int(s.errors + s.subscribe_errors), null],
  ]).trimEnd() + "\n";
  out += "\n### Per step\n\n" + perStepTable(fanout);
  const plots = writeFanoutPlots(fanout, resultsDir, path.join(path.dirname(outFile), "perf-fanout"), { date: machine.date });
  if (plots.length) {
    const rel = (p) => path.relative(path.dirname(path.resolve(outFile)), p);
    out += "\n### Plots\n\n";
    out += `![Delivered messages/s against server CPU, both servers](${rel(plots[0])})\n\n`;
    out += "Delivered messages/s against the server's CPU (% of one core) over each step's window; each point is labelled ";
    out += "with its step's target rate (telemetries/s). Steeper is cheaper: messages per unit of CPU.\n\n";
    out += `![Latency p50 and p99 against delivered messages/s, both servers](${rel(plots[1])})\n\n`;
    out += "Publish-to-receive latency p50 (dashed) and p99 (solid) against delivered messages/s, log scale; the dotted line is ";
    out += "the 5 ms p99 target of issue 5. Drawn by `bench/lib/plots.mjs` (gnuplot) from this run's raw results.\n";
  }
  if (fk && fn) {
    const pairs = fk.steps
      .map((a) => [a, fn.steps.find((x) => x.target_rate === a.target_rate)])
      .filter(([, b]) => b);
    out += "\n### Ratios at the same target rate (the reference's figure over kamea-wss's)\n\n";
    out += "| target (telemetries/s) | messages/s out (kamea / reference) | server CPU per delivered message | p99 latency |\n";
    out += "|---:|---:|---:|---:|\n";
    for (const [a, b] of pairs) {
      out += `| ${int(a.target_rate)} | ${f(a.out_rate / b.out_rate, 2)}× | ${f(b.server_cpu_us_per_msg / a.server_cpu_us_per_msg, 2)}× | ${f(b.p99_ms / a.p99_ms, 1)}× |\n`;
    }
    const cpuRatios = pairs.map(([a, b]) => b.server_cpu_us_per_msg / a.server_cpu_us_per_msg);
    const at20k = (s) => s.steps.reduce((best, x) => (Math.abs(x.out_rate - 20000) < Math.abs(best.out_rate - 20000) ? x : best), s.steps[0]);
    const k20 = at20k(fk);
    const maxRatio = fk.max_out_rate / fn.max_out_rate;
    const subRatio = fk.connect_subscribe_rate / fn.connect_subscribe_rate;
    out += "\n### Against the targets of issue 5\n\n";
    out += `- Server CPU per delivered message ≤ 1/4 of the reference's: the reference spends **${cpuRatios.map((r) => f(r, 2) + "×").join(", ")}** `;
    out += `kamea-wss's at the same rates (${pairs.map(([a]) => int(a.target_rate)).join(", ")} telemetries/s) — ${verdict(cpuRatios.length && Math.min(...cpuRatios) >= 4)}.\n`;
    out += `- Most delivered messages/s ≥ 3× the reference's: **${f(maxRatio, 2)}×** (${int(fk.max_out_rate)} against ${int(fn.max_out_rate)}) — ${verdict(maxRatio >= 3)}.\n`;
    out += `- p99 latency at about 20,000 messages/s ≤ 5 ms: **${f(k20.p99_ms, 1)} ms** at ${int(k20.out_rate)} messages/s (a ${fk.run.step_s} s step; the Latency section holds that rate longer) — `;
    out += nearTarget(k20.out_rate) ? `${verdict(k20.p99_ms <= 5)}.\n` : "no verdict: no step near that load.\n";
    out += `- Connect+subscribe ≥ 5× the reference's rate: **${f(subRatio, 2)}×** — ${verdict(subRatio >= 5)}.\n`;
    out += floorSentence(fk, fn, fanout.find((s) => s.name === "floor"));
  }
  out += "\n### Where the limit was (measured at each server's last step)\n\n" + limitList(fanout) + "\n";
  out += stepDefinitions();
  out += "- *connect+subscribe rate*: subscriptions acknowledged `ok` / time from the first connection attempt to the last ack.\n";
  out += "- The server, the subscribers (load generators) and the publisher share the machine's cores: the load generators' CPU ";
  out += `over the whole run was ${fanout.map((s) => `${f(s.loadgen_cpu_s, 1)} s (${nameOf(s)})`).join(", ")}.\n\n`;
  out += problemsList(fanout, fanoutProblem, describeFanoutProblem);
  out += machineAndCommand(commandBlocks(fanout));
  out += "Raw results: `bench/results/<time>/fanout/<server>/` (`loadgen-*.json|log`, `publish-<step>.json`), not committed.\n\n";
  return out;
}

// How far the CPU target is from what the bare server of bench/floor spends at the same rates.
function floorSentence(fk, fn, fl) {
  if (!fl) return "";
  const rows = fk.steps
    .map((a) => [a, fn.steps.find((x) => x.target_rate === a.target_rate), fl.steps.find((x) => x.target_rate === a.target_rate)])
    .filter(([, b, c]) => b && c);
  if (!rows.length) return "";
  let out = "- The floor, `bench/floor` (an event loop per core writing pre-built frames through io_uring, no checks), at the same rates: ";
  out += `**${rows.map(([, , c]) => f(c.server_cpu_us_per_msg, 1)).join(", ")} µs** per message, against kamea-wss's ${rows.map(([a]) => f(a.server_cpu_us_per_msg, 1)).join(", ")}; `;
  out += `the reference spends ${rows.map(([, b, c]) => f(b.server_cpu_us_per_msg / c.server_cpu_us_per_msg, 2) + "×").join(", ")} the floor's, `;
  out += "so where that ratio is under 4×, a quarter of the reference's CPU is less than a server that does nothing but send spends here.\n";
  return out;
}

// Where each stepped run stopped: its best step, and the state of server, subscribers and
// publisher at its last step.
function limitList(runs, runLabel = nameOf) {
  let out = "";
  for (const s of runs) {
    const last = s.steps[s.steps.length - 1];
    const best = s.best_step;
    if (!last) continue;
    out += `- ${runLabel(s)}: most delivered ${int(best.out_rate)} messages/s at a target of ${int(best.target_rate)} telemetries/s; `;
    out += `at the last step (target ${int(last.target_rate)}) it took in ${int(last.in_rate)} telemetries/s, the server used `;
    const pinned = s.run.server_cpus !== "" && s.run.server_cpus != null;
    out += `${pct(last.server_cpu_share)} of one core (${pinned ? `pinned to core(s) ${s.run.server_cpus}` : `of ${machine.nproc}`})`;
    out += Number.isFinite(last.clients_cpu_share) ? `, the subscribers ${pct(last.clients_cpu_share)}` : "";
    out += `, the ingestion requests took p50 ${f(last.request_p50_ms, 1)} ms / `;
    out += `p99 ${f(last.request_p99_ms, 1)} ms and the publisher fell ${f(last.max_behind_s, 1)} s behind its schedule${last.timed_out ? " (and hit its time limit)" : ""}.\n`;
  }
  return out;
}

// --- latency ------------------------------------------------------------------------------------
function latencySection() {
  const [lk, ln] = kameaAndNode(latency);
  const first = latency[0];
  const step = (s) => s.steps[0] ?? {};
  const perDevice = first.connections / first.devices;
  const rate = step(first).target_rate;
  let out = "## Latency\n\n";
  out += populationSentence(first) + ` Then one publish step: \`kamea-publish\` POSTs ${int(rate)} telemetries/s for ${first.run.step_s} s `;
  out += `(${first.run.batch} per request, ${first.run.pub_connections} keep-alive connections, each device always on the same one), `;
  out += `i.e. ${int(rate * perDevice)} messages/s to deliver, each stamped with its publish time; the subscribers record publish-to-receive latency. `;
  out += "The load is held steady (no stepping), long enough for the tail of the distribution to show; the Fan-out section says where each server's limit is.\n\n";

  const st = (key, digits = 1) => (s) => f(step(s)[key], digits);
  const stepLower = (key) => (a, b) => step(b)[key] / step(a)[key];
  out += sideBySide(latency, [
    ["Subscribed / connections", (s) => `${int(s.subscribed)} / ${int(s.connections)}`, null],
    ["Telemetries/s in (target)", (s) => `${int(step(s).in_rate)} (${int(step(s).target_rate)})`, null],
    ["**Delivered messages/s**", (s) => `**${int(step(s).out_rate)}**`, (a, b) => step(a).out_rate / step(b).out_rate],
    ["Delivered / expected messages", (s) => `${int(step(s).received_total)} / ${int(step(s).expected_total)}`, null],
    ["Latency p50 (ms)", st("p50_ms", 2), stepLower("p50_ms")],
    ["**Latency p99 (ms)**", (s) => `**${f(step(s).p99_ms, 2)}**`, stepLower("p99_ms")],
    ["Latency p99.9 (ms)", st("p999_ms", 2), stepLower("p999_ms")],
    ["Latency max (ms)", st("max_ms", 2), stepLower("max_ms")],
    ["Server CPU (% of one core)", (s) => pct(step(s).server_cpu_share), null],
    ["**Server CPU per delivered message (µs)**", (s) => `**${f(step(s).server_cpu_us_per_msg, 1)}**`, stepLower("server_cpu_us_per_msg")],
    ["Subscribers' CPU (% of one core)", (s) => pct(step(s).clients_cpu_share), null],
    ["Messages lost / telemetries out of order / sequence gaps", (s) => `${int(step(s).lost)} / ${int(s.out_of_order)} / ${int(s.gaps)}`, null],
    ["Ingestion request latency p50 / p99 (ms)", (s) => `${f(step(s).request_p50_ms, 1)} / ${f(step(s).request_p99_ms, 1)}`, null],
    ["Errors (subscribers: failed + dropped connections, error acks; publisher)", (s) => `${int(s.errors + s.subscribe_errors)}; ${int(step(s).publisher_errors)}`, null],
  ]);
  out += "- *Delivered messages/s*: `telemetries` events received by all subscribers over the publisher's window (first request to last answer).\n";
  out += "- *Latency*: from the `ts` the publisher wrote into each telemetry (unix ns when its batch was built) to its arrival at a ";
  out += "subscriber, over every message of the step; the worst of the load generator processes (their histograms are alike). ";
  out += "It includes the ingestion request, the fan-out and the subscriber's read, all on this machine's cores.\n";
  out += "- *Server CPU per delivered message*: the server's user+system CPU seconds (`/proc/<pid>/stat`) over the publisher's window / messages delivered in it.\n";
  out += "- *Messages lost*: telemetries accepted × subscribers per device − messages received by the end of the run. ";
  out += "*Out of order*: a telemetry older than one its subscriber already had; *sequence gaps*: sequence numbers of a device a subscriber never received.\n";
  out += advantageDefinition("delivered messages/s");
  if (lk) {
    const s = step(lk);
    out += "\n### Against the targets of issue 5\n\n";
    out += `- p99 latency at 20,000 messages/s ≤ 5 ms: **${f(s.p99_ms, 2)} ms** at ${int(s.out_rate)} delivered messages/s for ${lk.run.step_s} s`;
    out += `${ln ? ` (the reference: ${f(step(ln).p99_ms, 2)} ms)` : ""} — `;
    out += nearTarget(s.out_rate) ? `${verdict(s.p99_ms <= 5)}.\n` : "no verdict: not the target's load (LATENCY_RATE × subscribers per device should be 20,000).\n";
    const fl = latency.find((x) => x.name === "floor");
    if (fl && fl.steps[0]) {
      out += `- The floor, \`bench/floor\` (an event loop per core writing pre-built frames through io_uring), under the same load: p50 ${f(step(fl).p50_ms, 2)} ms, `;
      out += `p99 **${f(step(fl).p99_ms, 2)} ms**, p99.9 ${f(step(fl).p999_ms, 2)} ms, ${f(step(fl).server_cpu_us_per_msg, 1)} µs of server CPU per message.\n`;
    }
  }
  out += "\n";
  out += problemsList(latency, fanoutProblem, describeFanoutProblem);
  out += machineAndCommand(commandBlocks(latency));
  out += "Raw results: `bench/results/<time>/latency/<server>/` (`loadgen-*.json|log`, `publish-1.json`), not committed.\n\n";
  return out;
}

// --- large --------------------------------------------------------------------------------------
function largeSection() {
  const [k] = kameaAndNode(large);
  const first = large[0];
  let out = "## Large population\n\n";
  out += `${int(first.requested)} WebSocket clients per server, against a limit of 20,000 open files per process here: each joins \`/devices\` with the token `;
  out += `\`allow-bench\` and subscribes with an ack to one of ${int(first.devices)} devices, authorized by the Management API stand-in. `;
  out += `The clients come from ${first.processes} load generator processes (at most 15,000 connections each, the same file limit), each from its own two loopback source addresses. `;
  out += `The servers ran one after the other with default settings (pingInterval 25 s); the connections were held for ${first.steady_s} s after the last `;
  out += `acknowledgement, ${heartbeatClause(large)} before memory was read.\n\n`;
  out += sideBySide(large, [
    ["Connections established / requested", (s) => `${int(s.established)} / ${int(s.requested)}`, null],
    ["Subscribed (acknowledged `ok`)", (s) => int(s.subscribed), null],
    ["Errors (failed + dropped connections, error acks)", (s) => int(s.errors + s.subscribe_errors), null],
    ["**Connect+subscribe rate (clients/s)**", (s) => `**${int(s.connect_subscribe_rate)}**`, higher("connect_subscribe_rate")],
    ["Server CPU to connect+subscribe (s)", (s) => f(s.cpu_connecting_s, 2), lower("cpu_connecting_s")],
    ["Server CPU per connection (µs)", (s) => f(s.cpu_per_conn_us, 0), lower("cpu_per_conn_us")],
    ["Server RSS idle (MiB)", (s) => f(s.idle_rss_kib / 1024), null],
    ["Server RSS with all connections, steady (MiB)", (s) => f(s.steady_rss_kib / 1024), null],
    ["Server RSS peak (MiB)", (s) => f(s.peak_rss_kib / 1024), null],
    ["**RSS per connection (KiB)**", (s) => `**${f(s.rss_per_conn_kib, 2)}**`, lower("rss_per_conn_kib")],
    ["Server CPU while holding them (s)", (s) => f(s.cpu_steady_s, 2), lower("cpu_steady_s")],
    ["Heartbeats answered during the run", (s) => int(s.pings_answered), null],
    ["**Server open files (peak)**", (s) => `**${int(s.peak_fds)}**`, null],
  ]);
  out += "- *Connect+subscribe rate*: subscriptions acknowledged `ok` / time from the first connection attempt to the last ack (all load generator processes together).\n";
  out += "- *CPU to connect+subscribe*: the server's user+system CPU seconds (`/proc/<pid>/stat`) from just before the first connection until every ";
  out += "subscription was acknowledged; *per connection*: that / connections established.\n";
  out += rssPerConnDefinition;
  out += "- *Open files (peak)*: the most entries of `/proc/<pid>/fd` seen in the steady period: the connections, the listeners, the ";
  out += "connections to the Management API, and the process's own files.\n";
  out += advantageDefinition("the rate");
  if (k) {
    out += "\n### Against the targets of issue 5\n\n";
    out += `- RSS per idle subscribed WebSocket connection ≤ 4 KiB: **${f(k.rss_per_conn_kib, 2)} KiB** with ${int(k.established)} connections — ${verdict(k.rss_per_conn_kib <= 4)}.\n`;
  }
  out += holdProblems(large);
  out += "\n";
  out += machineAndCommand(commandBlocks(large));
  out += "Raw results: `bench/results/<time>/large/<server>/` (`loadgen-*.json|log`, `steady.tsv`, `run.json`), not committed.\n\n";
  return out;
}

// --- scaling ------------------------------------------------------------------------------------
function scalingSection() {
  const threadsOf = (s) => Number(s.run.threads);
  const runLabel = (s) => `kamea-wss, ${threadsOf(s)} thread${threadsOf(s) === 1 ? "" : "s"} (core${String(s.run.server_cpus).includes(",") ? "s" : ""} ${s.run.server_cpus})`;
  const one = scaling.find((s) => threadsOf(s) === 1);
  const two = scaling.find((s) => threadsOf(s) === 2);
  const first = scaling[0];
  const rates = scaling.flatMap((s) => s.steps.map((st) => st.target_rate));
  const [, fn] = kameaAndNode(fanout); // the reference, from this run's fan-out, if it ran
  const twoOverOne = (figure) => (t2, t1) => figure(t2) / figure(t1);
  let out = "## Scaling with cores\n\n";
  out += "kamea-wss only, CPU-pinned with `taskset`: " + populationSentence(first).replace(" per server", "");
  out += ` Then the fan-out stepping (rates up to ${int(Math.max(...rates))} telemetries/s, ${first.run.step_s} s each, stopping once delivered messages/s grow by less than 10 %), twice:\n\n`;
  out += "1. `taskset -c 0 kamea-wss --threads 1`: one event loop on core 0, alone; the load generators, the publisher and the stand-in run on core 1 (`taskset -c 1`).\n";
  out += "2. `taskset -c 0,1 kamea-wss --threads 2`: two event loops on cores 0 and 1; the load generators, the publisher and the stand-in run on the same two cores (`taskset -c 0,1`).\n\n";
  out += `This machine has ${machine.nproc} cores${Number(machine.nproc) <= 2 ? ", so the clients cannot get cores of their own" : " (the runs use cores 0 and 1 only)"}: `;
  out += "with one thread the server has a whole core and the clients the other; with two threads the server shares both with the clients, ";
  out += "which take a good part of them at high rates (their CPU is in the table). The second figure is therefore a lower bound of what a second core gives the server.\n\n";

  out += sideBySide(scaling, [
    ["Subscribed / connections", (s) => `${int(s.subscribed)} / ${int(s.connections)}`, null],
    ["**Most delivered messages/s (any step)**", (s) => `**${int(s.max_out_rate)}**`, twoOverOne((s) => s.max_out_rate)],
    ["… at a target of (telemetries/s)", (s) => int(s.best_step?.target_rate), null],
    ["Server CPU at that step (% of one core)", (s) => pct(s.best_step?.server_cpu_share), twoOverOne((s) => s.best_step?.server_cpu_share)],
    ["**Server CPU per delivered message at that step (µs)**", (s) => `**${f(s.best_step?.server_cpu_us_per_msg, 1)}**`, twoOverOne((s) => s.best_step?.server_cpu_us_per_msg)],
    ["Subscribers' CPU at that step (% of one core)", (s) => pct(s.best_step?.clients_cpu_share), null],
    ["Server threads' shares of its CPU at that step (%)", (s) => s.best_step?.thread_shares || "n/a", null],
    ["Latency p50 / p99 at that step (ms)", (s) => `${f(s.best_step?.p50_ms, 1)} / ${f(s.best_step?.p99_ms, 1)}`, null],
    ["Connect+subscribe rate (clients/s)", (s) => int(s.connect_subscribe_rate), twoOverOne((s) => s.connect_subscribe_rate)],
  ], { heads: scaling.map(runLabel), ratioTitle: "2 threads / 1 thread", pair: [two, one] });
  out += "- *Most delivered messages/s*: `telemetries` events received by all subscribers per second over the publisher's window, at the best step.\n";
  out += "- *Server CPU per delivered message*: the server's user+system CPU seconds over that window / messages delivered in it; ";
  out += "its ratio says what a second event loop costs per message (above 1: more CPU per message with two threads).\n";
  out += "- *Subscribers' CPU*: the load generator processes' CPU while the publisher ran (100 % = one core busy); with one thread they had one core, so near 100 % they, not the server, were the limit.\n";
  out += "- *Server threads' shares*: each server thread's part of the server's CPU over that step (`/proc/<pid>/task/*/stat`; threads under 2 % left out): how evenly the work spread over the event loops, which is what lets throughput grow where the clients have cores of their own.\n";
  out += "- *2 threads / 1 thread*: the two-thread run's figure over the one-thread run's.\n";
  out += "- The reference (Node.js socket.io) is not run here: its JavaScript (parsing, rooms, every socket write) runs on one thread, ";
  out += "so it saturates one core whatever the machine has, and a pinned run of it would only repeat its one-core figure of the Fan-out section. ";
  out += fn
    ? `In the Fan-out section of this run (not pinned) it delivered at most **${int(fn.max_out_rate)}** messages/s, the server using ${pct(fn.best_step?.server_cpu_share)} of one core at that step.\n`
    : "Its figure is in the Fan-out section.\n";

  if (one && two) {
    const r = two.max_out_rate / one.max_out_rate;
    // A run found its limit when its stepping stopped: delivered msgs/s grew by less than 10 %
    // over the last step, or the publisher saw errors.
    const limited = (s) => {
      const [prev, last] = s.steps.slice(-2);
      return Boolean(last && (last.publisher_errors > 0 || (prev && last.out_rate < 1.1 * prev.out_rate)));
    };
    out += "\n### Against the targets of issue 5\n\n";
    out += `- With several cores, throughput grows with cores: 2 threads on 2 cores deliver **${f(r, 2)}×** the messages/s of 1 thread on 1 core `;
    out += `(${int(two.max_out_rate)} against ${int(one.max_out_rate)}; at least 1.10× counts as growing) — `;
    out += limited(one) && limited(two)
      ? `${verdict(r >= 1.1)}.\n`
      : `no verdict: the ${limited(one) ? "2-thread" : limited(two) ? "1-thread" : "two"} run${limited(one) || limited(two) ? " was" : "s were"} still growing at the last rate (add higher FANOUT_RATES).\n`;
  }
  out += "\n### Per step\n\n" + perStepTable(scaling, runLabel);
  out += "\n### Where the limit was (measured at each run's last step)\n\n" + limitList(scaling, runLabel) + "\n";
  out += problemsList(scaling, fanoutProblem, describeFanoutProblem, runLabel);
  out += machineAndCommand(commandBlocks(scaling, runLabel));
  out += "Raw results: `bench/results/<time>/scaling/kamea-<threads>t/` (`loadgen-*.json|log`, `publish-<step>.json`, `steps.tsv`), not committed.\n\n";
  return out;
}
