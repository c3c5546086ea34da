// SIGTERM (contract section 10): the transports are closed the way the reference's io.close()
// closes them, without a Socket.IO DISCONNECT, so socket.io-client reports "transport close"
// and reconnects by itself (to another instance behind a balancer, or here to the server
// started next on the same port); the process exits 0.

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import {
    client,
    closeAllClients,
    connectedClient,
    nextEvent,
    startServer,
    waitConnected,
    waitUpgraded,
    withTimeout,
} from './server.mjs';

const servers = [];

const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

after(async () => {
    closeAllClients();
    await Promise.all(servers.map((s) => s.stop('SIGKILL')));
});

describe('SIGTERM with clients on every transport', () => {
    let server;
    let clients;
    const reasons = {};
    let exit;
    let upgradedTransport;

    before(async () => {
        server = await startServer(['--shutdown-grace', '5000']);
        servers.push(server);
        const url = `${server.url}/devices`;
        // Reconnection on, as by default, so that "does not reconnect" means something.
        const auth = { auth: { token: 'abc' }, reconnection: true };
        clients = {
            polling: await connectedClient(url, { ...auth, transports: ['polling'] }),
            websocket: await connectedClient(url, { ...auth, transports: ['websocket'] }),
            upgraded: await connectedClient(url, auth),
            'header-auth websocket': await connectedClient(url, {
                reconnection: true,
                transports: ['websocket'],
                extraHeaders: { Authorization: 'Bearer abc' },
            }),
        };
        await waitUpgraded(clients.upgraded);
        upgradedTransport = clients.upgraded.io.engine.transport.name;
        // Let the polling client park its next GET on the server: SIGTERM in the gap between
        // two polls is the separate case of the last test of this file.
        await settle(300);

        const pending = Object.entries(clients).map(async ([name, socket]) => {
            const [reason] = await nextEvent(socket, 'disconnect');
            reasons[name] = reason;
        });
        server.proc.kill('SIGTERM');
        await Promise.all(pending);
        exit = await withTimeout(server.exited, 'process exit', 20_000);
    });

    for (const name of ['polling', 'websocket', 'upgraded', 'header-auth websocket']) {
        test(`the ${name} client sees "transport close" and keeps reconnecting`, () => {
            assert.equal(reasons[name], 'transport close');
            // "io server disconnect" would have made it give up (active false).
            assert.equal(clients[name].active, true);
        });
    }

    test('the upgraded client was on WebSocket at SIGTERM', () => {
        assert.equal(upgradedTransport, 'websocket');
    });

    test('the process exits 0', () => {
        assert.deepEqual(exit, { code: 0, signal: null });
    });

    test('every connection was drained before the grace period ended', () => {
        assert.ok(server.logs.find((l) => l.event === 'shutdown_started'), 'shutdown_started logged');
        const complete = server.logs.find((l) => l.event === 'shutdown_complete');
        assert.ok(complete, 'shutdown_complete logged');
        assert.equal(complete.remaining, 0);
    });
});

// The "listening" line is the readiness signal a supervisor (and this helper) waits for, so a
// SIGTERM sent right after it must already be the graceful one.
test('SIGTERM right after the listening line exits 0 (graceful, not killed by the signal)', async () => {
    for (let i = 0; i < 20; i++) {
        const server = await startServer([]);
        servers.push(server);
        const exit = await server.stop('SIGTERM');
        assert.deepEqual(exit, { code: 0, signal: null }, `start ${i + 1} of 20`);
    }
});

test('SIGTERM with no client exits 0', async () => {
    const server = await startServer([]);
    servers.push(server);
    await settle(300); // see the test above: here the handler is surely in place
    const { code, signal } = await server.stop('SIGTERM');
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.equal(server.logs.find((l) => l.event === 'shutdown_complete')?.remaining, 0);
});

test('when the grace period runs out, the server exits 0 anyway and says how many were left', async () => {
    const server = await startServer(['--shutdown-grace', '1500']);
    servers.push(server);
    // A raw WebSocket session that then never reads, answers nothing and never closes: the
    // server's close frame and its half-close get no reply, so only the grace ends the wait.
    const sock = net.connect(server.port, '127.0.0.1');
    await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    sock.on('error', () => {});
    sock.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
        'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    let head = '';
    await withTimeout(new Promise((resolve) => sock.on('data', (d) => {
        head += d.toString('latin1');
        if (head.includes('"sid"')) {
            sock.pause(); // from now on, nothing is read
            resolve();
        }
    })), 'the open packet');
    const started = Date.now();
    const { code, signal } = await server.stop('SIGTERM');
    const took = Date.now() - started;
    sock.destroy();
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.ok(took >= 1400, `exited after ${took} ms, before the grace ran out`);
    assert.ok(took < 1500 + 3000, `exited after ${took} ms`);
    const complete = server.logs.find((l) => l.event === 'shutdown_complete');
    assert.ok(complete?.remaining >= 1, JSON.stringify(complete));
});

test('SIGINT is handled like SIGTERM', async () => {
    const server = await startServer(['--test-namespaces']);
    servers.push(server);
    const socket = await connectedClient(`${server.url}/`, { transports: ['websocket'] });
    const reason = nextEvent(socket, 'disconnect');
    const { code } = await server.stop('SIGINT');
    assert.equal(code, 0);
    assert.equal((await reason)[0], 'transport close');
});

// A restart as a supervisor does it: SIGTERM, the process exits, a new one listens on the same
// port. The stock clients come back by themselves, each through its own "connect" handler,
// which subscribes again, and receive the new server's telemetries.
test('after a restart every stock client reconnects by itself and resubscribes', async () => {
    const { startKamea, startStandin, ingest, uid } = await import('./standin.mjs');
    const api = await startStandin();
    try {
        const first = await startKamea(api.url, ['--shutdown-grace', '3000']);
        servers.push(first);
        const device = uid('dev');
        const setups = [['polling', { transports: ['polling'] }], ['websocket', { transports: ['websocket'] }],
            ['upgrade', {}]];
        const received = new Map();
        const clientsOf = setups.map(([name, options]) => {
            const socket = client(`${first.url}/devices`, {
                ...options,
                auth: { token: uid('allow') },
                reconnection: true,
                reconnectionDelay: 100,
                reconnectionDelayMax: 500,
            });
            received.set(name, []);
            socket.on('telemetries', (t) => received.get(name).push(t));
            // What an application does: (re)subscribe on every connect.
            socket.on('connect', () => socket.emit('telemetries', { deviceId: device, tenantId: 't' }));
            return socket;
        });
        await Promise.all(clientsOf.map((s) => waitConnected(s)));
        const port = first.port;
        const exit = await first.stop('SIGTERM');
        assert.equal(exit.code, 0);

        const second = await startKamea(api.url, [], { port });
        servers.push(second);
        // Each client is back once the new server delivers to it.
        for (let seq = 0; ; seq++) {
            assert.equal((await ingest(second, { deviceId: device, tenantId: 't', seq })).status, 202);
            if ([...received.values()].every((list) => list.length > 0)) {
                break;
            }
            assert.ok(seq < 200, `clients not back: ${JSON.stringify([...received].map(([n, l]) => [n, l.length]))}`);
            await settle(100);
        }
        for (const socket of clientsOf) {
            assert.equal(socket.connected, true);
            socket.close();
        }
    } finally {
        await api.close();
    }
});

// A polling client is, between two polls, without a pending GET: it receives a response and
// sends its next GET right away, on the same keep-alive connection. If SIGTERM lands in that
// gap, the close waits for that next GET (P10), so the server must still answer it.
test('SIGTERM: a polling client between two polls still gets its close packet', async () => {
    const server = await startServer(['--shutdown-grace', '5000']);
    servers.push(server);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const request = (method, query, body) =>
        withTimeout(
            new Promise((resolve, reject) => {
                const req = http.request(
                    {
                        host: '127.0.0.1',
                        port: server.port,
                        method,
                        agent,
                        path: `/socket.io/?EIO=4&transport=polling${query}`,
                        headers: body ? { 'content-type': 'text/plain;charset=UTF-8' } : {},
                    },
                    (res) => {
                        let text = '';
                        res.setEncoding('utf8');
                        res.on('data', (c) => {
                            text += c;
                        });
                        res.on('end', () => resolve({ status: res.statusCode, text }));
                    },
                );
                req.on('error', reject);
                req.end(body);
            }),
            `${method} ${query}`,
        );
    try {
        const handshake = await request('GET', '');
        const { sid } = JSON.parse(handshake.text.slice(1));
        assert.equal((await request('POST', `&sid=${sid}`, '40/devices,{"token":"abc"}')).text, 'ok');
        const connected = await request('GET', `&sid=${sid}`);
        assert.match(connected.text, /^40\/devices,\{"sid":"[^"]+"\}$/);

        // Now no GET is pending, exactly as between two polls of socket.io-client.
        server.proc.kill('SIGTERM');
        await server.waitForLog((l) => l.event === 'shutdown_started');
        // Poll on, as the client would, until the close packet.
        const packets = [];
        while (!packets.includes('1') && packets.length < 10) {
            const poll = await request('GET', `&sid=${sid}`).catch((err) => ({ error: err.message }));
            assert.equal(poll.status, 200,
                `a poll after SIGTERM got ${JSON.stringify(poll)} instead of the DISCONNECT and close`);
            packets.push(...poll.text.split('\x1e'));
        }
        // The close packet alone: no DISCONNECT, so the client will reconnect.
        assert.deepEqual(packets.filter((p) => p !== '6'), ['1']);
        const { code } = await withTimeout(server.exited, 'process exit', 20_000);
        assert.equal(code, 0);
    } finally {
        agent.destroy();
    }
});
