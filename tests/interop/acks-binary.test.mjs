// Acknowledgements both ways and binary attachments both ways (in events and in acks),
// against the conformance namespaces, over polling and over WebSocket.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    closeAllClients,
    connectedClient,
    emitWithAck,
    nextEvent,
    startServer,
    withTimeout,
} from './server.mjs';

let server;

before(async () => {
    server = await startServer(['--test-namespaces']);
});

after(async () => {
    closeAllClients();
    await server?.stop();
});

function bytes(...values) {
    return Buffer.from(values);
}

/** A Buffer of `size` bytes with every byte value present. */
function pattern(size) {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i++) {
        b[i] = (i * 31 + 7) & 0xff;
    }
    return b;
}

/** Binary values arrive as Buffer (Node client); compare them as bytes. */
function assertBinary(actual, expected, what) {
    assert.ok(Buffer.isBuffer(actual) || actual instanceof ArrayBuffer || ArrayBuffer.isView(actual),
        `${what}: expected binary, got ${JSON.stringify(actual)}`);
    assert.ok(Buffer.from(actual).equals(expected), `${what}: bytes differ`);
}

/** The server asks for an ack (`ack-me`) and reports our answer back (`ack-result`). */
async function serverAsksForAck(socket, args, answer) {
    const asked = new Promise((resolve) => {
        socket.once('ack-me', (...received) => {
            const callback = received.pop();
            assert.equal(typeof callback, 'function', 'ack-me must carry an ack callback');
            callback(...answer);
            resolve(received);
        });
    });
    const result = nextEvent(socket, 'ack-result');
    socket.emit('request-ack', ...args);
    return { asked: await withTimeout(asked, 'ack-me'), result: await result };
}

for (const transport of ['polling', 'websocket']) {
    describe(`acks and binary over ${transport}`, () => {
        let socket;

        before(async () => {
            socket = await connectedClient(`${server.url}/`, { transports: [transport] });
        });

        after(() => socket?.disconnect());

        test('client -> server ack carries the arguments back', async () => {
            const args = [1, '2', { 3: [true, false, null] }, [], { 'key order': 1, a: 2, 0: 'x' }];
            assert.deepEqual(await emitWithAck(socket, 'message-with-ack', ...args), args);
        });

        test('client -> server ack with no arguments', async () => {
            assert.deepEqual(await emitWithAck(socket, 'message-with-ack'), []);
        });

        test('many acks in flight are matched to the right callbacks', async () => {
            const results = await Promise.all(
                Array.from({ length: 100 }, (_, i) => emitWithAck(socket, 'message-with-ack', i, `n${i}`)),
            );
            results.forEach((r, i) => assert.deepEqual(r, [i, `n${i}`]));
        });

        test('the server acks with a timeout-aware emitWithAck too', async () => {
            const answer = await socket.timeout(10_000).emitWithAck('message-with-ack', 'x');
            assert.equal(answer, 'x');
        });

        test('server -> client ack: the server gets our answer', async () => {
            const { asked, result } = await serverAsksForAck(socket, ['q', 42], ['a', { ok: true }]);
            assert.deepEqual(asked, ['q', 42]);
            assert.deepEqual(result, ['a', { ok: true }]);
        });

        test('server -> client ack answered with no arguments', async () => {
            const { result } = await serverAsksForAck(socket, ['q'], []);
            assert.deepEqual(result, []);
        });

        test('two server -> client acks answered in reverse order', async () => {
            const callbacks = [];
            const gotBoth = new Promise((resolve) => {
                const onAsk = (...received) => {
                    callbacks.push(received);
                    if (callbacks.length === 2) {
                        socket.off('ack-me', onAsk);
                        resolve();
                    }
                };
                socket.on('ack-me', onAsk);
            });
            const results = [];
            const gotResults = new Promise((resolve) => {
                const onResult = (...r) => {
                    results.push(r);
                    if (results.length === 2) {
                        socket.off('ack-result', onResult);
                        resolve();
                    }
                };
                socket.on('ack-result', onResult);
            });
            socket.emit('request-ack', 'first');
            socket.emit('request-ack', 'second');
            await withTimeout(gotBoth, 'two ack-me');
            // Answer the second one first: each answer must reach its own request.
            const [second, first] = [callbacks[1], callbacks[0]];
            second.pop()(`answer to ${second[0]}`);
            first.pop()(`answer to ${first[0]}`);
            await withTimeout(gotResults, 'two ack-result');
            assert.deepEqual(results, [['answer to second'], ['answer to first']]);
        });

        test('binary client -> server -> client in event arguments', async () => {
            const small = bytes(1, 2, 3, 4);
            const big = pattern(200_000);
            const echoed = nextEvent(socket, 'message-back');
            socket.emit('message', small, { nested: { data: big, list: [bytes(0xff), 'text'] } }, 'tail');
            const [a, b, c] = await echoed;
            assertBinary(a, small, 'first argument');
            assertBinary(b.nested.data, big, 'nested buffer');
            assertBinary(b.nested.list[0], bytes(0xff), 'buffer in an array');
            assert.equal(b.nested.list[1], 'text');
            assert.equal(c, 'tail');
        });

        test('an empty Buffer survives the round trip', async () => {
            const echoed = nextEvent(socket, 'message-back');
            socket.emit('message', Buffer.alloc(0));
            const [a] = await echoed;
            assertBinary(a, Buffer.alloc(0), 'empty buffer');
        });

        test('binary in a client -> server ack (the server acks with Buffers)', async () => {
            const payload = pattern(1024);
            const [a, b] = await emitWithAck(socket, 'message-with-ack', payload, { x: bytes(9, 8, 7) });
            assertBinary(a, payload, 'ack buffer');
            assertBinary(b.x, bytes(9, 8, 7), 'nested ack buffer');
        });

        test('binary in a server -> client event that asks for an ack', async () => {
            const { asked, result } = await serverAsksForAck(socket, [bytes(5, 6), 'q'], ['fine']);
            assertBinary(asked[0], bytes(5, 6), 'ack-me buffer');
            assert.equal(asked[1], 'q');
            assert.deepEqual(result, ['fine']);
        });

        test('binary in the client answer to a server ack', async () => {
            const answer = pattern(300);
            const { result } = await serverAsksForAck(socket, ['q'], [answer, 'after']);
            assert.equal(result.length, 2);
            assertBinary(result[0], answer, 'ack-result buffer');
            assert.equal(result[1], 'after');
        });

        test('the connection still works after the binary exchanges', async () => {
            assert.equal(socket.connected, true);
            assert.deepEqual(await emitWithAck(socket, 'message-with-ack', 'done'), ['done']);
        });
    });
}
