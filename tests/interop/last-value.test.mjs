// Last value on subscribe (issue 13): `telemetries` `{deviceId, tenantId, last: true}` is
// answered `{"status":"ok","last":true}` followed by the newest telemetry this instance saw
// for the pair, then the live ones, with nothing lost or repeated between the two; `last:
// false` in the ack when there is none. Kept --last-value-ttl after the last subscriber left,
// and with RabbitMQ the pair stays bound for that long, so the value is still the newest.
// With the real socket.io-client on every transport, and on a real broker.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { amqpUrl, brokerAvailable, listBindings } from '../lib/rabbitmq.mjs';
import { closeAllClients, waitUntil } from './server.mjs';
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

const subscribeLast = (socket, deviceId, tenantId = TENANT) =>
    emitAck(socket, 'telemetries', { deviceId, tenantId, last: true });

/** A socket subscribed to `device` (no last value), to keep the pair watched. */
async function watcher(server, device, options = WEBSOCKET, tenantId = TENANT) {
    const socket = await connectDevices(server, uid('allow-w'), options);
    const sink = telemetrySink(socket);
    assert.deepEqual(await subscribe(socket, device, tenantId), { status: 'ok' });
    return { socket, sink };
}

describe('last value on subscribe (in-process bus)', () => {
    let api;
    let server;
    let shortTtl;

    before(async () => {
        api = await startStandin();
        [server, shortTtl] = await Promise.all([
            startKamea(api.url),
            startKamea(api.url, ['--last-value-ttl', '1']),
        ]);
    });

    after(async () => {
        closeAllClients();
        await server?.stop();
        await shortTtl?.stop();
        await api?.close();
    });

    for (const [name, options] of TRANSPORTS) {
        test(`the newest value first, then every live one, none twice (${name})`, async () => {
            const device = uid('dev');
            const w = await watcher(server, device, options);
            await post(server, [{ deviceId: device, tenantId: TENANT, n: 1 }, { deviceId: device, tenantId: TENANT, n: 2 }]);
            await w.sink.until(2);

            const socket = await connectDevices(server, uid('allow-u'), options);
            const rec = record(socket);
            const sink = telemetrySink(socket);
            assert.deepEqual(await subscribeLast(socket, device), { status: 'ok', last: true });
            await sink.until(1);
            await post(server, { deviceId: device, tenantId: TENANT, n: 3 });
            await sink.until(2);
            await post(server, { deviceId: device, tenantId: TENANT, n: 4 });
            await sink.until(3);
            assert.deepEqual(sink.received.map((t) => t.n), [2, 3, 4]);
            assert.deepEqual(sink.received[0], { deviceId: device, tenantId: TENANT, n: 2 }, 'exactly as posted');
            // The ack came before the last value.
            const names = rec.entries.map((e) => e.name);
            assert.equal(names[0], 'telemetries');
            w.socket.disconnect();
            socket.disconnect();
        });
    }

    test('while telemetries pour in, the handover neither loses nor repeats one', async () => {
        const device = uid('dev');
        const w = await watcher(server, device);
        let n = 0;
        let stop = false;
        const pour = (async () => {
            while (!stop) {
                n += 1;
                await post(server, { deviceId: device, tenantId: TENANT, n });
            }
        })();
        await w.sink.until(20);
        const socket = await connectDevices(server, uid('allow-u'), WEBSOCKET);
        const sink = telemetrySink(socket);
        assert.deepEqual(await subscribeLast(socket, device), { status: 'ok', last: true });
        await sink.until(20);
        stop = true;
        await pour;
        await sink.untilMatch((t) => t.n === n);
        const got = sink.received.map((t) => t.n);
        const first = got[0];
        assert.deepEqual(got, Array.from({ length: n - first + 1 }, (_, i) => first + i),
            'consecutive from the last value on');
        assert.ok(w.sink.received.some((t) => t.n === first), 'the last value is one the watcher got too');
        w.socket.disconnect();
        socket.disconnect();
    });

    test('no value seen yet: last false in the ack, then the live ones', async () => {
        const device = uid('dev');
        const socket = await connectDevices(server, uid('allow-u'), WEBSOCKET);
        const sink = telemetrySink(socket);
        assert.deepEqual(await subscribeLast(socket, device), { status: 'ok', last: false });
        await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
        await sink.until(1);
        await settle(100);
        assert.deepEqual(sink.received.map((t) => t.n), [1]);
        socket.disconnect();
    });

    test('without last nothing changes, and last must be a boolean', async () => {
        const device = uid('dev');
        const w = await watcher(server, device);
        await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
        await w.sink.until(1);
        const socket = await connectDevices(server, uid('allow-u'), WEBSOCKET);
        const rec = record(socket);
        const sink = telemetrySink(socket);
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        assert.deepEqual(await emitAck(socket, 'telemetries', { deviceId: device, tenantId: TENANT, last: false }),
            { status: 'ok' });
        for (const bad of ['yes', 1, null, {}]) {
            const ack = await emitAck(socket, 'telemetries', { deviceId: uid('dev'), tenantId: TENANT, last: bad });
            assert.equal(ack.error, 'bad_request', JSON.stringify(bad));
            assert.equal(ack.message, 'last must be a boolean');
        }
        assert.equal(rec.named('bad_request').length, 4);
        // Already subscribed: nothing follows (the socket has had every value since).
        assert.deepEqual(await subscribeLast(socket, device), { status: 'ok', last: false });
        await settle(200);
        assert.deepEqual(sink.received, []);
        w.socket.disconnect();
        socket.disconnect();
    });

    test('another tenant\'s device of the same id never gives its value', async () => {
        const device = uid('dev');
        const w = await watcher(server, device, WEBSOCKET, 'tenant-2');
        await post(server, { deviceId: device, tenantId: 'tenant-2', secret: 'of tenant 2' });
        await w.sink.until(1);
        const socket = await connectDevices(server, uid('allow-u'), WEBSOCKET);
        const sink = telemetrySink(socket);
        assert.deepEqual(await subscribeLast(socket, device, TENANT), { status: 'ok', last: false });
        await settle(200);
        assert.deepEqual(sink.received, []);
        w.socket.disconnect();
        socket.disconnect();
    });

    test('kept --last-value-ttl after the last subscriber left, then gone', async () => {
        const device = uid('dev');
        const w = await watcher(shortTtl, device);
        await post(shortTtl, { deviceId: device, tenantId: TENANT, n: 1 });
        await w.sink.until(1);
        w.socket.disconnect();
        // A reconnect within the ttl (1 s) gets the value.
        const back = await connectDevices(shortTtl, uid('allow-u'), WEBSOCKET);
        const sink = telemetrySink(back);
        assert.deepEqual(await subscribeLast(back, device), { status: 'ok', last: true });
        await sink.until(1);
        assert.equal(sink.received[0].n, 1);
        assert.ok(await readMetric(shortTtl, 'kamea_last_value_bytes') > 0);
        back.disconnect();
        await settle(1600);
        assert.equal(await readMetric(shortTtl, 'kamea_last_value_bytes'), 0, 'the value went with its ttl');
        const late = await connectDevices(shortTtl, uid('allow-u'), WEBSOCKET);
        assert.deepEqual(await subscribeLast(late, device), { status: 'ok', last: false });
        late.disconnect();
    });
});

describe('last value on subscribe (RabbitMQ)', { skip: !brokerAvailable() && 'no test broker (scripts/test.sh starts one)' }, () => {
    const EXCHANGE = `kamea-test-last-${process.pid}`;
    let api;
    let producer; // where telemetries are posted
    let edge; // where the clients are
    let edgeShort;

    const flags = (extra = []) => ['--amqp-url', amqpUrl(), '--amqp-exchange', EXCHANGE, '--amqp-unbind-linger', '200', ...extra];
    const bound = async () => (await listBindings({ exchange: EXCHANGE })).map((b) => b.routingKey);

    before(async () => {
        api = await startStandin();
        [producer, edge, edgeShort] = await Promise.all([
            startKamea(api.url, flags()),
            startKamea(api.url, flags()),
            startKamea(api.url, flags(['--last-value-ttl', '1'])),
        ]);
        await Promise.all([producer, edge, edgeShort].map((s) =>
            s.waitForLog((l) => l.event === 'bus_connected' && l.connection === 'consumer')));
    });

    after(async () => {
        closeAllClients();
        await Promise.all([producer?.stop(), edge?.stop(), edgeShort?.stop()]);
        await api?.close();
    });

    test('the pair stays bound for the ttl after its last subscriber, so the value is the newest', async () => {
        const device = uid('dev');
        const key = `${TENANT}.${device}`;
        const w = await watcher(edge, device);
        await post(producer, { deviceId: device, tenantId: TENANT, n: 1 });
        await w.sink.until(1);
        w.socket.disconnect();
        await settle(800); // well past the 200 ms unbind linger
        assert.ok((await bound()).includes(key), 'still bound: the last value holds the pair');
        // Published while nobody on `edge` subscribes: still seen, so still the newest.
        await post(producer, { deviceId: device, tenantId: TENANT, n: 2 });
        await settle(300);
        const socket = await connectDevices(edge, uid('allow-u'), WEBSOCKET);
        const sink = telemetrySink(socket);
        assert.deepEqual(await subscribeLast(socket, device), { status: 'ok', last: true });
        await sink.until(1);
        await post(producer, { deviceId: device, tenantId: TENANT, n: 3 });
        await sink.until(2);
        assert.deepEqual(sink.received.map((t) => t.n), [2, 3]);
        socket.disconnect();
    });

    test('after the ttl the binding goes, and the value with it', async () => {
        const device = uid('dev');
        const key = `${TENANT}.${device}`;
        const w = await watcher(edgeShort, device);
        await post(producer, { deviceId: device, tenantId: TENANT, n: 1 });
        await w.sink.until(1);
        w.socket.disconnect();
        await waitUntil(async () => !(await bound()).includes(key), 'the unbind after ttl + linger', 10_000, 200);
        const socket = await connectDevices(edgeShort, uid('allow-u'), WEBSOCKET);
        assert.deepEqual(await subscribeLast(socket, device), { status: 'ok', last: false });
        socket.disconnect();
    });
});
