// CORS (protocol.md H1, H2): off by default; --cors-origins lists origins that get their own
// Origin back with credentials; '*' allows any origin without credentials.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import WebSocket from 'ws';

import { closeAllClients, connectedClient, nextEvent, startServer } from './server.mjs';

const ALLOWED = 'http://a.example';
const OTHER = 'http://b.example';

let listed;
let wildcard;
let off;

before(async () => {
    [listed, wildcard, off] = await Promise.all([
        startServer(['--test-namespaces', '--cors-origins', `${ALLOWED},http://c.example`]),
        startServer(['--test-namespaces', '--cors-origins', '*']),
        startServer(['--test-namespaces']),
    ]);
});

after(async () => {
    closeAllClients();
    await Promise.all([listed, wildcard, off].map((s) => s?.stop()));
});

const polling = (server, query = '') =>
    `${server.url}/socket.io/?EIO=4&transport=polling${query}`;

async function handshake(server, origin) {
    const res = await fetch(polling(server), { headers: origin ? { Origin: origin } : {} });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    return { res, sid: JSON.parse(body.slice(1)).sid };
}

function preflight(server, origin, requestHeaders) {
    const headers = { Origin: origin, 'Access-Control-Request-Method': 'GET' };
    if (requestHeaders) {
        headers['Access-Control-Request-Headers'] = requestHeaders;
    }
    return fetch(polling(server), { method: 'OPTIONS', headers });
}

function corsHeaders(res) {
    return Object.fromEntries(
        [...res.headers.entries()].filter(([name]) => name.startsWith('access-control-')),
    );
}

/** Response headers of a WebSocket upgrade (the 101). */
function upgradeHeaders(server, origin) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket`, {
            headers: { Origin: origin },
        });
        ws.on('upgrade', (res) => resolve(res.headers));
        ws.on('open', () => ws.close());
        ws.on('error', reject);
    });
}

describe(`--cors-origins ${ALLOWED}`, () => {
    test('a polling handshake from a listed origin gets it back, with credentials', async () => {
        const { res } = await handshake(listed, ALLOWED);
        assert.equal(res.headers.get('access-control-allow-origin'), ALLOWED);
        assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
        assert.match(res.headers.get('vary') ?? '', /Origin/i);
    });

    test('the second listed origin is allowed too', async () => {
        const { res } = await handshake(listed, 'http://c.example');
        assert.equal(res.headers.get('access-control-allow-origin'), 'http://c.example');
    });

    test('polls, posts and errors of the session carry the CORS headers', async () => {
        const { sid } = await handshake(listed, ALLOWED);
        const post = await fetch(polling(listed, `&sid=${sid}`), {
            method: 'POST',
            headers: { Origin: ALLOWED, 'content-type': 'text/plain;charset=UTF-8' },
            body: '40',
        });
        assert.equal(await post.text(), 'ok');
        assert.equal(post.headers.get('access-control-allow-origin'), ALLOWED);
        const get = await fetch(polling(listed, `&sid=${sid}`), { headers: { Origin: ALLOWED } });
        assert.match(await get.text(), /^40\{"sid":"[^"]+"\}/);
        assert.equal(get.headers.get('access-control-allow-origin'), ALLOWED);
        assert.equal(get.headers.get('access-control-allow-credentials'), 'true');
        const error = await fetch(polling(listed, '&sid=unknown'), { headers: { Origin: ALLOWED } });
        assert.equal(error.status, 400);
        assert.deepEqual(await error.json(), { code: 1, message: 'Session ID unknown' });
        assert.equal(error.headers.get('access-control-allow-origin'), ALLOWED);
    });

    test('a preflight gets 204 with the allowed methods and the requested headers', async () => {
        const res = await preflight(listed, ALLOWED, 'authorization,content-type');
        assert.equal(res.status, 204);
        assert.equal(await res.text(), '');
        assert.equal(res.headers.get('access-control-allow-origin'), ALLOWED);
        assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
        const methods = (res.headers.get('access-control-allow-methods') ?? '').split(',');
        assert.ok(methods.includes('GET') && methods.includes('POST'), methods.join(','));
        assert.match(res.headers.get('access-control-allow-headers') ?? '', /authorization/i);
    });

    test('an origin that is not listed gets no Allow-Origin and no credentials', async () => {
        const { res } = await handshake(listed, OTHER);
        const cors = corsHeaders(res);
        assert.notEqual(cors['access-control-allow-origin'], OTHER);
        assert.notEqual(cors['access-control-allow-origin'], '*');
        assert.equal(cors['access-control-allow-credentials'], undefined);
    });

    test('the WebSocket upgrade response carries the headers too', async () => {
        const headers = await upgradeHeaders(listed, ALLOWED);
        assert.equal(headers['access-control-allow-origin'], ALLOWED);
    });

    test('socket.io-client connects with an Origin header (polling and upgrade)', async () => {
        const socket = await connectedClient(`${listed.url}/`, {
            extraHeaders: { Origin: ALLOWED },
        });
        const echoed = nextEvent(socket, 'message-back');
        socket.emit('message', 'cors');
        assert.deepEqual(await echoed, ['cors']);
        socket.disconnect();
    });
});

describe('--cors-origins *', () => {
    test('any origin gets "*" and no credentials', async () => {
        const { res } = await handshake(wildcard, OTHER);
        assert.equal(res.headers.get('access-control-allow-origin'), '*');
        assert.equal(res.headers.get('access-control-allow-credentials'), null);
    });

    test('a preflight gets 204', async () => {
        const res = await preflight(wildcard, OTHER, 'authorization');
        assert.equal(res.status, 204);
        assert.equal(res.headers.get('access-control-allow-origin'), '*');
    });
});

describe('without --cors-origins', () => {
    test('no CORS headers on a handshake with an Origin', async () => {
        const { res } = await handshake(off, ALLOWED);
        assert.deepEqual(corsHeaders(res), {});
    });

    test('no CORS headers on the session\'s polls and on errors', async () => {
        const { sid } = await handshake(off, ALLOWED);
        const post = await fetch(polling(off, `&sid=${sid}`), {
            method: 'POST',
            headers: { Origin: ALLOWED },
            body: '40',
        });
        assert.equal(await post.text(), 'ok');
        assert.deepEqual(corsHeaders(post), {});
        const error = await fetch(polling(off, '&sid=nope'), { headers: { Origin: ALLOWED } });
        assert.equal(error.status, 400);
        await error.arrayBuffer();
        assert.deepEqual(corsHeaders(error), {});
    });

    test('a preflight is not answered as CORS (400 Bad handshake method)', async () => {
        const res = await preflight(off, ALLOWED, 'authorization');
        assert.equal(res.status, 400);
        assert.deepEqual(await res.json(), { code: 2, message: 'Bad handshake method' });
        assert.deepEqual(corsHeaders(res), {});
    });

    test('no CORS headers on the WebSocket upgrade', async () => {
        const headers = await upgradeHeaders(off, ALLOWED);
        assert.equal(headers['access-control-allow-origin'], undefined);
    });
});
