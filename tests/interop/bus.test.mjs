// The RabbitMQ bus (contract section 7) with three instances on one real broker: a telemetry
// posted to any instance reaches the subscribers of every instance, exactly once, in order
// per device; each instance binds exactly the keys its clients watch; tenants stay apart
// through the bus, even when two pairs share a routing key; malformed bus messages are
// dropped and counted; the binding budget; SIGTERM unbinds.
//
// The broker is the run's own (scripts/test.sh starts it once; KAMEA_AMQP_URL and friends).
// This file uses an exchange of its own, so other files on the same broker do not interfere.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';

import { amqpUrl, brokerAvailable, listBindings, publishRaw } from '../lib/rabbitmq.mjs';
import { closeAllClients, waitUntil as waitFor, withTimeout } from './server.mjs';
import {
    connectDevices,
    emitAck,
    ingest,
    readMetric as metric,
    startKamea,
    startStandin,
    subscribe,
    telemetrySink,
    TRANSPORTS,
    uid,
} from './standin.mjs';

const EXCHANGE = `kamea-test-bus-${process.pid}`;
const LINGER_MS = 300;
const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let api;
const instances = [];

function busFlags(extra = []) {
    // --last-value-ttl 0: the bindings follow the subscribers alone (a last value would hold
    // a pair bound for its ttl; tests/interop/last-value.test.mjs covers that).
    return ['--amqp-url', amqpUrl(), '--amqp-exchange', EXCHANGE, '--amqp-unbind-linger', String(LINGER_MS),
        '--last-value-ttl', '0', ...extra];
}

async function startInstance(extra = []) {
    const server = await startKamea(api.url, busFlags(extra));
    await server.waitForLog((l) => l.event === 'bus_connected' && l.connection === 'consumer');
    instances.push(server);
    return server;
}

async function post(server, body) {
    const res = await ingest(server, body);
    assert.equal(res.status, 202, `ingest answered ${res.status} ${res.text}`);
    return res;
}

/** Publishes a body too large for a command line, through amqp-publish's standard input. */
function publishLarge(routingKey, text) {
    const url = amqpUrl().replace(/\/$/, '');
    return withTimeout(new Promise((resolve, reject) => {
        const p = spawn('amqp-publish', [`--url=${url}`, '-e', EXCHANGE, '-r', routingKey, '-C', 'application/json'],
            { stdio: ['pipe', 'ignore', 'inherit'] });
        p.on('error', reject);
        p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`amqp-publish exited ${code}`))));
        p.stdin.end(text);
    }), 'amqp-publish');
}

/** The routing keys bound for this file's exchange, sorted. */
async function boundKeys() {
    return (await listBindings({ exchange: EXCHANGE })).map((b) => b.routingKey).sort();
}

describe('three instances on one broker', { skip: !brokerAvailable() && 'no test broker (scripts/test.sh starts one)' }, () => {
    let one;
    let two;
    let three;

    before(async () => {
        api = await startStandin();
        [one, two, three] = await Promise.all([startInstance(), startInstance(), startInstance()]);
    });

    after(async () => {
        closeAllClients();
        await Promise.all(instances.map((s) => s.stop()));
        await api?.close();
    });

    test('the broker password is in no log line and in no health body', async () => {
        const password = decodeURIComponent(new URL(amqpUrl()).password);
        assert.ok(password.length > 0);
        const body = await (await fetch(`${one.internalUrl}/health/ready`)).text();
        assert.match(body, /"node":"amqp:\/\/guest:\*\*\*@/);
        assert.ok(!body.includes(`:${password}@`));
        for (const server of [one, two, three]) {
            for (const line of server.logs) {
                assert.ok(!JSON.stringify(line).includes(`:${password}@`), `a log line holds the password: ${JSON.stringify(line)}`);
            }
        }
    });

    test('a telemetry posted to one instance reaches every subscriber of every instance exactly once', async () => {
        const tenant = uid('tenant');
        const devices = [uid('dev'), uid('dev'), uid('dev')];
        // Subscribers of device k on instance k and k+1, over both transports.
        const subs = [];
        for (const [k, server] of [one, two, three].entries()) {
            for (const [, options] of TRANSPORTS) {
                for (const d of [k, (k + 1) % 3]) {
                    const socket = await connectDevices(server, uid('allow'), options);
                    const sink = telemetrySink(socket);
                    assert.deepEqual(await subscribe(socket, devices[d], tenant), { status: 'ok' });
                    subs.push({ device: devices[d], sink });
                }
            }
        }
        const batch = [];
        for (let seq = 0; seq < 30; seq++) {
            batch.push({ deviceId: devices[seq % 3], tenantId: tenant, seq });
        }
        await post(one, batch.slice(0, 10));
        await post(two, batch.slice(10, 20));
        await post(three, batch.slice(20));
        for (const { device, sink } of subs) {
            const expected = batch.filter((t) => t.deviceId === device);
            await sink.until(expected.length);
        }
        await settle(200); // a duplicate would have arrived by now
        for (const { device, sink } of subs) {
            assert.deepEqual(sink.received, batch.filter((t) => t.deviceId === device));
        }
    });

    test('each instance binds exactly the keys its clients watch, and unbinds after the linger', async () => {
        const tenant = uid('tenant');
        const [a, b] = [uid('dev'), uid('dev')];
        const before = await boundKeys();
        const s1 = await connectDevices(two, uid('allow'), { transports: ['websocket'] });
        const s2 = await connectDevices(two, uid('allow'), { transports: ['polling'] });
        assert.deepEqual(await subscribe(s1, a, tenant), { status: 'ok' });
        assert.deepEqual(await subscribe(s2, a, tenant), { status: 'ok' });
        assert.deepEqual(await subscribe(s2, b, tenant), { status: 'ok' });
        // The ack comes after the broker's bind-ok: the bindings are there now.
        const mine = (await boundKeys()).filter((k) => !before.includes(k));
        assert.deepEqual(mine, [`${tenant}.${a}`, `${tenant}.${b}`].sort(), 'one binding per key, however many sockets');
        const rows = (await listBindings({ exchange: EXCHANGE })).filter((r) => r.routingKey === `${tenant}.${a}`);
        assert.equal(rows.length, 1, 'only the instance with subscribers binds the key');

        assert.deepEqual(await emitAck(s1, 'telemetries:unsubscribe', { deviceId: a }), { status: 'ok' });
        await settle(LINGER_MS * 3);
        assert.ok((await boundKeys()).includes(`${tenant}.${a}`), 'another socket still watches a');
        s2.disconnect();
        await waitFor(async () => {
            const keys = await boundKeys();
            return !keys.includes(`${tenant}.${a}`) && !keys.includes(`${tenant}.${b}`);
        }, 'the unbinds after the last subscriber left');
    });

    test('a client that leaves and comes back within the linger does not flap the binding', async () => {
        const tenant = uid('tenant');
        const device = uid('dev');
        const first = await connectDevices(three, uid('allow'), { transports: ['websocket'] });
        assert.deepEqual(await subscribe(first, device, tenant), { status: 'ok' });
        const unbindsBefore = await metric(three, 'kamea_bus_unbinds_total');
        first.disconnect();
        const again = await connectDevices(three, uid('allow'), { transports: ['websocket'] });
        const sink = telemetrySink(again);
        assert.deepEqual(await subscribe(again, device, tenant), { status: 'ok' });
        await settle(LINGER_MS * 3);
        assert.equal(await metric(three, 'kamea_bus_unbinds_total'), unbindsBefore, 'no unbind happened');
        await post(one, { deviceId: device, tenantId: tenant, v: 1 });
        assert.deepEqual(await sink.until(1), [{ deviceId: device, tenantId: tenant, v: 1 }]);
    });

    test('order per device holds through the bus for thousands of telemetries', async () => {
        const tenant = uid('tenant');
        const device = uid('dev');
        const sinks = [];
        for (const [server, options] of [[two, { transports: ['websocket'] }], [three, { transports: ['polling'] }], [three, {}]]) {
            const socket = await connectDevices(server, uid('allow'), options);
            sinks.push(telemetrySink(socket));
            assert.deepEqual(await subscribe(socket, device, tenant), { status: 'ok' });
        }
        const total = 3000;
        for (let start = 0; start < total; start += 100) {
            const batch = [];
            for (let seq = start; seq < start + 100; seq++) {
                batch.push({ deviceId: device, tenantId: tenant, seq });
            }
            await post(one, batch);
        }
        for (const sink of sinks) {
            await sink.until(total, 60_000);
            assert.equal(sink.received.length, total);
            sink.received.forEach((t, i) => assert.equal(t.seq, i, `telemetry ${i} out of order`));
        }
    });

    test("tenant isolation through the bus: tenant A's subscriber never gets tenant B's same deviceId", async () => {
        const device = uid('X');
        const [tenantA, tenantB] = [uid('ta'), uid('tb')];
        const a = await connectDevices(two, uid('allow'), { transports: ['websocket'] });
        const b = await connectDevices(three, uid('allow'), { transports: ['websocket'] });
        const sinkA = telemetrySink(a);
        const sinkB = telemetrySink(b);
        assert.deepEqual(await subscribe(a, device, tenantA), { status: 'ok' });
        assert.deepEqual(await subscribe(b, device, tenantB), { status: 'ok' });
        await post(one, { deviceId: device, tenantId: tenantB, seq: 1 });
        await post(one, { deviceId: device, tenantId: tenantA, seq: 2 });
        await sinkA.until(1);
        await sinkB.until(1);
        assert.deepEqual(sinkA.received, [{ deviceId: device, tenantId: tenantA, seq: 2 }]);
        assert.deepEqual(sinkB.received, [{ deviceId: device, tenantId: tenantB, seq: 1 }]);
    });

    test('two pairs that share a routing key are still told apart by the body', async () => {
        // "a.b" + "c" and "a" + "b.c" both route as "a.b.c".
        const base = uid('k');
        const first = { tenantId: `${base}.b`, deviceId: 'c' };
        const second = { tenantId: base, deviceId: 'b.c' };
        const s1 = await connectDevices(two, uid('allow'), { transports: ['websocket'] });
        const s2 = await connectDevices(two, uid('allow'), { transports: ['websocket'] });
        const sink1 = telemetrySink(s1);
        const sink2 = telemetrySink(s2);
        assert.deepEqual(await subscribe(s1, first.deviceId, first.tenantId), { status: 'ok' });
        assert.deepEqual(await subscribe(s2, second.deviceId, second.tenantId), { status: 'ok' });
        assert.equal((await boundKeys()).filter((k) => k === `${base}.b.c`).length, 1, 'one binding for the shared key');
        await post(one, [{ ...second, seq: 1 }, { ...first, seq: 2 }]);
        await sink1.until(1);
        await sink2.until(1);
        assert.deepEqual(sink1.received, [{ ...first, seq: 2 }]);
        assert.deepEqual(sink2.received, [{ ...second, seq: 1 }]);
        // One pair leaving keeps the key bound for the other.
        s1.disconnect();
        await settle(LINGER_MS * 3);
        assert.ok((await boundKeys()).includes(`${base}.b.c`));
        await post(one, { ...second, seq: 3 });
        await sink2.until(2);
    });

    test('ids near their 128-character limit use the fixed-length key and still deliver', async () => {
        const tenant = `t${'x'.repeat(120)}${uid('').slice(-7)}`.slice(0, 128);
        const device = `d${'y'.repeat(127)}`;
        const socket = await connectDevices(three, uid('allow'), { transports: ['websocket'] });
        const sink = telemetrySink(socket);
        assert.deepEqual(await subscribe(socket, device, tenant), { status: 'ok' });
        const keys = await boundKeys();
        const long = keys.filter((k) => k.startsWith('~'));
        assert.ok(long.length >= 1 && long.every((k) => k.length === 65), `a fixed-length key: ${long}`);
        await post(two, { deviceId: device, tenantId: tenant, v: 'long' });
        assert.deepEqual(await sink.until(1), [{ deviceId: device, tenantId: tenant, v: 'long' }]);
    });

    test('malformed bus messages are counted and dropped, never delivered, never fatal', async () => {
        const tenant = uid('tenant');
        const device = uid('dev');
        const socket = await connectDevices(two, uid('allow'), { transports: ['websocket'] });
        const sink = telemetrySink(socket);
        assert.deepEqual(await subscribe(socket, device, tenant), { status: 'ok' });
        const key = `${tenant}.${device}`;
        const before = await metric(two, 'kamea_bus_malformed_total');
        const bad = [
            'not json',
            '[1,2]',
            '"a string"',
            JSON.stringify({ deviceId: device }), // no tenantId
            JSON.stringify({ deviceId: device, tenantId: 'not valid!' }),
            JSON.stringify({ deviceId: 7, tenantId: tenant }),
        ];
        for (const body of bad) {
            await publishRaw(key, body, { exchange: EXCHANGE });
        }
        // Over --max-ingest-body (1 MiB by default), however valid.
        bad.push(JSON.stringify({ deviceId: device, tenantId: tenant, pad: 'x'.repeat(1024 * 1024) }));
        await publishLarge(key, bad.at(-1));
        await publishRaw(key, { deviceId: device, tenantId: tenant, ok: true }, { exchange: EXCHANGE });
        assert.deepEqual(await sink.until(1), [{ deviceId: device, tenantId: tenant, ok: true }]);
        await waitFor(async () => (await metric(two, 'kamea_bus_malformed_total')) === before + bad.length,
            `${bad.length} more malformed messages counted`);
        assert.equal(sink.received.length, 1);
        assert.ok(two.running);
    });

    test('a producer publishing straight to the exchange reaches the subscribers (the platform path)', async () => {
        const tenant = uid('tenant');
        const device = uid('dev');
        const socket = await connectDevices(one, uid('allow'), { transports: ['polling'] });
        const sink = telemetrySink(socket);
        assert.deepEqual(await subscribe(socket, device, tenant), { status: 'ok' });
        const text = `{"tenantId":"${tenant}","value":1.50,"deviceId":"${device}"}`;
        await publishRaw(`${tenant}.${device}`, text, { exchange: EXCHANGE });
        await sink.until(1);
        assert.equal(JSON.stringify(sink.received[0]), JSON.stringify(JSON.parse(text)));
    });
});

describe('the binding budget and SIGTERM', { skip: !brokerAvailable() && 'no test broker' }, () => {
    before(async () => {
        api = await startStandin();
    });

    after(async () => {
        closeAllClients();
        await Promise.all(instances.map((s) => s.stop()));
        await api?.close();
    });

    test('past --amqp-max-bindings a new device gets internal_server_error; known ones still work', async () => {
        const server = await startInstance(['--amqp-max-bindings', '2']);
        const tenant = uid('tenant');
        const socket = await connectDevices(server, uid('allow'), { transports: ['websocket'] });
        const errors = [];
        socket.on('internal_server_error', (e) => errors.push(e));
        assert.deepEqual(await subscribe(socket, 'd1', tenant), { status: 'ok' });
        assert.deepEqual(await subscribe(socket, 'd2', tenant), { status: 'ok' });
        const refused = await subscribe(socket, 'd3', tenant);
        assert.equal(refused.status, 'error');
        assert.equal(refused.error, 'internal_server_error');
        assert.match(refused.message, /too many devices/);
        assert.equal(errors.length, 1);
        assert.equal(await metric(server, 'kamea_bus_bindings_refused_total'), 1);
        // A second socket on a device already bound is no new binding.
        const other = await connectDevices(server, uid('allow'), { transports: ['polling'] });
        assert.deepEqual(await subscribe(other, 'd1', tenant), { status: 'ok' });
        const sink = telemetrySink(socket);
        await post(server, [{ deviceId: 'd3', tenantId: tenant }, { deviceId: 'd2', tenantId: tenant, n: 2 }]);
        assert.deepEqual(await sink.until(1), [{ deviceId: 'd2', tenantId: tenant, n: 2 }]);
        assert.equal(await metric(server, 'kamea_bus_bindings'), 2);
    });

    test('SIGTERM unbinds every key explicitly before the queue goes', async () => {
        const server = await startInstance();
        const tenant = uid('tenant');
        const socket = await connectDevices(server, uid('allow'), { transports: ['websocket'] });
        for (let i = 0; i < 20; i++) {
            assert.deepEqual(await subscribe(socket, `dev-${i}`, tenant), { status: 'ok' });
        }
        assert.equal((await boundKeys()).filter((k) => k.startsWith(`${tenant}.`)).length, 20);
        const exit = await withTimeout(server.stop('SIGTERM'), 'exit', 20_000);
        assert.equal(exit.code, 0);
        const stopped = server.logs.find((l) => l.event === 'bus_stopped');
        assert.ok(stopped, 'bus_stopped logged');
        assert.equal(stopped.unbound, 20, 'every binding removed by an explicit unbind');
        assert.equal((await boundKeys()).filter((k) => k.startsWith(`${tenant}.`)).length, 0);
    });
});
