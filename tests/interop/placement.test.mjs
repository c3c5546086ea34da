// Placement over the event loops (issue 15, docs/performance.md "Everyday efficiency"): with
// --placement fill (the default) a server that is not busy keeps every connection on its first
// loop, so the other loops are not woken for an everyday load; with --placement spread the
// connections take turns. A loop with no session is not sent the fan-out's batches, and its
// position moves past them: a `last: true` subscriber opened on it later still gets the value
// published meanwhile, exactly once. With spread, a polling client's requests that land on the
// other loop move to its session's. Read from /metrics (kamea_loop_sessions) with the real
// socket.io-client.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { closeAllClients } from './server.mjs';
import {
    connectDevices,
    emitAck,
    ingest,
    readMetric,
    startKamea,
    startStandin,
    subscribe,
    telemetrySink,
    uid,
} from './standin.mjs';

const TENANT = 'tenant-1';
const WEBSOCKET = { transports: ['websocket'] };
const settle = (ms) => new Promise((r) => setTimeout(r, ms));

async function post(server, body) {
    const res = await ingest(server, body);
    assert.equal(res.status, 202, res.text);
}

const sessionsOn = (server, loop) => readMetric(server, 'kamea_loop_sessions', `loop="${loop}"`);

describe('placement over two event loops', () => {
    let api;
    let fill;
    let spread;

    before(async () => {
        api = await startStandin();
        [fill, spread] = await Promise.all([
            startKamea(api.url, ['--threads', '2']),
            startKamea(api.url, ['--threads', '2', '--placement', 'spread']),
        ]);
    });

    after(async () => {
        closeAllClients();
        await fill?.stop();
        await spread?.stop();
        await api?.close();
    });

    /** `n` sockets on `server`, each subscribed to `device`, with their sinks. */
    async function subscribers(server, n, device) {
        const all = [];
        for (let i = 0; i < n; i += 1) {
            const socket = await connectDevices(server, uid('allow-p'), WEBSOCKET);
            const sink = telemetrySink(socket);
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
            all.push({ socket, sink });
        }
        return all;
    }

    /** Posts two telemetries of `device`; each subscriber must get both, once, in order. */
    async function deliverTwo(server, device, all) {
        await post(server, [{ deviceId: device, tenantId: TENANT, n: 1 }, { deviceId: device, tenantId: TENANT, n: 2 }]);
        for (const { sink } of all) {
            await sink.until(2);
            assert.deepEqual(sink.received.map((t) => t.n), [1, 2]);
        }
        for (const { socket } of all) {
            socket.disconnect();
        }
    }

    test('fill: an idle server keeps every connection on its first loop, and delivers to all', async () => {
        const device = uid('dev');
        const all = await subscribers(fill, 6, device);
        assert.equal(await sessionsOn(fill, 0), 6);
        assert.equal(await sessionsOn(fill, 1), 0);
        await deliverTwo(fill, device, all);
    });

    test('spread: connections take turns over the loops, and each gets every telemetry once', async () => {
        const device = uid('dev');
        const before0 = await sessionsOn(spread, 0);
        const before1 = await sessionsOn(spread, 1);
        const all = await subscribers(spread, 6, device);
        assert.equal((await sessionsOn(spread, 0)) - before0, 3);
        assert.equal((await sessionsOn(spread, 1)) - before1, 3);
        await deliverTwo(spread, device, all);
    });

    // In turn, a polling client's requests and its upgrade's WebSocket land on both loops: each
    // request for a session of the other loop moves there (transport::migrate).
    for (const [name, options] of [['polling', { transports: ['polling'] }], ['polling then websocket', {}]]) {
        test(`spread: a ${name} client whose requests land on both loops gets every telemetry`, async () => {
            const device = uid('dev');
            const all = [];
            for (let i = 0; i < 3; i += 1) {
                const socket = await connectDevices(spread, uid('allow-m'), options);
                const sink = telemetrySink(socket);
                assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
                all.push({ socket, sink });
            }
            await deliverTwo(spread, device, all);
        });
    }

    test('a loop skipped while it had no session still gives a later subscriber the last value', async () => {
        // One session, on one loop: the other has none and is skipped by the fan-out.
        await settleSessions(spread);
        const device = uid('dev');
        const watcher = await connectDevices(spread, uid('allow-w'), WEBSOCKET);
        const watched = telemetrySink(watcher);
        assert.deepEqual(await subscribe(watcher, device, TENANT), { status: 'ok' });
        assert.equal((await sessionsOn(spread, 0)) + (await sessionsOn(spread, 1)), 1);
        await post(spread, { deviceId: device, tenantId: TENANT, n: 1 });
        await watched.until(1);
        // The next connection goes to the other loop (spread takes turns).
        const late = await connectDevices(spread, uid('allow-l'), WEBSOCKET);
        assert.equal(await sessionsOn(spread, 0), 1);
        assert.equal(await sessionsOn(spread, 1), 1);
        const sink = telemetrySink(late);
        assert.deepEqual(await emitAck(late, 'telemetries', { deviceId: device, tenantId: TENANT, last: true }),
            { status: 'ok', last: true });
        await sink.until(1);
        await post(spread, { deviceId: device, tenantId: TENANT, n: 2 });
        await sink.until(2);
        await settle(100);
        assert.deepEqual(sink.received.map((t) => t.n), [1, 2], 'the last value once, then the live one');
        watcher.disconnect();
        late.disconnect();
    });
});

/** Waits until the sockets of earlier tests are gone from the server's loops. */
async function settleSessions(server) {
    for (let i = 0; i < 100; i += 1) {
        if ((await sessionsOn(server, 0)) + (await sessionsOn(server, 1)) === 0) {
            return;
        }
        await settle(50);
    }
    assert.fail('sessions of earlier tests still open');
}
