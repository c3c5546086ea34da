// PNG plots of the fan-out scenario with gnuplot (Debian: gnuplot-nox), both servers on the
// same axes:
//   <prefix>-cpu.png      delivered messages/s against server CPU (% of one core)
//   <prefix>-latency.png  publish-to-receive latency p50 and p99 against delivered messages/s
//
//   import { writeFanoutPlots } from "./plots.mjs"   used by report.mjs
//   node bench/lib/plots.mjs <results-dir> [docs/perf-fanout]   from a run's summary.json
//
// The data and the gnuplot script are written beside the raw results (<results>/plots/), so a
// plot can be redrawn by hand with `gnuplot <results>/plots/fanout.gp`.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { serverLabel } from "./common.mjs";

const label = serverLabel;
const color = { kamea: "#1f77b4", node: "#d62728", floor: "#2ca02c", "floor-epoll": "#7f7f7f" };

const hasGnuplot = () => {
  try {
    execFileSync("gnuplot", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

// fanout: the summaries of summarizeFanout(); resultsDir: where the data and script go;
// prefix: output path without "-cpu.png" / "-latency.png". Returns the PNG paths written, or
// [] (with a warning) when gnuplot is missing or fails: the report is still written.
export function writeFanoutPlots(fanout, resultsDir, prefix, { date = "" } = {}) {
  const servers = fanout.filter((s) => s.steps?.length);
  if (!servers.length) return [];
  if (!hasGnuplot()) {
    console.error("report: gnuplot not found (apt-get install gnuplot-nox): fan-out plots not redrawn");
    return [];
  }
  const dir = path.join(resultsDir, "plots");
  fs.mkdirSync(dir, { recursive: true });
  const q = (s) => JSON.stringify(String(s)); // gnuplot accepts double-quoted strings
  const files = [];
  for (const s of servers) {
    const f = path.join(dir, `fanout-${s.name}.tsv`);
    let tsv = "# target_rate\tcpu_pct_of_core\tout_msgs_per_s\tp50_ms\tp99_ms\tp999_ms\n";
    for (const st of s.steps) {
      tsv += [st.target_rate, 100 * st.server_cpu_share, st.out_rate, st.p50_ms, st.p99_ms, st.p999_ms]
        .map((v) => (Number.isFinite(v) ? v.toFixed(3) : "NaN"))
        .join("\t") + "\n";
    }
    fs.writeFileSync(f, tsv);
    files.push([s, f]);
  }
  const cpuPng = path.resolve(`${prefix}-cpu.png`);
  const latPng = path.resolve(`${prefix}-latency.png`);
  const when = date ? ` (run of ${date})` : "";
  let gp = "";
  gp += "set terminal pngcairo size 900,560 enhanced font 'DejaVu Sans,11'\n";
  gp += "set datafile separator tab\nset datafile missing 'NaN'\n";
  gp += "set grid lc rgb '#dddddd'\nset key top left box opaque\nset border lw 1\n";
  gp += "set format y '%.0s%c'\nset format x '%.0s%c'\n";

  // (a) delivered messages/s against server CPU
  gp += `set output ${q(cpuPng)}\n`;
  gp += `set title ${q(`Fan-out: delivered messages/s against server CPU${when}`)}\n`;
  gp += `set xlabel 'server CPU (% of one core; the machine has ${os.cpus().length}); points labelled with the target telemetries/s'\n`;
  gp += "set ylabel 'delivered messages/s'\n";
  gp += "set format x '%g %%'\nset xrange [0:*]\nset yrange [0:*]\n";
  gp += "plot " + files
    .map(([s, f]) =>
      `${q(f)} using 2:3 with linespoints lw 2 pt 7 ps 1.2 lc rgb ${q(color[s.name] ?? "#444444")} title ${q(label[s.name] ?? s.name)}, ` +
      // labels alternately below and above their points, so that close points stay readable
      `${q(f)} using 2:(int($0) % 2 == 0 ? $3 : NaN):(sprintf('%d/s', $1)) with labels offset char 0.6,char -0.8 left font ',8' tc rgb ${q(color[s.name] ?? "#444444")} notitle, ` +
      `${q(f)} using 2:(int($0) % 2 == 1 ? $3 : NaN):(sprintf('%d/s', $1)) with labels offset char -0.6,char 0.8 right font ',8' tc rgb ${q(color[s.name] ?? "#444444")} notitle`)
    .join(", \\\n     ") + "\n";

  // (b) latency p50 / p99 against delivered messages/s
  gp += `set output ${q(latPng)}\n`;
  gp += `set title ${q(`Fan-out: publish-to-receive latency against load${when}`)}\n`;
  gp += "set xlabel 'delivered messages/s'\nset ylabel 'latency (ms, log scale)'\n";
  gp += "set format x '%.0s%c'\nset format y '%g'\nset logscale y\nset xrange [0:*]\nset yrange [1:*]\n";
  gp += "set key top left\n";
  gp += "set arrow 1 from graph 0, first 5 to graph 1, first 5 nohead dt 3 lc rgb '#2ca02c' lw 1.5\n";
  gp += "set label 1 'target: p99 ≤ 5 ms at 20k/s' at graph 0.99, first 5.6 right tc rgb '#2ca02c' font ',9'\n";
  gp += "plot " + files
    .map(([s, f]) => {
      const c = q(color[s.name] ?? "#444444");
      const n = label[s.name] ?? s.name;
      return `${q(f)} using 3:5 with linespoints lw 2 pt 7 ps 1.2 lc rgb ${c} title ${q(n + " p99")}, ` +
        `${q(f)} using 3:4 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb ${c} title ${q(n + " p50")}`;
    })
    .join(", \\\n     ") + "\n";
  const script = path.join(dir, "fanout.gp");
  fs.writeFileSync(script, gp);
  fs.mkdirSync(path.dirname(cpuPng), { recursive: true });
  try {
    execFileSync("gnuplot", [script], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (e) {
    console.error(`report: gnuplot failed (${script}): ${e.stderr?.toString().trim() ?? e.message}`);
    return [];
  }
  return [cpuPng, latPng];
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [resultsDir, prefix = "docs/perf-fanout"] = process.argv.slice(2);
  if (!resultsDir) {
    console.error("usage: plots.mjs <results-dir> [out-prefix]");
    process.exit(2);
  }
  const summary = JSON.parse(fs.readFileSync(path.join(resultsDir, "summary.json"), "utf8"));
  const date = fs.existsSync(path.join(resultsDir, "date.txt"))
    ? fs.readFileSync(path.join(resultsDir, "date.txt"), "utf8").trim()
    : "";
  const out = writeFanoutPlots(summary.fanout ?? [], resultsDir, prefix, { date });
  for (const f of out) console.log(f);
  process.exit(out.length ? 0 : 1);
}
