// Per-tenant /metrics series (issue 14): telemetries in, messages out and live subscriptions
// of each tenant, for the first --metrics-max-tenants tenants seen; later ones are counted
// together under tenant="(other)", so the number of series stays bounded.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { closeAllClients, waitUntil } from './server.mjs';
import { connectDevices, ingest, readMetric, startKamea, startStandin, subscribe, telemetrySink, uid } from './standin.mjs';

let api;
let server;

before(async () => {
    api = await startStandin();
    server = await startKamea(api.url, ['--metrics-max-tenants', '2']);
});

after(async () => {
    closeAllClients();
    await server?.stop();
    await api?.close();
});

const series = (name, tenant) => readMetric(server, name, `tenant="${tenant}"`);

test('each of the first tenants has its own series, the rest share "(other)"', async () => {
    const tenants = [uid('t'), uid('t'), uid('t'), uid('t')];
    const device = uid('dev');
    const sinks = [];
    for (const tenant of tenants) {
        // Two subscribers per tenant: each telemetry is two messages out.
        for (let i = 0; i < 2; i += 1) {
            const socket = await connectDevices(server, uid('allow'), { transports: ['websocket'] });
            assert.deepEqual(await subscribe(socket, device, tenant), { status: 'ok' });
            sinks.push(telemetrySink(socket));
        }
    }
    const body = tenants.flatMap((tenantId, i) => Array.from({ length: i + 1 }, (_, n) => ({ deviceId: device, tenantId, n })));
    const res = await ingest(server, body);
    assert.equal(res.status, 202, res.text);
    await Promise.all(sinks.map((s, i) => s.until(Math.floor(i / 2) + 1)));

    await waitUntil(async () => (await series('kamea_tenant_messages_out_total', '(other)')) === 2 * (3 + 4),
        'the messages out of the later tenants');
    for (const [i, tenant] of tenants.slice(0, 2).entries()) {
        assert.equal(await series('kamea_tenant_telemetries_in_total', tenant), i + 1);
        assert.equal(await series('kamea_tenant_messages_out_total', tenant), 2 * (i + 1));
        assert.equal(await series('kamea_tenant_subscriptions', tenant), 2);
    }
    assert.equal(await series('kamea_tenant_telemetries_in_total', '(other)'), 3 + 4);
    assert.equal(await series('kamea_tenant_subscriptions', '(other)'), 4);
    for (const tenant of tenants.slice(2)) {
        assert.equal(await series('kamea_tenant_telemetries_in_total', tenant), undefined);
    }

    closeAllClients();
    await waitUntil(async () => (await series('kamea_tenant_subscriptions', tenants[0])) === 0, 'subscriptions gone');
    assert.equal(await series('kamea_tenant_subscriptions', '(other)'), 0);
    assert.equal(await series('kamea_tenant_telemetries_in_total', tenants[0]), 1, 'counters stay');
});
