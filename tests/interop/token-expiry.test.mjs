// Token expiry and `auth:refresh` (issue 13), with the real socket.io-client against the
// Management API stand-in, whose JWT tokens answer 401 once their `exp` is past: a socket whose
// JWT expires is re-checked and cut within seconds (with --authz-cache-ttl on, and the
// re-authorization interval far away), a fresh token sent with `auth:refresh` keeps it
// going, and a refresh the API refuses, or that is malformed, leaves the old token in force.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { makeJwt } from '../../tools/management-api/server.mjs';
import { client, closeAllClients, waitConnectError } from './server.mjs';
import {
    connectDevices,
    emitAck,
    ingest,
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

/** A JWT for user `sub` that expires `seconds` from now (whole seconds, as `exp` is). */
const jwtExpiringIn = (sub, seconds) => makeJwt({ sub, exp: Math.ceil(Date.now() / 1000) + seconds });

const settle = (ms) => new Promise((r) => setTimeout(r, ms));

async function post(server, telemetry) {
    const res = await ingest(server, telemetry);
    assert.equal(res.status, 202, res.text);
}

describe('token expiry and auth:refresh', () => {
    let api;
    let server;

    before(async () => {
        api = await startStandin();
        // The cache would answer "allowed" for a minute and the re-authorization is five
        // minutes away: only the expiry can cut a socket within these tests.
        server = await startKamea(api.url, ['--authz-cache-ttl', '60', '--reauth-interval', '300']);
    });

    after(async () => {
        closeAllClients();
        await server?.stop();
        await api?.close();
    });

    for (const [name, options] of TRANSPORTS) {
        test(`a socket whose JWT expires is cut within seconds of its exp; others keep receiving (${name})`, async () => {
            const device = uid('dev');
            const token = jwtExpiringIn(uid('allow-u'), 3);
            const exp = JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).exp * 1000;
            const socket = await connectDevices(server, token, options);
            const rec = record(socket);
            const sink = telemetrySink(socket);
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
            const keeper = await connectDevices(server, uid('allow-keeper'), options);
            const keeperSink = telemetrySink(keeper);
            assert.deepEqual(await subscribe(keeper, device, TENANT), { status: 'ok' });
            await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
            await Promise.all([sink.until(1), keeperSink.until(1)]);

            const disconnect = await rec.wait((e) => e.name === 'disconnect', 'the cut after the expiry', 15_000);
            const cutAfterMs = Date.now() - exp;
            assert.ok(cutAfterMs >= 0, `cut ${-cutAfterMs} ms before the token expired`);
            assert.ok(cutAfterMs < 8000, `cut ${cutAfterMs} ms after the expiry`);
            assert.equal(disconnect.args[0], 'io server disconnect');
            const denied = rec.named('access_denied');
            assert.equal(denied.length, 1, JSON.stringify(rec.entries));
            assert.equal(denied[0].args[0].deviceId, device);
            assert.equal(denied[0].args[0].message, 'token expired');
            // The expiry check reached the API, past the cache of the first answer.
            assert.equal(api.stats().byKey[`${token}|${TENANT}|${device}`], 2);

            await post(server, { deviceId: device, tenantId: TENANT, n: 2 });
            await keeperSink.until(2);
            assert.ok(keeper.connected);
            assert.deepEqual(sink.received.map((x) => x.n), [1]);
            keeper.disconnect();
        });
    }

    test('auth:refresh with a fresh token before the expiry keeps the socket receiving', async () => {
        const user = uid('allow-u');
        const device = uid('dev');
        const old = jwtExpiringIn(user, 3);
        const fresh = jwtExpiringIn(user, 3600);
        const socket = await connectDevices(server, old, WEBSOCKET);
        const rec = record(socket);
        const sink = telemetrySink(socket);
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        assert.deepEqual(await emitAck(socket, 'auth:refresh', { token: fresh }), { status: 'ok' });
        assert.equal(api.stats().byKey[`${fresh}|${TENANT}|${device}`], 1, 'the new token was checked');

        await settle(5000); // past the old token's expiry and its first re-check
        assert.ok(socket.connected, JSON.stringify(rec.entries));
        await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
        await sink.until(1);
        assert.equal(api.stats().byKey[`${old}|${TENANT}|${device}`], 1, 'the old token was not checked again');
        // A subscription made now is checked with the new token.
        const other = uid('dev');
        assert.deepEqual(await subscribe(socket, other, TENANT), { status: 'ok' });
        assert.equal(api.stats().byKey[`${fresh}|${TENANT}|${other}`], 1);
        assert.equal(api.stats().byKey[`${old}|${TENANT}|${other}`], undefined);
        assert.equal(rec.named('access_denied').length, 0);
        socket.disconnect();
    });

    test('a refresh the API denies or fails is refused and the old token stays', async () => {
        const device = uid('dev');
        const old = uid('allow-u');
        const socket = await connectDevices(server, old, WEBSOCKET);
        const rec = record(socket);
        const sink = telemetrySink(socket);
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });

        const deny = uid('deny-u');
        const denied = await emitAck(socket, 'auth:refresh', { token: deny });
        assert.equal(denied.status, 'error', JSON.stringify(denied));
        assert.equal(denied.error, 'access_denied');
        assert.match(denied.message, new RegExp(device));
        const failing = uid('e500-u');
        const failed = await emitAck(socket, 'auth:refresh', { token: `Bearer ${failing}` });
        assert.equal(failed.error, 'internal_server_error', JSON.stringify(failed));
        assert.equal(api.stats().byKey[`${failing}|${TENANT}|${device}`], 1, 'the "Bearer " prefix is stripped');

        // Still connected, still receiving, still with the old token.
        assert.ok(socket.connected);
        assert.equal(rec.named('access_denied').length, 0, 'a refused refresh is not a denial of the socket');
        await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
        await sink.until(1);
        const next = uid('dev');
        assert.deepEqual(await subscribe(socket, next, TENANT), { status: 'ok' });
        assert.equal(api.stats().byKey[`${old}|${TENANT}|${next}`], 1);
        socket.disconnect();
    });

    test('of two refreshes in flight, the later one wins even when it is answered first', async () => {
        const socket = await connectDevices(server, uid('allow-u'), WEBSOCKET);
        const device = uid('dev');
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        const slow = uid('slow1000-u'); // the stand-in allows it after a second
        const quick = uid('allow-w');
        const [first, second] = await Promise.all([
            emitAck(socket, 'auth:refresh', { token: slow }),
            emitAck(socket, 'auth:refresh', { token: quick }),
        ]);
        assert.deepEqual(second, { status: 'ok' });
        assert.equal(first.error, 'bad_request', JSON.stringify(first));
        assert.match(first.message, /later auth:refresh/);
        const next = uid('dev');
        assert.deepEqual(await subscribe(socket, next, TENANT), { status: 'ok' });
        assert.equal(api.stats().byKey[`${quick}|${TENANT}|${next}`], 1, 'the later token is in force');
        socket.disconnect();
    });

    test('a refresh without subscriptions is taken as is, and the next subscription asks with it', async () => {
        const socket = await connectDevices(server, uid('allow-u'), WEBSOCKET);
        const fresh = uid('deny-u');
        assert.deepEqual(await emitAck(socket, 'auth:refresh', { token: fresh }), { status: 'ok' });
        const rec = record(socket);
        const device = uid('dev');
        await subscribe(socket, device, TENANT);
        await rec.wait((e) => e.name === 'disconnect', 'the denial with the new token');
        assert.equal(api.stats().byKey[`${fresh}|${TENANT}|${device}`], 1);
    });

    test('malformed refreshes get bad_request and change nothing', async () => {
        const socket = await connectDevices(server, uid('allow-u'), WEBSOCKET);
        const rec = record(socket);
        const device = uid('dev');
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        const cases = [[], ['a string'], [{}], [{ token: 5 }], [{ token: '' }], [{ token: 'Bearer  ' }],
            [{ token: `allow-${'x'.repeat(9000)}` }]];
        for (const args of cases) {
            const ack = await emitAck(socket, 'auth:refresh', ...args);
            assert.equal(ack.status, 'error', JSON.stringify(args).slice(0, 80));
            assert.equal(ack.error, 'bad_request', JSON.stringify(args).slice(0, 80));
        }
        assert.match((await emitAck(socket, 'auth:refresh', { token: `allow-${'x'.repeat(9000)}` })).message,
            /too long/);
        assert.equal(rec.named('bad_request').length, cases.length + 1);
        assert.ok(rec.named('bad_request').every((e) => e.args[0].event === 'auth:refresh'));
        assert.ok(socket.connected);
        // An un-acknowledged refresh works too (the fresh token is checked).
        const fresh = uid('allow-v');
        socket.emit('auth:refresh', { token: fresh });
        await settle(300);
        assert.equal(api.stats().byKey[`${fresh}|${TENANT}|${device}`], 1);
        socket.disconnect();
    });

    test('a CONNECT with a token over 8192 bytes is refused', async () => {
        const socket = client(`${server.url}/devices`, { auth: { token: `allow-${'y'.repeat(8200)}` }, ...WEBSOCKET });
        const err = await waitConnectError(socket);
        assert.match(err.message, /too long/);
        socket.disconnect();
    });
});
