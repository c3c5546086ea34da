// Limits that protect the server (contract section 9): a client that cannot keep up is cut off
// and counted instead of growing memory, without disturbing the others; connection limits
// refuse what is over them.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';

import { client, closeAllClients, STEP_TIMEOUT, waitConnectError, withTimeout } from './server.mjs';
import { connectDevices, ingest, readMetric, startKamea, startStandin, subscribe, telemetrySink } from './standin.mjs';

after(() => closeAllClients());

// A raw WebSocket client that joins /devices, subscribes, and then stops reading its socket.
async function stalledSubscriber(port, deviceId) {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    sock.setNoDelay(true);
    const key = Buffer.from('0123456789abcdef').toString('base64');
    sock.write(`GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    const frame = (text) => {
        const payload = Buffer.from(text);
        const mask = Buffer.from([1, 2, 3, 4]);
        const header = payload.length < 126
            ? Buffer.from([0x81, 0x80 | payload.length])
            : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 255]);
        return Buffer.concat([header, mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))]);
    };
    let seen = '';
    const closed = new Promise((resolve) => sock.once('close', resolve));
    await withTimeout(new Promise((resolve) => {
        const onData = (d) => {
            seen += d.toString('latin1');
            if (seen.includes('40/devices,{"sid"') && !seen.includes('SENT')) {
                seen += 'SENT';
                sock.write(frame(`42/devices,1["telemetries",{"deviceId":"${deviceId}","tenantId":"t"}]`));
            }
            if (seen.includes('43/devices,1[{"status":"ok"}]')) {
                sock.off('data', onData);
                sock.pause(); // from now on the kernel buffers fill up and the server's queue grows
                resolve();
            }
        };
        sock.on('data', onData);
        sock.write(frame('40/devices,{"token":"allow-stall"}'));
    }), 'stalled subscriber joins');
    return { sock, closed };
}

test('a subscriber that stops reading is cut off past --max-send-queue; others get everything', async () => {
    const api = await startStandin({ port: 0 });
    const server = await startKamea(api.url, ['--max-send-queue', String(1 << 20)]);
    try {
        const device = 'slow-1';
        const healthy = await connectDevices(server, 'allow-ok', { transports: ['websocket'] });
        await subscribe(healthy, device, 't');
        const sink = telemetrySink(healthy);
        const stalled = await stalledSubscriber(server.port, device);

        const pad = 'x'.repeat(4000);
        const total = 4000; // ~16 MB: far more than the kernel's socket buffers plus the 1 MiB queue
        for (let i = 0; i < total; i += 100) {
            const batch = Array.from({ length: 100 }, (_, k) => ({ deviceId: device, tenantId: 't', seq: i + k, pad }));
            assert.equal((await ingest(server, batch)).status, 202);
            await sink.until(i + 100, 4 * STEP_TIMEOUT); // the healthy client keeps up: never near the limit
        }
        await server.waitForLog((l) => l.event === 'slow_client_disconnected');
        stalled.sock.resume(); // reading again, it sees the reset connection end
        await withTimeout(stalled.closed, 'the stalled client is disconnected', 4 * STEP_TIMEOUT);
        const got = await sink.until(total, 4 * STEP_TIMEOUT);
        assert.deepEqual(got.map((t) => t.seq), Array.from({ length: total }, (_, i) => i));

        const metrics = await (await fetch(`${server.internalUrl}/metrics`)).text();
        assert.match(metrics, /^kamea_slow_clients_total 1$/m);
        assert.match(metrics, /^kamea_dropped_messages_total [1-9]\d*$/m);
        healthy.disconnect();
        stalled.sock.destroy();
    } finally {
        await server.stop();
        await api.close();
    }
});

/** Text payloads of the unmasked server frames in `buf`, and what is left of a partial frame. */
function parseFrames(buf) {
    const texts = [];
    let at = 0;
    for (;;) {
        if (buf.length - at < 2) break;
        let len = buf[at + 1] & 0x7f;
        let head = 2;
        if (len === 126) {
            if (buf.length - at < 4) break;
            len = buf.readUInt16BE(at + 2);
            head = 4;
        } else if (len === 127) {
            if (buf.length - at < 10) break;
            len = Number(buf.readBigUInt64BE(at + 2));
            head = 10;
        }
        if (buf.length - at < head + len) break;
        if ((buf[at] & 0x0f) === 1) texts.push(buf.subarray(at + head, at + head + len).toString('utf8'));
        at += head + len;
    }
    return { texts, rest: buf.subarray(at) };
}

/** Resumes a paused raw WebSocket, pushing the seq of every telemetry it reads onto `seqs`. */
function readTelemetries(sock, seqs) {
    let pending = Buffer.alloc(0);
    sock.on('data', (d) => {
        const { texts, rest } = parseFrames(Buffer.concat([pending, d]));
        pending = Buffer.from(rest);
        for (const t of texts) {
            if (t.startsWith('42/devices,["telemetries"')) seqs.push(JSON.parse(t.slice('42/devices,'.length))[1].seq);
        }
    });
    sock.resume();
}

test('a subscriber that stalls, then reads again, gets the rest at once, its event loop otherwise quiet', async () => {
    // One event loop and no other client: nothing else on the loop reaps the send that waited
    // for room (the io_uring send ring once signalled only io-wq completions, and this client
    // got nothing more until some other send on its loop, a heartbeat 25 s later at worst).
    const api = await startStandin({ port: 0 });
    const server = await startKamea(api.url, ['--threads', '1', '--max-send-queue', String(64 << 20)]);
    try {
        const device = 'stall-1';
        const stalled = await stalledSubscriber(server.port, device);
        const pad = 'x'.repeat(4000);
        const total = 2000; // ~8 MB: more than the socket buffers hold
        for (let i = 0; i < total; i += 100) {
            const batch = Array.from({ length: 100 }, (_, k) => ({ deviceId: device, tenantId: 't', seq: i + k, pad }));
            assert.equal((await ingest(server, batch)).status, 202);
        }
        await new Promise((r) => setTimeout(r, 500)); // the server's send now waits for room
        const seqs = [];
        const started = Date.now();
        readTelemetries(stalled.sock, seqs);
        await withTimeout((async () => {
            while (seqs.length < total) await new Promise((r) => setTimeout(r, 20));
        })(), `all ${total} telemetries once the client reads`, 5000);
        assert.deepEqual(seqs, Array.from({ length: total }, (_, i) => i));
        assert.ok(Date.now() - started < 5000);
        stalled.sock.destroy();
    } finally {
        await server.stop();
        await api.close();
    }
});

test('past --conflate-after a lagging subscriber gets the newest per device instead of being cut off', async () => {
    const api = await startStandin({ port: 0 });
    const server = await startKamea(api.url, ['--max-send-queue', String(1 << 20), '--conflate-after', String(64 << 10)]);
    try {
        const device = 'lagging-1';
        const healthy = await connectDevices(server, 'allow-ok', { transports: ['websocket'] });
        await subscribe(healthy, device, 't');
        const sink = telemetrySink(healthy);
        const stalled = await stalledSubscriber(server.port, device);
        const seqs = [];

        const pad = 'x'.repeat(4000);
        const total = 4000; // ~16 MB: without conflation the 1 MiB queue would cut it off
        for (let i = 0; i < total; i += 100) {
            const batch = Array.from({ length: 100 }, (_, k) => ({ deviceId: device, tenantId: 't', seq: i + k, pad }));
            assert.equal((await ingest(server, batch)).status, 202);
            await sink.until(i + 100, 4 * STEP_TIMEOUT);
        }
        readTelemetries(stalled.sock, seqs);
        await withTimeout((async () => {
            while (seqs.at(-1) !== total - 1) await new Promise((r) => setTimeout(r, 50));
        })(), 'the lagging client reads the newest telemetry', 4 * STEP_TIMEOUT);
        // Still connected and served: one more arrives as usual.
        assert.equal((await ingest(server, { deviceId: device, tenantId: 't', seq: total, pad })).status, 202);
        await withTimeout((async () => {
            while (seqs.at(-1) !== total) await new Promise((r) => setTimeout(r, 50));
        })(), 'a telemetry after the lag', STEP_TIMEOUT);

        assert.ok(seqs.length < total / 2, `conflated: ${seqs.length} of ${total + 1} telemetries reached it`);
        assert.ok(seqs.every((x, i) => i === 0 || x > seqs[i - 1]), 'in order, none twice');
        const got = await sink.until(total + 1, 4 * STEP_TIMEOUT);
        assert.deepEqual(got.map((t) => t.seq), Array.from({ length: total + 1 }, (_, i) => i), 'the healthy one: all');
        const metrics = await (await fetch(`${server.internalUrl}/metrics`)).text();
        assert.match(metrics, /^kamea_slow_clients_total 0$/m);
        const conflated = Number(/^kamea_conflated_messages_total (\d+)$/m.exec(metrics)?.[1]);
        assert.equal(conflated, total + 1 - seqs.length, 'every telemetry it missed was counted as conflated');
        healthy.disconnect();
        stalled.sock.destroy();
    } finally {
        await server.stop();
        await api.close();
    }
});

test('--max-polling-sessions-per-ip refuses a polling handshake past it (429), until a session ends', async () => {
    const server = await startKamea(null, ['--max-polling-sessions-per-ip', '2']);
    try {
        const base = `${server.url}/socket.io/?EIO=4&transport=polling`;
        const open = async () => {
            const res = await fetch(base);
            return { status: res.status, text: await res.text() };
        };
        const first = await open();
        const second = await open();
        assert.deepEqual([first.status, second.status], [200, 200]);
        // Each fetch used a connection of its own and let it go: the sessions hold no
        // connection, which is why the connection limits do not bound them.
        const third = await open();
        assert.equal(third.status, 429, third.text);
        assert.deepEqual(JSON.parse(third.text), { code: 4, message: 'Too many polling sessions from this address' });
        // A WebSocket session is not a polling one.
        const ws = client(`${server.url}/`, { transports: ['websocket'], reconnection: false });
        await withTimeout(new Promise((r) => ws.io.once('open', r)), 'a WebSocket session');
        ws.close();
        // A session that ends frees its place.
        const { sid } = JSON.parse(first.text.slice(1));
        assert.equal((await fetch(`${base}&sid=${sid}`, { method: 'POST', body: '1' })).status, 200); // close packet
        assert.equal(await (await fetch(`${base}&sid=${sid}`)).text(), '6'); // P9: a noop, then the session ends
        const again = await open();
        assert.equal(again.status, 200, again.text);
        const metrics = await (await fetch(`${server.internalUrl}/metrics`)).text();
        assert.match(metrics, /^kamea_polling_sessions_rejected_total 1$/m);
    } finally {
        await server.stop();
    }
});

test('--max-connections-per-ip refuses connections over the limit, not the ones under it', async () => {
    const server = await startKamea(null, ['--max-connections-per-ip', '2']);
    try {
        const a = net.connect(server.port, '127.0.0.1');
        const b = net.connect(server.port, '127.0.0.1');
        await Promise.all([a, b].map((s) => new Promise((r) => s.once('connect', r))));
        const extra = client(`${server.url}/devices`, { auth: { token: 'x' }, transports: ['websocket'], reconnection: false });
        await waitConnectError(extra);
        a.destroy();
        b.destroy();
        // Once those are gone, a new one is accepted again.
        await new Promise((r) => setTimeout(r, 200));
        const again = client(`${server.url}/devices`, { auth: { token: 'x' }, transports: ['websocket'] });
        await withTimeout(new Promise((r) => again.once('connect', r)), 'connect after the limit frees');
        again.disconnect();
    } finally {
        await server.stop();
    }
});

test('--max-connections bounds the listener over every address; the internal listener does not count', async () => {
    const server = await startKamea(null, ['--max-connections', '3']);
    const held = [];
    try {
        const open = (localAddress) => new Promise((resolve, reject) => {
            const s = net.connect({ port: server.port, host: '127.0.0.1', localAddress });
            s.once('connect', () => resolve(s)).once('error', reject);
            held.push(s);
        });
        const connections = async () => readMetric(server, 'kamea_tcp_connections');
        // From three addresses: the limit is the process's, not one address's.
        await Promise.all(['127.0.0.1', '127.0.0.2', '127.0.0.3'].map(open));
        const deadline = Date.now() + STEP_TIMEOUT;
        while ((await connections()) < 3 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal(await connections(), 3);
        // The fourth is closed at once, and counted.
        const fourth = await open('127.0.0.4');
        await withTimeout(new Promise((r) => fourth.once('close', r)), 'the fourth connection is closed');
        assert.equal(await readMetric(server, 'kamea_tcp_connections_rejected_total'), 1);
        // The internal listener (metrics, ingestion) was served all along: readMetric used it.
        assert.equal((await ingest(server, { deviceId: 'd', tenantId: 't' })).status, 202);
        // Once one leaves, a stock client is served again.
        held[0].destroy();
        while ((await connections()) > 2 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 50));
        }
        const again = client(`${server.url}/devices`, { auth: { token: 'x' }, transports: ['websocket'] });
        await withTimeout(new Promise((r) => again.once('connect', r)), 'connect after a place frees');
        again.disconnect();
    } finally {
        for (const s of held) {
            s.destroy();
        }
        await server.stop();
    }
});
