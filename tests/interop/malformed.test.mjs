// Bad input closes only the offending connection (contract section 9): malformed WebSocket
// frames sent over a raw TCP socket after a valid upgrade, and invalid Engine.IO / Socket.IO
// packets on both transports. A socket.io-client bystander keeps working throughout.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { OP, RawWebSocket } from '../lib/raw-websocket.mjs';
import { assertStillEchoes, closeAllClients, connectedClient, startServer, withTimeout } from './server.mjs';

const MAX_PAYLOAD = 10_000;

let server;
let bystander;

before(async () => {
    server = await startServer(['--test-namespaces', '--max-payload', String(MAX_PAYLOAD)]);
    bystander = await connectedClient(`${server.url}/`, { transports: ['websocket'] });
});

after(async () => {
    closeAllClients();
    await server?.stop();
});

// ---------------------------------------------------------------------------------------------

describe('malformed WebSocket frames', () => {
    test('a well-formed raw session works (control case)', async () => {
        const ws = await RawWebSocket.connect(server.port);
        assert.deepEqual(ws.handshake.upgrades, []);
        ws.sendText('40');
        await ws.waitFrames((f) => f.payload.toString().startsWith('40{'), 'CONNECT reply');
        // A message in two fragments.
        ws.send({ opcode: OP.text, payload: '42["message",', fin: false });
        ws.send({ opcode: OP.continuation, payload: '"frag"]' });
        await ws.waitFrames((f) => f.payload.toString() === '42["message-back","frag"]', 'echo');
        // Binary attachment in a binary frame.
        ws.sendText('451-["message",{"_placeholder":true,"num":0}]');
        ws.send({ opcode: OP.binary, payload: Buffer.from([1, 2, 3]) });
        const [bin] = await ws.waitFrames((f) => f.opcode === OP.binary, 'binary echo');
        assert.deepEqual([...bin.payload], [1, 2, 3]);
        ws.send({ opcode: OP.close, payload: Buffer.from([0x03, 0xe8]) });
        assert.equal(await ws.closeCode(), 1000, 'the server echoes a clean close');
    });

    // RFC 6455 pings are not the Engine.IO heartbeat, but they must be answered (W7).
    test('a ping between two fragments of a message gets its pong', async () => {
        const ws = await RawWebSocket.connect(server.port);
        ws.sendText('40');
        // The "auth" event follows the CONNECT reply: once it is in, the server is idle, so
        // this test is about the interleaved ping only (the next one is about busy writes).
        await ws.waitFrames((f) => f.payload.toString().startsWith('42["auth"'), 'auth event');
        ws.send({ opcode: OP.text, payload: '42["message",', fin: false });
        ws.send({ opcode: OP.ping, payload: 'hi' });
        ws.send({ opcode: OP.continuation, payload: '"frag"]' });
        await ws.waitFrames((f) => f.payload.toString() === '42["message-back","frag"]', 'echo');
        const [pong] = await ws.waitFrames((f) => f.opcode === OP.pong, 'pong');
        assert.equal(pong.payload.toString(), 'hi');
        ws.destroy();
    });

    // Pings arriving while the server is writing echoes: each must get its pong, and the
    // output must stay a valid frame stream.
    test('every ping gets its pong, also while the server is writing echoes', async () => {
        const ws = await RawWebSocket.connect(server.port);
        ws.sendText('40');
        await ws.waitFrames((f) => f.payload.toString().startsWith('40{'), 'CONNECT reply');
        const N = 200;
        for (let i = 0; i < N; i++) {
            ws.sendText(`42["message","${'e'.repeat(2000)}"]`);
            ws.send({ opcode: OP.ping, payload: `p${i}` });
        }
        await ws.waitCount((f) => f.payload.toString().startsWith('42["message-back"'), N, 'all echoes');
        // Pongs are answered as the pings are read, so one more round trip covers the last.
        ws.sendText('42["message","last"]');
        await ws.waitFrames((f) => f.payload.toString() === '42["message-back","last"]', 'last echo');
        const pongs = ws.frames.filter((f) => f.opcode === OP.pong).map((f) => f.payload.toString());
        assert.deepEqual(pongs.sort(), Array.from({ length: N }, (_, i) => `p${i}`).sort(),
            `${N - pongs.length} of ${N} pongs missing`);
        ws.destroy();
    });

    const cases = [
        ['an unmasked frame', 1002, (ws) => ws.send({ opcode: OP.text, payload: '42["message","x"]', mask: false })],
        ['a reserved opcode (0x3)', 1002, (ws) => ws.send({ opcode: 0x3, payload: 'x' })],
        ['a reserved control opcode (0xB)', 1002, (ws) => ws.send({ opcode: 0xb })],
        ['an RSV bit without a negotiated extension', 1002,
            (ws) => ws.send({ opcode: OP.text, payload: '42["message","x"]', rsv: 4 })],
        ['a continuation frame without a message', 1002, (ws) => ws.send({ opcode: OP.continuation, payload: 'x' })],
        ['a fragmented control frame', 1002, (ws) => ws.send({ opcode: OP.ping, payload: 'x', fin: false })],
        ['a control frame over 125 bytes', 1002, (ws) => ws.send({ opcode: OP.ping, payload: Buffer.alloc(126) })],
        ['a new message inside a fragmented one', 1002, (ws) => {
            ws.send({ opcode: OP.text, payload: '42[', fin: false });
            ws.send({ opcode: OP.text, payload: '"x"]' });
        }],
        ['invalid UTF-8 in a text frame', 1007,
            (ws) => ws.send({ opcode: OP.text, payload: Buffer.from([0x34, 0x32, 0xc3, 0x28]) })],
        ['a UTF-8 encoded surrogate in a text frame', 1007,
            (ws) => ws.send({ opcode: OP.text, payload: Buffer.from([0x34, 0xed, 0xa0, 0x80]) })],
        ['invalid UTF-8 split across fragments', 1007, (ws) => {
            ws.send({ opcode: OP.text, payload: Buffer.from([0x34, 0xe2, 0x82]), fin: false });
            ws.send({ opcode: OP.continuation, payload: Buffer.from([0x41]) });
        }],
        ['a message above --max-payload', 1009,
            (ws) => ws.sendText(`42["message","${'x'.repeat(MAX_PAYLOAD)}"]`)],
        ['fragments adding up to more than --max-payload', 1009, (ws) => {
            ws.send({ opcode: OP.text, payload: `42["message","${'x'.repeat(MAX_PAYLOAD / 2)}`, fin: false });
            ws.send({ opcode: OP.continuation, payload: `${'x'.repeat(MAX_PAYLOAD / 2)}"]` });
        }],
        ['a close frame with an invalid status code', 1002,
            (ws) => ws.send({ opcode: OP.close, payload: Buffer.from([0x03, 0xed]) })], // 1005
        ['a close frame with a 1-byte payload', 1002,
            (ws) => ws.send({ opcode: OP.close, payload: Buffer.from([0x03]) })],
    ];

    for (const [what, code, send] of cases) {
        test(`${what}: close ${code}, other clients unaffected`, async () => {
            const ws = await RawWebSocket.connect(server.port);
            ws.sendText('40'); // a joined namespace, so the close is the frame's doing
            await ws.waitFrames((f) => f.payload.toString().startsWith('40{'), 'CONNECT reply');
            send(ws);
            assert.equal(await ws.closeCode(), code);
            await assertStillEchoes(bystander);
        });
    }
});

describe('invalid Engine.IO / Socket.IO packets over WebSocket', () => {
    const cases = [
        ['an unknown Engine.IO packet type', ['abc']],
        ['an empty text frame', ['']],
        ['a ping from the client (wrong heartbeat direction)', ['2']],
        ['an unknown Socket.IO packet type', ['40', '4abc']],
        ['an EVENT whose payload is an object', ['40', '42{}']],
        ['an EVENT with a garbage ack id', ['40', '42abc["message"]']],
        ['an EVENT with a reserved event name', ['40', '42["connect"]']],
        ['an EVENT with broken JSON', ['40', '42["message",']],
        ['an EVENT for a namespace not joined', ['42/custom,["message"]']],
        ['a second CONNECT to the same namespace', ['40', '40']],
        ['a binary attachment with no header announcing it', ['40', Buffer.from([1, 2])]],
        ['a text packet where an attachment is expected', ['40', '451-["message",{"_placeholder":true,"num":0}]', '42["x"]']],
        ['too many attachments announced', ['40', `4511-["message"${',{"_placeholder":true,"num":0}'.repeat(11)}]`]],
        ['a placeholder number out of range', ['40', '451-["message",{"_placeholder":true,"num":5}]', Buffer.from([1])]],
        ['a CONNECT_ERROR sent by a client', ['40', '44{"message":"x"}']],
    ];

    for (const [what, packets] of cases) {
        test(`${what}: the connection is closed, other clients unaffected`, async () => {
            const ws = await RawWebSocket.connect(server.port);
            for (const p of packets) {
                if (p === '40') {
                    ws.sendText('40');
                    if (packets.indexOf(p) === 0) {
                        await ws.waitFrames((f) => f.payload.toString().startsWith('40{'), 'CONNECT reply');
                    }
                } else if (Buffer.isBuffer(p)) {
                    ws.send({ opcode: OP.binary, payload: p });
                } else {
                    ws.sendText(p);
                }
            }
            await ws.ends();
            assert.ok(!ws.texts().some((t) => t.startsWith('42["message-back"')), 'nothing was echoed');
            await assertStillEchoes(bystander);
        });
    }
});

describe('invalid packets over polling', () => {
    const base = () => `${server.url}/socket.io/?EIO=4&transport=polling`;

    async function openJoined() {
        const { sid } = JSON.parse((await (await fetch(base())).text()).slice(1));
        const url = `${base()}&sid=${sid}`;
        assert.equal(await (await fetch(url, { method: 'POST', body: '40' })).text(), 'ok');
        const reply = await (await fetch(url)).text();
        assert.match(reply, /^40\{"sid"/);
        return url;
    }

    for (const [what, body] of [
        ['an unknown Engine.IO packet type', 'abc'],
        ['an unknown Socket.IO packet type', '4abc'],
        ['an EVENT whose payload is an object', '42{}'],
        ['an EVENT with a garbage ack id', '42abc["message"]'],
        ['a bad packet after a good one in the same payload', '42["message","ok"]\x1e4abc'],
    ]) {
        test(`${what}: the session is closed, other clients unaffected`, async () => {
            const url = await openJoined();
            const post = await fetch(url, { method: 'POST', body });
            await post.arrayBuffer(); // "ok" or an error status: the session state is what counts
            // Poll until the server says the session is over.
            const seen = [];
            for (let i = 0; i < 5; i++) {
                const res = await withTimeout(fetch(url), 'poll after the bad packet');
                const text = await res.text();
                if (res.status === 400) {
                    assert.deepEqual(JSON.parse(text), { code: 1, message: 'Session ID unknown' });
                    await assertStillEchoes(bystander);
                    return;
                }
                seen.push(...text.split('\x1e'));
                if (seen.includes('1')) {
                    await assertStillEchoes(bystander);
                    return;
                }
            }
            assert.fail(`the session is still open: ${JSON.stringify(seen)}`);
        });
    }
});
