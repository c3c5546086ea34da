// The three ways socket.io-client connects: polling only, WebSocket only, and the default
// polling -> WebSocket upgrade. Each one carries an echo and an ack both ways.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    client,
    closeAllClients,
    connectedClient,
    emitWithAck,
    nextEvent,
    startServer,
    transportOf,
    waitUpgraded,
} from './server.mjs';

let server;

before(async () => {
    server = await startServer(['--test-namespaces']);
});

after(async () => {
    closeAllClients();
    await server?.stop();
});

async function roundTrip(socket) {
    const echoed = nextEvent(socket, 'message-back');
    socket.emit('message', 1, '2', { 3: [true] }, null);
    assert.deepEqual(await echoed, [1, '2', { 3: [true] }, null]);
    assert.deepEqual(await emitWithAck(socket, 'message-with-ack', 'a', { b: 1.5 }), ['a', { b: 1.5 }]);
}

describe('transports', () => {
    test('polling only', async () => {
        const socket = await connectedClient(`${server.url}/custom`, { transports: ['polling'] });
        assert.equal(transportOf(socket), 'polling');
        await roundTrip(socket);
        assert.equal(transportOf(socket), 'polling', 'a polling-only client never upgrades');
        // Many emits at once: the client batches them into few POSTs, answers come back in
        // few polls, and every ack still finds its callback.
        const acks = await Promise.all(
            Array.from({ length: 20 }, (_, i) => emitWithAck(socket, 'message-with-ack', i)),
        );
        assert.deepEqual(acks, Array.from({ length: 20 }, (_, i) => [i]));
        socket.disconnect();
    });

    test('WebSocket only', async () => {
        const socket = await connectedClient(`${server.url}/custom`, { transports: ['websocket'] });
        assert.equal(transportOf(socket), 'websocket');
        await roundTrip(socket);
        socket.disconnect();
    });

    test('default transports upgrade from polling to WebSocket', async () => {
        const socket = await connectedClient(`${server.url}/custom`);
        await waitUpgraded(socket);
        assert.equal(socket.io.engine.transport.name, 'websocket');
        await roundTrip(socket);
        socket.disconnect();
    });

    test('events emitted during the upgrade are all delivered, in order', async () => {
        const socket = await connectedClient(`${server.url}/`, { transports: ['polling', 'websocket'] });
        const received = [];
        const done = new Promise((resolve) => {
            socket.on('message-back', (n) => {
                received.push(n);
                if (received.length === 50) {
                    resolve();
                }
            });
        });
        for (let i = 0; i < 50; i++) {
            socket.emit('message', i);
        }
        await waitUpgraded(socket);
        await done;
        assert.deepEqual(received, [...Array(50).keys()]);
        socket.disconnect();
    });

    test('the auth payload of the CONNECT is seen by the server', async () => {
        const socket = client(`${server.url}/custom`, {
            transports: ['websocket'],
            auth: { hello: 'world', n: 1 },
        });
        // The server emits "auth" right after its CONNECT reply.
        const [auth] = await nextEvent(socket, 'auth');
        assert.deepEqual(auth, { hello: 'world', n: 1 });
        assert.equal(socket.connected, true);
        socket.disconnect();
    });

    test('several namespaces multiplexed on one Engine.IO session', async () => {
        const root = await connectedClient(`${server.url}/`, { transports: ['websocket'] });
        const custom = root.io.socket('/custom'); // connects by itself (autoConnect)
        await nextEvent(custom, 'connect');
        assert.equal(custom.io, root.io, 'one Manager, one Engine.IO session');
        assert.notEqual(root.id, custom.id);
        const [a] = await emitWithAck(root, 'message-with-ack', 'root');
        const [b] = await emitWithAck(custom, 'message-with-ack', 'custom');
        assert.equal(a, 'root');
        assert.equal(b, 'custom');
        // Leaving one namespace does not affect the other.
        custom.disconnect();
        assert.deepEqual(await emitWithAck(root, 'message-with-ack', 'still'), ['still']);
        root.disconnect();
    });
});
