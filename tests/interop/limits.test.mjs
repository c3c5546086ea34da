// --max-payload: a message above the limit closes that client's connection (WebSocket close
// 1009, polling 413), on both transports, while other clients carry on.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import WebSocket from 'ws';

import {
    assertStillEchoes,
    client,
    closeAllClients,
    connectedClient,
    emitWithAck,
    nextEvent,
    startServer,
    withTimeout,
} from './server.mjs';
import { readMetric, startKamea } from './standin.mjs';

const MAX_PAYLOAD = 10_000;

let server;
let bystander; // stays connected through every test of this file

before(async () => {
    server = await startServer(['--test-namespaces', '--max-payload', String(MAX_PAYLOAD)]);
    bystander = await connectedClient(`${server.url}/`, { transports: ['websocket'] });
});

after(async () => {
    closeAllClients();
    await server?.stop();
});

function disconnectReason(socket) {
    return nextEvent(socket, 'disconnect').then(([reason]) => reason);
}

describe('max payload', () => {
    test('the handshake advertises the limit', async () => {
        const socket = await connectedClient(`${server.url}/`, { transports: ['polling'] });
        // engine.io-client keeps the handshake's maxPayload to split its POST batches.
        assert.equal(socket.io.engine._maxPayload, MAX_PAYLOAD);
        socket.disconnect();
    });

    for (const transport of ['websocket', 'polling']) {
        test(`a message just under the limit is fine (${transport})`, async () => {
            const socket = await connectedClient(`${server.url}/`, { transports: [transport] });
            const text = 'x'.repeat(MAX_PAYLOAD - 100);
            assert.deepEqual(await emitWithAck(socket, 'message-with-ack', text), [text]);
            socket.disconnect();
        });

        test(`a message above the limit closes that client (${transport})`, async () => {
            const socket = await connectedClient(`${server.url}/`, { transports: [transport] });
            const gone = disconnectReason(socket);
            socket.emit('message', 'x'.repeat(MAX_PAYLOAD * 2));
            const reason = await gone;
            assert.ok(['transport close', 'transport error'].includes(reason), `reason: ${reason}`);
            await assertStillEchoes(bystander);
        });

        test(`a binary attachment above the limit closes that client (${transport})`, async () => {
            const socket = await connectedClient(`${server.url}/`, { transports: [transport] });
            const gone = disconnectReason(socket);
            socket.emit('message', Buffer.alloc(MAX_PAYLOAD * 2, 1));
            const reason = await gone;
            assert.ok(['transport close', 'transport error'].includes(reason), `reason: ${reason}`);
            await assertStillEchoes(bystander);
        });
    }

    test('an upgraded client sending too much is closed too', async () => {
        const socket = client(`${server.url}/`);
        await nextEvent(socket, 'connect');
        if (socket.io.engine.transport.name !== 'websocket') {
            await nextEvent(socket.io.engine, 'upgrade');
        }
        const gone = disconnectReason(socket);
        socket.emit('message', 'y'.repeat(MAX_PAYLOAD + 1));
        assert.ok(['transport close', 'transport error'].includes(await gone));
        await assertStillEchoes(bystander);
    });

    test('WebSocket: the close code is 1009 (message too big)', async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket`);
        const [open] = await nextEvent(ws, 'message');
        assert.equal(open.toString()[0], '0');
        const closed = nextEvent(ws, 'close');
        ws.send(`4${'z'.repeat(MAX_PAYLOAD + 10)}`);
        const [code] = await closed;
        assert.equal(code, 1009);
        await assertStillEchoes(bystander);
    });

    describe('polling: a POST body above the limit', () => {
        const base = () => `${server.url}/socket.io/?EIO=4&transport=polling`;
        let sid;
        let status;

        before(async () => {
            const handshake = await (await fetch(base())).text();
            sid = JSON.parse(handshake.slice(1)).sid;
            const res = await withTimeout(
                fetch(`${base()}&sid=${sid}`, {
                    method: 'POST',
                    headers: { 'content-type': 'text/plain;charset=UTF-8' },
                    body: `4${'z'.repeat(MAX_PAYLOAD + 10)}`,
                }),
                'oversized POST',
            );
            status = res.status;
            await res.arrayBuffer();
        });

        test('gets 413 Payload Too Large (protocol.md P5)', () => {
            assert.equal(status, 413);
        });

        test('ends the session (protocol.md P5)', async () => {
            // A live session would hold this GET until its next ping; a closed one answers at once.
            const res = await fetch(`${base()}&sid=${sid}`, { signal: AbortSignal.timeout(5_000) })
                .catch((err) => assert.fail(`the session is still alive (GET pending: ${err.name})`));
            const body = await res.text();
            assert.equal(res.status, 400, `GET after the oversized POST answered ${res.status} ${body}`);
            assert.deepEqual(JSON.parse(body), { code: 1, message: 'Session ID unknown' });
        });

        test('does not affect other clients', async () => {
            await assertStillEchoes(bystander);
        });
    });
});

// --max-header-bytes and --max-headers (contract section 9): a request past either gets 431 with
// a JSON body naming the limit, its connection ends, the refusal is counted, and a request
// within both is served as usual. The production configuration (not --conformance).
describe('request headers', () => {
    let limited;
    before(async () => {
        limited = await startKamea(undefined, ['--max-header-bytes', '4096', '--max-headers', '20']);
    });
    after(async () => {
        await limited?.stop();
    });

    // One raw HTTP/1.1 request; resolves with the whole answer once the server closes (or after
    // the first answer when it keeps the connection).
    function rawRequest(extraHeaders) {
        return withTimeout(new Promise((resolve, reject) => {
            const socket = net.connect(limited.port, '127.0.0.1');
            let answer = '';
            socket.setEncoding('utf8');
            socket.on('data', (d) => {
                answer += d;
                const end = answer.indexOf('\r\n\r\n');
                const length = /content-length: *(\d+)/i.exec(answer);
                if (end >= 0 && length && answer.length >= end + 4 + Number(length[1])) {
                    socket.destroy();
                    resolve(answer);
                }
            });
            socket.on('close', () => resolve(answer));
            socket.on('error', reject);
            socket.write(`GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n${extraHeaders}\r\n`);
        }), 'a raw HTTP answer');
    }
    const rejected = (reason) => readMetric(limited, 'kamea_http_requests_rejected_total', `reason="${reason}"`);

    test('headers past --max-header-bytes get 431 headers_too_large', async () => {
        const before = await rejected('header_bytes');
        const answer = await rawRequest(`X-Big: ${'a'.repeat(5000)}\r\n`);
        assert.match(answer, /^HTTP\/1\.1 431 /);
        assert.match(answer, /Connection: close/i);
        const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
        assert.deepEqual(body, { error: 'headers_too_large', message: 'request headers over 4096 bytes' });
        assert.equal(await rejected('header_bytes'), before + 1);
    });

    test('more fields than --max-headers get 431 too_many_headers', async () => {
        const before = await rejected('header_count');
        const fields = Array.from({ length: 25 }, (_, i) => `X-F${i}: ${i}\r\n`).join('');
        const answer = await rawRequest(fields);
        assert.match(answer, /^HTTP\/1\.1 431 /);
        const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
        assert.deepEqual(body, { error: 'too_many_headers', message: 'more than 20 header fields' });
        assert.equal(await rejected('header_count'), before + 1);
    });

    test('a request within both limits is served, and clients still connect', async () => {
        // 19 fields with Host, about 3 KB in all: just under both limits.
        const fields = Array.from({ length: 18 }, (_, i) => `X-F${i}: ${'v'.repeat(150)}\r\n`).join('');
        const answer = await rawRequest(fields);
        assert.match(answer, /^HTTP\/1\.1 200 /);
        assert.match(answer, /0\{"sid":"/); // the Engine.IO open packet
        const socket = await connectedClient(`${limited.url}/devices`, { auth: { token: 'allow-headers' }, transports: ['websocket'] });
        socket.disconnect();
    });
});
