// Small helpers shared by the readers of bench/run.sh's raw results (report.mjs, fanout.mjs).

import fs from "node:fs";
import path from "node:path";

// How each server of bench/run.sh's SERVERS is named in the report and the plots.
export const serverLabel = {
  kamea: "kamea-wss",
  node: "Node.js socket.io (reference)",
  floor: "floor: bare server, io_uring (bench/floor)",
  "floor-epoll": "floor: bare server, a send per recipient (bench/floor)",
};

export const readJson = (f) => JSON.parse(fs.readFileSync(f, "utf8"));
export const sum = (xs) => xs.reduce((a, b) => a + b, 0);
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
// {reason: count} maps of several processes added up
export const merge = (maps) => {
  const out = {};
  for (const m of maps) for (const [k, v] of Object.entries(m ?? {})) out[k] = (out[k] ?? 0) + v;
  return out;
};

// The load generators' files of one run directory: loadgen-<i>.<ext>, in order.
export function loadgenFiles(dir, ext) {
  return fs
    .readdirSync(dir)
    .filter((f) => new RegExp(`^loadgen-\\d+\\.${ext}$`).test(f))
    .sort((a, b) => parseInt(a.slice(8), 10) - parseInt(b.slice(8), 10))
    .map((f) => path.join(dir, f));
}

// A tab-separated file with a header line, as objects of numbers; [] when it does not exist.
export function readTsv(file, columns) {
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, "utf8").trim().split("\n").filter(Boolean);
  const header = columns ?? lines.shift().split("\t");
  const value = (v) => (v !== "" && !Number.isNaN(Number(v)) ? Number(v) : v); // numbers, else text
  return lines.map((l) => Object.fromEntries(l.split("\t").map((v, i) => [header[i] ?? `c${i}`, value(v)])));
}

// The directories below <dir> (sorted) that hold <file>; [] when dir does not exist.
export function runDirs(dir, file) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(dir, d.name, file)))
    .map((d) => d.name)
    .sort()
    .map((name) => path.join(dir, name));
}
