// The abuse campaign (issue 12, contract section 9): attacks on a running kamea-wss, each held
// while a normal client (lib/target.mjs's probe) connects, subscribes and receives, and a
// resident client that was there before keeps receiving. Every attack states what the server
// must do with it (`pass`); the campaign passes when every attack does, the server is still
// running, both clients were served, and RSS came back within a bound.
//
// `scale` sets the load: 1 for the short form in `make test` (tests/interop/abuse.test.mjs),
// 10 for `make abuse` (tests/campaigns/run.mjs), which also writes docs/reliability.md.

import crypto from 'node:crypto';

import { OP, RawWebSocket } from '../lib/raw-websocket.mjs';
import { connectDevices, ingest, readMetric, uid } from '../interop/standin.mjs';
import { closedWithin, destroyAll, openRaw, statusOf, tally } from './lib/raw.mjs';
import { runSteps } from './lib/runner.mjs';
import { settle, startTarget, TENANT } from './lib/target.mjs';

export const LIMITS = {
    handshakeTimeoutMs: 2000,
    maxConnections: 1500,
    maxConnectionsPerIp: 300,
    maxPayload: 100_000,
    maxSendQueue: 1 << 20,
};

export const SERVER_FLAGS = [
    '--handshake-timeout', String(LIMITS.handshakeTimeoutMs),
    '--max-connections', String(LIMITS.maxConnections),
    '--max-connections-per-ip', String(LIMITS.maxConnectionsPerIp),
    '--max-payload', String(LIMITS.maxPayload),
    '--max-send-queue', String(LIMITS.maxSendQueue),
    '--connect-timeout', '5000',
];

/**
 * Opens `n` raw connections, `batch` at a time. Unless `options.localAddress` says otherwise,
 * they come from attacker addresses of their own (127.0.0.10 and up, 200 each): the normal
 * clients connect from 127.0.0.1, and an attacker sharing their address would use up their
 * --max-connections-per-ip (300) and have them refused, which is the limit doing its job, not
 * what the step measures (the per-address steps choose their address).
 */
async function openMany(port, n, options = {}, batch = 50) {
    const out = [];
    for (let i = 0; i < n; i += batch) {
        const from = options.localAddress ?? `127.0.0.${10 + Math.floor(i / 200)}`;
        const group = await Promise.all(
            Array.from({ length: Math.min(batch, n - i) }, () => openRaw(port, { ...options, localAddress: from })),
        );
        out.push(...group);
    }
    return out;
}

/** A raw WebSocket session joined to /devices with an allowed token. */
async function rawDevicesSocket(server) {
    const ws = await RawWebSocket.connect(server.port);
    ws.sendText(`40/devices,${JSON.stringify({ token: uid('allow-raw') })}`);
    await ws.waitFrames((f) => f.payload.toString().startsWith('40/devices,{'), 'CONNECT reply');
    return ws;
}

const wsEnded = (sockets, ms) => closedWithin(sockets.map((w) => ({ ended: w.closed, closed: () => w.ended })), ms);

export const ATTACKS = [
    {
        name: 'random-bytes',
        what: 'connections that send random bytes, on the public and the internal listener',
        async run({ server, scale, during }) {
            const n = 40 * scale;
            const conns = [
                ...(await openMany(server.port, n)),
                ...(await openMany(server.internalPort, n / 4)),
            ].filter(Boolean);
            for (const c of conns) {
                c.socket.write(crypto.randomBytes(4096));
            }
            await during();
            const closed = await closedWithin(conns, LIMITS.handshakeTimeoutMs + 3000);
            destroyAll(conns);
            return {
                load: `${conns.length} connections × 4 KiB of random bytes`,
                outcome: `${closed}/${conns.length} closed by the server; answers ${JSON.stringify(tally(conns.map(statusOf)))}`,
                pass: closed === conns.length,
            };
        },
    },
    {
        name: 'slowloris-headers',
        what: 'requests whose headers never end (a header line every 250 ms), on both listeners',
        async run({ server, scale, during }) {
            const n = 20 * scale;
            const started = Date.now();
            const conns = [
                ...(await openMany(server.port, n)),
                ...(await openMany(server.internalPort, n / 4)),
            ].filter(Boolean);
            for (const c of conns) {
                c.socket.write('GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n');
            }
            const drip = setInterval(() => {
                for (const c of conns) {
                    if (!c.closed()) {
                        c.socket.write(`X-Slow-${Date.now() % 1000}: a\r\n`);
                    }
                }
            }, 250);
            await during();
            const closed = await closedWithin(conns, LIMITS.handshakeTimeoutMs + 3000);
            clearInterval(drip);
            destroyAll(conns);
            const last = Math.max(...(await Promise.all(conns.map((c) => (c.closed() ? c.ended : 0)))));
            return {
                load: `${conns.length} connections dripping header lines`,
                outcome: `${closed}/${conns.length} closed by the server, the last ${last - started} ms after the start ` +
                    `(--handshake-timeout ${LIMITS.handshakeTimeoutMs})`,
                pass: closed === conns.length,
            };
        },
    },
    {
        name: 'slow-post-bodies',
        what: 'POSTs whose body never ends (10 bytes every 250 ms): ingestion and a polling session',
        async run({ server, scale, during }) {
            const n = 10 * scale;
            const conns = [];
            for (let i = 0; i < n; i++) {
                const open = await (await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`)).text();
                const sid = JSON.parse(open.slice(1)).sid;
                const polling = await openRaw(server.port);
                polling?.socket.write(`POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\n` +
                    'Host: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 50000\r\n\r\n');
                const ingestion = await openRaw(server.internalPort);
                ingestion?.socket.write('POST /internal/v1/telemetries HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
                    'Content-Type: application/json\r\nContent-Length: 50000\r\n\r\n[');
                conns.push(...[polling, ingestion].filter(Boolean));
            }
            const drip = setInterval(() => {
                for (const c of conns) {
                    if (!c.closed()) {
                        c.socket.write('4444444444');
                    }
                }
            }, 250);
            await during();
            const closed = await closedWithin(conns, LIMITS.handshakeTimeoutMs + 3000);
            clearInterval(drip);
            destroyAll(conns);
            return {
                load: `${conns.length} connections dripping a 50 kB body`,
                outcome: `${closed}/${conns.length} closed by the server; answers ${JSON.stringify(tally(conns.map(statusOf)))}`,
                pass: closed === conns.length,
            };
        },
    },
    {
        name: 'header-floods',
        what: 'requests with 64 KiB of headers, and with 5,000 small headers',
        async run({ server, scale, during }) {
            const n = 10 * scale;
            const big = `X-Big: ${'a'.repeat(64 * 1024)}\r\n`;
            const many = Array.from({ length: 5000 }, (_, i) => `X-${i}: a\r\n`).join('');
            const conns = (await openMany(server.port, 2 * n)).filter(Boolean);
            conns.forEach((c, i) => c.socket.write(
                `GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n${i % 2 ? big : many}\r\n`));
            await during();
            const closed = await closedWithin(conns, 5000);
            const statuses = tally(conns.map(statusOf));
            destroyAll(conns);
            return {
                load: `${conns.length} requests`,
                outcome: `${closed}/${conns.length} closed; answers ${JSON.stringify(statuses)}`,
                pass: closed === conns.length && statuses['431'] === conns.length, // RFC 6585
            };
        },
    },
    {
        name: 'connection-flood-per-ip',
        what: `connections from one address beyond --max-connections-per-ip (${LIMITS.maxConnectionsPerIp})`,
        async run({ server, scale, during }) {
            const n = Math.min(LIMITS.maxConnectionsPerIp * 2, 100 * scale + LIMITS.maxConnectionsPerIp);
            const conns = (await openMany(server.port, n, { localAddress: '127.0.0.2' })).filter(Boolean);
            await settle(500);
            const open = conns.filter((c) => !c.closed()).length;
            await during(); // the probe comes from 127.0.0.1
            const rejected = await readMetric(server, 'kamea_tcp_connections_rejected_total');
            destroyAll(conns);
            return {
                load: `${n} connections from 127.0.0.2`,
                outcome: `${open} stayed open, the rest were closed at once (rejected so far: ${rejected})`,
                pass: open <= LIMITS.maxConnectionsPerIp,
            };
        },
    },
    {
        name: 'connection-flood-total',
        what: `connections from many addresses up to --max-connections (${LIMITS.maxConnections})`,
        probeDuring: false, // a new client is refused while the listener is full: that is the limit
        async run({ server, during }) {
            const conns = [];
            const perAddress = LIMITS.maxConnectionsPerIp;
            for (let a = 10; conns.length < LIMITS.maxConnections + 200; a++) {
                conns.push(...(await openMany(server.port, perAddress, { localAddress: `127.0.0.${a}` })).filter(Boolean));
            }
            await settle(500);
            const open = conns.filter((c) => !c.closed()).length;
            await during(); // the resident client, connected before, must still receive
            destroyAll(conns);
            await settle(500);
            return {
                load: `${conns.length} connections from ${Math.ceil(conns.length / perAddress)} addresses`,
                outcome: `${open} stayed open (the resident client and the API's connections count too); ` +
                    'the listener took new clients again once they left',
                pass: open <= LIMITS.maxConnections,
            };
        },
    },
    {
        name: 'websocket-frames',
        what: 'unmasked frames, reserved opcodes and bits, 2^62-byte lengths, fragmented pings, ' +
            'invalid UTF-8, endless continuation',
        async run({ server, scale, during }) {
            const chunk = Buffer.alloc(8192, 0x61);
            const variants = {
                unmasked: [{ opcode: OP.text, payload: '42["x"]', mask: false }],
                'reserved opcode': [{ opcode: 0x3, payload: 'x' }],
                'reserved bits': [{ opcode: OP.text, payload: '42["x"]', rsv: 4 }],
                'fragmented ping': [{ opcode: OP.ping, payload: 'x', fin: false }],
                'invalid UTF-8': [{ opcode: OP.text, payload: Buffer.from([0x34, 0x32, 0xc3, 0x28]) }],
                'endless continuation': [
                    { opcode: OP.text, payload: '42["', fin: false },
                    ...Array.from({ length: Math.ceil(LIMITS.maxPayload / chunk.length) + 2 },
                        () => ({ opcode: OP.continuation, payload: chunk, fin: false })),
                ],
            };
            const sockets = [];
            const codes = {};
            const huge = Buffer.alloc(14); // a header only: 2^62 bytes announced, a zero mask key
            huge[0] = 0x81;
            huge[1] = 0xff; // masked, 64-bit length
            huge.writeBigUInt64BE(1n << 62n, 2);
            for (let i = 0; i < 5 * scale; i++) {
                for (const [name, frames] of [...Object.entries(variants), ['2^62 length', [huge]]]) {
                    const ws = await RawWebSocket.connect(server.port);
                    for (const f of frames) {
                        ws.send(f);
                    }
                    sockets.push(ws);
                    ws.closeCode().then(
                        (code) => { (codes[name] ??= {})[code] = ((codes[name] ??= {})[code] ?? 0) + 1; },
                        () => { (codes[name] ??= {}).none = (codes[name].none ?? 0) + 1; },
                    );
                }
            }
            await during();
            const closed = await wsEnded(sockets, 5000);
            await settle(100);
            for (const ws of sockets) {
                ws.destroy();
            }
            return {
                load: `${sockets.length} WebSocket connections`,
                outcome: `${closed}/${sockets.length} closed by the server; close codes ${JSON.stringify(codes)}`,
                pass: closed === sockets.length,
            };
        },
    },
    {
        name: 'polling-abuse',
        what: 'concurrent GETs on one session, unknown sids, oversized POSTs, \\x1e storms (then a GET on that session)',
        async run({ server, scale, during }) {
            const base = `${server.url}/socket.io/?EIO=4&transport=polling`;
            const statuses = { concurrent: [], unknown: [], oversized: [], storm: [] };
            const handshake = async () => JSON.parse((await (await fetch(base)).text()).slice(1)).sid;
            // One session's worth of each abuse; run in rounds of ten, so that the attacker itself
            // stays under --max-connections-per-ip.
            const one = () => Promise.all([
                (async () => {
                    const sid = await handshake();
                    const both = await Promise.all([fetch(`${base}&sid=${sid}`), fetch(`${base}&sid=${sid}`)]);
                    statuses.concurrent.push(both.map((r) => r.status).sort().join('+'));
                })(),
                fetch(`${base}&sid=${crypto.randomBytes(15).toString('base64url')}`)
                    .then((r) => statuses.unknown.push(r.status)),
                (async () => {
                    const sid = await handshake();
                    const r = await fetch(`${base}&sid=${sid}`, { method: 'POST', body: 'x'.repeat(LIMITS.maxPayload + 1) });
                    statuses.oversized.push(r.status);
                    // Empty packets: answered "ok" as the reference does, and the session is closed.
                    const s2 = await handshake();
                    const storm = await fetch(`${base}&sid=${s2}`, { method: 'POST', body: '\x1e'.repeat(LIMITS.maxPayload - 1) });
                    const next = await fetch(`${base}&sid=${s2}`);
                    statuses.storm.push(`${storm.status} then ${next.status}`);
                })(),
            ]);
            let requests = 0;
            const load = (async () => {
                for (let i = 0; i < scale; i++) {
                    await Promise.all(Array.from({ length: 10 }, one));
                    requests += 10 * 8;
                }
            })();
            await during();
            await load;
            const summary = Object.fromEntries(Object.entries(statuses).map(([k, v]) => [k, tally(v)]));
            return {
                load: `${requests} abusive requests`,
                outcome: `answers ${JSON.stringify(summary)}`,
                pass: statuses.unknown.every((s) => s === 400) &&
                    statuses.oversized.every((s) => s === 413) &&
                    statuses.storm.every((s) => s.endsWith('then 400')) &&
                    statuses.concurrent.every((s) => s.includes('400')),
            };
        },
    },
    {
        name: 'json-abuse',
        what: 'deeply nested and huge JSON in events and in ingestion',
        async run({ server, scale, during }) {
            const deep = '['.repeat(90_000);
            const answers = { event: [], ingestion: [] };
            const sockets = [];
            for (let i = 0; i < 2 * scale; i++) {
                const ws = await rawDevicesSocket(server);
                sockets.push(ws);
                ws.sendText(`42/devices,1["telemetries",${deep}]`);
                ws.sendText(`42/devices,2["telemetries",{"deviceId":"${'d'.repeat(90_000)}","tenantId":"t"}]`);
                ws.sendText('42/devices,3["telemetries",{"deviceId":{"a":{"b":{"c":[[[[[[[[1]]]]]]]]}}},"tenantId":"t"}]');
                answers.ingestion.push((await ingest(server, deep)).status);
                answers.ingestion.push((await ingest(server, `[${'{"deviceId":"d","tenantId":"t"},'.repeat(40_000)}{}]`)).status);
            }
            await during();
            for (const ws of sockets) {
                // Each socket either answered each event (an ack with an error) or was closed.
                await ws.waitFrames((f) => f.payload.toString().startsWith('43/devices,3') || ws.ended, 'answers')
                    .catch(() => {});
                const acks = ws.texts().filter((t) => t.startsWith('43/devices,'));
                answers.event.push(ws.ended ? 'closed' : acks.map((a) => JSON.parse(a.slice(a.indexOf('['))))
                    .map((a) => a[0]?.error ?? a[0]?.status).join('+'));
                ws.destroy();
            }
            return {
                load: `${sockets.length * 3} events and ${answers.ingestion.length} ingestion requests`,
                outcome: `events: ${JSON.stringify(tally(answers.event))}; ingestion: ${JSON.stringify(tally(answers.ingestion))}`,
                pass: answers.ingestion.every((s) => s === 400 || s === 413) && answers.event.length === sockets.length,
            };
        },
    },
    {
        name: 'event-flood',
        what: 'one socket emitting events as fast as it can',
        async run({ server, scale, during }) {
            const socket = await connectDevices(server, uid('allow-flood'), { transports: ['websocket'] });
            const n = 5000 * scale;
            let disconnected = null;
            socket.on('disconnect', (reason) => { disconnected = reason; });
            const cutBefore = await readMetric(server, 'kamea_event_rate_disconnects_total');
            const flood = (async () => {
                for (let i = 0; i < n && socket.connected; i++) {
                    socket.emit('telemetries:unsubscribe', { deviceId: `d${i}` });
                    if (i % 500 === 0) {
                        await settle(0); // let the socket write
                    }
                }
            })();
            await during();
            await flood;
            // The server may still be reading the flood (slower under a sanitizer): wait for the cut.
            for (let waited = 0; socket.connected && waited < 30_000; waited += 100) {
                await settle(100);
            }
            const survived = socket.connected;
            const refused = await readMetric(server, 'kamea_events_rate_limited_total');
            const cut = await readMetric(server, 'kamea_event_rate_disconnects_total');
            socket.disconnect();
            return {
                load: `${n} events from one socket (--max-event-rate 100, --event-burst 200: the defaults)`,
                outcome: survived ? 'that socket was still connected: the rate limit did not hold'
                    : `that socket was cut (${disconnected}) after ${refused} refused events`,
                pass: !survived && disconnected === 'io server disconnect' && cut === cutBefore + 1 && refused >= 200,
            };
        },
    },
    {
        name: 'binary-attachments',
        what: 'attachments announced and never sent; thousands announced',
        async run({ server, scale, during }) {
            const sockets = [];
            for (let i = 0; i < 5 * scale; i++) {
                const never = await rawDevicesSocket(server);
                never.sendText('451-/devices,["telemetries",{"_placeholder":true,"num":0}]');
                const many = await rawDevicesSocket(server);
                many.sendText(`4100000-/devices,["telemetries",${'{"_placeholder":true,"num":0},'.repeat(100)}1]`);
                sockets.push(never, many);
            }
            await during();
            const closed = await wsEnded(sockets.filter((_, i) => i % 2 === 1), 5000);
            const neverClosed = sockets.filter((w, i) => i % 2 === 0 && w.ended).length;
            for (const ws of sockets) {
                ws.destroy();
            }
            return {
                load: `${sockets.length} sockets`,
                outcome: `100,000 announced: ${closed}/${sockets.length / 2} closed at once; one announced and never sent: ` +
                    `${neverClosed}/${sockets.length / 2} closed (the others wait, bounded by --max-payload and the heartbeat)`,
                pass: closed === sockets.length / 2,
            };
        },
    },
    {
        name: 'never-reads',
        what: 'a subscriber that stops reading while telemetry pours in for its device',
        async run({ server, scale, during }) {
            const device = uid('flooded');
            const ws = await rawDevicesSocket(server);
            ws.sendText(`42/devices,9["telemetries",${JSON.stringify({ deviceId: device, tenantId: TENANT })}]`);
            await ws.waitFrames((f) => f.payload.toString().startsWith('43/devices,9'), 'subscription ack');
            ws.socket.pause(); // reads nothing from now on
            const before = await readMetric(server, 'kamea_slow_clients_total');
            const payload = 'p'.repeat(1000);
            const batch = Array.from({ length: 100 }, (_, i) => ({ deviceId: device, tenantId: TENANT, i, payload }));
            let posted = 0;
            const pour = (async () => {
                for (let i = 0; i < 20 * scale; i++) {
                    posted += (await ingest(server, batch)).status === 202 ? batch.length : 0;
                }
            })();
            await during();
            await pour;
            let cut = false;
            for (let i = 0; i < 50 && !cut; i++) {
                cut = (await readMetric(server, 'kamea_slow_clients_total')) > before;
                await settle(100);
            }
            ws.destroy();
            return {
                load: `${posted} telemetries of 1 kB for one device (${(posted / 1000).toFixed(1)} MB)`,
                outcome: cut ? `the reader was cut past --max-send-queue (${LIMITS.maxSendQueue} bytes)`
                    : 'the reader was not cut: the kernel buffers held what was sent',
                pass: cut || posted * 1000 < LIMITS.maxSendQueue + 8 * 1024 * 1024,
            };
        },
    },
];

/** Starts a target with SERVER_FLAGS, runs the attacks (or `only` those), stops the target. */
export async function runCampaign({ scale = 1, only, log } = {}) {
    const target = await startTarget(SERVER_FLAGS);
    try {
        return await runSteps(target, ATTACKS, { scale, only, log });
    } finally {
        await target.close();
    }
}
