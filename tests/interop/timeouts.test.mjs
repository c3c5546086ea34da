// The request and upgrade deadlines, counted (issue 12): a request that stalls in its headers
// or its body is closed at --handshake-timeout and counted in kamea_request_timeouts_total
// (an idle keep-alive connection closing is not), and an upgrade the client never finishes is
// abandoned at --upgrade-timeout, the polling session going on, and counted in
// kamea_upgrade_timeouts_total. Raw sockets, so that the client stalls exactly where wanted.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';

import WebSocket from 'ws';

import { withTimeout } from './server.mjs';
import { readMetric, startKamea } from './standin.mjs';

let server;

before(async () => {
    // Deadlines long enough that a loaded machine has read the stalled bytes before they run
    // out (with 400 ms, CI once closed a slow header unread, as if the connection were idle).
    server = await startKamea(null, ['--handshake-timeout', '2000', '--upgrade-timeout', '2000']);
});

after(async () => {
    await server?.stop();
});

/** Opens a TCP connection, writes `text`, and resolves when the server closes it. */
async function stallAfter(text) {
    const sock = net.connect(server.port, '127.0.0.1');
    await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const closed = new Promise((resolve) => sock.once('close', resolve));
    sock.on('error', () => {});
    sock.resume();
    if (text) sock.write(text);
    const started = Date.now();
    await withTimeout(closed, 'the server closes the stalled connection', 10_000);
    return Date.now() - started;
}

test('a request stalled in its headers or its body is closed and counted; an idle connection only closed', async () => {
    const before = await readMetric(server, 'kamea_request_timeouts_total');
    const idleMs = await stallAfter('');
    assert.equal(await readMetric(server, 'kamea_request_timeouts_total'), before, 'an idle connection is not a timeout');
    assert.ok(idleMs >= 1800, `closed after ${idleMs} ms`);

    await stallAfter('GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    assert.equal(await readMetric(server, 'kamea_request_timeouts_total'), before + 1, 'slow headers');

    // A polling POST that announces a body and sends half of it.
    const open = await (await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`)).text();
    const { sid } = JSON.parse(open.slice(1));
    await stallAfter(`POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        'Content-Type: text/plain\r\nContent-Length: 100\r\n\r\n40');
    assert.equal(await readMetric(server, 'kamea_request_timeouts_total'), before + 2, 'a slow body');
});

test('a keep-alive answer says how long the connection may idle (a second under --handshake-timeout), and holds to it', async () => {
    const sock = net.connect(server.port, '127.0.0.1');
    await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    sock.on('error', () => {});
    let text = '';
    let waiter = null;
    sock.on('data', (d) => { text += d.toString('latin1'); waiter?.(); });
    const closed = new Promise((resolve) => sock.once('close', resolve));
    const answer = async (n) => {
        while ((text.match(/\r\n\r\n\{"error":"not_found"\}/g) ?? []).length < n) {
            await withTimeout(new Promise((resolve) => { waiter = resolve; }), `answer ${n}`, 5000);
        }
    };
    const request = 'GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    sock.write(request);
    await answer(1);
    assert.match(text, /\r\nKeep-Alive: timeout=1\r\n/i, text);
    // Reused within the announced second: served. Then idle past the deadline: closed.
    await new Promise((resolve) => setTimeout(resolve, 800));
    sock.write(request);
    await answer(2);
    const idleFrom = Date.now();
    await withTimeout(closed, 'the idle connection is closed', 10_000);
    assert.ok(Date.now() - idleFrom >= 1800, `closed after ${Date.now() - idleFrom} ms`);

    // Closing answers say nothing of it.
    const res = await fetch(`${server.url}/nowhere`, { headers: { connection: 'close' } });
    assert.equal(res.headers.get('keep-alive'), null);
    await res.text();
});

test('an upgrade never finished is abandoned and counted; the polling session goes on', async () => {
    const before = await readMetric(server, 'kamea_upgrade_timeouts_total');
    const base = `${server.url}/socket.io/?EIO=4&transport=polling`;
    const { sid } = JSON.parse((await (await fetch(base)).text()).slice(1));
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    await withTimeout(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 'the probe opens');
    // No "2probe": the upgrade is never begun, let alone finished.
    const closed = new Promise((resolve) => ws.once('close', resolve));
    await withTimeout(closed, 'the probe is closed at --upgrade-timeout', 10_000);
    assert.equal(await readMetric(server, 'kamea_upgrade_timeouts_total'), before + 1);
    // The session is still there over polling.
    const post = await fetch(`${base}&sid=${sid}`, { method: 'POST', body: '3' });
    assert.equal(post.status, 200);
});
