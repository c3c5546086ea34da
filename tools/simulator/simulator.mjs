#!/usr/bin/env node
// Telemetry simulator for the local stack (`make run`): every second it publishes one telemetry
// per demo device to kamea-wss's internal listener (POST /internal/v1/telemetries, contract
// section 7), as one batch. Test and demo only; Node.js >= 20, standard library only.
//
//   node tools/simulator/simulator.mjs [--url http://127.0.0.1:3001] [--ingest-token T]
//       [--tenant demo] [--devices demo-1,demo-2,demo-3] [--interval 1000] [--count 0]
//
// Each telemetry: {"deviceId","tenantId","seq","ts","temperature","humidity"}: seq counts from 1
// per device, ts is the ISO time, and the values drift smoothly (a slow wave per device plus a
// small damped random walk). One JSON line per batch on stdout:
//   {"time","event":"batch","seq":n,"devices":3,"status":202,"accepted":3,"ms":2}
// or with "error" when the service could not be reached or refused the batch (the simulator
// keeps going, so it may start before the service). SIGTERM/SIGINT: finishes the batch in
// flight, prints {"event":"stopped","batches":n} and exits 0.
//
// The model is exported for tests: `deviceModel(deviceId, tenantId).next(timeMs)`.

import fs from 'node:fs';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const DEFAULTS = {
    url: 'http://127.0.0.1:3001',
    tenant: 'demo',
    devices: 'demo-1,demo-2,demo-3',
    interval: '1000',
    count: '0',
};

/** FNV-1a of a string, as a small seed that makes every device look different. */
function hash(text) {
    let h = 0x811c9dc5;
    for (const c of text) {
        h = Math.imul(h ^ c.codePointAt(0), 0x01000193) >>> 0;
    }
    return h;
}

/** A deterministic pseudo-random generator (mulberry32) in [0, 1). */
function random(seed) {
    let s = seed >>> 0;
    return () => {
        s = (s + 0x6d2b79f5) >>> 0;
        let t = s;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

const round = (value, digits) => Number(value.toFixed(digits));

/**
 * The plausible, smooth readings of one device: a room whose temperature follows a slow wave
 * (a few minutes long, around a base of its own) and whose relative humidity moves the other
 * way, each with a small damped random walk on top. `next(timeMs)` returns the next telemetry.
 */
export function deviceModel(deviceId, tenantId) {
    const h = hash(`${tenantId}/${deviceId}`);
    const rand = random(h);
    const baseTemperature = 19 + (h % 60) / 10; // 19.0 .. 24.9 °C
    const baseHumidity = 40 + ((h >>> 8) % 150) / 10; // 40.0 .. 54.9 %
    const periodMs = 120_000 + ((h >>> 16) % 120) * 1000; // 2 .. 4 minutes
    const phase = ((h >>> 4) % 628) / 100;
    let drift = 0;
    let seq = 0;
    return {
        deviceId,
        tenantId,
        next(timeMs = Date.now()) {
            drift = drift * 0.9 + (rand() - 0.5) * 0.12;
            const wave = Math.sin((2 * Math.PI * timeMs) / periodMs + phase);
            seq += 1;
            return {
                deviceId,
                tenantId,
                seq,
                ts: new Date(timeMs).toISOString(),
                temperature: round(baseTemperature + 1.5 * wave + drift, 2),
                humidity: round(Math.min(100, Math.max(0, baseHumidity - 4 * wave - 3 * drift)), 1),
            };
        },
    };
}

const USAGE = 'usage: node tools/simulator/simulator.mjs [--url http://127.0.0.1:3001] [--ingest-token T]\n' +
    '       [--tenant demo] [--devices demo-1,demo-2,demo-3] [--interval 1000] [--count 0]\n' +
    '  --url           base URL of the kamea-wss internal listener\n' +
    '  --ingest-token  bearer token of the ingest endpoint (default $WSS_INGEST_TOKEN, or none)\n' +
    '  --interval      ms between batches; --count: batches to send, 0 = until SIGTERM\n';

function usage(message) {
    process.stderr.write(`simulator: ${message}\n${USAGE}`);
    process.exit(2);
}

function options(argv) {
    let values;
    try {
        ({ values } = parseArgs({
            args: argv,
            options: {
                url: { type: 'string', default: DEFAULTS.url },
                'ingest-token': { type: 'string', default: process.env.WSS_INGEST_TOKEN ?? '' },
                tenant: { type: 'string', default: DEFAULTS.tenant },
                devices: { type: 'string', default: DEFAULTS.devices },
                interval: { type: 'string', default: DEFAULTS.interval },
                count: { type: 'string', default: DEFAULTS.count },
                help: { type: 'boolean', short: 'h', default: false },
            },
            strict: true,
            allowPositionals: false,
        }));
    } catch (err) {
        usage(err.message);
    }
    if (values.help) {
        process.stdout.write(`Publishes demo telemetry to kamea-wss.\n${USAGE}`);
        process.exit(0);
    }
    let endpoint;
    try {
        endpoint = new URL('/internal/v1/telemetries', values.url);
    } catch {
        usage(`--url is not a URL: ${values.url}`);
    }
    if (!['http:', 'https:'].includes(endpoint.protocol)) {
        usage(`--url must be http or https: ${values.url}`);
    }
    const idPattern = /^[A-Za-z0-9._:-]{1,128}$/;
    const devices = values.devices.split(',').map((d) => d.trim()).filter(Boolean);
    if (devices.length === 0 || !devices.every((d) => idPattern.test(d))) {
        usage(`--devices must be a comma-separated list of ids of [A-Za-z0-9._:-]: ${values.devices}`);
    }
    if (!idPattern.test(values.tenant)) {
        usage(`--tenant must be 1-128 characters of [A-Za-z0-9._:-]: ${values.tenant}`);
    }
    const interval = Number(values.interval);
    if (!Number.isInteger(interval) || interval < 10 || interval > 3_600_000) {
        usage(`--interval must be an integer number of ms from 10 to 3600000: ${values.interval}`);
    }
    const count = Number(values.count);
    if (!Number.isInteger(count) || count < 0) {
        usage(`--count must be a non-negative integer (0 = until stopped): ${values.count}`);
    }
    return { endpoint, token: values['ingest-token'], tenant: values.tenant, devices, interval, count };
}

function log(fields) {
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`);
}

/** Posts one batch; resolves with the fields of its log line (never rejects). */
async function publish(endpoint, token, batch, timeoutMs) {
    const headers = { 'content-type': 'application/json' };
    if (token) {
        headers.authorization = `Bearer ${token}`;
    }
    const started = performance.now();
    try {
        const res = await fetch(endpoint, {
            method: 'POST',
            headers,
            body: JSON.stringify(batch),
            signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await res.text();
        const ms = Math.round(performance.now() - started);
        let body;
        try {
            body = JSON.parse(text);
        } catch {
            body = undefined;
        }
        if (res.status === 202) {
            return { status: 202, accepted: body?.accepted, ms };
        }
        return { status: res.status, error: body?.message ?? body?.error ?? text.slice(0, 200), ms };
    } catch (err) {
        const cause = err.cause?.code ?? err.cause?.message ?? err.name;
        return { error: `${err.message}${cause && cause !== err.message ? ` (${cause})` : ''}` };
    }
}

async function main() {
    const opts = options(process.argv.slice(2));
    const models = opts.devices.map((d) => deviceModel(d, opts.tenant));
    let batches = 0;
    let stopping = false;
    let inFlight = Promise.resolve();
    let timer;

    const stop = async (signal) => {
        if (stopping) {
            return;
        }
        stopping = true;
        clearTimeout(timer);
        await inFlight;
        log({ event: 'stopped', signal, batches });
        process.exit(0);
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));

    log({ event: 'started', url: opts.endpoint.href, tenantId: opts.tenant, devices: opts.devices,
        intervalMs: opts.interval });

    // Ticks on a fixed cadence from the start (no drift); a tick that comes while the previous
    // batch is still in flight is skipped, so a slow service never builds up a backlog.
    const start = performance.now();
    let tick = 0;
    let busy = false;
    const schedule = () => {
        tick += 1;
        timer = setTimeout(run, Math.max(0, start + tick * opts.interval - performance.now()));
    };
    const run = () => {
        if (stopping) {
            return;
        }
        schedule();
        if (busy) {
            log({ event: 'skipped', reason: 'previous batch still in flight' });
            return;
        }
        busy = true;
        const now = Date.now();
        const batch = models.map((m) => m.next(now));
        inFlight = publish(opts.endpoint, opts.token, batch, Math.max(2000, 5 * opts.interval))
            .then((result) => {
                batches += 1;
                log({ event: 'batch', seq: batch[0].seq, devices: batch.length, ...result });
                busy = false;
                if (opts.count > 0 && batches >= opts.count) {
                    stop('count');
                }
            });
    };
    run();
}

const isMain = () => {
    try {
        return fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
    } catch {
        return false;
    }
};
if (process.argv[1] && isMain()) {
    main();
}
