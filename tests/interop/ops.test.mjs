// How the service shows itself (contract section 8): health endpoints, Prometheus metrics that
// move with real traffic, and logs that are one JSON object per line.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { closeAllClients, connectedClient, emitWithAck, nextEvent, SERVER_BIN, startServer } from './server.mjs';
import { ingest, startKamea, startStandin } from './standin.mjs';

let api;
let server;

before(async () => {
    api = await startStandin({ port: 0 });
    server = await startKamea(api.url, ['--log-level', 'debug']);
});
after(async () => {
    closeAllClients();
    await server.stop();
    await api.close();
});

async function metrics(of = server) {
    const res = await fetch(`${of.internalUrl}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/plain/);
    const values = new Map();
    for (const line of (await res.text()).split('\n')) {
        if (line && !line.startsWith('#')) {
            const at = line.lastIndexOf(' ');
            values.set(line.slice(0, at), Number(line.slice(at + 1)));
        }
    }
    return values;
}

test('health endpoints answer JSON on the internal listener only', async () => {
    for (const p of ['/health/live', '/health/ready']) {
        const res = await fetch(`${server.internalUrl}${p}`);
        assert.equal(res.status, 200, p);
        assert.match(res.headers.get('content-type'), /application\/json/);
        assert.equal(typeof (await res.json()).status, 'string');
        assert.equal((await fetch(`${server.url}${p}`)).status, 404, `${p} is not public`);
    }
    assert.equal((await fetch(`${server.url}/metrics`)).status, 404, '/metrics is not public');
});

test('metrics move with connections, subscriptions, telemetries and authorization', async () => {
    const before = await metrics();
    for (const name of ['kamea_connections{transport="websocket"}', 'kamea_namespace_sockets', 'kamea_rooms',
        'kamea_subscriptions', 'kamea_telemetries_in_total', 'kamea_messages_out_total',
        'kamea_dropped_messages_total', 'kamea_authorization_calls_total{result="allowed"}',
        'kamea_authorization_duration_seconds_count', 'kamea_ingest_to_write_seconds_count',
        'kamea_bus_connected{bus="in-process"}']) {
        assert.ok(before.has(name), name);
    }
    const socket = await connectedClient(`${server.url}/devices`, { auth: { token: 'allow-ops' }, transports: ['websocket'] });
    assert.deepEqual(await emitWithAck(socket, 'telemetries', { deviceId: 'ops-1', tenantId: 't' }), [{ status: 'ok' }]);
    const received = nextEvent(socket, 'telemetries');
    const res = await ingest(server, [{ deviceId: 'ops-1', tenantId: 't', v: 1 }]);
    assert.equal(res.status, 202);
    await received;
    const now = await metrics();
    assert.equal(now.get('kamea_connections{transport="websocket"}') - before.get('kamea_connections{transport="websocket"}'), 1);
    assert.equal(now.get('kamea_namespace_sockets') - before.get('kamea_namespace_sockets'), 1);
    assert.equal(now.get('kamea_subscriptions') - before.get('kamea_subscriptions'), 1);
    assert.equal(now.get('kamea_rooms') - before.get('kamea_rooms'), 1);
    assert.equal(now.get('kamea_telemetries_in_total') - before.get('kamea_telemetries_in_total'), 1);
    assert.equal(now.get('kamea_messages_out_total') - before.get('kamea_messages_out_total'), 1);
    assert.equal(now.get('kamea_authorization_calls_total{result="allowed"}') -
        before.get('kamea_authorization_calls_total{result="allowed"}'), 1);
    assert.equal(now.get('kamea_authorization_duration_seconds_count') -
        before.get('kamea_authorization_duration_seconds_count'), 1);
    assert.ok(now.get('kamea_ingest_to_write_seconds_count') > before.get('kamea_ingest_to_write_seconds_count'));
    socket.disconnect();
});

// The ingestion-to-write histogram counts a telemetry written in a polling response too: one
// subscriber of the device, over long-polling only, one telemetry, one observation.
test('kamea_ingest_to_write_seconds observes telemetries delivered over polling', async () => {
    const socket = await connectedClient(`${server.url}/devices`, { auth: { token: 'allow-ops' }, transports: ['polling'] });
    try {
        assert.deepEqual(await emitWithAck(socket, 'telemetries', { deviceId: 'ops-poll-1', tenantId: 't' }), [{ status: 'ok' }]);
        const before = await metrics();
        const received = nextEvent(socket, 'telemetries');
        assert.equal((await ingest(server, [{ deviceId: 'ops-poll-1', tenantId: 't', v: 7 }])).status, 202);
        assert.deepEqual(await received, [{ deviceId: 'ops-poll-1', tenantId: 't', v: 7 }]);
        const now = await metrics();
        assert.equal(now.get('kamea_ingest_to_write_seconds_count') - before.get('kamea_ingest_to_write_seconds_count'), 1);
        const seconds = now.get('kamea_ingest_to_write_seconds_sum') - before.get('kamea_ingest_to_write_seconds_sum');
        assert.ok(seconds >= 0 && seconds < 5, `observed ${seconds} s`);
    } finally {
        socket.disconnect();
    }
});

// Subscribes a WebSocket client to `deviceId`, publishes one telemetry to it and checks it
// arrives; resolves with how much the ring counters of `s` moved meanwhile.
async function deliverOne(s, deviceId) {
    const before = await metrics(s);
    const socket = await connectedClient(`${s.url}/devices`, { auth: { token: 'allow-ring' }, transports: ['websocket'] });
    try {
        assert.deepEqual(await emitWithAck(socket, 'telemetries', { deviceId, tenantId: 't' }), [{ status: 'ok' }]);
        const received = nextEvent(socket, 'telemetries');
        assert.equal((await ingest(s, [{ deviceId, tenantId: 't', v: 42 }])).status, 202);
        assert.deepEqual(await received, [{ deviceId, tenantId: 't', v: 42 }]);
    } finally {
        socket.disconnect();
    }
    const now = await metrics(s);
    const moved = (name) => now.get(name) - before.get(name);
    return { sends: moved('kamea_ring_sends_total'), submissions: moved('kamea_ring_submissions_total') };
}

// Where the kernel allows io_uring (this project's machines do), WebSocket writes go through the
// shard's send ring.
test('a telemetry reaches a WebSocket subscriber through the io_uring send ring', async () => {
    const { sends, submissions } = await deliverOne(server, 'ring-1');
    assert.ok(sends >= 1, `ring sends: ${sends}`);
    assert.ok(submissions >= 1 && submissions <= sends, `submissions ${submissions} for ${sends} sends`);
});

// Without the ring, writes go through Asio and deliver the same: by choice (--io-uring false),
// or where io_uring is refused at start (an old kernel, a container's seccomp profile), which
// the server logs once. That refusal is real to the server: a preloaded library makes liburing's
// io_uring_queue_init fail (tests/interop/shims/, built next to the server).
const shim = path.join(path.dirname(SERVER_BIN), 'tests', 'interop', 'librefuse_io_uring.so');
const withoutRing = [
    ['with --io-uring false', () => startKamea(api.url, ['--io-uring', 'false'])],
    ['where io_uring is refused', () => {
        assert.ok(fs.existsSync(shim), `${shim} is missing: build the project first (make build)`);
        return startKamea(api.url, [], {
            env: {
                LD_PRELOAD: shim,
                // A sanitizer build wants its runtime first; the shim only replaces one function.
                ASAN_OPTIONS: [process.env.ASAN_OPTIONS, 'verify_asan_link_order=0'].filter(Boolean).join(':'),
            },
        });
    }],
];
for (const [how, start] of withoutRing) {
    test(`a telemetry reaches a WebSocket subscriber ${how}, with the ring counters at 0`, async () => {
        const s = await start();
        try {
            const refused = s.logs.filter((l) => l.event === 'io_uring_unavailable');
            if (how.includes('refused')) {
                assert.equal(refused.length, 1, 'io_uring_unavailable logged once at start');
                assert.equal(refused[0].level, 'warning');
            } else {
                assert.equal(refused.length, 0);
            }
            const { sends, submissions } = await deliverOne(s, 'ring-2');
            assert.equal(sends, 0);
            assert.equal(submissions, 0);
            const now = await metrics(s);
            assert.equal(now.get('kamea_ring_sends_total'), 0);
            assert.equal(now.get('kamea_ring_submissions_total'), 0);
        } finally {
            await s.stop();
        }
    });
}

test('every log line is one JSON object with time, level and event', async () => {
    assert.ok(server.logs.length > 3);
    for (const line of server.logs) {
        assert.equal(line.unparsed, undefined, `not JSON: ${line.unparsed}`);
        assert.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.ok(['trace', 'debug', 'info', 'warning', 'error', 'critical'].includes(line.level), line.level);
        assert.equal(typeof line.event, 'string');
    }
});

test('while draining after SIGTERM, /health/ready answers 503 and /health/live still 200', async () => {
    const s = await startKamea(null, ['--shutdown-grace', '5000']);
    // A polling session that never polls again keeps the server draining for the grace period.
    const open = await fetch(`${s.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(open.status, 200);
    await open.text();
    assert.equal((await fetch(`${s.internalUrl}/health/ready`)).status, 200);
    s.proc.kill('SIGTERM');
    await s.waitForLog((l) => l.event === 'shutdown_started');
    const ready = await fetch(`${s.internalUrl}/health/ready`);
    assert.equal(ready.status, 503);
    assert.equal((await ready.json()).status, 'draining');
    assert.equal((await fetch(`${s.internalUrl}/health/live`)).status, 200);
    const refused = await fetch(`${s.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(refused.status, 403, 'new sessions are refused while draining');
    await s.stop();
});

// A core dump would hold every live token (contract section 9). A process that is not
// dumpable has its /proc/<pid> files owned by root whoever runs it: so the server runs as
// nobody here, and the owner of its /proc/<pid>/status tells what the kernel holds.
const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
test('the server is not dumpable unless --core-dumps true', { skip: !asRoot && 'needs root to start the server as nobody' }, async () => {
    const owner = (s) => fs.statSync(`/proc/${s.proc.pid}/status`).uid;
    const closed = await startServer([], { uid: NOBODY });
    const open = await startServer(['--core-dumps', 'true'], { uid: NOBODY });
    try {
        assert.equal(owner(closed), 0, 'not dumpable: /proc/<pid> belongs to root');
        assert.equal(owner(open), NOBODY, '--core-dumps true: dumpable again');
    } finally {
        await closed.stop();
        await open.stop();
    }
});
