// Tenant isolation (contract section 4): device ids are unique only within a tenant, so a
// telemetry reaches only sockets whose subscription was authorized for its exact (tenantId,
// deviceId) pair, over every transport. One socket may hold the same device id in two
// tenants; `telemetries:unsubscribe {"deviceId"}` leaves it in every tenant, and with a
// `tenantId` only that pair.
//
// Each check posts the telemetry that must NOT arrive first and the one that must arrive
// second: deliveries of one shard keep the order of the posts, so a leak would be received
// before the awaited telemetry, and the received list would show it.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { closeAllClients } from './server.mjs';
import {
    connectDevices,
    emitAck,
    ingest,
    startKamea,
    startStandin,
    subscribe,
    telemetrySink,
    TRANSPORTS,
    uid,
} from './standin.mjs';

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

async function post(body) {
    const res = await ingest(server, body);
    assert.equal(res.status, 202, `ingest answered ${res.status} ${res.text}`);
}

const telemetry = (tenantId, deviceId, seq) => ({ deviceId, tenantId, seq });

for (const [name, transportOptions] of [...TRANSPORTS, ['upgrade', {}]]) {
    describe(`tenant isolation (${name})`, () => {
        test("a subscriber of tenant A's device X never receives tenant B's device X", async () => {
            const device = uid('X');
            const [tenantA, tenantB] = [uid('tenant-a'), uid('tenant-b')];
            const a = await connectDevices(server, uid('allow'), transportOptions);
            const b = await connectDevices(server, uid('allow'), transportOptions);
            const sinkA = telemetrySink(a);
            const sinkB = telemetrySink(b);
            assert.deepEqual(await subscribe(a, device, tenantA), { status: 'ok' });
            assert.deepEqual(await subscribe(b, device, tenantB), { status: 'ok' });

            await post(telemetry(tenantB, device, 1));
            await post(telemetry(tenantA, device, 2));
            await sinkA.until(1);
            await sinkB.until(1);
            assert.deepEqual(sinkA.received, [telemetry(tenantA, device, 2)]);
            assert.deepEqual(sinkB.received, [telemetry(tenantB, device, 1)]);
        });

        test('one socket holds the same device id in two tenants, and unsubscribes them apart', async () => {
            const device = uid('X');
            const [tenantA, tenantB] = [uid('tenant-a'), uid('tenant-b')];
            const socket = await connectDevices(server, uid('allow'), transportOptions);
            const sink = telemetrySink(socket);
            assert.deepEqual(await subscribe(socket, device, tenantA), { status: 'ok' });
            assert.deepEqual(await subscribe(socket, device, tenantB), { status: 'ok' });

            await post([telemetry(tenantA, device, 1), telemetry(tenantB, device, 2)]);
            await sink.until(2);
            assert.deepEqual(sink.received, [telemetry(tenantA, device, 1), telemetry(tenantB, device, 2)]);

            // With a tenantId, only that pair is left.
            assert.deepEqual(await emitAck(socket, 'telemetries:unsubscribe', { deviceId: device, tenantId: tenantA }),
                { status: 'ok' });
            await post(telemetry(tenantA, device, 3));
            await post(telemetry(tenantB, device, 4));
            await sink.until(3);
            assert.deepEqual(sink.received.slice(2), [telemetry(tenantB, device, 4)]);

            // Without one, the device is left in every tenant.
            assert.deepEqual(await subscribe(socket, device, tenantA), { status: 'ok' });
            assert.deepEqual(await emitAck(socket, 'telemetries:unsubscribe', { deviceId: device }), { status: 'ok' });
            const other = uid('other');
            assert.deepEqual(await subscribe(socket, other, tenantA), { status: 'ok' });
            await post([telemetry(tenantA, device, 5), telemetry(tenantB, device, 6)]);
            await post(telemetry(tenantA, other, 7));
            await sink.until(4);
            assert.deepEqual(sink.received.slice(3), [telemetry(tenantA, other, 7)]);
        });
    });
}

test('an invalid tenantId in an unsubscribe is a bad_request', async () => {
    const socket = await connectDevices(server, uid('allow'), { transports: ['websocket'] });
    const answer = await emitAck(socket, 'telemetries:unsubscribe', { deviceId: 'd', tenantId: 'no spaces' });
    assert.equal(answer.status, 'error');
    assert.equal(answer.error, 'bad_request');
    assert.match(answer.message, /tenantId/);
});
