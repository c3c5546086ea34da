// --max-payload: a message above the limit closes that client's connection (WebSocket close
// 1009, polling 413), on both transports, while other clients carry on.

import assert from 'node:assert/strict';
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

const MAX_PAYLOAD = 10_000;

let server;
let bystander; // stays connected through every test of this file

before(async () => {
    server = await startServer(['--conformance', '--max-payload', String(MAX_PAYLOAD)]);
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
