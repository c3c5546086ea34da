// A real two-node RabbitMQ cluster on loopback (two node names and ports, joined with
// rabbitmqctl join_cluster, by scripts/rabbitmq.sh cluster): the node an instance is
// connected to is stopped, the instance moves to the other node of its --amqp-url list,
// re-binds, and its subscribers keep receiving; no client is disconnected.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import * as rabbit from '../lib/rabbitmq.mjs';
import { closeAllClients, waitUntil } from './server.mjs';
import { connectDevices, ingest, startKamea, startStandin, subscribe, telemetrySink, TRANSPORTS, uid } from './standin.mjs';

const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const waitFor = (cond, what, ms = 60_000) => waitUntil(cond, what, ms, 100);
let broker;
let api;
let server;

async function health(s) {
    return (await fetch(`${s.internalUrl}/health/ready`)).json();
}

before(async () => {
    broker = await rabbit.startOwnBroker('cluster');
    api = await startStandin();
    server = await startKamea(api.url, [
        '--amqp-url', `${rabbit.amqpUrl({ node: 1 })},${rabbit.amqpUrl({ node: 2 })}`,
        '--amqp-heartbeat', '2',
    ]);
    await server.waitForLog((l) => l.event === 'bus_connected' && l.connection === 'consumer');
}, { timeout: 300_000 });

after(async () => {
    closeAllClients();
    await server?.stop();
    await api?.close();
    await broker?.stop();
});

test('the connected node stops: the instance moves to the other node and subscribers keep receiving', async () => {
    const tenant = uid('tenant');
    const device = uid('dev');
    const sinks = [];
    const disconnects = [];
    for (const [, options] of TRANSPORTS) {
        const socket = await connectDevices(server, uid('allow'), options);
        socket.on('disconnect', (reason) => disconnects.push(reason));
        sinks.push(telemetrySink(socket));
        assert.deepEqual(await subscribe(socket, device, tenant), { status: 'ok' });
    }
    assert.equal((await ingest(server, { deviceId: device, tenantId: tenant, seq: 0 })).status, 202);
    await Promise.all(sinks.map((s) => s.until(1)));

    const first = (await health(server)).bus.node;
    const port1 = new URL(rabbit.amqpUrl({ node: 1 })).port;
    const stopped = first.includes(`:${port1}/`) ? 1 : 2;
    await rabbit.stopApp({ node: stopped });
    try {
        await waitFor(async () => {
            const h = await health(server);
            return h.bus.state === 'connected' && h.bus.node !== first;
        }, 'the instance on the other node');
        assert.doesNotMatch((await health(server)).bus.node, /guest:guest/, 'no password in /health');

        for (const s of sinks) {
            s.received.length = 0;
        }
        for (let seq = 1; !sinks.every((s) => s.received.length > 0); seq++) {
            assert.ok(seq < 300, 'delivery did not resume on the other node');
            const res = await ingest(server, { deviceId: device, tenantId: tenant, seq });
            assert.ok(res.status === 202 || res.status === 503, `ingest answered ${res.status}`);
            await settle(50);
        }
        assert.deepEqual(disconnects, [], 'no client was disconnected');
    } finally {
        await rabbit.startApp({ node: stopped }).catch(() => {});
    }
});
