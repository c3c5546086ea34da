// Broker loss (contract sections 7 and 8) on a real RabbitMQ of this file's own (it is stopped,
// started and frozen here, so it cannot be the run's shared one): no client is disconnected,
// ingestion answers 503 while the bus is down and publishes nothing, /health/ready shows the
// bus state (503 only with --ready-requires-bus true), a subscription made meanwhile is acked
// and bound on reconnect, every binding is replayed, and delivery resumes. A frozen broker
// (SIGSTOP: the TCP connection stays up, nothing answers) is detected too.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import * as rabbit from '../lib/rabbitmq.mjs';
import { closeAllClients, waitUntil } from './server.mjs';
import {
    connectDevices,
    ingest,
    readMetric as metric,
    startKamea,
    startStandin,
    subscribe,
    telemetrySink,
    TRANSPORTS,
    uid,
} from './standin.mjs';

const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const waitFor = (cond, what, ms = 30_000) => waitUntil(cond, what, ms, 100);
let broker;

let api;
let server; // lenient readiness
let strict; // --ready-requires-bus true
const sockets = [];

async function ready(s) {
    const res = await fetch(`${s.internalUrl}/health/ready`);
    return { status: res.status, body: await res.json() };
}

/** Posts `seq` numbers until every sink has one of them; returns the first seq that arrived. */
async function deliveredAgain(target, device, tenant, sinks) {
    for (let seq = 1; seq < 400; seq++) {
        const res = await ingest(target, { deviceId: device, tenantId: tenant, seq });
        if (res.status === 202 && sinks.every((s) => s.received.length > 0)) {
            return;
        }
        await settle(50);
    }
    throw new Error('delivery did not resume');
}

before(async () => {
    broker = await rabbit.startOwnBroker('start');
    api = await startStandin();
    const flags = ['--amqp-url', rabbit.amqpUrl(), '--amqp-heartbeat', '2', '--amqp-probe-interval', '500'];
    server = await startKamea(api.url, flags);
    strict = await startKamea(api.url, [...flags, '--ready-requires-bus', 'true']);
    for (const s of [server, strict]) {
        await s.waitForLog((l) => l.event === 'bus_connected' && l.connection === 'consumer');
    }
});

after(async () => {
    closeAllClients();
    await Promise.all([server?.stop(), strict?.stop()]);
    await api?.close();
    await broker?.stop();
});

test('the broker stopped and started: clients stay, ingestion says 503, delivery resumes', async () => {
    const tenant = uid('tenant');
    const device = uid('dev');
    const sinks = [];
    const disconnects = [];
    for (const s of [server, strict]) {
        for (const [, options] of [...TRANSPORTS, ['upgrade', {}]]) {
            const socket = await connectDevices(s, uid('allow'), options);
            socket.on('disconnect', (reason) => disconnects.push(reason));
            sockets.push(socket);
            sinks.push(telemetrySink(socket));
            assert.deepEqual(await subscribe(socket, device, tenant), { status: 'ok' });
        }
    }
    await ingest(server, { deviceId: device, tenantId: tenant, seq: 0 });
    await Promise.all(sinks.map((s) => s.until(1)));
    const reconnectsBefore = await metric(server, 'kamea_bus_reconnects_total');

    await rabbit.stopApp();
    await waitFor(async () => (await ready(server)).body.bus.state !== 'connected', 'the bus reported down');

    // Readiness: lenient by default (a shared broker must not empty the balancer), strict on request.
    const lenient = await ready(server);
    assert.equal(lenient.status, 200);
    assert.notEqual(lenient.body.bus.state, 'connected');
    await waitFor(async () => (await ready(strict)).status === 503, 'strict readiness turned 503');
    assert.equal((await ready(strict)).body.status, 'bus_unavailable');
    assert.equal(await metric(server, 'kamea_bus_connected'), 0);

    // Ingestion publishes nothing and says so.
    const down = await ingest(server, { deviceId: device, tenantId: tenant, seq: -1 });
    assert.equal(down.status, 503, down.text);
    assert.equal(down.json.error, 'unavailable');

    // A subscription made meanwhile is authorized and acknowledged as usual.
    const late = await connectDevices(server, uid('allow'), { transports: ['websocket'] });
    sockets.push(late);
    const lateDevice = uid('late');
    const lateSink = telemetrySink(late);
    assert.deepEqual(await subscribe(late, lateDevice, tenant), { status: 'ok' });

    await rabbit.startApp();
    await waitFor(async () => (await ready(server)).body.bus.state === 'connected', 'the bus back');
    await waitFor(async () => (await ready(strict)).status === 200, 'strict readiness back');
    assert.ok((await metric(server, 'kamea_bus_reconnects_total')) > reconnectsBefore);

    // Every binding was replayed: the old subscriptions and the one made during the outage.
    for (const s of sinks) {
        s.received.length = 0;
    }
    // The bus reports "connected" before its replayed binds are all in, so both are polled.
    await deliveredAgain(server, device, tenant, sinks);
    await deliveredAgain(strict, lateDevice, tenant, [lateSink]);
    assert.ok(lateSink.received.every((t) => t.deviceId === lateDevice && t.tenantId === tenant));
    assert.ok(sinks.every((s) => s.received.every((t) => t.seq !== -1)), 'the 503 request was not delivered');
    assert.deepEqual(disconnects, [], 'no client was disconnected');
});

test('a frozen broker (up at TCP level, routing nothing) is detected, and the bus comes back', async () => {
    const tenant = uid('tenant');
    const device = uid('dev');
    const socket = await connectDevices(server, uid('allow'), { transports: ['websocket'] });
    sockets.push(socket);
    const sink = telemetrySink(socket);
    assert.deepEqual(await subscribe(socket, device, tenant), { status: 'ok' });
    rabbit.freeze();
    try {
        await waitFor(async () => (await ready(server)).body.bus.state !== 'connected', 'the frozen broker noticed', 20_000);
        assert.equal((await ingest(server, { deviceId: device, tenantId: tenant })).status, 503);
    } finally {
        rabbit.thaw();
    }
    await waitFor(async () => (await ready(server)).body.bus.state === 'connected', 'the bus back after the thaw', 60_000);
    await deliveredAgain(server, device, tenant, [sink]);
    assert.equal(socket.connected, true);
});
