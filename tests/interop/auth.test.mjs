// Namespaces and the bearer token of /devices (contract section 3), on every transport setup.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    client,
    closeAllClients,
    connectedClient,
    startServer,
    transportOf,
    waitConnectError,
    waitUpgraded,
} from './server.mjs';

// The token is a secret: run at the most verbose level and check it never reaches the logs.
const SECRET = 'tok-3f1c9e0b7d2a4e58';

let server;

before(async () => {
    server = await startServer(['--log-level', 'trace']);
});

after(async () => {
    closeAllClients();
    await server?.stop();
});

const SETUPS = [
    ['polling', { transports: ['polling'] }],
    ['websocket', { transports: ['websocket'] }],
    ['upgrade', {}],
];

for (const [name, transportOptions] of SETUPS) {
    describe(`namespaces and tokens (${name})`, () => {
        test('an unknown namespace gets connect_error "Invalid namespace"', async () => {
            const socket = client(`${server.url}/random`, transportOptions);
            const err = await waitConnectError(socket);
            assert.equal(err.message, 'Invalid namespace');
            assert.equal(socket.connected, false);
            // A CONNECT_ERROR is final: the client does not retry this namespace by itself.
            assert.equal(socket.active, false);
        });

        test('the main namespace "/" does not exist in production mode', async () => {
            const socket = client(`${server.url}/`, transportOptions);
            const err = await waitConnectError(socket);
            assert.equal(err.message, 'Invalid namespace');
        });

        test('/devices without any token gets "Unauthorized: missing bearer token"', async () => {
            const socket = client(`${server.url}/devices`, transportOptions);
            const err = await waitConnectError(socket);
            assert.equal(err.message, 'Unauthorized: missing bearer token');
            assert.equal(socket.active, false);
        });

        test('/devices with an empty token or a non-bearer Authorization header is refused', async () => {
            for (const options of [
                { auth: { token: '' } },
                { auth: { token: 'Bearer ' } },
                { auth: { other: SECRET } },
                { extraHeaders: { Authorization: `Basic ${SECRET}` } },
                { extraHeaders: { Authorization: 'Bearer ' } },
            ]) {
                const socket = client(`${server.url}/devices`, { ...transportOptions, ...options });
                const err = await waitConnectError(socket);
                assert.equal(err.message, 'Unauthorized: missing bearer token', JSON.stringify(options));
                socket.disconnect();
            }
        });

        test('/devices with the token in the auth payload', async () => {
            const socket = await connectedClient(`${server.url}/devices`, {
                ...transportOptions,
                auth: { token: SECRET },
            });
            assert.equal(typeof socket.id, 'string');
            if (name === 'upgrade') {
                await waitUpgraded(socket);
                assert.equal(transportOf(socket), 'websocket');
            }
            socket.disconnect();
        });

        test('/devices with "Bearer <token>" in the auth payload', async () => {
            const socket = await connectedClient(`${server.url}/devices`, {
                ...transportOptions,
                auth: { token: `Bearer ${SECRET}` },
            });
            assert.equal(socket.connected, true);
            socket.disconnect();
        });

        test('/devices with the token in an Authorization header (extraHeaders)', async () => {
            const socket = await connectedClient(`${server.url}/devices`, {
                ...transportOptions,
                extraHeaders: { Authorization: `Bearer ${SECRET}` },
            });
            assert.equal(socket.connected, true);
            if (name === 'upgrade') {
                // The header of the first request stays the session's after the upgrade.
                await waitUpgraded(socket);
            }
            socket.disconnect();
        });

        test('a refused namespace leaves the shared Engine.IO session usable', async () => {
            const refused = client(`${server.url}/nope`, {
                ...transportOptions,
                auth: { token: SECRET },
            });
            const err = await waitConnectError(refused);
            assert.equal(err.message, 'Invalid namespace');
            // Same Manager, so the same Engine.IO session: /devices still joins.
            const devices = refused.io.socket('/devices', { auth: { token: SECRET } });
            await new Promise((resolve, reject) => {
                devices.once('connect', resolve);
                devices.once('connect_error', reject);
            });
            assert.equal(devices.connected, true);
            devices.disconnect();
            refused.disconnect();
        });
    });
}

test('the bearer token never appears in the server logs', async () => {
    closeAllClients();
    const { code } = await server.stop(); // all of stdout has been read once it has exited
    assert.equal(code, 0);
    assert.ok(server.logs.length > 0);
    const text = server.logs.map((l) => JSON.stringify(l)).join('\n') + server.stderr;
    assert.equal(text.includes(SECRET), false, 'the token was logged');
});
