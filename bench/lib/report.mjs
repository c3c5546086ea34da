// Turns the raw results of bench/run.sh into docs/performance.md (and summary.json beside the
// raw data).   node bench/lib/report.mjs <results-dir> <out.md> "<command>"

import { execSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

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
  .filter((d) => d.isDirectory() && fs.existsSync(path.join(resultsDir, d.name, "run.json")))
  .map((d) => summarize(path.join(resultsDir, d.name)));
const byName = Object.fromEntries(servers.map((s) => [s.name, s]));
fs.writeFileSync(path.join(resultsDir, "summary.json"), JSON.stringify(servers, null, 2) + "\n");

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

const shown = servers.map((s) => s.name);
let md = "";
md += "# Performance\n\n";
md += "Measured by `bench/run.sh` (`make bench`); regenerate this page with it, do not edit the numbers by hand.\n";
md += "The load generator, the reference server and the method are described in `bench/README.md`.\n\n";
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
    md += `- Connect+subscribe rate ≥ 5× the reference's: subscriptions are not part of this scenario yet; `;
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

md += "\n## Machine\n\n";
md += `- CPU: ${machine.nproc} × ${machine.cpu}\n`;
md += `- Kernel: ${machine.kernel}; ${machine.os}; ${machine.memory_gib} GiB RAM\n`;
md += `- Node.js ${machine.node}; ${machine.socketio}\n`;
md += `- kamea-wss at commit ${machine.commit}, Release build\n`;
md += `- Run on ${machine.date}; load average before the run:${machine.load_before} (a shared machine: absolute figures drift, ratios hold better)\n`;

md += "\n## Command\n\n";
md += "```sh\n" + (command ?? "bench/run.sh") + "\n```\n\n";
md += "It started, for each server in turn (ports picked free at run time):\n\n";
md += "```sh\n";
for (const s of servers) {
  md += `# ${label[s.name] ?? s.name}\n${s.server_command.join(" ")}\n`;
  for (const c of s.loadgen_commands) md += `${c}\n`;
}
md += "```\n\n";
md += "Each load generator prints a JSON report (`bench/results/<time>/<server>/loadgen-*.json`, not committed); ";
md += "`summary.json` there holds the figures of this page.\n";

fs.writeFileSync(outFile, md);
