// Reconnection across a server restart on the same port.
// - A crash (SIGKILL) looks like "transport close" to the client, which reconnects by itself.
// - A graceful stop (SIGTERM) sends "io server disconnect", after which socket.io-client waits
//   for the application to call connect(); then it joins the new server.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import {
    client,
    closeAllClients,
    connectedClient,
    emitWithAck,
    nextEvent,
    startServer,
    waitUpgraded,
    withTimeout,
} from './server.mjs';

const FLAGS = ['--test-namespaces'];
const servers = [];

after(async () => {
    closeAllClients();
    await Promise.all(servers.map((s) => s.stop('SIGKILL')));
});

async function start(port = 0) {
    const server = await startServer(FLAGS, { port });
    servers.push(server);
    return server;
}

// Fast, deterministic retries: only the number of attempts may vary, never the outcome.
const RECONNECT = {
    reconnection: true,
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
    randomizationFactor: 0,
};

const SETUPS = [
    ['polling', { transports: ['polling'] }],
    ['websocket', { transports: ['websocket'] }],
    ['upgrade', {}],
];

describe('reconnection after a crash and a restart on the same port', () => {
    test('every client reconnects by itself and works again', async () => {
        const first = await start();
        const clients = [];
        for (const [name, options] of SETUPS) {
            clients.push({
                name,
                socket: await connectedClient(`${first.url}/custom`, { ...RECONNECT, ...options }),
            });
            clients.push({
                name: `${name} /devices`,
                socket: await connectedClient(`${first.url}/devices`, {
                    ...RECONNECT,
                    ...options,
                    auth: { token: 'abc' },
                }),
            });
        }
        const oldIds = clients.map(({ socket }) => socket.id);

        const dropped = clients.map(({ socket }) => nextEvent(socket, 'disconnect'));
        const attempts = clients.map(({ socket }) => nextEvent(socket.io, 'reconnect_attempt'));
        await first.stop('SIGKILL');
        const reasons = (await Promise.all(dropped)).map(([reason]) => reason);
        reasons.forEach((reason, i) =>
            assert.ok(['transport close', 'transport error', 'ping timeout'].includes(reason),
                `${clients[i].name}: ${reason}`));
        // Every client is already trying again while the server is down.
        await Promise.all(attempts);

        const reconnected = clients.map(({ socket }) => nextEvent(socket, 'connect', 30_000));
        const second = await start(first.port);
        assert.equal(second.port, first.port);
        await withTimeout(Promise.all(reconnected), 'all clients reconnected', 30_000);

        for (const [i, { name, socket }] of clients.entries()) {
            assert.equal(socket.connected, true, name);
            assert.notEqual(socket.id, oldIds[i], `${name}: a new server gives a new socket id`);
        }
        for (const { name, socket } of clients.filter((c) => !c.name.endsWith('/devices'))) {
            assert.deepEqual(await emitWithAck(socket, 'message-with-ack', name), [name]);
        }
        for (const { socket } of clients) {
            socket.disconnect();
        }
        await second.stop('SIGKILL');
    });
});

describe('after a graceful restart', () => {
    // Contract section 10: no DISCONNECT on shutdown, so the client reconnects by itself.
    test('the client reconnects by itself and joins the new server with its auth payload', async () => {
        const first = await start();
        const socket = client(`${first.url}/custom`, {
            ...RECONNECT,
            transports: ['websocket'],
            auth: { who: 'me' },
        });
        const [firstAuth] = await nextEvent(socket, 'auth'); // sent right after the CONNECT reply
        assert.deepEqual(firstAuth, { who: 'me' });

        const gone = nextEvent(socket, 'disconnect');
        const { code } = await first.stop('SIGTERM');
        assert.equal(code, 0);
        assert.equal((await gone)[0], 'transport close');
        assert.equal(socket.active, true, 'the client keeps reconnecting');

        const auth = nextEvent(socket, 'auth', 30_000);
        const reconnected = nextEvent(socket, 'connect', 30_000);
        const second = await start(first.port);
        await reconnected;
        assert.deepEqual((await auth)[0], { who: 'me' }, 'the auth payload is sent again');
        assert.deepEqual(await emitWithAck(socket, 'message-with-ack', 'again'), ['again']);
        socket.disconnect();
        await second.stop('SIGKILL');
    });

    test('an upgraded client reconnects after a crash and upgrades again', async () => {
        const first = await start();
        const socket = await connectedClient(`${first.url}/`, RECONNECT);
        await waitUpgraded(socket);
        const dropped = nextEvent(socket, 'disconnect');
        await first.stop('SIGKILL');
        await dropped;
        const reconnected = nextEvent(socket, 'connect', 30_000);
        const second = await start(first.port);
        await reconnected;
        await waitUpgraded(socket);
        assert.equal(socket.io.engine.transport.name, 'websocket');
        assert.deepEqual(await emitWithAck(socket, 'message-with-ack', 1), [1]);
        socket.disconnect();
        await second.stop('SIGKILL');
    });
});
