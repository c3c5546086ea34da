// Three kamea-wss instances on one RabbitMQ behind the real HAProxy (deploy/haproxy/haproxy.cfg,
// used as it is: its ports come from the environment), restarted one at a time as a rolling
// restart does (contract sections 7, 8 and 10).
//
// Stock socket.io-client clients (reconnection on, short delays) of the three setups (polling
// only, WebSocket only, the default upgrade) connect through the balancer and subscribe in
// their `connect` handler, as an app does. Telemetries are posted to one instance's ingestion
// and reach every client through the bus. Each instance in turn gets SIGTERM, must exit 0, and
// is started again on the same ports; once HAProxy sees it up, every client must be connected
// again (by itself: no `io server disconnect`) and receive new telemetries. Polling through
// the balancer works because of HAProxy's inserted cookie (sticky sessions).
//
// The broker is the run's own (scripts/test.sh: KAMEA_AMQP_URL); without one this file starts
// one with scripts/rabbitmq.sh and stops it afterwards. The exchange is this file's own.

import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { killOnExit } from '../lib/processes.mjs';
import { client, closeAllClients, KameaServer, REPO_ROOT, SERVER_BIN, STEP_TIMEOUT, withTimeout } from './server.mjs';
import { freePort, ingest, startStandin, uid } from './standin.mjs';

const run = promisify(execFile);
const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const HAPROXY_CFG = path.join(REPO_ROOT, 'deploy', 'haproxy', 'haproxy.cfg');
const EXCHANGE = `kamea-test-cluster-${process.pid}`;
const TENANT = uid('tenant');
const DEVICE = uid('device');
const TOKEN = `allow-${uid('cluster')}`;
const CHECK_INTER = '200ms';
const haproxyAvailable = spawnSync('haproxy', ['-v']).status === 0;

let amqp;
let ownBroker; // the directory of the broker this file started, if any
let api;
let tmp;
let lb; // {proc, port, url, socket, log}
const slots = []; // {name, publicPort, internalPort, server}
const clients = []; // {label, socket, received, acks, disconnects, connects}
let seq = 0;

// ---------------------------------------------------------------------------------------------
// The processes

async function startBroker() {
    if (process.env.KAMEA_AMQP_URL) {
        return process.env.KAMEA_AMQP_URL;
    }
    ownBroker = fs.mkdtempSync(path.join(os.tmpdir(), 'kamea-cluster-rabbitmq-'));
    await run(path.join(REPO_ROOT, 'scripts', 'rabbitmq.sh'), ['start', ownBroker], { timeout: 120_000 });
    const env = fs.readFileSync(path.join(ownBroker, 'env'), 'utf8');
    const url = /^KAMEA_AMQP_URL=(.*)$/m.exec(env)?.[1];
    assert.ok(url, `no KAMEA_AMQP_URL in ${ownBroker}/env`);
    return url;
}

/** Starts the instance of `slot` on its fixed ports; resolves once it consumes from the bus. */
async function startInstance(slot) {
    const args = [
        '--public-host', '127.0.0.1', '--public-port', String(slot.publicPort),
        '--internal-port', String(slot.internalPort),
        '--threads', '1',
        '--management-api-url', api.url,
        '--amqp-url', amqp, '--amqp-exchange', EXCHANGE, '--amqp-unbind-linger', '200',
        '--shutdown-grace', '2000',
        // Recovery on, as a deployment that wants it: a client whose instance restarted lands
        // on another one, which knows nothing of its session (recovered: false).
        '--recovery-window', '120',
        // Every client comes through the balancer, from one address.
        '--max-connections-per-ip', '0',
    ];
    const proc = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(proc);
    const server = new KameaServer(proc, args);
    try {
        await server.waitForLog((l) => l.event === 'listening' && l.listener === 'internal');
        await server.waitForLog((l) => l.event === 'bus_connected' && l.connection === 'consumer');
    } catch (err) {
        await server.stop('SIGKILL');
        throw new Error(`${slot.name} did not start: ${err.message}\nstderr: ${server.stderr}`);
    }
    server.port = slot.publicPort;
    server.internalPort = slot.internalPort;
    server.url = `http://127.0.0.1:${slot.publicPort}`;
    server.internalUrl = `http://127.0.0.1:${slot.internalPort}`;
    slot.server = server;
    return server;
}

async function startHaproxy() {
    const port = await freePort();
    const socket = path.join(tmp, 'haproxy.sock');
    const env = {
        ...process.env,
        KAMEA_LB_HOST: '127.0.0.1',
        KAMEA_LB_PORT: String(port),
        KAMEA_LB_STATS_SOCKET: socket,
        KAMEA_LB_CHECK_INTER: CHECK_INTER,
    };
    slots.forEach((slot, i) => {
        env[`KAMEA_WSS${i + 1}_HOST`] = '127.0.0.1';
        env[`KAMEA_WSS${i + 1}_PORT`] = String(slot.publicPort);
        env[`KAMEA_WSS${i + 1}_INTERNAL_PORT`] = String(slot.internalPort);
    });
    delete env.KAMEA_LB_APP;
    const proc = spawn('haproxy', ['-db', '-f', HAPROXY_CFG], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(proc);
    const state = { proc, port, url: `http://127.0.0.1:${port}`, socket, log: '' };
    for (const stream of [proc.stdout, proc.stderr]) {
        stream.setEncoding('utf8');
        stream.on('data', (chunk) => {
            state.log = (state.log + chunk).slice(-20_000);
        });
    }
    state.exited = new Promise((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
    return state;
}

/** `show stat` on HAProxy's admin socket: {serverName: status} of backend kamea-wss. */
function serverStates() {
    return withTimeout(new Promise((resolve, reject) => {
        let text = '';
        const conn = net.connect(lb.socket, () => conn.end('show stat\n'));
        conn.setEncoding('utf8');
        conn.on('data', (chunk) => {
            text += chunk;
        });
        conn.on('error', reject);
        conn.on('end', () => {
            const [header, ...rows] = text.trim().split('\n');
            const cols = header.replace(/^# /, '').split(',');
            const states = {};
            for (const row of rows) {
                const f = Object.fromEntries(row.split(',').map((v, i) => [cols[i], v]));
                if (f.pxname === 'kamea-wss' && f.svname !== 'BACKEND' && f.svname !== 'FRONTEND') {
                    states[f.svname] = f.status;
                }
            }
            resolve(states);
        });
    }), 'show stat on the HAProxy socket');
}

async function waitFor(cond, what, ms = 15_000) {
    const deadline = Date.now() + ms;
    for (;;) {
        if (await cond()) {
            return;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out waiting for ${what}`);
        }
        await settle(50);
    }
}

/** Until HAProxy's health checks see every instance (or the named ones) UP. */
function waitUp(names = slots.map((s) => s.name)) {
    return waitFor(async () => {
        const states = await serverStates().catch(() => ({}));
        return names.every((n) => states[n] === 'UP');
    }, `HAProxy to see ${names.join(', ')} up (log: ${lb.log.slice(-2000)})`);
}

// ---------------------------------------------------------------------------------------------
// The clients

const SETUPS = [
    ['polling', { transports: ['polling'] }],
    ['websocket', { transports: ['websocket'] }],
    ['upgrade', {}],
];
const PER_SETUP = 3;

/** A client through the balancer that subscribes in its `connect` handler, as an app does. */
function appClient(label, transportOptions) {
    const socket = client(`${lb.url}/devices`, {
        ...transportOptions,
        auth: { token: TOKEN },
        // In Node.js the cookie jar (for HAProxy's sticky cookie) is on with withCredentials,
        // as a browser keeps cookies of its own origin.
        withCredentials: true,
        reconnection: true,
        reconnectionDelay: 100,
        reconnectionDelayMax: 500,
        timeout: 5000,
    });
    // reconnects: {recovered, connectMs, subscribedMs} for each reconnection, timed from the
    // disconnect.
    const c = { label, socket, received: [], acks: [], disconnects: [], connects: 0, reconnects: [], lostAt: 0 };
    socket.on('connect', () => {
        c.connects += 1;
        const lostAt = c.lostAt;
        const reconnect = lostAt ? { recovered: socket.recovered, connectMs: Date.now() - lostAt } : null;
        if (reconnect) {
            c.reconnects.push(reconnect);
        }
        if (socket.recovered) {
            return; // its subscriptions came back with it
        }
        socket.emit('telemetries', { deviceId: DEVICE, tenantId: TENANT }, (ack) => {
            c.acks.push(ack);
            if (reconnect) {
                reconnect.subscribedMs = Date.now() - lostAt;
            }
        });
    });
    socket.on('telemetries', (t) => c.received.push(t));
    socket.on('disconnect', (reason) => {
        c.disconnects.push(reason);
        c.lostAt = Date.now();
    });
    clients.push(c);
    return c;
}

async function post(slot, body) {
    const res = await ingest(slot.server, body);
    assert.equal(res.status, 202, `${slot.name}'s ingestion answered ${res.status} ${res.text}`);
}

/**
 * Posts a sequence of telemetries (to the instances in turn) until every client is connected
 * and has received one posted now; fails after `ms` naming the clients that have not.
 */
async function everyoneReceives(what, ms = 20_000) {
    const from = seq + 1;
    const fresh = (c) => c.socket.connected && c.received.some((t) => t.seq >= from);
    const deadline = Date.now() + ms;
    let turn = 0;
    while (!clients.every(fresh)) {
        if (Date.now() > deadline) {
            const late = clients.filter((c) => !fresh(c)).map((c) =>
                `${c.label} (connected ${c.socket.connected}, acks ${JSON.stringify(c.acks.slice(-2))}, ` +
                `disconnects ${JSON.stringify(c.disconnects)})`);
            throw new Error(`${what}: no fresh telemetry within ${ms} ms for ${late.join('; ')}`);
        }
        seq += 1;
        await post(slots[turn % slots.length], { deviceId: DEVICE, tenantId: TENANT, seq });
        turn += 1;
        await settle(100);
    }
    for (const c of clients) {
        assert.deepEqual(c.acks.at(-1), { status: 'ok' }, `${c.label}'s last subscription`);
    }
}

// ---------------------------------------------------------------------------------------------

describe('a rolling restart behind HAProxy', { skip: !haproxyAvailable && 'haproxy is not installed' }, () => {
    before(async () => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kamea-cluster-'));
        [amqp, api] = await Promise.all([startBroker(), startStandin()]);
        for (let i = 1; i <= 3; i += 1) {
            slots.push({ name: `kamea${i}`, publicPort: await freePort(), internalPort: await freePort() });
        }
        await Promise.all(slots.map(startInstance));
        lb = await startHaproxy();
        await waitUp();
    });

    after(async () => {
        closeAllClients();
        await Promise.all(slots.map((s) => s.server?.stop('SIGTERM', 5000)));
        if (lb && lb.proc.exitCode === null) {
            lb.proc.kill('SIGTERM');
            await lb.exited;
        }
        await api?.close();
        if (ownBroker) {
            await run(path.join(REPO_ROOT, 'scripts', 'rabbitmq.sh'), ['stop', ownBroker], { timeout: 60_000 })
                .catch(() => {});
            fs.rmSync(ownBroker, { recursive: true, force: true });
        }
        if (tmp) {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });

    test('polling through the balancer sticks to one instance by HAProxy\'s cookie', async () => {
        const handshake = await fetch(`${lb.url}/socket.io/?EIO=4&transport=polling`);
        const body = await handshake.text();
        assert.equal(handshake.status, 200, body);
        const { sid } = JSON.parse(body.slice(1));
        const cookie = handshake.headers.get('set-cookie') ?? '';
        const m = /^SERVERID=(kamea[123]);/.exec(cookie);
        assert.ok(m, `HAProxy inserted no SERVERID cookie: "${cookie}"`);
        assert.match(cookie, /HttpOnly/i);
        const url = `${lb.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
        const headers = { cookie: `SERVERID=${m[1]}` };
        // CONNECT to /devices, then the reply, then a few heartbeats' worth of requests: every
        // one reaches the session's instance.
        const connect = await fetch(url, { method: 'POST', headers, body: `40/devices,${JSON.stringify({ token: TOKEN })}` });
        assert.equal(connect.status, 200, await connect.text());
        const reply = await (await fetch(url, { headers })).text();
        assert.match(reply, /^40\/devices,\{"sid":/);
        for (let i = 0; i < 6; i += 1) {
            const res = await fetch(url, { method: 'POST', headers, body: '3' }); // a pong: harmless
            assert.equal(res.status, 200, `request ${i} of the session: ${await res.text()}`);
        }
        await fetch(url, { method: 'POST', headers, body: '1' }); // close the session
    });

    test('clients of every transport setup reconnect by themselves through three restarts', { timeout: 120_000 }, async (t) => {
        for (const [name, options] of SETUPS) {
            for (let i = 1; i <= PER_SETUP; i += 1) {
                appClient(`${name}#${i}`, options);
            }
        }
        await everyoneReceives('once connected');
        // The polling-only clients carry HAProxy's cookie in their jar.
        for (const c of clients.filter((x) => x.label.startsWith('polling'))) {
            const jar = c.socket.io.engine._cookieJar;
            assert.ok(jar && [...jar.cookies].some(([n]) => n === 'SERVERID'), `${c.label} has no SERVERID cookie`);
        }

        let total = 0;
        for (const slot of slots) {
            const before = clients.reduce((n, c) => n + c.disconnects.length, 0);
            const marks = clients.map((c) => c.reconnects.length);
            const { code, signal } = await slot.server.stop('SIGTERM');
            assert.equal(code, 0, `${slot.name} exited with code ${code}, signal ${signal}: ${slot.server.stderr}`);
            await startInstance(slot);
            await waitUp([slot.name]);
            await everyoneReceives(`after restarting ${slot.name}`);
            const dropped = clients.reduce((n, c) => n + c.disconnects.length, 0) - before;
            total += dropped;
            const fresh = clients.flatMap((c, i) => c.reconnects.slice(marks[i]));
            const times = (key) => fresh.map((r) => r[key]).filter((x) => x !== undefined).sort((a, b) => a - b);
            const [connectMs, subscribedMs] = [times('connectMs'), times('subscribedMs')];
            t.diagnostic(`${slot.name} restarted: ${dropped} client(s) reconnected elsewhere, ` +
                `${fresh.filter((r) => r.recovered).length} recovered, ${subscribedMs.length} resubscribed; ` +
                `reconnected after ${connectMs[0]}-${connectMs.at(-1)} ms, subscribed again after ` +
                `${subscribedMs[0]}-${subscribedMs.at(-1)} ms (median ${subscribedMs[subscribedMs.length >> 1]} ms)`);
            // Their instance is gone with their sessions: none is recovered, all resubscribe.
            assert.ok(fresh.every((r) => r.recovered === false), 'a client of a restarted instance was recovered');
        }

        // Every client is connected and got the last ones; the restarts did drop clients
        // (each instance had some), and none was told not to reconnect.
        await everyoneReceives('at the end');
        assert.ok(total > 0, 'no client was ever connected to a restarted instance');
        const reasons = new Set(clients.flatMap((c) => c.disconnects));
        t.diagnostic(`disconnect reasons: ${[...reasons].join(', ')}; transports at the end: ${
            clients.map((c) => `${c.label}=${c.socket.io.engine.transport.name}`).join(' ')}`);
        assert.ok(!reasons.has('io server disconnect'), `a client got a DISCONNECT: ${[...reasons]}`);
        for (const c of clients) {
            assert.equal(c.socket.connected, true, `${c.label} is not connected`);
            assert.equal(c.connects, c.disconnects.length + 1, `${c.label}: connects vs disconnects`);
        }
    });
});
