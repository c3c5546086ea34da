// Hundreds of concurrent socket.io-client connections, on every transport setup, each doing
// an echo and an ack: every one must succeed and get its own answers.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
    client,
    closeAllClients,
    emitWithAck,
    nextEvent,
    startServer,
    waitConnected,
    withTimeout,
} from './server.mjs';

const PER_SETUP = 100;
const SETUPS = [
    ['websocket', { transports: ['websocket'] }],
    ['polling', { transports: ['polling'] }],
    ['upgrade', {}],
];

let server;

before(async () => {
    server = await startServer(['--test-namespaces']);
});

after(async () => {
    closeAllClients();
    await server?.stop();
});

test(`${PER_SETUP * SETUPS.length} concurrent clients each echo and ack`, async () => {
    const sockets = [];
    for (const [name, options] of SETUPS) {
        for (let i = 0; i < PER_SETUP; i++) {
            // Alternate the two conformance namespaces.
            const nsp = i % 2 === 0 ? '/' : '/custom';
            sockets.push({ name, i, socket: client(`${server.url}${nsp}`, options) });
        }
    }
    await withTimeout(
        Promise.all(sockets.map(({ socket }) => waitConnected(socket, 30_000))),
        'all clients connected',
        30_000,
    );
    const ids = new Set(sockets.map(({ socket }) => socket.id));
    assert.equal(ids.size, sockets.length, 'every socket has its own id');

    const results = await withTimeout(
        Promise.all(
            sockets.map(async ({ name, i, socket }) => {
                const tag = `${name}-${i}`;
                const echoed = nextEvent(socket, 'message-back', 30_000);
                socket.emit('message', tag, { i });
                const [echo, payload] = await echoed;
                const [acked] = await emitWithAck(socket, 'message-with-ack', tag);
                return { tag, echo, payload, acked, i };
            }),
        ),
        'all echoes',
        30_000,
    );
    for (const r of results) {
        assert.equal(r.echo, r.tag);
        assert.deepEqual(r.payload, { i: r.i });
        assert.equal(r.acked, r.tag);
    }
    assert.ok(sockets.every(({ socket }) => socket.connected), 'all still connected');
    for (const { socket } of sockets) {
        socket.disconnect();
    }
});
