// Connection state recovery (issue 13, docs/recovery.md) with the stock socket.io-client:
// with --recovery-window the CONNECT reply carries a pid and every telemetry an offset as its
// last argument; a client whose transport is killed under it comes back with {pid, offset}
// and gets its subscriptions back and every telemetry it missed, in order, before `connect`,
// with `socket.recovered` true. Better than the reference: the token is checked again for
// every subscription first; a gap that cannot be replayed exactly is `recovered: false`; a
// quiet device does not spoil recovery; a client with no offset yet is recovered from its
// session's start. Not recoverable: the forced close after access_denied, an expired
// window, another instance.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { amqpUrl, brokerAvailable, listBindings } from '../lib/rabbitmq.mjs';
import { closeAllClients, waitConnected, waitUntil } from './server.mjs';
import {
    connectDevices,
    emitAck,
    ingest,
    readMetric,
    record,
    startKamea,
    startStandin,
    subscribe,
    telemetrySink,
    TRANSPORTS,
    uid,
} from './standin.mjs';

const TENANT = 'tenant-1';
const WEBSOCKET = TRANSPORTS[1][1];
const settle = (ms) => new Promise((r) => setTimeout(r, ms));

async function post(server, body) {
    const res = await ingest(server, body);
    assert.equal(res.status, 202, res.text);
}

const sessions = (server) => readMetric(server, 'kamea_recovery_sessions');
const outcome = (server, result) => readMetric(server, 'kamea_recoveries_total', `result="${result}"`);

/**
 * Kills the client's transport under it (an Engine.IO close, or the TCP connection destroyed)
 * and resolves once the server keeps its session for recovery. Reconnection is off in these
 * clients: `socket.connect()` brings it back, sending {pid, offset}.
 */
async function blip(server, socket, { abrupt = false } = {}) {
    const before = await sessions(server);
    const gone = new Promise((resolve) => socket.once('disconnect', resolve));
    if (abrupt) {
        socket.io.engine.transport.ws._socket.destroy();
    } else {
        socket.io.engine.close();
    }
    const reason = await gone;
    assert.ok(['transport close', 'transport error', 'forced close'].includes(reason), reason);
    await waitUntil(async () => (await sessions(server)) > before, 'the server keeps the session');
}

/** What the socket receives, and how many telemetries it had when `connect` fired. */
function watch(socket) {
    const sink = telemetrySink(socket);
    const offsets = [];
    const atConnect = [];
    socket.onAny((name, ...args) => {
        if (name === 'telemetries') {
            offsets.push(args.at(-1));
        }
    });
    socket.on('connect', () => atConnect.push(sink.received.length));
    return { sink, offsets, atConnect, ns: () => sink.received.map((t) => t.n) };
}

async function recovering(socket) {
    socket.connect();
    await waitConnected(socket);
    return socket.recovered === true;
}

describe('connection state recovery', () => {
    let api;
    let server;

    before(async () => {
        api = await startStandin();
        server = await startKamea(api.url, ['--recovery-window', '60']);
    });

    after(async () => {
        closeAllClients();
        await server?.stop();
        await api?.close();
    });

    test('the CONNECT reply carries a pid and every telemetry an offset as its last argument', async () => {
        const device = uid('dev');
        const socket = await connectDevices(server, uid('allow'), WEBSOCKET);
        assert.equal(typeof socket._pid, 'string');
        assert.equal(socket._pid.length, 20);
        const args = [];
        socket.on('telemetries', (...a) => args.push(a));
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        await post(server, [{ deviceId: device, tenantId: TENANT, n: 1 }, { deviceId: device, tenantId: TENANT, n: 2 }]);
        await waitUntil(() => args.length === 2, 'two telemetries');
        for (const [t, offset, ...rest] of args) {
            assert.equal(t.deviceId, device);
            assert.equal(typeof offset, 'string');
            assert.deepEqual(rest, []);
        }
        assert.notEqual(args[0][1], args[1][1]);
        assert.equal(socket._lastOffset, args[1][1]);
    });

    for (const [name, options] of TRANSPORTS) {
        test(`a killed transport: subscriptions back, the missed telemetries in order before connect (${name})`, async () => {
            const device = uid('dev');
            const other = uid('dev');
            const socket = await connectDevices(server, uid('allow'), options);
            const w = watch(socket);
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
            assert.deepEqual(await subscribe(socket, other, TENANT), { status: 'ok' });
            await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
            await w.sink.until(1);
            const id = socket.id;

            await blip(server, socket);
            const recovered = outcome(server, 'recovered');
            await post(server, [
                { deviceId: device, tenantId: TENANT, n: 2 },
                { deviceId: other, tenantId: TENANT, n: 3 },
                { deviceId: device, tenantId: TENANT, n: 4 },
            ]);
            assert.equal(await recovering(socket), true);
            assert.equal(socket.id, id); // the reference keeps the socket id too
            assert.deepEqual(w.ns(), [1, 2, 3, 4]);
            assert.deepEqual(w.atConnect, [4]); // every missed one reached the handlers first
            assert.equal(await outcome(server, 'recovered'), (await recovered) + 1);

            // Live again, on both subscriptions, with nothing twice.
            await post(server, [{ deviceId: other, tenantId: TENANT, n: 5 }, { deviceId: device, tenantId: TENANT, n: 6 }]);
            await w.sink.until(6);
            await settle(100);
            assert.deepEqual(w.ns(), [1, 2, 3, 4, 5, 6]);
            assert.equal(new Set(w.offsets).size, 6);
        });
    }

    test('a TCP connection destroyed mid-stream, a second blip, and the stock automatic reconnection: every telemetry once', async () => {
        const device = uid('dev');
        const socket = await connectDevices(server, uid('allow'), {
            ...WEBSOCKET, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200,
        });
        const w = watch(socket);
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        let n = 0;
        let publishing = true;
        const publisher = (async () => {
            while (publishing) {
                n += 1;
                await post(server, { deviceId: device, tenantId: TENANT, n });
                await settle(5);
            }
        })();
        const recoveredTimes = [];
        socket.on('connect', () => recoveredTimes.push(socket.recovered));
        await w.sink.until(20);
        socket.io.engine.transport.ws._socket.destroy();
        await waitUntil(() => recoveredTimes.length === 1, 'reconnected once');
        await w.sink.until(w.sink.received.length + 20);
        socket.io.engine.close();
        await waitUntil(() => recoveredTimes.length === 2, 'reconnected twice');
        await w.sink.until(w.sink.received.length + 20);
        publishing = false;
        await publisher;
        await w.sink.until(n);
        await settle(100);
        assert.deepEqual(recoveredTimes, [true, true]);
        assert.deepEqual(w.ns(), Array.from({ length: n }, (_, i) => i + 1));
    });

    test('a client that had no telemetry yet sends a pid alone and is recovered from its session start', async () => {
        const device = uid('dev');
        const socket = await connectDevices(server, uid('allow'), WEBSOCKET);
        const w = watch(socket);
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        await blip(server, socket, { abrupt: true });
        assert.equal(socket._lastOffset, undefined);
        await post(server, [{ deviceId: device, tenantId: TENANT, n: 1 }, { deviceId: device, tenantId: TENANT, n: 2 }]);
        assert.equal(await recovering(socket), true);
        assert.deepEqual(w.ns(), [1, 2]);
    });

    test('a token revoked meanwhile: access_denied and the cut, nothing replayed', async () => {
        const device = uid('dev');
        const token = uid('revocable');
        const socket = await connectDevices(server, token, WEBSOCKET);
        const w = watch(socket);
        const rec = record(socket);
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
        await w.sink.until(1);
        await blip(server, socket);
        const denied = await outcome(server, 'denied');
        api.revoke(token);
        await post(server, { deviceId: device, tenantId: TENANT, n: 2 });
        socket.connect();
        const d = await rec.wait((e) => e.name === 'access_denied', 'access_denied');
        assert.equal(d.args[0].deviceId, device);
        assert.equal(d.args[0].tenantId, TENANT);
        await rec.wait((e) => e.name === 'disconnect' && e.args[0] === 'io server disconnect', 'the cut');
        assert.equal(socket.recovered, false);
        assert.deepEqual(w.ns(), [1]);
        assert.equal(await outcome(server, 'denied'), denied + 1);

        // The forced close after access_denied is never recoverable.
        const before = await sessions(server);
        socket.auth.token = uid('allow');
        assert.equal(await recovering(socket), false);
        assert.equal(await sessions(server), before);
    });

    test('the Management API failing on recovery: not recovered, and the client resubscribes as after any reconnect', async () => {
        const device = uid('dev');
        const socket = await connectDevices(server, uid('allow'), WEBSOCKET);
        const w = watch(socket);
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
        await w.sink.until(1);
        await blip(server, socket);
        const errors = await outcome(server, 'error');
        await post(server, { deviceId: device, tenantId: TENANT, n: 2 });
        socket.auth.token = uid('e500');
        assert.equal(await recovering(socket), false);
        assert.equal(await outcome(server, 'error'), errors + 1);
        await settle(100);
        assert.deepEqual(w.ns(), [1]); // nothing replayed, and no live subscription left
        await post(server, { deviceId: device, tenantId: TENANT, n: 3 });
        await settle(100);
        assert.deepEqual(w.ns(), [1]);
    });

    test('a last value does not move the client\'s offset backwards: nothing is replayed twice', async () => {
        const chatty = uid('dev');
        const quiet = uid('dev');
        await post(server, { deviceId: quiet, tenantId: TENANT, n: 0 }); // no one watches it yet
        const keeper = await connectDevices(server, uid('allow'), WEBSOCKET); // keeps quiet's last value
        assert.deepEqual(await subscribe(keeper, quiet, TENANT), { status: 'ok' });
        await post(server, { deviceId: quiet, tenantId: TENANT, n: 1 });
        const socket = await connectDevices(server, uid('allow'), WEBSOCKET);
        const w = watch(socket);
        assert.deepEqual(await subscribe(socket, chatty, TENANT), { status: 'ok' });
        await post(server, [{ deviceId: chatty, tenantId: TENANT, n: 2 }, { deviceId: chatty, tenantId: TENANT, n: 3 }]);
        await w.sink.until(2);
        const offset = socket._lastOffset;
        assert.deepEqual(await emitAck(socket, 'telemetries', { deviceId: quiet, tenantId: TENANT, last: true }),
            { status: 'ok', last: true });
        await w.sink.until(3);
        assert.equal(socket._lastOffset, offset, 'the last value came without an offset');
        await blip(server, socket);
        await post(server, { deviceId: quiet, tenantId: TENANT, n: 4 });
        assert.equal(await recovering(socket), true);
        assert.deepEqual(w.ns(), [2, 3, 1, 4]);
        keeper.disconnect();
    });

    test('bad recovery auth (a pid of another type, an offset not ours, an unknown pid) is an ordinary connect', async () => {
        const device = uid('dev');
        const socket = await connectDevices(server, uid('allow'), WEBSOCKET);
        const w = watch(socket);
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
        await w.sink.until(1);
        const realPid = socket._pid;
        for (const tweak of [
            (s) => { s._pid = 'no-such-pid-at-all'; },
            (s) => { s._lastOffset = 'zzzzzz.1'; s._pid = realPid; },
            (s) => { s._lastOffset = 42; },
            (s) => { s._pid = 7; },
        ]) {
            await blip(server, socket);
            tweak(socket);
            assert.equal(await recovering(socket), false);
            assert.deepEqual(w.ns(), [1]);
        }
        // The server still serves it: a new subscription works.
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        await post(server, { deviceId: device, tenantId: TENANT, n: 2 });
        await w.sink.until(2);
    });

    test('another instance knows nothing of the session: not recovered, the client resubscribes there', async () => {
        const other = await startKamea(api.url, ['--recovery-window', '60']);
        try {
            const device = uid('dev');
            const socket = await connectDevices(server, uid('allow'), WEBSOCKET);
            const w = watch(socket);
            socket.on('connect', () => {
                if (!socket.recovered) {
                    socket.emit('telemetries', { deviceId: device, tenantId: TENANT });
                }
            });
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
            await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
            await w.sink.until(1);
            await blip(server, socket);
            socket.io.uri = other.url; // as a balancer that moved it would
            assert.equal(await recovering(socket), false);
            assert.equal(await outcome(other, 'unknown'), 1);
            await waitUntil(async () => (await readMetric(other, 'kamea_subscriptions')) === 1, 'resubscribed');
            await post(other, { deviceId: device, tenantId: TENANT, n: 2 });
            await w.sink.until(2);
            assert.deepEqual(w.ns(), [1, 2]);
        } finally {
            closeAllClients();
            await other.stop();
        }
    });
});

describe('connection state recovery on RabbitMQ', { skip: !brokerAvailable() && 'no test broker (scripts/test.sh starts one)' }, () => {
    const EXCHANGE = `kamea-test-recovery-${process.pid}`;
    let api;
    let producer; // where telemetries are posted
    let edge; // where the client is
    // --last-value-ttl 0: a last value holds its pair bound for its ttl (10 s by default) after
    // the last watcher leaves, as long as the wait below; here the bindings follow the sessions.
    const flags = ['--amqp-url', amqpUrl(), '--amqp-exchange', EXCHANGE, '--amqp-unbind-linger', '200',
        '--recovery-window', '60', '--last-value-ttl', '0'];

    before(async () => {
        api = await startStandin();
        [producer, edge] = await Promise.all([startKamea(api.url, flags), startKamea(api.url, flags)]);
        await Promise.all([producer, edge].map((s) =>
            s.waitForLog((l) => l.event === 'bus_connected' && l.connection === 'consumer')));
    });

    after(async () => {
        closeAllClients();
        await Promise.all([producer?.stop(), edge?.stop()]);
        await api?.close();
    });

    test('a waiting session keeps its pairs bound, so what was published elsewhere meanwhile is replayed', async () => {
        const device = uid('dev');
        const key = `${TENANT}.${device}`;
        const socket = await connectDevices(edge, uid('allow'), WEBSOCKET);
        const w = watch(socket);
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        await post(producer, { deviceId: device, tenantId: TENANT, n: 1 });
        await w.sink.until(1);
        await blip(edge, socket);
        await settle(800); // well past the 200 ms unbind linger
        const bound = (await listBindings({ exchange: EXCHANGE })).map((b) => b.routingKey);
        assert.ok(bound.includes(key), 'still bound while the session waits');
        await post(producer, [{ deviceId: device, tenantId: TENANT, n: 2 }, { deviceId: device, tenantId: TENANT, n: 3 }]);
        await waitUntil(async () => (await readMetric(edge, 'kamea_recovery_buffer_telemetries')) >= 2, 'kept on edge');
        assert.equal(await recovering(socket), true);
        assert.deepEqual(w.ns(), [1, 2, 3]);
        await post(producer, { deviceId: device, tenantId: TENANT, n: 4 });
        await w.sink.until(4);
        socket.disconnect(); // not recoverable: the pair is unbound after the linger
        await waitUntil(async () => !(await listBindings({ exchange: EXCHANGE })).some((b) => b.routingKey === key),
            'unbound once the socket left for good');
    });
});

describe('connection state recovery: limits', () => {
    let api;
    let tiny;
    let quick;

    before(async () => {
        api = await startStandin();
        [tiny, quick] = await Promise.all([
            startKamea(api.url, ['--recovery-window', '60', '--recovery-budget', '2000']),
            // Telemetries are kept for the window plus the heartbeat's interval and timeout.
            startKamea(api.url, ['--recovery-window', '2', '--ping-interval', '500', '--ping-timeout', '1000']),
        ]);
    });

    after(async () => {
        closeAllClients();
        await tiny?.stop();
        await quick?.stop();
        await api?.close();
    });

    test('more missed than the budget keeps: recovered false, never a partial replay', async () => {
        const device = uid('dev');
        const socket = await connectDevices(tiny, uid('allow'), WEBSOCKET);
        const w = watch(socket);
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        await post(tiny, { deviceId: device, tenantId: TENANT, n: 0 });
        await w.sink.until(1);
        await blip(tiny, socket);
        const batch = Array.from({ length: 20 }, (_, i) => ({ deviceId: device, tenantId: TENANT, n: i + 1, pad: 'x'.repeat(100) }));
        await post(tiny, batch);
        const gaps = await outcome(tiny, 'gap');
        assert.equal(await recovering(socket), false);
        assert.equal(await outcome(tiny, 'gap'), gaps + 1);
        await settle(100);
        assert.deepEqual(w.ns(), [0]);
        assert.ok((await readMetric(tiny, 'kamea_recovery_buffer_bytes')) <= 2000);
        assert.ok((await readMetric(tiny, 'kamea_recovery_evicted_total')) >= 1);
    });

    test('a quiet device whose last telemetry aged out of the buffer is still recovered (the reference is not)', async () => {
        const device = uid('dev');
        const socket = await connectDevices(quick, uid('allow'), WEBSOCKET);
        const w = watch(socket);
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        await post(quick, { deviceId: device, tenantId: TENANT, n: 1 });
        await w.sink.until(1);
        await settle(3_800); // past 2 s + 0.5 s + 1 s: the client's own offset is no longer kept
        await blip(quick, socket);
        await post(quick, { deviceId: device, tenantId: TENANT, n: 2 }); // ages n=1 out
        assert.ok((await readMetric(quick, 'kamea_recovery_evicted_total')) >= 1);
        assert.equal(await recovering(socket), true);
        assert.deepEqual(w.ns(), [1, 2]);
    });

    test('past the window the session is gone', async () => {
        const device = uid('dev');
        const socket = await connectDevices(quick, uid('allow'), WEBSOCKET);
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        await blip(quick, socket);
        await waitUntil(async () => (await sessions(quick)) === 0, 'the session expired', 5_000);
        assert.equal(await recovering(socket), false);
    });
});

describe('without --recovery-window', () => {
    let api;
    let server;

    before(async () => {
        api = await startStandin();
        server = await startKamea(api.url);
    });

    after(async () => {
        closeAllClients();
        await server?.stop();
        await api?.close();
    });

    test('no pid, no offset, and a reconnect is never recovered', async () => {
        const device = uid('dev');
        const socket = await connectDevices(server, uid('allow'), WEBSOCKET);
        assert.equal(socket._pid, undefined);
        const args = [];
        socket.on('telemetries', (...a) => args.push(a));
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
        await waitUntil(() => args.length === 1, 'a telemetry');
        assert.equal(args[0].length, 1);
        socket.io.engine.close();
        await waitUntil(() => !socket.connected, 'disconnected');
        socket._pid = 'made-up';
        socket._lastOffset = 'made-up.1';
        assert.equal(await recovering(socket), false);
        assert.equal(await readMetric(server, 'kamea_recovery_sessions'), 0);
    });
});
