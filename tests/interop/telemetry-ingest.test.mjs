// Telemetry ingestion over HTTP (contract section 7): POST /internal/v1/telemetries with every
// status it can answer (202, 400 with index, 401, 413, 415), a refused batch delivering nothing,
// and per-device order over thousands of telemetries to subscribers on every transport.

import assert from 'node:assert/strict';
import http from 'node:http';
import { Worker } from 'node:worker_threads';
import { after, before, describe, test } from 'node:test';

import { closeAllClients } from './server.mjs';
import {
    connectDevices,
    ingest,
    ingestRaw,
    startKamea,
    startStandin,
    subscribe,
    telemetrySink,
    TRANSPORTS,
    uid,
} from './standin.mjs';

const TENANT = 'tenant-1';
const INGEST_TOKEN = 'ingest-0c5d7e21a9f4';
const MAX_BODY = 65536;

let api;
let server;

before(async () => {
    api = await startStandin();
    server = await startKamea(api.url, ['--ingest-token', INGEST_TOKEN, '--max-ingest-body', String(MAX_BODY)]);
});

after(async () => {
    closeAllClients();
    await server?.stop();
    await api?.close();
});

const post = (body, options = {}) => ingest(server, body, { token: INGEST_TOKEN, ...options });

/** A subscriber of `device`, over WebSocket. */
async function subscriber(device, transportOptions = TRANSPORTS[1][1]) {
    const socket = await connectDevices(server, uid('allow'), transportOptions);
    const sink = telemetrySink(socket);
    assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
    return { socket, sink };
}

function assertJsonError(res, status, error) {
    assert.equal(res.status, status, `expected ${status}, got ${res.status} ${res.text}`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(typeof res.json, 'object', `the body must be JSON: ${res.text}`);
    if (error) {
        assert.equal(res.json.error, error, res.text);
    }
    assert.equal(typeof res.json.message, 'string', res.text);
}

/** A JSON array of telemetries for `device`, padded with trailing spaces to exactly `size` bytes. */
function jsonOfSize(device, size, batch = 'b') {
    // `batch` marks every element, so that a receiver can tell which body a telemetry came from.
    const element = JSON.stringify({ deviceId: device, tenantId: TENANT, batch, pad: 'x'.repeat(100) });
    const parts = [];
    while ((parts.length + 1) * (element.length + 1) + 1 <= size) {
        parts.push(element);
    }
    const text = `[${parts.join(',')}]`;
    return text + ' '.repeat(size - text.length);
}

describe('ingestion body limit with the defaults (--max-ingest-body 1 MiB)', () => {
    let plain;

    before(async () => {
        plain = await startKamea(api.url);
    });

    after(async () => {
        await plain?.stop();
    });

    test('a body of exactly 1 MiB is accepted', async () => {
        const res = await ingest(plain, jsonOfSize('dev-1', 1024 * 1024));
        assert.equal(res.status, 202, `a 1048576-byte body: ${res.status} ${res.text}`);
    });

    test('a body of 1 MiB + 1 byte gets 413', async () => {
        const res = await ingest(plain, jsonOfSize('dev-1', 1024 * 1024 + 1));
        assert.equal(res.status, 413, `a 1048577-byte body: ${res.status} ${res.text}`);
    });
});

describe('ingestion statuses', () => {
    test('202 {"accepted":n} for one object and for an array, with the ingest token', async () => {
        const device = uid('dev');
        const { sink } = await subscriber(device);
        const one = await post({ deviceId: device, tenantId: TENANT, v: 0 });
        assert.equal(one.status, 202, one.text);
        assert.deepEqual(one.json, { accepted: 1 });
        const many = await post([1, 2, 3].map((v) => ({ deviceId: device, tenantId: TENANT, v })));
        assert.equal(many.status, 202, many.text);
        assert.deepEqual(many.json, { accepted: 3 });
        // A charset parameter is still application/json.
        const charset = await post({ deviceId: device, tenantId: TENANT, v: 4 },
            { contentType: 'application/json; charset=utf-8' });
        assert.equal(charset.status, 202, charset.text);
        assert.deepEqual((await sink.until(5)).map((t) => t.v), [0, 1, 2, 3, 4]);
    });

    test('401 without the ingest token, with a wrong one, or with another scheme; nothing delivered', async () => {
        const device = uid('dev');
        const { sink } = await subscriber(device);
        const body = { deviceId: device, tenantId: TENANT, refused: true };
        const attempts = [
            await ingest(server, body),
            await ingest(server, body, { token: 'wrong-token' }),
            await ingest(server, body, { token: `${INGEST_TOKEN}x` }),
            await ingest(server, body, { token: INGEST_TOKEN.slice(0, -1) }),
            await ingest(server, body, { headers: { authorization: `Basic ${INGEST_TOKEN}` } }),
            await ingest(server, body, { headers: { authorization: INGEST_TOKEN } }),
        ];
        for (const res of attempts) {
            assertJsonError(res, 401);
            assert.ok(!res.text.includes(INGEST_TOKEN), 'the ingest token must not be echoed');
        }
        await post({ deviceId: device, tenantId: TENANT, marker: true });
        await sink.until(1);
        assert.deepEqual(sink.received, [{ deviceId: device, tenantId: TENANT, marker: true }]);
    });

    test('415 for a wrong or missing content type', async () => {
        const body = JSON.stringify({ deviceId: 'dev-1', tenantId: TENANT });
        for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', null]) {
            const res = await post(body, { contentType });
            assertJsonError(res, 415);
        }
    });

    test('413 for a Content-Length body over --max-ingest-body; a body under it is accepted', async () => {
        const device = uid('dev');
        const { sink } = await subscriber(device);
        const res = await post(jsonOfSize(device, MAX_BODY + 4000, 'refused'));
        assert.equal(res.status, 413, `a ${MAX_BODY + 4000}-byte body with --max-ingest-body ${MAX_BODY}: ` +
            `${res.status} ${res.text}`);
        const exact = jsonOfSize(device, MAX_BODY, 'accepted');
        const ok = await post(exact);
        assert.equal(ok.status, 202, ok.text);
        const n = JSON.parse(exact).length;
        assert.deepEqual(ok.json, { accepted: n });
        // A last marker: order per device holds, so once it is here everything posted before it
        // is too, and a telemetry of the refused body would be told apart by its mark.
        assert.equal((await post({ deviceId: device, tenantId: TENANT, batch: 'marker' })).status, 202);
        await sink.until(n + 1);
        const batches = sink.received.map((t) => t.batch);
        assert.equal(batches.filter((b) => b === 'refused').length, 0, 'nothing of the refused body may be delivered');
        assert.deepEqual(batches, [...Array(n).fill('accepted'), 'marker']);
    });

    test('413 for a chunked body over --max-ingest-body', async () => {
        const res = await ingestRaw(server, jsonOfSize('dev-1', MAX_BODY + 4000), { token: INGEST_TOKEN, chunked: true });
        assert.equal(res.status, 413, res.text);
        const ok = await ingestRaw(server, jsonOfSize('dev-1', MAX_BODY - 100), { token: INGEST_TOKEN, chunked: true });
        assert.equal(ok.status, 202, ok.text);
    });

    test('400 for a body that is not JSON, or not an object or an array', async () => {
        for (const body of ['{"deviceId":', '', 'null', '42', '"text"', 'true', '{"a":1}{"b":2}', '[1,]']) {
            const res = await post(body);
            assertJsonError(res, 400, 'bad_request');
        }
    });

    test('400 with the index of the bad element, and nothing of that batch is delivered', async () => {
        const device = uid('dev');
        const { sink } = await subscriber(device);
        const good = (n) => ({ deviceId: device, tenantId: TENANT, n });
        const cases = [
            [[good(1), good(2), { deviceId: device, n: 3 }], 2],
            [[{ tenantId: TENANT }], 0],
            [[good(1), { deviceId: 42, tenantId: TENANT }], 1],
            [[good(1), good(2), good(3), { deviceId: 'a b', tenantId: TENANT }], 3],
            [[good(1), { deviceId: device, tenantId: 't'.repeat(129) }], 1],
            [[good(1), { deviceId: '', tenantId: TENANT }], 1],
            [[good(1), 'not an object'], 1],
            [[good(1), null], 1],
            [[good(1), [good(2)]], 1],
        ];
        for (const [batch, index] of cases) {
            const res = await post(batch);
            assertJsonError(res, 400, 'bad_request');
            assert.equal(res.json.index, index, `${JSON.stringify(batch)} → ${res.text}`);
        }
        // One bad object on its own: index 0.
        const single = await post({ deviceId: device, tenantId: null });
        assertJsonError(single, 400, 'bad_request');
        assert.equal(single.json.index, 0, single.text);

        // Per-device order makes the marker the first thing delivered if nothing leaked.
        await post({ deviceId: device, tenantId: TENANT, marker: true });
        await sink.until(1);
        assert.deepEqual(sink.received, [{ deviceId: device, tenantId: TENANT, marker: true }]);
    });
});

describe('per-device order', () => {
    test('order holds across sequential POSTs that come on different connections, under CPU contention', async () => {
        // Producers do not all keep one connection: a POST answered 202 must be delivered before
        // the one that follows it, whichever connection (and so server thread) took each. The
        // POSTs rotate over two keep-alive connections and a new connection every third time,
        // while two busy threads compete with the server for the 2 cores (a loaded host).
        const device = uid('dev');
        const setups = [...TRANSPORTS, ...TRANSPORTS];
        const subs = await Promise.all(setups.map(([, options]) => subscriber(device, options)));
        const agents = [0, 1].map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
        const stop = new Int32Array(new SharedArrayBuffer(4));
        const burners = [0, 1].map(() => new Worker(
            'const { workerData: stop } = require("node:worker_threads");' +
            'const end = Date.now() + 60000;' +
            'while (Atomics.load(stop, 0) === 0 && Date.now() < end) {}',
            { eval: true, workerData: stop }));
        const TOTAL = 1000;
        try {
            for (let seq = 0; seq < TOTAL; seq++) {
                const res = await ingestRaw(server, { deviceId: device, tenantId: TENANT, seq },
                    { token: INGEST_TOKEN, agent: seq % 3 === 2 ? undefined : agents[seq % 3] });
                assert.equal(res.status, 202, res.text);
            }
        } finally {
            Atomics.store(stop, 0, 1);
            await Promise.all(burners.map((w) => w.terminate()));
            for (const agent of agents) {
                agent.destroy();
            }
        }
        await Promise.all(subs.map(({ sink }) => sink.until(TOTAL)));
        for (const [i, { sink }] of subs.entries()) {
            const seqs = sink.received.map((t) => t.seq);
            const at = seqs.findIndex((v, k) => v !== k);
            const moved = seqs.filter((v, k) => v !== k).length;
            assert.equal(at, -1, `subscriber ${i} (${setups[i][0]}): ${moved} of ${TOTAL} out of place, ` +
                `first at position ${at}: …${JSON.stringify(seqs.slice(Math.max(0, at - 3), at + 4))}…`);
        }
        for (const { socket } of subs) {
            socket.disconnect();
        }
    });

    test('5000 telemetries posted in batches reach every subscriber (polling, websocket, upgrade) all and in order', async () => {
        const device = uid('dev');
        const other = uid('dev');
        const setups = [...TRANSPORTS, ...TRANSPORTS, ['upgrade', {}]];
        const subs = await Promise.all(setups.map(([, options]) => subscriber(device, options)));
        const otherSub = await subscriber(other);

        const TOTAL = 5000;
        const BATCH = 250;
        let otherSeq = 0;
        for (let start = 0; start < TOTAL; start += BATCH) {
            const batch = [];
            for (let seq = start; seq < start + BATCH; seq++) {
                batch.push({ deviceId: device, tenantId: TENANT, seq, value: seq * 0.5 });
                if (seq % 50 === 0) {
                    // Another device interleaved in the same batches.
                    batch.push({ deviceId: other, tenantId: TENANT, seq: otherSeq++ });
                }
            }
            const res = await post(batch);
            assert.equal(res.status, 202, res.text);
            assert.deepEqual(res.json, { accepted: batch.length });
        }

        await Promise.all(subs.map(({ sink }) => sink.until(TOTAL, 30_000)));
        await otherSub.sink.until(otherSeq);
        for (const [i, { sink }] of subs.entries()) {
            assert.equal(sink.received.length, TOTAL, `subscriber ${i} (${setups[i][0]})`);
            for (let seq = 0; seq < TOTAL; seq++) {
                const t = sink.received[seq];
                if (t.deviceId !== device || t.seq !== seq) {
                    assert.fail(`subscriber ${i} (${setups[i][0]}): at position ${seq} got ${JSON.stringify(t)}`);
                }
            }
        }
        assert.deepEqual(otherSub.sink.received.map((t) => t.seq), Array.from({ length: otherSeq }, (_, i) => i));
        assert.ok(otherSub.sink.received.every((t) => t.deviceId === other));
        for (const { socket } of [...subs, otherSub]) {
            socket.disconnect();
        }
    });
});
