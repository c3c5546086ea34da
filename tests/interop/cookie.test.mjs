// The sid cookie for sticky load balancing (protocol.md H3): off by default; with --cookie
// NAME, the polling handshake response sets NAME=<sid>, and nothing else does.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { after, before, test } from 'node:test';

import WebSocket from 'ws';

import { SERVER_BIN, closeAllClients, connectedClient, startServer, withTimeout } from './server.mjs';

let withCookie;
let plain;

before(async () => {
    [withCookie, plain] = await Promise.all([
        startServer(['--test-namespaces', '--cookie', 'io']),
        startServer(['--test-namespaces']),
    ]);
});

after(async () => {
    closeAllClients();
    await Promise.all([withCookie, plain].map((s) => s?.stop()));
});

const polling = (server, query = '') => `${server.url}/socket.io/?EIO=4&transport=polling${query}`;

test('with --cookie, the polling handshake sets the sid cookie', async () => {
    const res = await fetch(polling(withCookie));
    const body = await res.text();
    assert.equal(res.status, 200, body);
    const { sid } = JSON.parse(body.slice(1));
    assert.equal(res.headers.get('set-cookie'), `io=${sid}; Path=/; HttpOnly; SameSite=Lax`);

    // Only the handshake: later requests of the session set nothing.
    const post = await fetch(polling(withCookie, `&sid=${sid}`), { method: 'POST', body: '40' });
    assert.equal(post.status, 200);
    assert.equal(post.headers.get('set-cookie'), null);
    const get = await fetch(polling(withCookie, `&sid=${sid}`));
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('set-cookie'), null);
});

test('with --cookie, a WebSocket-first handshake sets no cookie', async () => {
    const headers = await new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${withCookie.port}/socket.io/?EIO=4&transport=websocket`);
        ws.on('upgrade', (res) => resolve(res.headers));
        ws.on('open', () => ws.close());
        ws.on('error', reject);
    });
    assert.equal(headers['set-cookie'], undefined);
});

/** A TCP relay to `port` that keeps the head (request line and headers) of every connection. */
async function recordingRelay(port) {
    const heads = [];
    const open = new Set();
    const relay = net.createServer((inbound) => {
        const outbound = net.connect(port, '127.0.0.1');
        open.add(inbound).add(outbound);
        let head = '';
        inbound.on('data', (d) => {
            if (!head.includes('\r\n\r\n')) {
                head += d.toString('latin1');
                if (head.includes('\r\n\r\n')) {
                    heads.push(head.slice(0, head.indexOf('\r\n\r\n')));
                }
            }
        });
        inbound.pipe(outbound).pipe(inbound);
        inbound.on('error', () => outbound.destroy());
        outbound.on('error', () => inbound.destroy());
    });
    await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const close = () => new Promise((resolve) => {
        relay.close(resolve);
        for (const s of open) {
            s.destroy();
        }
    });
    return { heads, port: relay.address().port, close };
}

test('the stock client keeps the cookie and sends it on its WebSocket upgrade (what a sticky balancer reads)', async () => {
    const relay = await recordingRelay(withCookie.port);
    let socket;
    try {
        // withCredentials: the Node.js client keeps cookies as a browser would.
        socket = await connectedClient(`http://127.0.0.1:${relay.port}/`,
            { transports: ['polling', 'websocket'], withCredentials: true });
        const engine = socket.io.engine;
        const sid = engine.id;
        if (engine.transport.name !== 'websocket') {
            await withTimeout(new Promise((resolve) => engine.once('upgrade', resolve)), 'the upgrade');
        }
        assert.equal(engine.transport.name, 'websocket');
        const upgrade = relay.heads.find((h) => /^GET \S*transport=websocket/.test(h));
        assert.ok(upgrade, `no upgrade request among ${relay.heads.length}`);
        assert.match(upgrade, /\r\nupgrade: websocket/i);
        assert.match(upgrade, new RegExp(`\r\ncookie: (.*; )?io=${sid}(;|\r|$)`, 'i'), upgrade);
    } finally {
        socket?.disconnect();
        await relay.close();
    }
});

test('without --cookie, no cookie is set', async () => {
    const res = await fetch(polling(plain));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('set-cookie'), null);
});

test('--cookie refuses a name that is not an HTTP token', () => {
    const r = spawnSync(SERVER_BIN, ['--public-port', '0', '--internal-port', '0', '--cookie', 'a b'],
        { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--cookie: not a valid cookie name/);
});
