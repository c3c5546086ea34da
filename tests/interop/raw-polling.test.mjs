// A raw Engine.IO v4 polling session with fetch: the handshake JSON, packet encoding of
// events, acks and binary attachments, errors, and the client-side close.

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import WebSocket from 'ws';

import { nextEvent, startServer, withTimeout } from './server.mjs';

const SEP = '\x1e';
const PING_INTERVAL = 25_000; // long: no ping gets in the way of the exchanges below
const PING_TIMEOUT = 20_000;
const MAX_PAYLOAD = 500_000;

let server;

before(async () => {
    server = await startServer([
        '--test-namespaces',
        '--ping-interval', String(PING_INTERVAL),
        '--ping-timeout', String(PING_TIMEOUT),
        '--max-payload', String(MAX_PAYLOAD),
    ]);
});

after(async () => {
    await server?.stop();
});

const base = () => `${server.url}/socket.io/?EIO=4&transport=polling`;

class PollingSession {
    static async open() {
        const res = await fetch(base());
        const text = await res.text();
        assert.equal(res.status, 200, text);
        const session = new PollingSession(JSON.parse(text.slice(1)));
        session.handshakeResponse = res;
        session.handshakeText = text;
        return session;
    }

    constructor(handshake) {
        this.handshake = handshake;
        this.sid = handshake.sid;
        this.received = []; // packets received but not yet taken by expect()
    }

    url() {
        return `${base()}&sid=${encodeURIComponent(this.sid)}`;
    }

    async post(body, contentType = 'text/plain;charset=UTF-8') {
        const res = await withTimeout(
            fetch(this.url(), { method: 'POST', headers: { 'content-type': contentType }, body }),
            `POST ${body.slice(0, 40)}`,
        );
        return { status: res.status, text: await res.text(), headers: res.headers };
    }

    async get() {
        const res = await withTimeout(fetch(this.url()), 'GET (poll)');
        return { status: res.status, text: await res.text(), headers: res.headers };
    }

    /** Polls until `count` packets (pings excluded) have arrived, and returns them. */
    async expect(count) {
        while (this.received.length < count) {
            const { status, text } = await this.get();
            assert.equal(status, 200, text);
            this.received.push(...text.split(SEP).filter((p) => p !== '2'));
        }
        return this.received.splice(0, count);
    }

    /** Joins namespace `nsp` and returns the CONNECT reply's JSON. */
    async join(nsp = '/') {
        const packet = nsp === '/' ? '40' : `40${nsp},`;
        assert.equal((await this.post(packet)).text, 'ok');
        const [reply, auth] = await this.expect(2);
        const prefix = nsp === '/' ? '40' : `40${nsp},`;
        assert.ok(reply.startsWith(prefix), reply);
        assert.equal(auth, nsp === '/' ? '42["auth",{}]' : `42${nsp},["auth",{}]`);
        return JSON.parse(reply.slice(prefix.length));
    }
}

describe('handshake', () => {
    test('the open packet has exactly sid, upgrades, pingInterval, pingTimeout, maxPayload', async () => {
        const s = await PollingSession.open();
        assert.equal(s.handshakeText[0], '0');
        assert.deepEqual(Object.keys(s.handshake), [
            'sid', 'upgrades', 'pingInterval', 'pingTimeout', 'maxPayload',
        ]);
        assert.equal(typeof s.handshake.sid, 'string');
        assert.ok(s.handshake.sid.length >= 16, `sid too short: ${s.handshake.sid}`);
        assert.deepEqual(s.handshake.upgrades, ['websocket']);
        assert.equal(s.handshake.pingInterval, PING_INTERVAL);
        assert.equal(s.handshake.pingTimeout, PING_TIMEOUT);
        assert.equal(s.handshake.maxPayload, MAX_PAYLOAD);
        assert.match(s.handshakeResponse.headers.get('content-type'), /^text\/plain; ?charset=UTF-8$/i);
        assert.equal((await s.post('1')).text, 'ok');
    });

    test('every handshake gets a new sid', async () => {
        const sids = new Set();
        for (let i = 0; i < 20; i++) {
            sids.add((await PollingSession.open()).sid);
        }
        assert.equal(sids.size, 20);
    });

    test('extra query parameters (t, b64, user ones) are ignored', async () => {
        const res = await fetch(`${base()}&t=abc123&b64=1&foo=bar`);
        const text = await res.text();
        assert.equal(res.status, 200, text);
        assert.equal(text[0], '0');
    });

    test('a WebSocket-first session lists no upgrades', async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket`);
        const [data] = await nextEvent(ws, 'message');
        const open = JSON.parse(data.toString().slice(1));
        assert.deepEqual(Object.keys(open), ['sid', 'upgrades', 'pingInterval', 'pingTimeout', 'maxPayload']);
        assert.deepEqual(open.upgrades, []);
        ws.close();
    });
});

describe('a session', () => {
    let s;

    before(async () => {
        s = await PollingSession.open();
    });

    test('CONNECT to "/" gets a fresh socket id (not the Engine.IO sid)', async () => {
        const reply = await s.join('/');
        assert.deepEqual(Object.keys(reply), ['sid']);
        assert.notEqual(reply.sid, s.sid);
    });

    test('a POST is answered "ok" as text/html', async () => {
        const res = await s.post('42["message","x"]');
        assert.equal(res.status, 200);
        assert.equal(res.text, 'ok');
        assert.match(res.headers.get('content-type'), /^text\/html/);
        assert.deepEqual(await s.expect(1), ['42["message-back","x"]']);
    });

    test('an event is echoed byte for byte (key order and number spelling kept)', async () => {
        const payload = '42["message",1,"2",{"3":[true],"b":1.50,"a":-0,"big":12345678901234567890}]';
        await s.post(payload);
        assert.deepEqual(await s.expect(1), [
            '42["message-back",1,"2",{"3":[true],"b":1.50,"a":-0,"big":12345678901234567890}]',
        ]);
    });

    test('several packets in one POST are handled in order', async () => {
        await s.post(['42["message","a"]', '42["message","b"]', '42["message","c"]'].join(SEP));
        assert.deepEqual(await s.expect(3), [
            '42["message-back","a"]',
            '42["message-back","b"]',
            '42["message-back","c"]',
        ]);
    });

    test('an event with an ack id is acked with the same id', async () => {
        await s.post('4217["message-with-ack",1,{"x":"y"}]');
        assert.deepEqual(await s.expect(1), ['4317[1,{"x":"y"}]']);
    });

    test('a binary event (base64 attachment) is echoed as a binary event', async () => {
        await s.post(`451-["message",{"_placeholder":true,"num":0}]${SEP}bAQIDBA==`);
        assert.deepEqual(await s.expect(2), [
            '451-["message-back",{"_placeholder":true,"num":0}]',
            'bAQIDBA==',
        ]);
    });

    test('a binary event with an ack gets a binary ack', async () => {
        await s.post(`451-3["message-with-ack",{"_placeholder":true,"num":0}]${SEP}bAAEC/w==`);
        assert.deepEqual(await s.expect(2), ['461-3[{"_placeholder":true,"num":0}]', 'bAAEC/w==']);
    });

    test('the server asks for an ack and reports the answer', async () => {
        await s.post('42["request-ack","q"]');
        const [ask] = await s.expect(1);
        const m = /^42(\d+)\["ack-me","q"\]$/.exec(ask);
        assert.ok(m, ask);
        await s.post(`43${m[1]}["answer",2]`);
        assert.deepEqual(await s.expect(1), ['42["ack-result","answer",2]']);
    });

    test('a second namespace on the same session', async () => {
        const reply = await s.join('/custom');
        assert.deepEqual(Object.keys(reply), ['sid']);
        await s.post('42/custom,["message","in custom"]');
        assert.deepEqual(await s.expect(1), ['42/custom,["message-back","in custom"]']);
        await s.post('41/custom,');
        await s.post('42["message","root still joined"]');
        assert.deepEqual(await s.expect(1), ['42["message-back","root still joined"]']);
    });

    test('a close packet from the client ends the session', async () => {
        assert.equal((await s.post('1')).text, 'ok');
        // The server may answer one last GET that was already on its way with a noop (P9);
        // after that the sid is unknown.
        let res = await s.get();
        if (res.status === 200) {
            assert.deepEqual(res.text.split(SEP).filter((p) => p !== '1'), ['6']);
            res = await s.get();
        }
        assert.equal(res.status, 400);
        assert.deepEqual(JSON.parse(res.text), { code: 1, message: 'Session ID unknown' });
    });
});

// These use one fresh TCP connection per request (node:http, agent: false), so that each
// test stands on its own; the keep-alive case has its own test at the end.
function request(url, { method = 'GET', headers = {}, body, agent = false } = {}) {
    return withTimeout(
        new Promise((resolve, reject) => {
            const req = http.request(url, { method, headers, agent }, (res) => {
                let text = '';
                res.setEncoding('utf8');
                res.on('data', (chunk) => {
                    text += chunk;
                });
                res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
            });
            req.on('error', reject);
            req.end(body);
        }),
        `${method} ${url}`,
    );
}

describe('errors', () => {
    async function expectError(url, init, status, body) {
        const res = await request(url, init);
        assert.equal(res.status, status, res.text);
        assert.match(res.headers['content-type'] ?? '', /application\/json/);
        assert.deepEqual(JSON.parse(res.text), body);
    }

    test('unknown sid: 400 code 1', () =>
        expectError(`${base()}&sid=doesnotexist`, {}, 400, { code: 1, message: 'Session ID unknown' }));

    test('unknown transport: 400 code 0', () =>
        expectError(`${server.url}/socket.io/?EIO=4&transport=carrier-pigeon`, {}, 400,
            { code: 0, message: 'Transport unknown' }));

    test('a POST without sid: 400 code 2', () =>
        expectError(base(), { method: 'POST', body: '40' }, 400, { code: 2, message: 'Bad handshake method' }));

    test('EIO=3, EIO=abc and no EIO are refused: 400 code 5', async () => {
        for (const eio of ['EIO=3&', 'EIO=abc&', '']) {
            await expectError(`${server.url}/socket.io/?${eio}transport=polling`, {}, 400,
                { code: 5, message: 'Unsupported protocol version' });
        }
    });

    test('a binary (octet-stream) POST is refused and ends the session', async () => {
        const s = await PollingSession.open();
        const res = await request(s.url(), {
            method: 'POST',
            headers: { 'content-type': 'application/octet-stream' },
            body: '40',
        });
        assert.equal(res.status, 400);
        const after = await request(s.url());
        assert.equal(after.status, 400);
        assert.deepEqual(JSON.parse(after.text), { code: 1, message: 'Session ID unknown' });
    });

    test('a second concurrent GET is refused and ends the session', async () => {
        const s = await PollingSession.open();
        const first = request(s.url()); // nothing queued: this one waits
        // Give the first GET a head start on its own connection; the assertion below holds
        // whichever of the two the server sees first.
        await new Promise((resolve) => setTimeout(resolve, 100));
        const second = await request(s.url());
        const firstDone = await first;
        const statuses = [firstDone.status, second.status].sort();
        assert.deepEqual(statuses, [200, 400], JSON.stringify({ firstDone, second }));
        const ok = firstDone.status === 200 ? firstDone : second;
        assert.ok(ok.text.split(SEP).includes('1'), `the pending GET ends with a close: ${ok.text}`);
        const res = await request(s.url());
        assert.equal(res.status, 400);
    });

    test('a second POST while the first one\'s body is still arriving is refused and ends the session (P7)', async () => {
        const s = await PollingSession.open();
        // The first POST announces 20 bytes and sends 2 of them: the server waits for the rest.
        const first = net.connect(server.port, '127.0.0.1');
        let firstReply = '';
        first.setEncoding('utf8');
        first.on('data', (chunk) => {
            firstReply += chunk;
        });
        const firstClosed = new Promise((resolve) => first.on('close', resolve));
        await new Promise((resolve) => first.once('connect', resolve));
        const path = new URL(s.url()).pathname + new URL(s.url()).search;
        first.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\n` +
            'Content-Length: 20\r\n\r\n40');
        await new Promise((resolve) => setTimeout(resolve, 100));

        const second = await request(s.url(), { method: 'POST', body: '40' });
        assert.equal(second.status, 400);
        assert.equal(second.text, '');
        const after = await request(s.url());
        assert.equal(after.status, 400);
        assert.deepEqual(JSON.parse(after.text), { code: 1, message: 'Session ID unknown' });

        // The first POST's body arrives, for a session that has ended: dropped, never "ok".
        first.write('x'.repeat(18));
        await withTimeout(firstClosed, 'the first POST\'s connection closes');
        assert.doesNotMatch(firstReply, /^HTTP\/1\.1 200/);
    });

    test('POSTs one after the other on one session are all accepted', async () => {
        const s = await PollingSession.open();
        for (const body of ['40', '42["message","a"]', '42["message","b"]']) {
            assert.equal((await s.post(body)).status, 200, body);
        }
    });

    // Browsers, undici (fetch) and http.Agent reuse connections across requests and sessions.
    // An error answered before the request body was read must not leave that body on the
    // connection, where it would be parsed as the start of the next request.
    for (const [what, query, expected] of [
        ['a POST with an unknown sid', 'EIO=4&transport=polling&sid=doesnotexist',
            { code: 1, message: 'Session ID unknown' }],
        ['a POST without sid', 'EIO=4&transport=polling', { code: 2, message: 'Bad handshake method' }],
        ['a POST with an unknown transport', 'EIO=4&transport=carrier-pigeon',
            { code: 0, message: 'Transport unknown' }],
    ]) {
        test(`keep-alive: the connection stays usable after an error answer to ${what}`, async () => {
            const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
            try {
                const refused = await request(`${server.url}/socket.io/?${query}`, {
                    method: 'POST',
                    body: '40',
                    agent,
                });
                assert.equal(refused.status, 400);
                assert.deepEqual(JSON.parse(refused.text), expected);
                // Same agent, one socket: the next request goes over the same connection
                // (or a new one if the server closed it, which is fine too).
                const next = await request(base(), { agent });
                assert.equal(next.status, 200, `the next request on the connection got ${next.status} ${next.text}`);
                assert.equal(next.text[0], '0');
            } finally {
                agent.destroy();
            }
        });
    }
});
