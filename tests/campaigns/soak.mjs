// `make soak` (issue 12): kamea-wss under steady fan-out, connection churn and a trickle of
// abuse for a long while, sampled every second: RSS, open files, and the post-to-receipt
// latency of every delivered telemetry. The pass rule is that they are flat after the warm-up:
// the last minute against the first minute after it. Also: nothing posted to a steady
// subscriber is lost or repeated, and the server still runs. Writes the samples and a plot
// (gnuplot) beside the raw results, and its section of docs/reliability.md. Loopback only.
//
// node tests/campaigns/soak.mjs [--minutes 10] [--warmup 2] [--no-report]

import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { io } from 'socket.io-client';

import { REPO_ROOT } from '../interop/server.mjs';
import { ingest } from '../interop/standin.mjs';
import { openRaw } from './lib/raw.mjs';
import { openFiles, rssKiB, settle, startTarget, TENANT } from './lib/target.mjs';

const { values } = parseArgs({
    options: {
        minutes: { type: 'string', default: process.env.SOAK_MINUTES ?? '10' },
        warmup: { type: 'string', default: process.env.SOAK_WARMUP_MINUTES ?? '' },
        'no-report': { type: 'boolean', default: false },
    },
});
const minutes = Number(values.minutes);
// Two minutes, or a fifth of a short run.
const warmupMinutes = values.warmup ? Number(values.warmup) : Math.min(2, minutes / 5);
const LOAD = {
    devices: 50,
    steady: 500, // subscribers that stay the whole run: 10 per device
    ratePerS: 200, // telemetries per second, in batches of 10: 2,000 deliveries/s to the steady ones
    churnPerS: 10, // clients that leave and the same number that arrive, every second
    churners: 100,
};
const FLAGS = ['--handshake-timeout', '2000', '--max-payload', '100000'];

const log = (line) => console.log(JSON.stringify(line));

/** A stock client on /devices that subscribes once connected; `received` counts per device. */
function subscriber(server, device, { transports = ['websocket'], onTelemetry } = {}) {
    const socket = io(`${server.url}/devices`, {
        forceNew: true,
        reconnection: false,
        auth: { token: `allow-soak-${crypto.randomBytes(4).toString('hex')}` },
        transports,
    });
    const s = { socket, device, subscribed: false, refused: 0 };
    socket.on('connect', () => {
        socket.emit('telemetries', { deviceId: device, tenantId: TENANT }, (ack) => {
            if (ack?.status === 'ok') {
                s.subscribed = true;
            } else {
                s.refused += 1;
            }
        });
    });
    if (onTelemetry) {
        socket.on('telemetries', onTelemetry);
    }
    return s;
}

/** One piece of abuse of each kind, answered or cut by the server; resolves when it is done. */
async function abuseOnce(server) {
    const kinds = [
        async () => { // random bytes
            const c = await openRaw(server.port);
            c?.socket.end(crypto.randomBytes(2048));
        },
        async () => { // headers that never end: closed at --handshake-timeout
            const c = await openRaw(server.port);
            c?.socket.write('GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Slow: ');
        },
        async () => { // an unknown sid, and an oversized polling POST
            await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${crypto.randomBytes(15).toString('base64url')}`)
                .then((r) => r.text()).catch(() => {});
            const open = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`).then((r) => r.text()).catch(() => '');
            const sid = open.startsWith('0{') ? JSON.parse(open.slice(1)).sid : 'none';
            await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: 'x'.repeat(100_001) })
                .then((r) => r.text()).catch(() => {});
        },
        async () => { // a denied subscription and a malformed one
            const denied = io(`${server.url}/devices`, { forceNew: true, reconnection: false, auth: { token: 'deny-soak' }, transports: ['websocket'] });
            denied.on('connect', () => {
                denied.emit('telemetries', { deviceId: '???', tenantId: TENANT });
                denied.emit('telemetries', { deviceId: 'soak-denied', tenantId: TENANT });
            });
            await settle(500);
            denied.close();
        },
        async () => { // a bad ingestion
            await ingest(server, '[{"deviceId":', {}).catch(() => {});
        },
    ];
    await Promise.all(kinds.map((k) => k().catch(() => {})));
}

const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
const percentile = (xs, p) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
};

async function main() {
    const target = await startTarget(FLAGS);
    const { server } = target;
    const devices = Array.from({ length: LOAD.devices }, (_, i) => `soak-dev-${i}`);
    let latencies = [];
    const expected = new Map(devices.map((d) => [d, 0])); // per device: telemetries accepted
    const got = [];
    const onSteady = (i) => (t) => {
        latencies.push(Date.now() - t.at);
        got[i].push(t.seq);
    };
    const steady = [];
    for (let i = 0; i < LOAD.steady; i++) {
        got.push([]);
        // A tenth over long-polling: its sessions churn by themselves (a GET per delivery).
        const transports = i % 10 === 0 ? ['polling'] : ['websocket'];
        steady.push(subscriber(server, devices[i % devices.length], { transports, onTelemetry: onSteady(i) }));
    }
    const deadline = Date.now() + 60_000;
    while (steady.some((s) => !s.subscribed) && Date.now() < deadline) {
        await settle(100);
    }
    if (steady.some((s) => !s.subscribed)) {
        throw new Error(`${steady.filter((s) => !s.subscribed).length} steady subscribers were never subscribed`);
    }
    log({ event: 'steady', subscribers: steady.length });

    let churners = Array.from({ length: LOAD.churners }, (_, i) => subscriber(server, devices[i % devices.length]));
    let seq = 0;
    let stop = false;
    let posted = 0;
    let postErrors = 0;
    const publisher = (async () => {
        const started = Date.now();
        while (!stop) {
            const batch = Array.from({ length: 10 }, () => {
                const deviceId = devices[seq % devices.length];
                return { deviceId, tenantId: TENANT, seq: seq++, at: Date.now() };
            });
            const res = await ingest(server, batch).catch(() => null);
            if (res?.status === 202) {
                for (const t of batch) {
                    expected.set(t.deviceId, expected.get(t.deviceId) + 1);
                }
                posted += batch.length;
            } else {
                postErrors += 1;
            }
            // Paced to the rate, whatever a request took.
            const due = started + (posted / LOAD.ratePerS) * 1000;
            await settle(Math.max(0, due - Date.now()));
        }
    })();

    const samples = [];
    const startedAt = Date.now();
    const endAt = startedAt + minutes * 60_000;
    let churned = 0;
    let abuses = 0;
    while (Date.now() < endAt && server.running) {
        const tick = Date.now();
        // Churn: the oldest leave, as many arrive.
        const leaving = churners.slice(0, LOAD.churnPerS);
        churners = churners.slice(LOAD.churnPerS);
        for (const c of leaving) {
            c.socket.close();
        }
        for (let i = 0; i < LOAD.churnPerS; i++) {
            churners.push(subscriber(server, devices[(churned + i) % devices.length],
                { transports: (churned + i) % 5 === 0 ? ['polling', 'websocket'] : ['websocket'] }));
        }
        churned += LOAD.churnPerS;
        abuseOnce(server).then(() => { abuses += 1; });
        await settle(Math.max(0, 1000 - (Date.now() - tick)));
        const window = latencies;
        latencies = [];
        samples.push({
            t: (Date.now() - startedAt) / 1000,
            rssKiB: rssKiB(server),
            files: openFiles(server),
            delivered: window.length,
            p50: percentile(window, 0.5),
            p99: percentile(window, 0.99),
        });
        if (samples.length % 10 === 0) {
            log({ event: 'sample', ...samples[samples.length - 1] });
        }
    }
    stop = true;
    await publisher;
    // Every steady subscriber has everything posted for its device, once and in order.
    await settle(3000);
    let lost = 0;
    let repeated = 0;
    let disordered = 0;
    for (let i = 0; i < steady.length; i++) {
        const seqs = got[i];
        const want = expected.get(steady[i].device);
        lost += Math.max(0, want - new Set(seqs).size);
        repeated += seqs.length - new Set(seqs).size;
        disordered += seqs.some((s, k) => k > 0 && s < seqs[k - 1]) ? 1 : 0;
    }
    const running = server.running;
    for (const c of [...steady, ...churners]) {
        c.socket.close();
    }
    await target.close();

    // Flat after the warm-up: the first minute after it against the last minute.
    const after = samples.filter((s) => s.t > warmupMinutes * 60);
    const first = after.filter((s) => s.t <= warmupMinutes * 60 + 60);
    const last = after.filter((s) => s.t > samples[samples.length - 1].t - 60);
    const fig = (rows, key, f = median) => f(rows.map((s) => s[key]).filter(Number.isFinite));
    const rss = [fig(first, 'rssKiB'), fig(last, 'rssKiB')];
    const files = [fig(first, 'files'), fig(last, 'files')];
    const p99 = [fig(first, 'p99', (xs) => percentile(xs, 0.5)), fig(last, 'p99', (xs) => percentile(xs, 0.5))];
    const checks = {
        running,
        rssFlat: rss[1] - rss[0] <= Math.max(4096, 0.05 * rss[0]),
        filesFlat: files[1] - files[0] <= 10,
        latencyFlat: p99[1] <= 2 * p99[0] + 5,
        nothingLost: lost === 0 && repeated === 0 && disordered === 0,
    };
    const pass = Object.values(checks).every(Boolean);
    const result = {
        minutes, warmupMinutes, load: LOAD, samples: samples.length, posted, postErrors, churned, abuses,
        rssKiB: rss, files, p99ms: p99, lost, repeated, disordered, checks, pass,
    };
    log({ event: 'result', ...result });

    const stamp = new Date(startedAt).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const dir = path.join(REPO_ROOT, 'bench', 'results', stamp);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'soak.json'), JSON.stringify({ ...result, samples }, null, 2));
    const tsv = path.join(dir, 'soak.tsv');
    fs.writeFileSync(tsv, '# t_s\trss_mib\topen_files\tp50_ms\tp99_ms\tdelivered_per_s\n' + samples.map((s) =>
        [s.t.toFixed(1), (s.rssKiB / 1024).toFixed(2), s.files, s.p50, s.p99, s.delivered].join('\t')).join('\n') + '\n');
    const png = path.join(REPO_ROOT, 'docs', 'soak.png');
    const plotted = plot(tsv, values['no-report'] ? path.join(dir, 'soak.png') : png, warmupMinutes * 60);
    if (!values['no-report']) {
        writeSoakSection(result, { started: new Date(startedAt), plotted });
    }
    console.log(`soak: ${pass ? 'passed' : 'FAILED'} ${JSON.stringify(checks)}`);
    process.exit(pass ? 0 : 1);
}

/** RSS, open files and p99 over time, the warm-up marked; false when gnuplot is missing. */
export function plot(tsv, png, warmupS) {
    const gp = [
        'set terminal pngcairo size 1000,700',
        `set output ${JSON.stringify(png)}`,
        'set multiplot layout 3,1 title "make soak: kamea-wss under fan-out, churn and abuse"',
        'set grid', 'set key off', `set arrow from ${warmupS}, graph 0 to ${warmupS}, graph 1 nohead dt 2`,
        // From zero: a step of a few hundred KiB must look like what it is.
        'set yrange [0:*]',
        'set ylabel "RSS (MiB)"', `plot ${JSON.stringify(tsv)} using 1:2 with lines lw 2`,
        'set ylabel "open files"', `plot ${JSON.stringify(tsv)} using 1:3 with lines lw 2`,
        'set ylabel "p99 latency (ms)"', 'set xlabel "seconds"', `plot ${JSON.stringify(tsv)} using 1:5 with lines lw 2`,
        'unset multiplot',
    ].join('\n');
    try {
        execFileSync('gnuplot', [], { input: gp });
        return true;
    } catch {
        console.error('soak: gnuplot not found or failed (apt-get install gnuplot-nox): no plot');
        return false;
    }
}

function writeSoakSection(r, { started, plotted }) {
    const when = started.toISOString().slice(0, 16).replace('T', ' ');
    const command = 'make soak' + (r.minutes === 10 ? '' : ` SOAK_MINUTES=${r.minutes}`);
    const mib = (k) => (k / 1024).toFixed(1);
    const yes = (b) => (b ? 'yes' : '**no**');
    const text = [
        `Generated by \`${command}\` on ${when} UTC: ${r.minutes} minutes, the first ${r.warmupMinutes} of them warm-up; ` +
            `**${r.pass ? 'passed' : 'failed'}**.`,
        '',
        `Load: ${r.load.steady} steady subscribers over ${r.load.devices} devices (a tenth over long-polling), ` +
            `${r.load.ratePerS} telemetries/s in batches of 10 (${r.posted} posted, ${r.postErrors} refused), ` +
            `${r.load.churnPerS} clients leaving and ${r.load.churnPerS} arriving every second (${r.churned} in all, ` +
            'a fifth of them upgrading from polling), and every second one of each abuse: random bytes, a request ' +
            'whose headers never end, an unknown sid and an oversized POST, a denied and a malformed subscription, ' +
            `a malformed ingestion (${r.abuses} rounds).`,
        '',
        '| | first minute after warm-up | last minute | flat? |',
        '| --- | --- | --- | --- |',
        `| RSS (median, MiB) | ${mib(r.rssKiB[0])} | ${mib(r.rssKiB[1])} | ${yes(r.checks.rssFlat)} (at most 4 MiB or 5 % more) |`,
        `| open files (median) | ${r.files[0]} | ${r.files[1]} | ${yes(r.checks.filesFlat)} (at most 10 more) |`,
        `| post-to-receipt p99 (median of the seconds, ms) | ${r.p99ms[0]} | ${r.p99ms[1]} | ${yes(r.checks.latencyFlat)} (at most twice, + 5 ms) |`,
        '',
        `Steady subscribers: ${r.lost} telemetries lost, ${r.repeated} repeated, ${r.disordered} out of order ` +
            `(${yes(r.checks.nothingLost)}); the server ${r.checks.running ? 'ran to the end' : '**exited**'}.`,
        plotted ? '\n![RSS, open files and p99 latency over the soak](soak.png)' : '',
    ].join('\n');
    const file = path.join(REPO_ROOT, 'docs', 'reliability.md');
    let doc = fs.readFileSync(file, 'utf8');
    const begin = '<!-- soak:begin -->';
    const end = '<!-- soak:end -->';
    doc = doc.replace(new RegExp(`${begin}[\\s\\S]*${end}`), `${begin}\n${text}\n${end}`);
    fs.writeFileSync(file, doc);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
    await main();
}
