// The Python client a back-end consumer uses: Debian's python3-socketio 5.7 (over
// python3-engineio 4.3, requests and websocket-client), driven through
// tests/interop/python/client.py against kamea-wss and the Management API stand-in, on polling
// only, WebSocket only and the default upgrade: the token in a header and in the auth payload,
// subscribe with an ack, single telemetries and bursts of hundreds (complete, in order),
// "last": true and auth:refresh, denial, bad input, unsubscribe, the heartbeat, and binary
// arguments both ways.
//
// python-engineio runs each received message's handler on a thread of its own, so the order in
// which handlers ran is the library's business: order is asserted on what arrived on the wire
// (client.py records it on the reader thread, decoded by the library's own packet classes),
// completeness and exact contents on what the handlers got.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { killOnExit, readJsonLines } from '../lib/processes.mjs';
import { REPO_ROOT, startServer, STEP_TIMEOUT, waitUntil, withTimeout } from './server.mjs';
import { ingest, readMetric, startKamea, startStandin, uid } from './standin.mjs';

// Debian's interpreter, where python3-socketio is installed (scripts/install-deps.sh); a
// pyenv or venv python3 earlier in PATH would not see it.
const PYTHON = process.env.KAMEA_PYTHON ?? '/usr/bin/python3';
const CLIENT = path.join(REPO_ROOT, 'tests', 'interop', 'python', 'client.py');
const TENANT = 'tenant-py';

// Socket.IO packet types, as client.py reports them on the wire.
const EVENT = 2;
const DISCONNECT = 1;

const clients = new Set();

/** One client.py process: commands in, JSON lines out. */
class PyClient {
    static async start() {
        const c = new PyClient();
        const hello = await c.waitLine((l) => l.ready === true, 'client.py ready');
        c.versions = hello;
        return c;
    }

    constructor() {
        this.lines = [];
        this.stderr = '';
        this.waiters = new Set();
        this.proc = spawn(PYTHON, [CLIENT, '--deadline', '120'], { stdio: ['pipe', 'pipe', 'pipe'] });
        killOnExit(this.proc);
        clients.add(this);
        readJsonLines(this.proc.stdout, (line) => {
            this.lines.push(line);
            for (const w of this.waiters) {
                w();
            }
        });
        this.proc.stderr.setEncoding('utf8');
        this.proc.stderr.on('data', (chunk) => {
            this.stderr += chunk;
        });
        this.exited = new Promise((resolve) => {
            this.proc.on('close', (code) => {
                this.exitCode = code;
                for (const w of this.waiters) {
                    w();
                }
                resolve(code);
            });
            this.proc.on('error', (err) => {
                this.stderr += `${err.message}\n`;
            });
        });
    }

    /** Resolves with the first line at index >= `from` matching `pred`. */
    waitLine(pred, what, { from = 0, ms = STEP_TIMEOUT } = {}) {
        return withTimeout(new Promise((resolve, reject) => {
            const check = () => {
                const found = this.lines.slice(from).find(pred);
                if (found) {
                    this.waiters.delete(check);
                    resolve(found);
                } else if (this.exitCode !== undefined) {
                    this.waiters.delete(check);
                    reject(new Error(`client.py exited (${this.exitCode}) before ${what}: ${this.stderr}`));
                }
            };
            this.waiters.add(check);
            check();
        }), `${what} (client.py stderr: ${this.stderr.trim() || 'none'})`, ms);
    }

    /** Sends a command and resolves with its reply. */
    request(cmd) {
        const from = this.lines.length;
        this.proc.stdin.write(`${JSON.stringify(cmd)}\n`);
        return this.waitLine((l) => l.reply === cmd.cmd, `reply to ${cmd.cmd}`, { from });
    }

    async connect(url, options = {}) {
        return this.request({ cmd: 'connect', url, ...options });
    }

    /** Emits with an ack (python-socketio's call) and resolves with the reply. */
    call(event, data) {
        return this.request({ cmd: 'call', event, data });
    }

    subscribe(deviceId, tenantId = TENANT) {
        return this.call('telemetries', { deviceId, tenantId });
    }

    /** What the handlers of event `name` got, in the order they ran. */
    events(name) {
        return this.lines.filter((l) => l.event === name);
    }

    /** The Socket.IO packets received on the wire, in order. */
    wire() {
        return this.lines.filter((l) => l.wire === 'message');
    }

    /** The telemetries on the wire, in order (the first argument of each `telemetries` event). */
    wireTelemetries() {
        return this.wire().filter((l) => l.type === EVENT && l.data[0] === 'telemetries').map((l) => l.data[1]);
    }

    /** The telemetries the handlers got, in the order they ran. */
    telemetries() {
        return this.events('telemetries').map((l) => l.args[0]);
    }

    /** Resolves once `n` telemetries reached the handlers. */
    untilTelemetries(n, ms = STEP_TIMEOUT) {
        return this.waitLine(() => this.events('telemetries').length >= n, `${n} telemetries`, { ms });
    }

    async exit() {
        if (this.exitCode === undefined) {
            this.proc.stdin.end(`${JSON.stringify({ cmd: 'exit' })}\n`);
            const timer = setTimeout(() => this.proc.kill('SIGKILL'), STEP_TIMEOUT);
            await this.exited;
            clearTimeout(timer);
        }
        clients.delete(this);
        return this.exitCode;
    }
}

async function exitAll() {
    await Promise.all([...clients].map((c) => c.exit()));
}

/** A client connected to /devices of `server`, asserting the connect reply. */
async function connected(server, setup, auth) {
    const c = await PyClient.start();
    const reply = await c.connect(server.url, { ...setup.options, ...auth });
    assert.equal(reply.ok, true, `connect: ${JSON.stringify(reply)}`);
    assert.equal(reply.transport, setup.transport, 'the transport in use');
    assert.equal(reply.opened_with, setup.openedWith, 'the transport of the first request');
    assert.equal(typeof reply.sid, 'string');
    return c;
}

const SETUPS = [
    { name: 'polling', options: { transports: ['polling'] }, transport: 'polling', openedWith: 'polling' },
    { name: 'websocket', options: { transports: ['websocket'] }, transport: 'websocket', openedWith: 'websocket' },
    // python-engineio upgrades within connect(): the handshake is a polling GET, then the
    // probe; every later packet goes over the WebSocket.
    { name: 'upgrade', options: {}, transport: 'websocket', openedWith: 'polling' },
];

let api;
let server;

before(async () => {
    api = await startStandin();
    server = await startKamea(api.url);
});

after(async () => {
    await exitAll();
    await server?.stop();
    await api?.close();
});

async function post(body) {
    const res = await ingest(server, body);
    assert.equal(res.status, 202, `ingest answered ${res.status} ${res.text}`);
    return res;
}

test('client.py runs Debian\'s python3-socketio 5 over python3-engineio 4', async () => {
    const c = await PyClient.start();
    assert.match(c.versions.socketio, /^5\./);
    assert.match(c.versions.engineio, /^4\./);
    assert.equal(await c.exit(), 0);
});

for (const setup of SETUPS) {
    describe(`python-socketio (${setup.name})`, () => {
        test('the token in the auth payload: connected, and the API is asked with that token', async () => {
            const token = uid('allow');
            const device = uid('dev');
            const c = await connected(server, setup, { auth: { token } });
            assert.deepEqual((await c.subscribe(device)).ack, { status: 'ok' });
            assert.equal(api.stats().byKey[`${token}|${TENANT}|${device}`], 1);
            await c.exit();
        });

        test('the token in an Authorization header (headers=): connected, and the API is asked with it', async () => {
            const token = uid('allow');
            const device = uid('dev');
            const c = await connected(server, setup, { headers: { Authorization: `Bearer ${token}` } });
            assert.deepEqual((await c.subscribe(device)).ack, { status: 'ok' });
            assert.equal(api.stats().byKey[`${token}|${TENANT}|${device}`], 1);
            await c.exit();
        });

        test('no token: connect_error "Unauthorized: missing bearer token"', async () => {
            const c = await PyClient.start();
            const reply = await c.connect(server.url, setup.options);
            assert.equal(reply.ok, false);
            assert.equal(reply.error, 'connect_error');
            assert.deepEqual(reply.data, [{ message: 'Unauthorized: missing bearer token' }]);
            assert.deepEqual(c.events('connect'), []);
            await c.exit();
        });

        test('a single telemetry arrives exactly as posted, once', async () => {
            const device = uid('dev');
            const c = await connected(server, setup, { auth: { token: uid('allow') } });
            assert.deepEqual((await c.subscribe(device)).ack, { status: 'ok' });
            const telemetry = {
                deviceId: device,
                tenantId: TENANT,
                value: 21.5,
                nested: { list: [1, 2.5, true, null, 'x'], text: 'q"uote \\ é ✓ 🚀' },
            };
            await post(telemetry);
            await c.untilTelemetries(1);
            // A marker on the same device, posted after: once it is in, nothing else came before.
            await post({ deviceId: device, tenantId: TENANT, marker: true });
            await c.untilTelemetries(2);
            assert.deepEqual(c.events('telemetries').map((l) => l.args), [
                [telemetry],
                [{ deviceId: device, tenantId: TENANT, marker: true }],
            ]);
            await c.exit();
        });

        test('bursts of hundreds arrive complete and in publish order', async () => {
            const device = uid('dev');
            const other = uid('dev');
            const c = await connected(server, setup, { auth: { token: uid('allow') } });
            assert.deepEqual((await c.subscribe(device)).ack, { status: 'ok' });
            assert.deepEqual((await c.subscribe(other)).ack, { status: 'ok' });
            // One batch of 400 (one bus delivery: more than a polling response carries), then
            // 200 in 4 posts, interleaved with another device's.
            const expected = [];
            const make = (d, seq) => ({ deviceId: d, tenantId: TENANT, seq, payload: `v${seq}`.repeat(3) });
            const batch = Array.from({ length: 400 }, (_, i) => make(device, i));
            assert.deepEqual((await post(batch)).json, { accepted: 400 });
            expected.push(...batch);
            for (let k = 0; k < 4; k++) {
                const part = [];
                for (let i = 0; i < 50; i++) {
                    part.push(make(i % 2 ? other : device, 400 + k * 50 + i));
                }
                await post(part);
                expected.push(...part);
            }
            await c.untilTelemetries(expected.length, 4 * STEP_TIMEOUT);
            assert.deepEqual(c.wireTelemetries(), expected, 'the wire order is the publish order');
            const bySeq = (a, b) => a.seq - b.seq;
            assert.deepEqual(c.telemetries().sort(bySeq), expected, 'every handler got its telemetry, once');
            assert.deepEqual(c.events('disconnect'), []);
            await c.exit();
        });

        test('"last": true gives the newest value then the live ones; auth:refresh takes a new token', async () => {
            const device = uid('dev');
            const watcher = await connected(server, setup, { auth: { token: uid('allow') } });
            assert.deepEqual((await watcher.subscribe(device)).ack, { status: 'ok' });
            await post([{ deviceId: device, tenantId: TENANT, n: 1 }, { deviceId: device, tenantId: TENANT, n: 2 }]);
            await watcher.untilTelemetries(2);
            const c = await connected(server, setup, { auth: { token: uid('allow') } });
            const { ack } = await c.call('telemetries', { deviceId: device, tenantId: TENANT, last: true });
            assert.deepEqual(ack, { status: 'ok', last: true });
            await c.untilTelemetries(1);
            await post({ deviceId: device, tenantId: TENANT, n: 3 });
            await c.untilTelemetries(2);
            assert.deepEqual(c.wireTelemetries().map((t) => t.n), [2, 3]);

            const fresh = uid('allow');
            assert.deepEqual((await c.call('auth:refresh', { token: fresh })).ack, { status: 'ok' });
            assert.equal(api.stats().byKey[`${fresh}|${TENANT}|${device}`], 1, 'the new token was checked');
            const refused = (await c.call('auth:refresh', { token: uid('deny') })).ack;
            assert.equal(refused.error, 'access_denied', JSON.stringify(refused));
            await post({ deviceId: device, tenantId: TENANT, n: 4 });
            await c.untilTelemetries(3);
            assert.deepEqual(c.events('disconnect'), [], 'a refused refresh keeps the connection');
            await watcher.exit();
            await c.exit();
        });

        test('denied: access_denied, then the server disconnects the namespace', async () => {
            const device = uid('dev');
            const token = uid('deny');
            const c = await connected(server, setup, { auth: { token } });
            const from = c.wire().length;
            const reply = await c.request({ cmd: 'call', event: 'telemetries', data: { deviceId: device, tenantId: TENANT }, timeout: 3 });
            await c.waitLine((l) => l.event === 'disconnect', 'the disconnect handler');
            const wire = c.wire().slice(from).map((l) => [l.type, l.nsp, l.type === EVENT ? l.data[0] : null]);
            assert.deepEqual(wire.filter((w) => w[0] !== 3), [
                [EVENT, '/devices', 'access_denied'],
                [DISCONNECT, '/devices', null],
            ], 'access_denied, then DISCONNECT');
            // An error ack may come before the cut (not asked of the server); an ok ack never.
            assert.notDeepEqual(reply.ack, { status: 'ok' });
            const [denied] = c.events('access_denied');
            assert.equal(denied.args.length, 1);
            assert.equal(denied.args[0].deviceId, device);
            assert.equal(denied.args[0].tenantId, TENANT);
            assert.equal(typeof denied.args[0].message, 'string');
            assert.ok(!JSON.stringify(denied).includes(token), 'the message must not carry the token');
            assert.equal(c.events('disconnect').length, 1);
            // The namespace is gone for the client too: it refuses to emit on it. (The library
            // runs the disconnect handler before it forgets the namespace, so wait for that.)
            await waitUntil(async () => !(await c.request({ cmd: 'namespaces' })).namespaces.includes('/devices'),
                'the client forgets /devices');
            const after = await c.request({ cmd: 'call', event: 'telemetries', data: { deviceId: device, tenantId: TENANT } });
            assert.match(after.error ?? '', /not a connected namespace/);
            await c.exit();
        });

        test('bad input gets bad_request (event and error ack) and keeps the connection', async () => {
            const c = await connected(server, setup, { auth: { token: uid('allow') } });
            const requestsBefore = api.stats().requests;
            const cases = [
                ['missing deviceId', { tenantId: TENANT }],
                ['missing tenantId', { deviceId: 'dev-1' }],
                ['deviceId not a string', { deviceId: 42, tenantId: TENANT }],
                ['deviceId with a space', { deviceId: 'dev 1', tenantId: TENANT }],
                ['no payload', null],
            ];
            for (const [i, [what, data]] of cases.entries()) {
                const { ack } = await c.call('telemetries', data);
                assert.equal(ack?.status, 'error', `${what}: ${JSON.stringify(ack)}`);
                assert.equal(ack.error, 'bad_request', what);
                assert.equal(typeof ack.message, 'string', what);
                await c.waitLine(() => c.events('bad_request').length > i, `${what}: bad_request`);
                const [payload] = c.events('bad_request')[i].args;
                assert.equal(payload.event, 'telemetries', what);
                assert.equal(typeof payload.message, 'string', what);
            }
            assert.equal(api.stats().requests, requestsBefore, 'an invalid subscription must not reach the API');
            // Still connected and served.
            const device = uid('dev');
            assert.deepEqual((await c.subscribe(device)).ack, { status: 'ok' });
            await post({ deviceId: device, tenantId: TENANT, ok: true });
            await c.untilTelemetries(1);
            assert.deepEqual(c.telemetries(), [{ deviceId: device, tenantId: TENANT, ok: true }]);
            assert.equal(c.events('bad_request').length, cases.length);
            assert.deepEqual(c.events('disconnect'), []);
            await c.exit();
        });

        test('unsubscribe acks ok and stops that device only', async () => {
            const device = uid('dev');
            const other = uid('dev');
            const c = await connected(server, setup, { auth: { token: uid('allow') } });
            assert.deepEqual((await c.subscribe(device)).ack, { status: 'ok' });
            assert.deepEqual((await c.subscribe(other)).ack, { status: 'ok' });
            await post({ deviceId: device, tenantId: TENANT, n: 1 });
            await c.untilTelemetries(1);
            assert.deepEqual((await c.call('telemetries:unsubscribe', { deviceId: device })).ack, { status: 'ok' });
            await post({ deviceId: device, tenantId: TENANT, n: 2 });
            await post({ deviceId: other, tenantId: TENANT, n: 3 });
            await c.untilTelemetries(2);
            // The marker of the other device, posted after, is in: n 2 would have come before it.
            await post({ deviceId: other, tenantId: TENANT, n: 4 });
            await c.untilTelemetries(3);
            assert.deepEqual(c.wireTelemetries().map((t) => t.n), [1, 3, 4]);
            assert.deepEqual(c.telemetries().map((t) => t.n).sort(), [1, 3, 4]);
            await c.exit();
        });
    });
}

describe('client-side disconnect', () => {
    let own;

    before(async () => {
        own = await startKamea(api.url); // its own server: its gauges see this client alone
    });

    after(async () => {
        await exitAll();
        await own?.stop();
    });

    for (const setup of SETUPS) {
        test(`disconnect() leaves the namespace and ends the session (${setup.name})`, async () => {
            const sockets = () => readMetric(own, 'kamea_namespace_sockets');
            await waitUntil(async () => (await sockets()) === 0, 'no socket left from before');
            const c = await connected(own, setup, { auth: { token: uid('allow') } });
            await waitUntil(async () => (await sockets()) === 1, 'the socket counted');
            assert.deepEqual(await c.request({ cmd: 'disconnect' }), { reply: 'disconnect' });
            await waitUntil(async () => (await sockets()) === 0, 'the socket gone');
            const sessions = async (t) => readMetric(own, 'kamea_connections', `transport="${t}"`);
            await waitUntil(async () => (await sessions('polling')) === 0 && (await sessions('websocket')) === 0,
                'the Engine.IO session gone');
            assert.equal(c.events('disconnect').length, 1);
            assert.equal(await c.exit(), 0);
        });
    }
});

describe('heartbeat and binary (short ping interval, conformance namespaces)', () => {
    let fast;

    before(async () => {
        // The client's own WebSocket read timeout is pingInterval + pingTimeout: the server's
        // pings must keep it alive.
        fast = await startServer(['--test-namespaces', '--ping-interval', '200', '--ping-timeout', '1000']);
    });

    after(async () => {
        await exitAll();
        await fast?.stop();
    });

    for (const setup of SETUPS) {
        test(`pings are answered and the session lives on; bytes round-trip in events and acks (${setup.name})`, async () => {
            const c = await PyClient.start();
            const reply = await c.connect(fast.url, { ...setup.options, namespace: '/' });
            assert.equal(reply.ok, true, JSON.stringify(reply));
            assert.equal(reply.transport, setup.transport);
            // Five pings, each answered in time (else the server would have closed the session).
            await c.waitLine(() => c.lines.filter((l) => l.wire === 'ping').length >= 5, '5 pings', { ms: 3 * STEP_TIMEOUT });
            assert.deepEqual(c.events('disconnect'), []);

            const bytes = { bytes: [0, 1, 2, 253, 254, 255] };
            const ack = await c.request({ cmd: 'call', event: 'message-with-ack', namespace: '/', args: [bytes, 'text', { k: bytes }] });
            assert.deepEqual(ack.ack, [bytes, 'text', { k: bytes }]);
            assert.deepEqual(await c.request({ cmd: 'emit', event: 'message', namespace: '/', args: [bytes] }), { reply: 'emit' });
            const back = await c.waitLine((l) => l.event === 'message-back', 'message-back');
            assert.deepEqual(back.args, [bytes]);
            assert.deepEqual(c.events('disconnect'), []);
            await c.exit();
        });
    }
});

// With connection state recovery on, every telemetry has a second argument (its offset).
// python-socketio 5 has no recovery of its own: it connects as any client, its handlers get
// both arguments (a handler written for one must take *rest), and the first is unchanged.
describe('python-socketio with --recovery-window on the server', () => {
    let recovering;

    before(async () => {
        recovering = await startKamea(api.url, ['--recovery-window', '60']);
    });

    after(async () => {
        await exitAll();
        await recovering?.stop();
    });

    for (const setup of SETUPS) {
        test(`connects, subscribes and gets each telemetry first, its offset second (${setup.name})`, async () => {
            const device = uid('dev');
            const c = await connected(recovering, setup, { auth: { token: uid('allow') } });
            assert.deepEqual((await c.subscribe(device)).ack, { status: 'ok' });
            const res = await ingest(recovering, [{ deviceId: device, tenantId: TENANT, n: 1 }, { deviceId: device, tenantId: TENANT, n: 2 }]);
            assert.equal(res.status, 202, res.text);
            await c.untilTelemetries(2);
            const got = c.events('telemetries').map((l) => l.args);
            assert.deepEqual(got.map((a) => a[0]), [{ deviceId: device, tenantId: TENANT, n: 1 }, { deviceId: device, tenantId: TENANT, n: 2 }]);
            for (const args of got) {
                assert.equal(args.length, 2);
                assert.equal(typeof args[1], 'string');
            }
            assert.notEqual(got[0][1], got[1][1]);
            await c.exit();
        });
    }
});
