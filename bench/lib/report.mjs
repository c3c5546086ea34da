// Turns the raw results of bench/run.sh into docs/performance.md (and summary.json beside the
// raw data).   node bench/lib/report.mjs <results-dir> <out.md> "<command>"

import { execSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { summarizeFanout } from "./fanout.mjs";
import { writeFanoutPlots } from "./plots.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const [resultsDir, outFile, command] = process.argv.slice(2);
if (!resultsDir || !outFile) {
  console.error("usage: report.mjs <results-dir> <out.md> [command]");
  process.exit(2);
}

const readJson = (f) => JSON.parse(fs.readFileSync(f, "utf8"));
const readText = (f, fallback = "?") =>
  fs.existsSync(path.join(resultsDir, f)) ? fs.readFileSync(path.join(resultsDir, f), "utf8").trim() : fallback;
const sh = (cmd) => {
  try {
    return execSync(cmd, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const merge = (maps) => {
  const out = {};
  for (const m of maps) for (const [k, v] of Object.entries(m ?? {})) out[k] = (out[k] ?? 0) + v;
  return out;
};

function summarize(dir) {
  const run = readJson(path.join(dir, "run.json"));
  const loadgens = fs
    .readdirSync(dir)
    .filter((f) => /^loadgen-\d+\.json$/.test(f))
    .sort()
    .map((f) => readJson(path.join(dir, f)));
  const steady = fs
    .readFileSync(path.join(dir, "steady.tsv"), "utf8")
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => l.split("\t").map(Number))
    .map(([t, rss, cpu, fds]) => ({ t, rss, cpu, fds }));

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
  return {
    name: run.name,
    server_command: run.server_command,
    loadgen_commands: run.loadgen_commands,
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

const servers = fs
  .readdirSync(resultsDir, { withFileTypes: true })
  .filter((d) => d.name !== "fanout")
  .filter((d) => d.isDirectory() && fs.existsSync(path.join(resultsDir, d.name, "run.json")))
  .map((d) => summarize(path.join(resultsDir, d.name)));
const byName = Object.fromEntries(servers.map((s) => [s.name, s]));
const fanoutDir = path.join(resultsDir, "fanout");
const fanout = fs.existsSync(fanoutDir)
  ? fs
      .readdirSync(fanoutDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && fs.existsSync(path.join(fanoutDir, d.name, "fanout-run.json")))
      .map((d) => summarizeFanout(path.join(fanoutDir, d.name)))
  : [];
fs.writeFileSync(
  path.join(resultsDir, "summary.json"),
  JSON.stringify({ idle: servers, fanout }, null, 2) + "\n",
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
const label = { kamea: "kamea-wss", node: "Node.js socket.io (reference)" };
const k = byName.kamea;
const n = byName.node;
// ratio > 1 means kamea-wss is better by that factor
const better = (lowerIsBetter, key) =>
  k && n ? (lowerIsBetter ? n[key] / k[key] : k[key] / n[key]) : NaN;

const rows = [
  ["Connections established / requested", (s) => `${int(s.established)} / ${int(s.requested)}`, null],
  ["Errors (failed + dropped)", (s) => int(s.errors), null],
  ["Connect rate (connections/s)", (s) => int(s.connect_rate_per_s), [false, "connect_rate_per_s"]],
  ["Connect latency p50 / p99 (ms)", (s) => `${f(s.connect_latency_p50_ms)} / ${f(s.connect_latency_p99_ms)}`, null],
  ["Server CPU spent connecting (s)", (s) => f(s.cpu_connecting_s, 2), [true, "cpu_connecting_s"]],
  ["Load generators' CPU meanwhile (s)", (s) => f(s.loadgen_cpu_connecting_s, 2), null],
  ["Server CPU per connection (µs)", (s) => f(s.cpu_per_conn_us, 0), [true, "cpu_per_conn_us"]],
  ["Server RSS idle (MiB)", (s) => f(s.idle_rss_kib / 1024), null],
  ["Server RSS with all connections, steady (MiB)", (s) => f(s.steady_rss_kib / 1024), null],
  ["**RSS per connection (KiB)**", (s) => `**${f(s.rss_per_conn_kib, 2)}**`, [true, "rss_per_conn_kib"]],
  [`Server CPU while holding them (s)`, (s) => f(s.cpu_steady_s, 2), [true, "cpu_steady_s"]],
  ["Heartbeats answered during the run", (s) => int(s.pings_answered), null],
  ["Server open files (peak)", (s) => int(s.peak_fds), null],
];

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

const shown = servers.map((s) => s.name);
let md = "";
if (servers.length) {
md += "## Idle connections\n\n";
md += `${int(servers[0]?.requested)} WebSocket clients per server, each doing what the stock client does with `;
md += "`io(url + \"/devices\", {transports: [\"websocket\"], auth: {token}})`: WebSocket upgrade on ";
md += "`/socket.io/?EIO=4&transport=websocket`, Engine.IO open, `40/devices,{\"token\":…}`, wait for the ";
md += "CONNECT reply with a sid, then answer every server ping. The servers ran one after the other, with default ";
md += `settings (pingInterval 25 s), and the connections were held for ${servers[0]?.steady_s} s after the last one `;
md += "was established, so every connection went through a heartbeat before memory was read.\n\n";

md += `| | ${shown.map((s) => label[s] ?? s).join(" | ")} |${k && n ? " kamea-wss advantage |" : ""}\n`;
md += `|---|${shown.map(() => "---:").join("|")}|${k && n ? "---:|" : ""}\n`;
for (const [title, fmt, ratio] of rows) {
  md += `| ${title} | ${servers.map((s) => fmt(s)).join(" | ")} |`;
  if (k && n) {
    const r = ratio ? better(...ratio) : NaN;
    md += Number.isFinite(r) && r > 0 ? ` ${f(r, r < 10 ? 2 : 1)}× |` : " |";
  }
  md += "\n";
}
md += "\n";
md += "- *Connect rate*: connections established divided by the time from the first attempt to the last ";
md += "CONNECT reply (all load generator processes together). It depends on how many handshakes are in flight ";
md += "(`--concurrency`) and on the load generator sharing the two cores with the server.\n";
md += "- *Connect latency*: from the start of the TCP connect to the CONNECT reply, as seen by the clients ";
md += "(the worst of the load generator processes); it includes waiting in the server's accept queue.\n";
md += "- *CPU spent connecting*: the server's user+system CPU seconds (`/proc/<pid>/stat`) from just before the ";
md += "first connection until all were established.\n";
md += "- *RSS per connection*: (median VmRSS of the last 5 one-second samples of the steady period − VmRSS of ";
md += "the idle server) / connections established.\n";
md += "- *kamea-wss advantage*: the reference's value over kamea-wss's (for the connect rate, kamea-wss's over the reference's): above 1 means kamea-wss is better.\n";

md += "- *Load generators' CPU meanwhile*: what the load generator processes spent over the same interval. ";
md += "When server and load generators together use both cores for the whole interval, the connect rate shows ";
md += "the machine's limit rather than the server's; the CPU per connection is the fairer comparison then.\n";

if (k) {
  const connectWall = k.connect_wall_s;
  const busy = (k.cpu_connecting_s + k.loadgen_cpu_connecting_s) / (Number(machine.nproc) * connectWall);
  md += "\n### Against the targets of issue 5\n\n";
  md += `- RSS per idle connection ≤ 4 KiB: **${f(k.rss_per_conn_kib, 2)} KiB** — ${k.rss_per_conn_kib <= 4 ? "met" : "not met"}.\n`;
  if (n) {
    const r = k.connect_rate_per_s / n.connect_rate_per_s;
    md += `- Connect rate (without subscribing; with it, see the fan-out section): `;
    md += `connecting alone runs at **${f(r, 2)}×** the reference's rate`;
    md += Number.isFinite(busy)
      ? ` (server and load generators together used ${f(100 * Math.min(busy, 1), 0)} % of the ${machine.nproc} cores meanwhile).\n`
      : ".\n";
  }
}

const problems = servers.filter((s) => s.errors > 0 || !s.all_ready || s.open_at_end !== s.requested);
if (problems.length) {
  md += "\n**Errors during the run:**\n\n";
  for (const s of problems) {
    md += `- ${label[s.name] ?? s.name}: ${int(s.established)} established of ${int(s.requested)}, ${int(s.open_at_end)} still open at the end; `;
    md += `failures ${JSON.stringify(s.failures)}, drops ${JSON.stringify(s.drops)}\n`;
  }
}

md += "\n";
let blocks = "";
for (const s of servers) {
  blocks += `# ${label[s.name] ?? s.name}\n${s.server_command.join(" ")}\n`;
  for (const c of s.loadgen_commands) blocks += `${c}\n`;
}
md += machineAndCommand(blocks);
md += "Each load generator prints a JSON report (`bench/results/<time>/<server>/loadgen-*.json`, not committed); ";
md += "`summary.json` there holds the figures of this page.\n\n";
} else if (previous["Idle connections"]) {
  md += previous["Idle connections"].trimEnd() + "\n\n";
}

if (fanout.length) {
  md += fanoutSection();
} else if (previous["Fan-out"]) {
  md += previous["Fan-out"].trimEnd() + "\n\n";
}

// Sections this script does not generate (e.g. "Where the time goes", written from a profile)
// are kept as they are, after the measured ones.
const generated = new Set(["Idle connections", "Fan-out", "Machine", "Command"]);
for (const [title, part] of Object.entries(previous)) {
  if (!generated.has(title)) md += part.trimEnd() + "\n\n";
}

let page = "# Performance\n\n";
page += "Measured by `bench/run.sh` (`make bench`); regenerate this page with it, do not edit the numbers by hand.\n";
page += "The load generator, the publisher, the reference server and the method are described in `bench/README.md`.\n";
page += "Each section says when and how it was measured (a run may measure only some scenarios: `SCENARIOS=…`).\n\n";
fs.writeFileSync(outFile, page + md.trimEnd() + "\n");

function fanoutSection() {
  const fk = fanout.find((s) => s.name === "kamea");
  const fn = fanout.find((s) => s.name === "node");
  const first = fanout[0];
  let out = "## Fan-out\n\n";
  out += `${int(first.connections)} WebSocket clients per server, each joining \`/devices\` with the token \`allow-bench\` and then `;
  out += `subscribing with an ack to one of ${int(first.devices)} devices (\`telemetries\` {deviceId: "dev-<k mod ${first.devices}>", tenantId: "bench"}), `;
  out += `so ${int(first.connections / first.devices)} subscribers per device; each subscription is authorized by the Management API stand-in `;
  out += "(`tools/management-api/`). Then `kamea-publish` POSTs telemetries to `/internal/v1/telemetries` on ";
  out += `${first.run.pub_connections ?? 1} keep-alive connection(s) (each device always on the same one, so its order is kept), ${first.run.batch} per request (a JSON array), spread evenly over the devices, at each rate for ${first.run.step_s} s, `;
  out += "each stamped with its publish time; the subscribers count what they receive and record publish-to-receive latency. ";
  out += "Stepping stops once delivered messages/s grow by less than 10 % from one step to the next (or the publisher sees an error).\n\n";

  out += "| | " + fanout.map((s) => label[s.name] ?? s.name).join(" | ") + " |" + (fk && fn ? " kamea-wss advantage |" : "") + "\n";
  out += "|---|" + fanout.map(() => "---:").join("|") + "|" + (fk && fn ? "---:|" : "") + "\n";
  const summaryRows = [
    ["Subscribed / connections", (s) => `${int(s.subscribed)} / ${int(s.connections)}`, null],
    ["Connect+subscribe rate (clients/s)", (s) => int(s.connect_subscribe_rate), (a, b) => a.connect_subscribe_rate / b.connect_subscribe_rate],
    ["Server CPU to connect+subscribe (s)", (s) => f(s.cpu_connect_subscribe_s, 2), (a, b) => b.cpu_connect_subscribe_s / a.cpu_connect_subscribe_s],
    ["Server RSS after subscribing, per connection (KiB)", (s) => f(s.rss_per_subscribed_conn_kib, 2), (a, b) => b.rss_per_subscribed_conn_kib / a.rss_per_subscribed_conn_kib],
    ["**Most delivered messages/s (any step)**", (s) => `**${int(s.max_out_rate)}**`, (a, b) => a.max_out_rate / b.max_out_rate],
    ["Telemetries received in all / out of order / sequence gaps", (s) => `${int(s.received)} / ${int(s.out_of_order)} / ${int(s.gaps)}`, null],
    ["Subscriber errors (failed + dropped connections, error acks)", (s) => int(s.errors + s.subscribe_errors), null],
  ];
  for (const [title, fmt, ratio] of summaryRows) {
    out += `| ${title} | ${fanout.map(fmt).join(" | ")} |`;
    if (fk && fn) {
      const r = ratio ? ratio(fk, fn) : NaN;
      out += Number.isFinite(r) && r > 0 ? ` ${f(r, r < 10 ? 2 : 1)}× |` : " |";
    }
    out += "\n";
  }
  out += "\n### Per step\n\n";
  out += "| server | target (telemetries/s) | in (telemetries/s) | **out (messages/s)** | delivered / expected | server CPU (% of one core) | **server CPU s per 100k delivered** | µs per message | latency p50 / p99 / p99.9 (ms) | publisher errors |\n";
  out += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const s of fanout) {
    for (const st of s.steps) {
      out += `| ${label[s.name] ?? s.name} | ${int(st.target_rate)} | ${int(st.in_rate)} | **${int(st.out_rate)}** | `;
      out += `${int(st.received_total)} / ${int(st.expected_total)} | ${f(100 * st.server_cpu_share, 0)} % | `;
      out += `**${f(st.server_cpu_s_per_100k, 2)}** | ${f(st.server_cpu_us_per_msg, 1)} | `;
      out += `${f(st.p50_ms, 1)} / ${f(st.p99_ms, 1)} / ${f(st.p999_ms, 1)} | ${int(st.publisher_errors)} |\n`;
    }
  }
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
    out += "\n### Ratios at the same target rate (the reference's figure over kamea-wss's)\n\n";
    out += "| target (telemetries/s) | messages/s out (kamea / reference) | server CPU per delivered message | p99 latency |\n";
    out += "|---:|---:|---:|---:|\n";
    for (const a of fk.steps) {
      const b = fn.steps.find((x) => x.target_rate === a.target_rate);
      if (!b) continue;
      out += `| ${int(a.target_rate)} | ${f(a.out_rate / b.out_rate, 2)}× | ${f(b.server_cpu_us_per_msg / a.server_cpu_us_per_msg, 2)}× | ${f(b.p99_ms / a.p99_ms, 1)}× |\n`;
    }
  }
  if (fk && fn) {
    const pairs = fk.steps
      .map((a) => [a, fn.steps.find((x) => x.target_rate === a.target_rate)])
      .filter(([, b]) => b);
    const cpuRatios = pairs.map(([a, b]) => b.server_cpu_us_per_msg / a.server_cpu_us_per_msg);
    const at20k = (s) => s.steps.reduce((best, x) => (Math.abs(x.out_rate - 20000) < Math.abs(best.out_rate - 20000) ? x : best), s.steps[0]);
    const k20 = at20k(fk);
    const maxRatio = fk.max_out_rate / fn.max_out_rate;
    const subRatio = fk.connect_subscribe_rate / fn.connect_subscribe_rate;
    out += "\n### Against the targets of issue 5\n\n";
    out += `- Server CPU per delivered message ≤ 1/4 of the reference's: the reference spends **${cpuRatios.map((r) => f(r, 2) + "×").join(", ")}** `;
    out += `kamea-wss's at the same rates (${pairs.map(([a]) => int(a.target_rate)).join(", ")} telemetries/s) — ${cpuRatios.length && Math.min(...cpuRatios) >= 4 ? "met" : "not met"}.\n`;
    out += `- Most delivered messages/s ≥ 3× the reference's: **${f(maxRatio, 2)}×** (${int(fk.max_out_rate)} against ${int(fn.max_out_rate)}) — ${maxRatio >= 3 ? "met" : "not met"}.\n`;
    out += `- p99 latency at about 20,000 messages/s ≤ 5 ms: **${f(k20.p99_ms, 1)} ms** at ${int(k20.out_rate)} messages/s (a 10 s step, not the 30 s of scenario 3) — ${k20.p99_ms <= 5 ? "met" : "not met"}.\n`;
    out += `- Connect+subscribe ≥ 5× the reference's rate: **${f(subRatio, 2)}×** — ${subRatio >= 5 ? "met" : "not met"}.\n`;
  }
  out += "\n### Where the limit was (measured at each server's last step)\n\n";
  for (const s of fanout) {
    const last = s.steps[s.steps.length - 1];
    const best = s.steps.reduce((m, x) => (x.out_rate > m.out_rate ? x : m), s.steps[0]);
    out += `- ${label[s.name] ?? s.name}: most delivered ${int(best.out_rate)} messages/s at a target of ${int(best.target_rate)} telemetries/s; `;
    out += `at the last step (target ${int(last.target_rate)}) it took in ${int(last.in_rate)} telemetries/s, the server used `;
    out += `${f(100 * last.server_cpu_share, 0)} % of one core (of ${machine.nproc}), the ingestion requests took p50 ${f(last.request_p50_ms, 1)} ms / `;
    out += `p99 ${f(last.request_p99_ms, 1)} ms and the publisher fell ${f(last.max_behind_s, 1)} s behind its schedule${last.timed_out ? " (and hit its time limit)" : ""}.\n`;
  }
  out += "\n- *in*: telemetries accepted (202) per second over the publisher's window (first request to last answer); the publisher ";
  out += "waits for each answer before its next request, so a server that cannot keep up lowers it below the target.\n";
  out += "- *out*: `telemetries` events received by all subscribers over the same window (from their cumulative counts, printed every 250 ms).\n";
  out += "- *delivered / expected*: events of that step received by the end of the run / telemetries accepted × subscribers per device.\n";
  out += "- *server CPU*: user+system seconds of the server process (`/proc/<pid>/stat`) over the publisher's window, ";
  out += "divided by the messages delivered in it; it includes parsing the ingestion requests and the heartbeats.\n";
  out += "- *latency*: from the `ts` the publisher wrote into each telemetry (unix ns when its batch was built) to its ";
  out += "arrival at a subscriber, per step; the worst of the load generator processes (their histograms are alike).\n";
  out += "- *connect+subscribe rate*: subscriptions acknowledged `ok` / time from the first connection attempt to the last ack.\n";
  out += "- The server, the subscribers (load generators) and the publisher share the machine's cores: the load generators' CPU ";
  out += `over the whole run was ${fanout.map((s) => `${f(s.loadgen_cpu_s, 1)} s (${label[s.name] ?? s.name})`).join(", ")}.\n\n`;
  const problems = fanout.filter((s) => s.errors > 0 || s.subscribe_errors > 0 || s.out_of_order > 0 || s.gaps > 0);
  if (problems.length) {
    out += "**Problems seen during the run:**\n\n";
    for (const s of problems) {
      out += `- ${label[s.name] ?? s.name}: failures ${JSON.stringify(s.failures)}, drops ${JSON.stringify(s.drops)}, `;
      out += `subscription errors ${JSON.stringify(s.subscribe_error_kinds)}, other events ${JSON.stringify(s.other_events)}, `;
      out += `out of order ${s.out_of_order}, gaps ${s.gaps}\n`;
    }
    out += "\n";
  }
  let fblocks = "";
  for (const s of fanout) {
    fblocks += `# ${label[s.name] ?? s.name}\nnode tools/management-api/server.mjs --port <free> --host 127.0.0.1 --quiet\n`;
    fblocks += `${s.run.server_command.join(" ")}\n`;
    for (const c of s.run.loadgen_commands) fblocks += `${c}\n`;
    for (const c of s.run.publish_commands) fblocks += `${c}\n`;
  }
  out += machineAndCommand(fblocks);
  out += "Raw results: `bench/results/<time>/fanout/<server>/` (`loadgen-*.json|log`, `publish-<step>.json`), not committed.\n\n";
  return out;
}
