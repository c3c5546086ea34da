// Heartbeat and connect timeout with short settings: a client that never answers the
// server's pings is dropped, one that answers stays, and a session that never joins a
// namespace is closed after --connect-timeout.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import WebSocket from 'ws';

import {
    closeAllClients,
    connectedClient,
    emitWithAck,
    nextEvent,
    startServer,
    withTimeout,
} from './server.mjs';

const PING_INTERVAL = 200;
const PING_TIMEOUT = 200;
// Clients that answer must never be dropped because a loaded machine delayed their pong by a
// few hundred ms, so their tests run against a server with the same interval but a generous
// timeout. The silent clients get the short one.
const LENIENT_PING_TIMEOUT = 3000;
const CONNECT_TIMEOUT = 600;

let strict; // pingTimeout 200: for the clients that never answer
let lenient; // pingTimeout 3000: for the clients that answer

before(async () => {
    const flags = (pingTimeout) => [
        '--test-namespaces',
        '--ping-interval', String(PING_INTERVAL),
        '--ping-timeout', String(pingTimeout),
        '--connect-timeout', String(CONNECT_TIMEOUT),
    ];
    [strict, lenient] = await Promise.all([
        startServer(flags(PING_TIMEOUT)),
        startServer(flags(LENIENT_PING_TIMEOUT)),
    ]);
});

after(async () => {
    closeAllClients();
    await Promise.all([strict?.stop(), lenient?.stop()]);
});

/** A raw Engine.IO WebSocket session that records every text frame it gets. */
async function rawWebSocket(server) {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket`);
    const frames = [];
    ws.on('message', (data, isBinary) => frames.push(isBinary ? data : data.toString()));
    const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('error', () => {}); // the close event is what the tests look at
    await nextEvent(ws, 'open');
    await withTimeout(
        new Promise((resolve) => {
            const check = () => (frames.length > 0 ? resolve() : setTimeout(check, 5));
            check();
        }),
        'open packet',
    );
    const open = JSON.parse(frames[0].slice(1));
    return { ws, frames, closed, open };
}

// The tests use separate connections and mostly wait for timers: run them side by side.
describe('heartbeat', { concurrency: true }, () => {
    test('the handshake carries the configured ping settings', async () => {
        const { ws, open } = await rawWebSocket(strict);
        assert.equal(open.pingInterval, PING_INTERVAL);
        assert.equal(open.pingTimeout, PING_TIMEOUT);
        ws.close();
    });

    test('a silent WebSocket client (never answers pings) is closed by the server', async () => {
        const { ws, frames, closed } = await rawWebSocket(strict);
        ws.send('40'); // joins "/" so that only the heartbeat can end it
        await withTimeout(closed, 'server closes the silent client');
        assert.ok(frames.includes('2'), `the server sent a ping first: ${JSON.stringify(frames)}`);
        assert.ok(!frames.includes('3'), 'the server must not answer pings itself (v4 direction)');
    });

    test('a raw WebSocket client that answers pings stays connected', async () => {
        const { ws, frames, closed } = await rawWebSocket(lenient);
        let pings = 0;
        let isClosed = false;
        closed.then(() => {
            isClosed = true;
        });
        ws.send('40');
        await withTimeout(
            new Promise((resolve) => {
                ws.on('message', (data) => {
                    if (data.toString() === '2') {
                        ws.send('3');
                        if (++pings === 4) {
                            resolve();
                        }
                    }
                });
            }),
            'four pings',
        );
        assert.equal(isClosed, false, `closed although it answered: ${JSON.stringify(frames)}`);
        ws.send('42["message","alive"]');
        await withTimeout(
            new Promise((resolve) => {
                const check = () =>
                    frames.includes('42["message-back","alive"]') ? resolve() : setTimeout(check, 5);
                check();
            }),
            'echo after the pings',
        );
        ws.close();
    });

    test('a silent polling client: the pending GET ends with a close, the sid is forgotten', async () => {
        const base = `${strict.url}/socket.io/?EIO=4&transport=polling`;
        const { sid } = JSON.parse((await (await fetch(base)).text()).slice(1));
        const post = await fetch(`${base}&sid=${sid}`, { method: 'POST', body: '40' });
        assert.equal(await post.text(), 'ok');
        // Keep polling but never answer a ping: the session must end with a close packet.
        const seen = [];
        for (;;) {
            const res = await withTimeout(fetch(`${base}&sid=${sid}`), 'a poll');
            const body = await res.text();
            if (res.status !== 200) {
                assert.fail(`poll answered ${res.status} ${body} before a close packet; seen ${seen}`);
            }
            const packets = body.split('\x1e');
            seen.push(...packets);
            if (packets.includes('1')) {
                break;
            }
        }
        assert.ok(seen.includes('2'), `a ping came before the close: ${JSON.stringify(seen)}`);
        const res = await fetch(`${base}&sid=${sid}`);
        assert.equal(res.status, 400);
        assert.deepEqual(await res.json(), { code: 1, message: 'Session ID unknown' });
    });

    for (const transport of ['polling', 'websocket']) {
        test(`socket.io-client stays connected across many pings (${transport})`, async () => {
            const socket = await connectedClient(`${lenient.url}/`, { transports: [transport] });
            let disconnected = null;
            socket.on('disconnect', (reason) => {
                disconnected = reason;
            });
            let pings = 0;
            await withTimeout(
                new Promise((resolve) => {
                    socket.io.engine.on('ping', () => {
                        if (++pings === 5) {
                            resolve();
                        }
                    });
                }),
                'five pings',
            );
            assert.equal(disconnected, null);
            assert.deepEqual(await emitWithAck(socket, 'message-with-ack', pings), [5]);
            socket.disconnect();
        });
    }
});

describe('connect timeout', { concurrency: true }, () => {
    test('a session that never joins a namespace is closed', async () => {
        const { ws, frames, closed } = await rawWebSocket(lenient);
        // Answer pings so that only the connect timeout can end the session.
        ws.on('message', (data) => {
            if (data.toString() === '2') {
                ws.send('3');
            }
        });
        await withTimeout(closed, 'server closes the session without a namespace');
        assert.ok(!frames.some((f) => f.startsWith('40')), 'no CONNECT reply was expected');
    });

    test('a session that joins in time is kept past the connect timeout', async () => {
        const socket = await connectedClient(`${lenient.url}/`, { transports: ['websocket'] });
        let disconnected = null;
        socket.on('disconnect', (reason) => {
            disconnected = reason;
        });
        // Wait for more pings than fit in the connect timeout.
        let pings = 0;
        await withTimeout(
            new Promise((resolve) => {
                socket.io.engine.on('ping', () => {
                    if (++pings === Math.ceil((2 * CONNECT_TIMEOUT) / PING_INTERVAL)) {
                        resolve();
                    }
                });
            }),
            'pings past the connect timeout',
        );
        assert.equal(disconnected, null);
        socket.disconnect();
    });
});
