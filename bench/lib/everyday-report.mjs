// The "Everyday efficiency, measured" section of docs/performance.md from bench/everyday.sh's
// raw results (bench/ab.sh's run directories).
//
//   node bench/lib/everyday-report.mjs <results>/everyday <out.md> "<command>"
//
// The rest of the page is left as it is (bench/lib/report.mjs keeps this section too, as one it
// does not generate).

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { median } from "./common.mjs";

const TITLE = "Everyday efficiency, measured (issue 15)";
const [resultsDir, outFile, command] = process.argv.slice(2);
if (!resultsDir || !outFile) {
  console.error("usage: everyday-report.mjs <results dir> <out.md> [command]");
  process.exit(2);
}
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "n/a");
const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "n/a");
const verdict = (ok) => (ok ? "**met**" : "**not met**");
const txt = (name) => {
  const file = path.join(resultsDir, name);
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim() : "";
};

// One ab.sh run directory: what the server spent per delivered message, and what the clients saw.
function readRun(dir) {
  try {
    const pub = JSON.parse(fs.readFileSync(path.join(dir, "publish.json"), "utf8"));
    const gen = JSON.parse(fs.readFileSync(path.join(dir, "loadgen.json"), "utf8"));
    const perDevice = gen.settings.connections / gen.subscribe.devices;
    const expected = pub.accepted * perDevice;
    return {
      offered: pub.settings.rate,
      delivered_per_s: expected / pub.window_s,
      us_per_msg: (pub.server.cpu_s * 1e6) / expected,
      p99_ms: gen.telemetries.latency.p99_ms,
      complete: gen.telemetries.received === expected && gen.telemetries.out_of_order === 0,
    };
  } catch {
    return null; // a failed run (its .log says why)
  }
}

// { variant name: [run, ...] in round order } for one ab.sh output directory.
function readVariants(dir) {
  const out = {};
  if (!fs.existsSync(dir)) return out;
  const entries = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /-\d+$/.test(e.name))
    .map((e) => e.name)
    .sort((a, b) => Number(a.match(/-(\d+)$/)[1]) - Number(b.match(/-(\d+)$/)[1]));
  for (const name of entries) {
    const variant = name.replace(/-\d+$/, "").replace(/-/g, " ");
    (out[variant] ??= []).push(readRun(path.join(dir, name)));
  }
  // everyday.sh's order: kamea-wss's variants, then the floors.
  const order = ["default", "one loop", "floor, 1 loop", "floor, 2 loops"];
  const rank = (v) => (order.includes(v) ? order.indexOf(v) : order.length);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => rank(a) - rank(b)));
}

const med = (runs, key) => median(runs.filter(Boolean).map((r) => r[key]));
const rounds = (runs, key, d) => runs.map((r) => (r ? f(r[key], d) : "failed")).join(", ");
const allComplete = (runs) => runs.every((r) => r && r.complete);

const rates = fs
  .readdirSync(resultsDir)
  .filter((n) => /^rate-\d+$/.test(n))
  .map((n) => Number(n.slice(5)))
  .sort((a, b) => a - b);
const highest = rates[rates.length - 1];

let out = `## ${TITLE}\n\n`;
out += "Measured by `bench/everyday.sh` (`SCENARIOS=everyday make bench`); regenerate it with that, do not edit the numbers by hand. ";
out += "kamea-wss with its default settings, `--threads 1`, and `bench/floor` (a bare server that only writes pre-built frames, through io_uring: the floor of CPU per message) under the same load, one after the other in interleaved rounds (`bench/ab.sh`), each figure a round's and the medians compared. ";
out += "CPU is the server's user + system time over the publisher's window (`/proc/<pid>/stat`) over the messages delivered in it; p99 is the clients' publish-to-receive latency.\n\n";

const checks = [];
for (const rate of rates) {
  const v = readVariants(path.join(resultsDir, `rate-${rate}`));
  const any = Object.values(v).flat().find(Boolean);
  const deliveries = any ? any.delivered_per_s : NaN;
  out += `### ${int(deliveries)} deliveries/s (${rate} telemetries/s)\n\n`;
  out += "| | µs per delivered message | median | p99 latency (ms) | every message delivered, in order |\n|---|---|---:|---|---|\n";
  for (const [name, runs] of Object.entries(v)) {
    out += `| ${name} | ${rounds(runs, "us_per_msg")} | **${f(med(runs, "us_per_msg"))}** | ${rounds(runs, "p99_ms")} | ${allComplete(runs) ? "yes" : "**no**"} |\n`;
  }
  const d = v["default"] ?? [];
  const one = v["one loop"] ?? [];
  const floor1 = v["floor, 1 loop"] ?? [];
  const floor2 = v["floor, 2 loops"] ?? [];
  const ratio = (a, b) => med(a, "us_per_msg") / med(b, "us_per_msg");
  out += "\n";
  if (d.length && floor1.length) {
    const r = ratio(d, floor1);
    out += `- Default against the one-loop floor: **${f(r)}×** (goal ≤ 1.1×: ${verdict(r <= 1.1)}).\n`;
    checks.push(`${int(deliveries)}/s: ${f(r)}× the one-loop floor`);
  }
  if (d.length && one.length && allComplete(one)) {
    const r = ratio(d, one);
    out += `- Default against \`--threads 1\`: **${f(r)}×** (goal ≤ 1.1×: ${verdict(r <= 1.1)}).\n`;
  }
  if (rate === highest && d.length && floor2.length) {
    const r = ratio(d, floor2);
    out += `- Default against the floor with as many loops (2): **${f(r)}×** (goal ≤ 1.1×: ${verdict(r <= 1.1)}).\n`;
  }
  if (rate === highest && d.length && floor1.length) {
    const a = med(d, "p99_ms");
    const b = med(floor1, "p99_ms");
    out += `- p99 latency, default against the one-loop floor: ${f(a)} against ${f(b)} ms (goal ≤: ${verdict(a <= b)}).\n`;
  }
  out += "\n";
}

const sat = readVariants(path.join(resultsDir, "saturation"));
if (Object.keys(sat).length) {
  const any = Object.values(sat).flat().find(Boolean);
  out += `### Saturation (${int(any?.offered)} telemetries/s offered)\n\n`;
  out += "| | delivered messages/s | median | µs per delivered message | every message delivered, in order |\n|---|---|---:|---|---|\n";
  for (const [name, runs] of Object.entries(sat)) {
    out += `| ${name} | ${runs.map((r) => (r ? int(r.delivered_per_s) : "failed")).join(", ")} | **${int(med(runs, "delivered_per_s"))}** | ${rounds(runs, "us_per_msg")} | ${allComplete(runs) ? "yes" : "**no**"} |\n`;
  }
  const d = sat["default"] ?? [];
  const one = sat["one loop"] ?? [];
  const floor2 = sat["floor, 2 loops"] ?? [];
  out += "\n";
  if (d.length && one.length) {
    const r = med(d, "delivered_per_s") / med(one, "delivered_per_s");
    out += `- Default throughput against one loop's: **${f(r)}×** (goal ≥ 1.3×: ${verdict(r >= 1.3)}).\n`;
  }
  if (d.length && floor2.length) {
    const r = med(d, "us_per_msg") / med(floor2, "us_per_msg");
    out += `- CPU per message, default against the floor with as many loops (2): **${f(r)}×** (goal ≤ 1.1×: ${verdict(r <= 1.1)}).\n`;
  }
  out += "\n";
}

out += "### Machine and command\n\n";
out += `- ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${os.release()}, ${f(os.totalmem() / 2 ** 30, 0)} GiB\n`;
out += `- kamea-wss at commit ${txt("commit.txt") || "?"}, Release build (a copy taken when the run started)\n`;
out += `- Run on ${txt("date.txt") || "?"}; load average before: ${txt("load-before.txt").replace(/.*load average: /, "")}, after: ${txt("load-after.txt").replace(/.*load average: /, "")}\n\n`;
out += "```sh\n" + (command ?? "bench/everyday.sh") + "\n```\n\n";
out += "Raw results in `bench/results/<time>/everyday/` (one directory per rate and variant round, as `bench/profile.sh` leaves them), not committed.\n";

const page = fs.existsSync(outFile) ? fs.readFileSync(outFile, "utf8") : "# Performance\n";
const parts = page.split(/^(?=## )/m);
const idx = parts.findIndex((p) => p.startsWith(`## ${TITLE}`));
if (idx >= 0) parts[idx] = out + "\n";
else {
  // Before the hand-written section of the same issue, when there is one.
  const hand = parts.findIndex((p) => p.startsWith("## Everyday efficiency (issue 15)"));
  parts.splice(hand >= 0 ? hand : parts.length, 0, out + "\n");
}
fs.writeFileSync(outFile, parts.join("").trimEnd() + "\n");
