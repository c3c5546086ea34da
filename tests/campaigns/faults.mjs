// The fault campaign (issue 12, contract sections 6, 8 and 10): what kamea-wss depends on fails
// while clients use it. The Management API sits behind a proxy that fails on demand
// (lib/fault-proxy.mjs), telemetry goes through a RabbitMQ node of the campaign's own, and the
// server itself is restarted under a reconnect storm and stopped with SIGTERM under full fan-out.
// Each step states what the server must do (`pass`); lib/runner.mjs adds the normal clients.
//
// `scale`: 1 for the short form in `make test` (tests/interop/faults.test.mjs), 10 for
// `make faults`, which also writes docs/reliability.md.

import fs from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import * as rabbit from '../lib/rabbitmq.mjs';
import { client, REPO_ROOT, TEST_THREADS, waitConnected } from '../interop/server.mjs';
import { emitAck, ingest, readMetric, startKamea, startStandin, subscribe, telemetrySink, uid } from '../interop/standin.mjs';
import { startFaultProxy } from './lib/fault-proxy.mjs';
import { runSteps } from './lib/runner.mjs';
import { settle, TENANT } from './lib/target.mjs';

const run = promisify(execFile);
const API_TIMEOUT_MS = 1000;
const GRACE_MS = 5000;

const FLAGS = [
    '--management-api-timeout', String(API_TIMEOUT_MS),
    '--shutdown-grace', String(GRACE_MS),
    '--amqp-heartbeat', '2',
    '--amqp-probe-interval', '500',
];

/** N new sockets each subscribing once; resolves with {answers: tally, slowestMs, missing}. */
async function subscribeMany(server, n, { token = () => uid('allow-f'), device = () => uid('fdev') } = {}) {
    const started = Date.now();
    const answers = {};
    let slowest = 0;
    let missing = 0;
    const sockets = [];
    await Promise.all(Array.from({ length: n }, async () => {
        const socket = client(`${server.url}/devices`, { auth: { token: token() }, transports: ['websocket'] });
        sockets.push(socket);
        try {
            await waitConnected(socket);
            const ack = await emitAck(socket, 'telemetries', { deviceId: device(), tenantId: TENANT });
            const key = ack?.status === 'ok' ? 'ok' : ack?.error ?? JSON.stringify(ack);
            answers[key] = (answers[key] ?? 0) + 1;
            slowest = Math.max(slowest, Date.now() - started);
        } catch {
            missing += 1;
        }
    }));
    for (const s of sockets) {
        s.disconnect();
    }
    return { answers, slowestMs: slowest, missing };
}

/** A step that puts the API proxy in `mode` while clients subscribe, then back to `pass`. */
function apiFault(mode, what, { options, expect = ['internal_server_error'] } = {}) {
    return {
        name: `api-${mode}`,
        what,
        probeDuring: false, // a new subscription cannot succeed while the API fails: the step counts them
        async run({ server, proxy, scale, during }) {
            await proxy.set(mode, options);
            const n = 20 * scale;
            const [got] = await Promise.all([subscribeMany(server, n), during()]);
            await proxy.set('pass');
            // No state left behind: the same kind of subscription works at once afterwards.
            const again = await subscribeMany(server, 5);
            const allowed = Object.keys(got.answers).every((k) => expect.includes(k) || k === 'ok');
            return {
                load: `${n} subscriptions while the API is ${mode}`,
                outcome: `answers ${JSON.stringify(got.answers)} (the last after ${got.slowestMs} ms, ` +
                    `--management-api-timeout ${API_TIMEOUT_MS}); unanswered: ${got.missing}; ` +
                    `afterwards ${JSON.stringify(again.answers)}`,
                pass: got.missing === 0 && allowed && again.answers.ok === 5,
            };
        },
    };
}

/** Clients that resubscribe in their own `connect` handler, as applications do. */
function appClients(server, n, devices, { users = n, checkMs = 0 } = {}) {
    const clients = [];
    for (let i = 0; i < n; i++) {
        const device = devices[i % devices.length];
        // slow<ms>- tokens: the stand-in allows them after that delay (so checks overlap).
        const token = checkMs > 0 ? `slow${checkMs}-storm-u${i % users}` : `allow-storm-u${i % users}`;
        const socket = client(`${server.url}/devices`, {
            auth: { token },
            transports: ['websocket'],
            reconnection: true,
            reconnectionDelay: 500,
            reconnectionDelayMax: 3000,
        });
        const sink = telemetrySink(socket);
        const c = { socket, sink, device, subscribed: 0, refused: [], connects: 0 };
        socket.on('connect', () => {
            c.connects += 1;
            // No ack timeout: under a restart storm (and a sanitizer) an ack may come late, and
            // what counts is that it comes.
            socket.emit('telemetries', { deviceId: device, tenantId: TENANT }, (ack) => {
                if (ack?.status === 'ok') {
                    c.subscribed += 1;
                } else {
                    c.refused.push(ack?.error ?? JSON.stringify(ack));
                }
            });
        });
        clients.push(c);
    }
    return clients;
}

/** For a failed step: how the clients that were not served again stand. */
function describeLagging(clients, before) {
    const lagging = clients.filter((c, i) => c.subscribed <= before[i]);
    if (lagging.length === 0) {
        return '';
    }
    const tally = {};
    for (const c of lagging) {
        const key = `connected ${c.socket.connected}, connects ${c.connects}, acks ok ${c.subscribed}, ` +
            `refused ${JSON.stringify(c.refused)}`;
        tally[key] = (tally[key] ?? 0) + 1;
    }
    return `; not served again: ${lagging.length} (${JSON.stringify(tally)})`;
}

const waitFor = async (cond, ms) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        if (await cond()) {
            return true;
        }
        await settle(100);
    }
    return false;
};

export const FAULTS = [
    apiFault('slow', 'the Management API answers after 3 s (the timeout is 1 s)', { options: { delayMs: 3000 } }),
    apiFault('down', 'the Management API is not listening'),
    apiFault('flap', 'the Management API alternates every 250 ms between answering and closing connections'),
    apiFault('garbage', 'the Management API answers 200 with a body that is not JSON'),
    apiFault('huge', 'the Management API answers 200 with a 64 MiB body'),
    apiFault('cut', 'the Management API closes the connection in the middle of its answer'),
    {
        name: 'bus-killed',
        what: 'the RabbitMQ node is killed (SIGKILL), then started again',
        probeDuring: false,
        residentDuring: false, // nothing is delivered while there is no bus: ingestion says 503
        async run({ server, during, broker }) {
            const disconnects = [];
            const resident = client(`${server.url}/devices`, { auth: { token: uid('allow-bus') }, transports: ['websocket'] });
            resident.on('disconnect', (r) => disconnects.push(r));
            await waitConnected(resident);
            const device = uid('busdev');
            await subscribe(resident, device, TENANT);
            const sink = telemetrySink(resident);
            process.kill(Number(process.env.KAMEA_RABBITMQ_PID), 'SIGKILL');
            const killedAt = Date.now();
            const noticed = await waitFor(async () => (await readMetric(server, 'kamea_bus_connected')) === 0, 20_000);
            const down = await ingest(server, { deviceId: device, tenantId: TENANT, seq: -1 });
            await during();
            await broker.revive();
            const back = await waitFor(async () => (await readMetric(server, 'kamea_bus_connected')) === 1, 60_000);
            const backMs = Date.now() - killedAt;
            let delivered = false;
            for (let seq = 0; seq < 100 && !delivered; seq++) {
                await ingest(server, { deviceId: device, tenantId: TENANT, seq });
                delivered = await waitFor(() => sink.received.length > 0, 200);
            }
            const dropped = disconnects.slice(); // before our own disconnect() adds "io client disconnect"
            resident.disconnect();
            return {
                load: 'one subscriber on the bus, the node killed and revived',
                outcome: `loss noticed: ${noticed}; ingestion meanwhile: ${down.status} ${down.json?.error ?? ''}; ` +
                    `bus back ${back ? `${backMs} ms after the kill` : 'never'}; delivery resumed: ${delivered}; ` +
                    `client disconnects: ${dropped.length ? JSON.stringify(dropped) : 'none'}`,
                pass: noticed && down.status === 503 && back && delivered && dropped.length === 0 &&
                    sink.received.every((t) => t.seq !== -1),
            };
        },
    },
    {
        name: 'reconnect-storm',
        what: 'the server restarts under clients that all reconnect and resubscribe at once',
        probeDuring: false, // the server is restarting
        residentDuring: false,
        async run(ctx) {
            const { target, scale, during } = ctx;
            const n = 300 * scale;
            const devices = Array.from({ length: 50 }, () => uid('storm'));
            // 30 users over 50 devices: n clients, 150 distinct (user, device) checks. Each
            // check takes 400 ms, so the storm's checks overlap: coalescing and the cap show.
            const users = 30;
            const pairs = 150;
            // The API timeout back at its default for both storms (the clients' first arrival
            // is one too): a check queued behind the cap for a slot counts against it, and this
            // step is about the storm, not about timeouts (with 1 s, the first storm alone
            // failed the checks of 22 of the 150 pairs: 400 ms queued, then 400 ms asked).
            const restartFlags = FLAGS.map((f, i) => (FLAGS[i - 1] === '--management-api-timeout' ? '5000' : f));
            restartFlags.push('--amqp-url', rabbit.amqpUrl());
            const port = target.server.port;
            await target.server.stop();
            target.server = await startKamea(target.proxy.url, restartFlags, { port });
            ctx.restarted = true;
            const clients = appClients(target.server, n, devices, { users, checkMs: 400 });
            const firstServed = await waitFor(() => clients.every((c) => c.subscribed >= 1), 60_000);
            const before = clients.map((c) => c.subscribed);
            await fetch(`${target.api.url}/_control/reset`, { method: 'POST' }); // count the storm's checks only
            await target.server.stop('SIGKILL');
            const restartedAt = Date.now();
            target.server = await startKamea(target.proxy.url, restartFlags, { port });
            // Served again: an ok acknowledged after the restart, on top of those before it.
            const served = await waitFor(() => clients.every((c, i) => c.subscribed > before[i]), 120_000);
            const servedMs = Date.now() - restartedAt;
            await during();
            // Every client receives again.
            for (const d of devices) {
                await ingest(target.server, { deviceId: d, tenantId: TENANT, after: 'restart' });
            }
            const receiving = await waitFor(() => clients.every((c) => c.sink.received.some((t) => t.after === 'restart')), 30_000);
            const stats = await (await fetch(`${target.api.url}/_control/stats`)).json();
            const lagging = describeLagging(clients, before);
            for (const c of clients) {
                c.socket.io.reconnection(false);
                c.socket.disconnect();
            }
            const cap = 64 * TEST_THREADS; // --management-api-max-concurrency per event loop
            return {
                load: `${n} clients over ${devices.length} devices, server killed and started again`,
                outcome: `first arrival all subscribed: ${firstServed}; ` +
                    `all resubscribed: ${served} (${servedMs} ms after the restart); all receiving: ${receiving}; ` +
                    `API checks for ${n} subscriptions (${pairs} distinct user/device pairs): ${stats.requests}, ` +
                    `most in flight at once: ${stats.inFlightMax} (cap ${cap})${lagging}`,
                pass: firstServed && served && receiving && stats.inFlightMax <= cap && stats.requests < n, // fewer calls than clients: coalesced
            };
        },
    },
    {
        name: 'sigterm-under-fan-out',
        what: 'SIGTERM while telemetry pours out to every client',
        probeDuring: false,
        residentDuring: false,
        async run(ctx) {
            const { target, scale, during } = ctx;
            const n = 100 * scale;
            const devices = Array.from({ length: 20 }, () => uid('term'));
            const clients = appClients(target.server, n, devices);
            await waitFor(() => clients.every((c) => c.subscribed >= 1), 60_000);
            const reasons = {};
            for (const c of clients) {
                c.socket.io.reconnection(false); // count how each is told, without reconnecting
                c.socket.on('disconnect', (r) => { reasons[r] = (reasons[r] ?? 0) + 1; });
            }
            const accepted = new Map(devices.map((d) => [d, new Set()]));
            let stop = false;
            let seq = 0;
            const pour = (async () => {
                while (!stop) {
                    const batch = devices.map((d) => ({ deviceId: d, tenantId: TENANT, seq: seq++ }));
                    const res = await ingest(target.server, batch).catch(() => null);
                    if (res?.status === 202) {
                        for (const t of batch) {
                            accepted.get(t.deviceId).add(t.seq);
                        }
                    }
                }
            })();
            await settle(1000);
            const signalled = Date.now();
            const server = target.server;
            server.proc.kill('SIGTERM');
            const exit = await server.exited;
            const exitMs = Date.now() - signalled;
            stop = true;
            await pour;
            await settle(200);
            let lost = 0;
            let acceptedTotal = 0;
            for (const c of clients) {
                const got = new Set(c.sink.received.map((t) => t.seq));
                for (const s of accepted.get(c.device)) {
                    acceptedTotal += 1;
                    if (!got.has(s)) {
                        lost += 1;
                    }
                }
            }
            const port = server.port;
            // The API timeout back at its default: a check queued behind the cap for a slot
            // counts against it, and this step is about the storm, not about timeouts (with
            // 1 s, a loaded machine failed a few checks that waited 400 ms, then took 400 ms).
            const restartFlags = FLAGS.map((f, i) => (FLAGS[i - 1] === '--management-api-timeout' ? '5000' : f));
            restartFlags.push('--amqp-url', rabbit.amqpUrl());
            target.server = await startKamea(target.proxy.url, restartFlags, { port });
            ctx.restarted = true;
            await during();
            for (const c of clients) {
                c.socket.disconnect();
            }
            const told = Object.values(reasons).reduce((a, b) => a + b, 0);
            return {
                load: `${n} clients over ${devices.length} devices, ${seq} telemetries posted`,
                outcome: `exit code ${exit.code} after ${exitMs} ms (grace ${GRACE_MS}); clients told: ${told}/${n} ` +
                    `${JSON.stringify(reasons)}; accepted deliveries lost: ${lost} of ${acceptedTotal}`,
                pass: exit.code === 0 && exitMs <= GRACE_MS + 2000 && told === n && lost === 0,
            };
        },
    },
];

/** Starts a broker, the stand-in behind the fault proxy and kamea-wss; runs the faults. */
export async function runCampaign({ scale = 1, only, log } = {}) {
    const own = await rabbit.startOwnBroker('start');
    const home = process.env.KAMEA_RABBITMQ_HOME;
    const broker = {
        async revive() {
            await run(`${REPO_ROOT}/scripts/rabbitmq.sh`, ['revive', home], { timeout: 120_000 });
            for (const line of fs.readFileSync(`${home}/env`, 'utf8').split('\n')) {
                const eq = line.indexOf('=');
                if (eq > 0) {
                    process.env[line.slice(0, eq)] = line.slice(eq + 1);
                }
            }
        },
    };
    const api = await startStandin();
    const proxy = await startFaultProxy(api.url);
    const target = {
        api,
        proxy,
        broker,
        server: await startKamea(proxy.url, [...FLAGS, '--amqp-url', rabbit.amqpUrl()]),
    };
    await target.server.waitForLog((l) => l.event === 'bus_connected' && l.connection === 'consumer');
    try {
        return await runSteps(target, FAULTS, { scale, only, log });
    } finally {
        await target.server.stop();
        await proxy.close();
        await api.close();
        await own.stop();
    }
}
