// Authorization of telemetry subscriptions with the Management API (contract sections 4 and 6),
// against the stand-in under tools/management-api, with the real socket.io-client over polling
// and over WebSocket: every answer the stand-in can give, the API down or slower than
// --management-api-timeout, coalescing of identical checks, keep-alive reuse, bounded
// concurrency, --authz-cache-ttl, re-authorization, HTTPS with --management-api-ca, and the
// bearer token never reaching the logs.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { TEST_THREADS, closeAllClients, connectedClient } from './server.mjs';
import {
    connectDevices,
    emitAck,
    freePort,
    ingest,
    makeCertificate,
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

// Every token of this file carries this, so the log check can look for all of them.
const SECRET = 'Zq7xS3cr3tW9k';
const tokens = new Set();
function token(prefix) {
    const t = `${prefix}${SECRET}-${uid('t')}`;
    tokens.add(t);
    return t;
}

after(() => closeAllClients());

/** Polls `cond` until it holds (only the timeout fails a hung step). */
async function waitFor(cond, what, ms = 10_000) {
    const end = Date.now() + ms;
    while (!cond()) {
        if (Date.now() > end) {
            throw new Error(`timed out: ${what}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
}

/** Posts one telemetry and checks the 202. */
async function post(server, telemetry) {
    const res = await ingest(server, telemetry);
    assert.equal(res.status, 202, res.text);
}

/** Asserts an internal_server_error answer: the error ack, the event, no secret, connection kept. */
async function assertInternalError(socket, rec, ack, what) {
    assert.equal(ack.status, 'error', `${what}: ${JSON.stringify(ack)}`);
    assert.equal(ack.error, 'internal_server_error', `${what}: ${JSON.stringify(ack)}`);
    assert.equal(typeof ack.message, 'string', what);
    const entry = await rec.wait((e) => e.name === 'internal_server_error', `${what}: internal_server_error`);
    assert.equal(typeof entry.args[0]?.message, 'string', `${what}: ${JSON.stringify(entry.args)}`);
    assert.ok(!JSON.stringify(entry.args).includes(SECRET), `${what}: the message must not carry the token`);
    assert.ok(!ack.message.includes(SECRET), `${what}: the ack must not carry the token`);
    assert.ok(socket.connected, `${what}: the connection must be kept`);
    assert.deepEqual(rec.named('access_denied'), [], what);
    assert.deepEqual(rec.named('disconnect'), [], what);
}

/**
 * Asserts that access_denied {deviceId, tenantId, message} arrives, and only then the client's
 * `disconnect` with reason `io server disconnect` (contract section 4, step 3).
 */
async function assertDenied(socket, rec, device, what) {
    const disconnect = await rec.wait((e) => e.name === 'disconnect', `${what}: disconnect`);
    const seen = rec.entries.map((e) => (e.name === 'disconnect' ? `disconnect(${e.args[0]})` : e.name)).join(', ');
    const names = rec.entries.map((e) => e.name);
    const denied = names.indexOf('access_denied');
    assert.ok(denied >= 0 && denied < names.indexOf('disconnect'),
        `${what}: access_denied must be received before the disconnect; the client got: ${seen}`);
    assert.equal(disconnect.args[0], 'io server disconnect',
        `${what}: the first disconnect must be "io server disconnect"; the client got: ${seen}`);
    const [payload] = rec.entries[denied].args;
    assert.equal(payload.deviceId, device, what);
    assert.equal(payload.tenantId, TENANT, what);
    assert.equal(typeof payload.message, 'string', what);
    assert.ok(!JSON.stringify(payload).includes(SECRET), `${what}: the message must not carry the token`);
    assert.equal(socket.connected, false);
    assert.deepEqual(rec.named('internal_server_error'), [], what);
}

// ---------------------------------------------------------------------------------------------

describe('every answer of the Management API', () => {
    // The stand-in may be replaced (same port) to "fix" an answer; `api` is the current one.
    let api;
    let apiPort;
    let server;

    before(async () => {
        api = await startStandin();
        apiPort = api.port;
        server = await startKamea(api.url, ['--log-level', 'debug', '--management-api-timeout', '1500']);
    });

    after(async () => {
        closeAllClients();
        await server?.stop();
        await api?.close();
    });

    /** Replaces the stand-in by one on the same port with these rules (null: none). */
    async function replaceApi(rules) {
        await api.close();
        api = await startStandin({ port: apiPort, ...(rules ? { rules } : {}) });
    }

    for (const [name, transportOptions] of TRANSPORTS) {
        test(`allow: ack ok, telemetries delivered, the check carries the right fields (${name})`, async () => {
            const t = token('allow');
            const device = uid('dev');
            const socket = await connectDevices(server, t, transportOptions);
            const sink = telemetrySink(socket);
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
            assert.equal(api.stats().byKey[`${t}|${TENANT}|${device}`], 1);
            assert.ok(api.stats().byPermission['telemetries:read'] >= 1);
            await post(server, { deviceId: device, tenantId: TENANT, ok: 1 });
            assert.deepEqual(await sink.until(1), [{ deviceId: device, tenantId: TENANT, ok: 1 }]);
        });

        const denials = [
            ['deny (200 {"authorized":false})', 'deny', 'dev'],
            ['401', 'e401', 'dev'],
            ['403', 'e403', 'dev'],
            ['a deviceId forbidden… with an allow token', 'allow', 'forbidden'],
            ['an unknown token prefix', 'nobody', 'dev'],
        ];
        for (const [what, prefix, devicePrefix] of denials) {
            test(`${what}: access_denied, then the server disconnects the client (${name})`, async () => {
                const device = uid(devicePrefix);
                const socket = await connectDevices(server, token(prefix), transportOptions);
                const rec = record(socket);
                const sink = telemetrySink(socket);
                // The ack is written before the DISCONNECT, in the same flush: it always comes.
                const ack = await subscribe(socket, device, TENANT);
                assert.equal(ack.status, 'error', JSON.stringify(ack));
                assert.equal(ack.error, 'access_denied', JSON.stringify(ack));
                assert.equal(typeof ack.message, 'string', JSON.stringify(ack));
                await assertDenied(socket, rec, device, what);
                // The denied client is gone: what is posted now reaches nobody.
                await post(server, { deviceId: device, tenantId: TENANT });
                assert.deepEqual(sink.received, []);
            });
        }

        const errors = [
            ['500', 'e500'],
            ['503 text/plain', 'e503'],
            ['200 with a body that is not JSON', 'garbage'],
            ['200 {} without "authorized"', 'noflag'],
        ];
        for (const [what, prefix] of errors) {
            test(`${what}: internal_server_error, connection kept, a retry works once the API is fixed (${name})`, async () => {
                const t = token(prefix);
                const device = uid('dev');
                const socket = await connectDevices(server, t, transportOptions);
                const rec = record(socket);
                const sink = telemetrySink(socket);
                await assertInternalError(socket, rec, await subscribe(socket, device, TENANT), what);

                // It joined nothing.
                await post(server, { deviceId: device, tenantId: TENANT, before: true });

                // "Fix" the API: the same port now allows this token.
                await replaceApi({ tokens: { [t]: { status: 200, body: { authorized: true } } } });
                try {
                    assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
                    await post(server, { deviceId: device, tenantId: TENANT, after: true });
                    await sink.until(1);
                    assert.deepEqual(sink.received, [{ deviceId: device, tenantId: TENANT, after: true }]);
                } finally {
                    await replaceApi(null);
                }
            });
        }

        test(`an answer slower than --management-api-timeout: internal_server_error, a retry works once it is fast (${name})`, async () => {
            const device = uid('dev');
            const socket = await connectDevices(server, token('allow'), transportOptions);
            const rec = record(socket);
            const sink = telemetrySink(socket);
            api.setDelay(5000);
            try {
                await assertInternalError(socket, rec, await subscribe(socket, device, TENANT), 'delayed answer');
            } finally {
                api.setDelay(0);
            }
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
            await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
            await sink.until(1);
        });

        test(`a slow<ms>- token slower than the timeout: internal_server_error, connection kept (${name})`, async () => {
            const device = uid('dev');
            const socket = await connectDevices(server, token('slow5000-'), transportOptions);
            const rec = record(socket);
            await assertInternalError(socket, rec, await subscribe(socket, device, TENANT), 'slow token');
            // Still usable: a bad request is answered as such.
            const ack = await subscribe(socket, 'bad device', TENANT);
            assert.equal(ack.error, 'bad_request');
            assert.ok(socket.connected);
        });
    }

    test('the bearer token never reaches the logs (debug level), nor stderr', async () => {
        // Everything above ran against this server: connect, subscribe, allow, deny, errors,
        // timeouts. Make sure it has written its lines for the last of it.
        // The token in the handshake's Authorization header too (extraHeaders), both transports.
        for (const [, options] of TRANSPORTS) {
            const viaHeader = await connectedClient(`${server.url}/devices`,
                { ...options, extraHeaders: { Authorization: `Bearer ${token('allow')}` } });
            assert.deepEqual(await subscribe(viaHeader, uid('dev'), TENANT), { status: 'ok' });
            viaHeader.disconnect();
        }
        const socket = await connectDevices(server, `Bearer ${token('allow')}`, {});
        assert.deepEqual(await subscribe(socket, uid('dev'), TENANT), { status: 'ok' });
        const id = socket.id;
        socket.disconnect();
        // Its disconnect is logged at debug level; if the line is named otherwise, go on anyway.
        await server.waitForLog((l) => l.event === 'socket_disconnected' && l.socket === id, 3000).catch(() => {});
        assert.ok(tokens.size >= 20, `${tokens.size} tokens used`);
        assert.ok(server.logs.length > 20, `only ${server.logs.length} log lines`);
        for (const line of server.logs) {
            const text = JSON.stringify(line);
            assert.ok(!text.includes(SECRET), `a log line carries a token: ${text}`);
        }
        assert.ok(!server.stderr.includes(SECRET), 'stderr carries a token');
    });
});

// ---------------------------------------------------------------------------------------------

describe('the Management API is down', () => {
    let server;
    let api;
    let port;

    before(async () => {
        port = await freePort();
        server = await startKamea(`http://127.0.0.1:${port}`, ['--management-api-timeout', '2000']);
    });

    after(async () => {
        closeAllClients();
        await server?.stop();
        await api?.close();
    });

    test('internal_server_error while nothing listens; a retry works once the API is up (polling, websocket)', async () => {
        const t = token('allow');
        const clients = [];
        for (const [name, options] of TRANSPORTS) {
            const socket = await connectDevices(server, t, options);
            const rec = record(socket);
            const device = uid('dev');
            await assertInternalError(socket, rec, await subscribe(socket, device, TENANT), `API down (${name})`);
            clients.push({ socket, device, sink: telemetrySink(socket) });
        }
        api = await startStandin({ port });
        for (const { socket, device, sink } of clients) {
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
            await post(server, { deviceId: device, tenantId: TENANT, up: true });
            await sink.until(1);
        }
    });
});

// ---------------------------------------------------------------------------------------------

describe('coalescing, keep-alive and bounded concurrency', () => {
    let api;
    let server;

    before(async () => {
        api = await startStandin();
        // A long API timeout: the coalescing test holds its one check for 4 s.
        server = await startKamea(api.url, ['--management-api-max-concurrency', '4', '--management-api-timeout', '15000']);
    });

    after(async () => {
        closeAllClients();
        await server?.stop();
        await api?.close();
    });

    test('50 clients with the same token subscribing to the same device at once share one check', async (t) => {
        const tok = token('allow');
        const device = uid('dev');
        const sockets = await Promise.all(Array.from({ length: 50 },
            (_, i) => connectDevices(server, tok, TRANSPORTS[i % 2][1])));
        api.reset();
        // Held long enough that all 50 subscriptions reach the server while it is in flight,
        // even on a loaded machine: coalescing is process-wide (each key has one owning
        // shard), so exactly one check goes out.
        api.setDelay(4000);
        const [requestsBefore, coalescedBefore] = [await readMetric(server, 'kamea_authorization_requests_total'),
            await readMetric(server, 'kamea_authorization_coalesced_total')];
        let acks;
        try {
            acks = await Promise.all(sockets.map((s) => subscribe(s, device, TENANT)));
        } finally {
            api.setDelay(0);
        }
        for (const ack of acks) {
            assert.deepEqual(ack, { status: 'ok' });
        }
        const count = api.stats().byKey[`${tok}|${TENANT}|${device}`];
        t.diagnostic(`checks for 50 identical subscriptions: ${count}`);
        assert.equal(count, 1, `${count} checks reached the API for 50 identical subscriptions`);
        // What the stand-in counted, /metrics shows: requests sent, and the rest coalesced.
        assert.equal(await readMetric(server, 'kamea_authorization_requests_total') - requestsBefore, count);
        assert.equal(await readMetric(server, 'kamea_authorization_coalesced_total') - coalescedBefore, 50 - count);

        const sinks = sockets.map(telemetrySink);
        await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
        await Promise.all(sinks.map((s) => s.until(1)));
        for (const s of sockets) {
            s.disconnect();
        }
    });

    test('checks in flight at once with different tokens are not merged: each gets its own answer', async () => {
        const device = uid('dev');
        const allowTok = token('allow');
        const denyTok = token('deny');
        const allow2Tok = token('allow');
        const socks = await Promise.all([
            // (Denials over WebSocket only: over polling they hit the bug of the denial tests.)
            connectDevices(server, allowTok, TRANSPORTS[0][1]),
            connectDevices(server, denyTok, TRANSPORTS[1][1]),
            connectDevices(server, allow2Tok, TRANSPORTS[1][1]),
            connectDevices(server, denyTok, TRANSPORTS[1][1]),
        ]);
        const recs = socks.map(record);
        api.reset();
        api.setDelay(1000);
        let acks;
        try {
            acks = await Promise.all(socks.map((s) => subscribe(s, device, TENANT)));
        } finally {
            api.setDelay(0);
        }
        assert.deepEqual(acks[0], { status: 'ok' });
        assert.deepEqual(acks[2], { status: 'ok' });
        await assertDenied(socks[1], recs[1], device, 'deny token among allowed ones');
        await assertDenied(socks[3], recs[3], device, 'deny token among allowed ones');
        const byKey = api.stats().byKey;
        assert.equal(byKey[`${allowTok}|${TENANT}|${device}`], 1);
        assert.equal(byKey[`${allow2Tok}|${TENANT}|${device}`], 1);
        assert.ok(byKey[`${denyTok}|${TENANT}|${device}`] >= 1);
        // Different tenants are different checks too.
        const other = await connectDevices(server, allowTok, {});
        assert.deepEqual(await subscribe(other, device, 'tenant-2'), { status: 'ok' });
        assert.equal(api.stats().byKey[`${allowTok}|tenant-2|${device}`], 1);
        for (const s of [...socks, other]) {
            s.disconnect();
        }
    });

    test('an unsubscribe while the check is on its way cancels the subscription', async () => {
        const device = uid('dev');
        const marker = uid('dev');
        const socket = await connectDevices(server, token('allow'), TRANSPORTS[1][1]);
        const sink = telemetrySink(socket);
        assert.deepEqual(await subscribe(socket, marker, TENANT), { status: 'ok' });
        api.setDelay(500);
        let pending;
        try {
            pending = subscribe(socket, device, TENANT);
            assert.deepEqual(await emitAck(socket, 'telemetries:unsubscribe', { deviceId: device }), { status: 'ok' });
            await pending;
        } finally {
            api.setDelay(0);
        }
        await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
        await post(server, { deviceId: marker, tenantId: TENANT, marker: true });
        await sink.untilMatch((t) => t.marker === true, 'the marker');
        assert.deepEqual(sink.received, [{ deviceId: marker, tenantId: TENANT, marker: true }]);
        socket.disconnect();
    });

    test('clients that leave while their check is on its way do not disturb the server', async () => {
        const device = uid('dev');
        const sockets = await Promise.all(Array.from({ length: 10 },
            (_, i) => connectDevices(server, token('allow'), TRANSPORTS[i % 2][1])));
        api.setDelay(500);
        try {
            for (const s of sockets) {
                s.emit('telemetries', { deviceId: device, tenantId: TENANT }, () => {});
            }
            await waitFor(() => api.stats().inFlight >= 1, 'checks in flight');
            for (const s of sockets) {
                s.disconnect();
            }
            await waitFor(() => api.stats().inFlight === 0, 'the checks to end');
        } finally {
            api.setDelay(0);
        }
        assert.ok(server.running);
        const socket = await connectDevices(server, token('allow'), TRANSPORTS[0][1]);
        const sink = telemetrySink(socket);
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
        assert.deepEqual(await sink.until(1), [{ deviceId: device, tenantId: TENANT, n: 1 }]);
        socket.disconnect();
    });

    test('sequential checks reuse keep-alive connections', async () => {
        const socket = await connectDevices(server, token('allow'), TRANSPORTS[1][1]);
        api.reset();
        const N = 40;
        for (let i = 0; i < N; i++) {
            assert.deepEqual(await subscribe(socket, `seq-${i}`, TENANT), { status: 'ok' });
        }
        const stats = api.stats();
        assert.equal(stats.requests, N);
        // One connection per event loop (2 threads), with some slack for an idle close.
        assert.ok(stats.checkConnections <= 4, `${stats.checkConnections} connections for ${N} sequential checks`);
        socket.disconnect();
    });

    test('--management-api-max-concurrency bounds the checks in flight', async () => {
        const socket = await connectDevices(server, token('allow'), TRANSPORTS[1][1]);
        api.reset();
        api.setDelay(200);
        let acks;
        try {
            acks = await Promise.all(Array.from({ length: 24 }, (_, i) => subscribe(socket, `conc-${i}`, TENANT)));
        } finally {
            api.setDelay(0);
        }
        for (const ack of acks) {
            assert.deepEqual(ack, { status: 'ok' });
        }
        const stats = api.stats();
        assert.equal(stats.requests, 24);
        // 4 per event loop; 24 keys over the loops give one of them at least 4 at once.
        assert.ok(stats.inFlightMax <= 4 * TEST_THREADS, `inFlightMax ${stats.inFlightMax} (${TEST_THREADS} loops)`);
        assert.ok(stats.inFlightMax >= 4, `inFlightMax ${stats.inFlightMax}: the cap was never reached`);
        socket.disconnect();
    });
});

// ---------------------------------------------------------------------------------------------

describe('an API that closes idle keep-alive connections soon (Node.js: 5 s by default)', () => {
    let api;
    let server;

    before(async () => {
        api = await startStandin({ keepAliveTimeoutMs: 300 });
        server = await startKamea(api.url);
    });

    after(async () => {
        closeAllClients();
        await server?.stop();
        await api?.close();
    });

    test('a check after the whole idle pool was closed dials afresh instead of failing', async () => {
        const socket = await connectDevices(server, token('allow'), TRANSPORTS[1][1]);
        // Six checks at once leave six idle connections on this socket's event loop.
        api.setDelay(100);
        let acks;
        try {
            acks = await Promise.all(Array.from({ length: 6 }, (_, i) => subscribe(socket, `pool-${uid()}-${i}`, TENANT)));
        } finally {
            api.setDelay(0);
        }
        assert.ok(acks.every((a) => a.status === 'ok'), JSON.stringify(acks));
        // Node.js closes them 1 s past keepAliveTimeout and announces "Keep-Alive: timeout=0".
        await new Promise((r) => setTimeout(r, 2000));
        for (let i = 0; i < 3; i++) {
            assert.deepEqual(await subscribe(socket, `after-${uid()}-${i}`, TENANT), { status: 'ok' });
        }
        socket.disconnect();
    });
});

describe('idle pooled connections past their Keep-Alive are closed, not kept', () => {
    let api;
    let server;

    before(async () => {
        // Node.js announces "Keep-Alive: timeout=2" and closes an idle connection after 3 s.
        api = await startStandin({ keepAliveTimeoutMs: 2000 });
        server = await startKamea(api.url, ['--threads', '1']);
    });

    after(async () => {
        closeAllClients();
        await server?.stop();
        await api?.close();
    });

    test('after a burst, the connections that steady checks leave idle are closed once expired', async () => {
        const fds = () => fs.readdirSync(`/proc/${server.proc.pid}/fd`).length;
        const socket = await connectDevices(server, token('allow'), TRANSPORTS[0][1]);
        api.setDelay(200);
        try {
            const acks = await Promise.all(Array.from({ length: 6 }, (_, i) => subscribe(socket, `burst-${uid()}-${i}`, TENANT)));
            assert.ok(acks.every((a) => a.status === 'ok'), JSON.stringify(acks));
        } finally {
            api.setDelay(0);
        }
        const afterBurst = fds(); // six idle connections in the pool
        // Steady checks, one at a time, reuse the newest connection and keep it fresh; the five
        // others pass their 2 s and are closed by the API. The pool must let them go.
        for (let i = 0; i < 9; i++) {
            assert.deepEqual(await subscribe(socket, `steady-${uid()}-${i}`, TENANT), { status: 'ok' });
            await new Promise((r) => setTimeout(r, 400));
        }
        const afterSteady = fds();
        assert.ok(afterSteady <= afterBurst - 4, `open files: ${afterBurst} after the burst, ${afterSteady} after the steady checks`);
        socket.disconnect();
    });
});

// ---------------------------------------------------------------------------------------------

describe('--authz-cache-ttl 60', () => {
    let api;
    let server;

    before(async () => {
        api = await startStandin();
        server = await startKamea(api.url, ['--authz-cache-ttl', '60']);
    });

    after(async () => {
        closeAllClients();
        await server?.stop();
        await api?.close();
    });

    test('an allowed answer is reused for the same key; other tokens and denials still ask', async () => {
        const tok = token('allow');
        const device = uid('dev');
        const key = `${tok}|${TENANT}|${device}`;
        const first = await connectDevices(server, tok, TRANSPORTS[0][1]);
        assert.deepEqual(await subscribe(first, device, TENANT), { status: 'ok' });
        assert.equal(api.stats().byKey[key], 1);

        for (let i = 0; i < 5; i++) {
            assert.deepEqual(await emitAck(first, 'telemetries:unsubscribe', { deviceId: device }), { status: 'ok' });
            assert.deepEqual(await subscribe(first, device, TENANT), { status: 'ok' });
        }
        const second = await connectDevices(server, tok, TRANSPORTS[1][1]);
        assert.deepEqual(await subscribe(second, device, TENANT), { status: 'ok' });
        assert.equal(api.stats().byKey[key], 1, 'repeated checks of a cached key must not reach the API');
        assert.equal(await readMetric(server, 'kamea_authorization_cache_hits_total'), 6, 'counted as cache hits');

        // The cached subscriptions are real ones.
        const sinks = [first, second].map(telemetrySink);
        await post(server, { deviceId: device, tenantId: TENANT, cached: true });
        await Promise.all(sinks.map((s) => s.until(1)));

        // Another token for the same device is checked on its own.
        const otherTok = token('allow');
        const third = await connectDevices(server, otherTok, {});
        assert.deepEqual(await subscribe(third, device, TENANT), { status: 'ok' });
        assert.equal(api.stats().byKey[`${otherTok}|${TENANT}|${device}`], 1);

        // Denials are not cached: each attempt asks again.
        const denyTok = token('deny');
        for (let i = 0; i < 2; i++) {
            const s = await connectDevices(server, denyTok, TRANSPORTS[1][1]);
            const rec = record(s);
            await subscribe(s, device, TENANT);
            await assertDenied(s, rec, device, 'deny with a cache');
        }
        assert.equal(api.stats().byKey[`${denyTok}|${TENANT}|${device}`], 2);
    });
});

describe('--authz-cache-ttl 1: a cached answer expires', () => {
    let api;
    let server;

    before(async () => {
        api = await startStandin();
        server = await startKamea(api.url, ['--authz-cache-ttl', '1']);
    });

    after(async () => {
        closeAllClients();
        await server?.stop();
        await api?.close();
    });

    test('within the ttl the answer is reused; after it the API is asked again', async () => {
        const tok = token('allow');
        const device = uid('dev');
        const key = `${tok}|${TENANT}|${device}`;
        const socket = await connectDevices(server, tok, TRANSPORTS[0][1]);
        const again = async () => {
            assert.deepEqual(await emitAck(socket, 'telemetries:unsubscribe', { deviceId: device }), { status: 'ok' });
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        };
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        await again();
        assert.equal(api.stats().byKey[key], 1, 'within the ttl');
        // The ttl is the point of the test: wait past it.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        await again();
        assert.equal(api.stats().byKey[key], 2, 'after the ttl');
        await again();
        assert.equal(api.stats().byKey[key], 2, 'the new answer is cached in turn');
    });
});

// ---------------------------------------------------------------------------------------------

describe('re-authorization (--reauth-interval 1)', () => {
    let api;
    let server;

    before(async () => {
        api = await startStandin();
        // A short API timeout: the error test makes the re-checks time out.
        server = await startKamea(api.url, ['--reauth-interval', '1', '--management-api-timeout', '1500']);
    });

    test('an error while re-checking is not a revocation: the subscription stays and delivery goes on', async () => {
        const device = uid('dev');
        const socket = await connectDevices(server, token('allow'), TRANSPORTS[0][1]);
        const rec = record(socket);
        const sink = telemetrySink(socket);
        assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
        const errors = async () => (await readMetric(server, 'kamea_authorization_calls_total', 'result="error"')) ?? 0;
        const before = await errors();
        api.setDelay(3000); // past the timeout: every re-check fails
        try {
            const end = Date.now() + 20_000;
            while ((await errors()) < before + 2 && Date.now() < end) {
                await new Promise((resolve) => setTimeout(resolve, 200));
            }
            assert.ok((await errors()) >= before + 2, 'two re-checks failed');
        } finally {
            api.setDelay(0);
        }
        await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
        assert.deepEqual((await sink.until(1)).map((t) => t.n), [1]);
        assert.ok(socket.connected);
        assert.deepEqual(rec.named('access_denied'), []);
        assert.deepEqual(rec.named('internal_server_error'), [], 'a re-check is the server\'s own: nothing to tell');
        assert.deepEqual(rec.named('disconnect'), []);
        socket.disconnect();
    });

    after(async () => {
        closeAllClients();
        await server?.stop();
        await api?.close();
    });

    for (const [name, options] of TRANSPORTS) {
        test(`a revoked token gets access_denied then io server disconnect; others keep receiving (${name})`, async () => {
            const device = uid('dev');
            const t = token('revocable');
            const socket = await connectDevices(server, t, options);
            const rec = record(socket);
            const sink = telemetrySink(socket);
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
            const keeper = await connectDevices(server, token('allow'), options);
            const keeperSink = telemetrySink(keeper);
            assert.deepEqual(await subscribe(keeper, device, TENANT), { status: 'ok' });

            await post(server, { deviceId: device, tenantId: TENANT, n: 1 });
            await Promise.all([sink.until(1), keeperSink.until(1)]);

            api.revoke(t);
            await rec.wait((e) => e.name === 'disconnect', 'disconnect after the revocation', 15_000);
            await assertDenied(socket, rec, device, `revoked (${name})`);
            // The check was repeated: the stand-in saw more than the first one.
            assert.ok(api.stats().byKey[`${t}|${TENANT}|${device}`] >= 2);

            await post(server, { deviceId: device, tenantId: TENANT, n: 2 });
            await keeperSink.until(2);
            assert.ok(keeper.connected);
            assert.deepEqual(sink.received.map((x) => x.n), [1]);
            keeper.disconnect();
        });
    }
});

// ---------------------------------------------------------------------------------------------

describe('HTTPS Management API', () => {
    let tls;
    let api;
    let trusting;
    let distrusting;

    before(async () => {
        tls = await makeCertificate();
        if (!tls) {
            return;
        }
        api = await startStandin({ tlsCert: tls.cert, tlsKey: tls.key });
        assert.match(api.url, /^https:/);
        trusting = await startKamea(api.url, ['--management-api-ca', tls.cert]);
        distrusting = await startKamea(api.url, ['--management-api-timeout', '3000']);
    });

    after(async () => {
        closeAllClients();
        await trusting?.stop();
        await distrusting?.stop();
        await api?.close();
        if (tls) {
            fs.rmSync(tls.dir, { recursive: true, force: true });
        }
    });

    for (const [name, options] of TRANSPORTS) {
        test(`with --management-api-ca: allowed and denied answers work over TLS (${name})`, async (t) => {
            if (!tls) {
                t.skip('openssl is missing');
                return;
            }
            const device = uid('dev');
            const socket = await connectDevices(trusting, token('allow'), options);
            const sink = telemetrySink(socket);
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
            await post(trusting, { deviceId: device, tenantId: TENANT, tls: true });
            await sink.until(1);

            // (Over WebSocket: a denial over polling hits the bug of the denial tests.)
            const denied = await connectDevices(trusting, token('deny'), TRANSPORTS[1][1]);
            const rec = record(denied);
            await subscribe(denied, device, TENANT);
            await assertDenied(denied, rec, device, 'deny over TLS');
        });

        test(`without --management-api-ca the self-signed certificate is not trusted: internal_server_error (${name})`, async (t) => {
            if (!tls) {
                t.skip('openssl is missing');
                return;
            }
            const socket = await connectDevices(distrusting, token('allow'), options);
            const rec = record(socket);
            await assertInternalError(socket, rec, await subscribe(socket, uid('dev'), TENANT), 'untrusted certificate');
        });
    }
});
