// A minimal RFC 6455 client over a raw TCP socket, so that tests can send what `ws` refuses to
// (malformed frames, abuse): it upgrades an Engine.IO WebSocket, parses what the server sends
// (and flags anything that is not RFC 6455), and sends frames built by `encodeFrame`.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';

import { nextEvent, withTimeout } from '../interop/server.mjs';

export const OP = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa };

export function encodeFrame({ opcode, payload = Buffer.alloc(0), fin = true, mask = true, rsv = 0 }) {
    const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
    let header;
    if (data.length < 126) {
        header = Buffer.from([0, data.length]);
    } else if (data.length < 65536) {
        header = Buffer.alloc(4);
        header[1] = 126;
        header.writeUInt16BE(data.length, 2);
    } else {
        header = Buffer.alloc(10);
        header[1] = 127;
        header.writeBigUInt64BE(BigInt(data.length), 2);
    }
    header[0] = (fin ? 0x80 : 0) | ((rsv & 0x7) << 4) | (opcode & 0xf);
    if (!mask) {
        return Buffer.concat([header, data]);
    }
    header[1] |= 0x80;
    const key = crypto.randomBytes(4);
    const masked = Buffer.from(data);
    for (let i = 0; i < masked.length; i++) {
        masked[i] ^= key[i & 3];
    }
    return Buffer.concat([header, key, masked]);
}

export class RawWebSocket {
    /** Upgrades a raw TCP connection to `port` (from `localAddress`, if given) and reads the open packet. */
    static async connect(port, { query = 'EIO=4&transport=websocket', localAddress } = {}) {
        const raw = new RawWebSocket();
        await raw.open(port, query, localAddress);
        return raw;
    }

    constructor() {
        this.frames = []; // {fin, opcode, payload}
        this.buffer = Buffer.alloc(0);
        this.waiters = new Set();
        this.ended = false;
        this.invalid = null; // set when the server sends something that is not RFC 6455
    }

    async open(port, query, localAddress) {
        const socket = net.connect({ port, host: '127.0.0.1', localAddress });
        this.socket = socket;
        socket.on('error', () => {}); // a reset is one of the ways a connection ends
        this.closed = new Promise((resolve) => socket.on('close', resolve)).then(() => {
            this.ended = true;
            this.notify();
        });
        await nextEvent(socket, 'connect');
        const key = crypto.randomBytes(16).toString('base64');
        socket.write(
            `GET /socket.io/?${query} HTTP/1.1\r\n` +
                `Host: 127.0.0.1:${port}\r\n` +
                'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
                `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
        let head = Buffer.alloc(0);
        await withTimeout(
            new Promise((resolve) => {
                const onData = (chunk) => {
                    head = Buffer.concat([head, chunk]);
                    const end = head.indexOf('\r\n\r\n');
                    if (end >= 0) {
                        socket.off('data', onData);
                        this.response = head.subarray(0, end).toString();
                        this.feed(head.subarray(end + 4));
                        socket.on('data', (c) => this.feed(c));
                        resolve();
                    }
                };
                socket.on('data', onData);
            }),
            'upgrade response',
        );
        assert.match(this.response, /^HTTP\/1\.1 101 /);
        const accept = crypto
            .createHash('sha1')
            .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
            .digest('base64');
        assert.match(this.response, new RegExp(`Sec-WebSocket-Accept: ${accept.replace(/[+/]/g, '\\$&')}`, 'i'));
        const [open] = await this.waitFrames((f) => f.opcode === OP.text);
        assert.equal(open.payload.toString()[0], '0', 'the first frame is the open packet');
        this.handshake = JSON.parse(open.payload.toString().slice(1));
    }

    feed(chunk) {
        this.buffer = Buffer.concat([this.buffer, chunk]);
        while (!this.invalid) {
            const b = this.buffer;
            if (b.length < 2) {
                break;
            }
            // What the server sends must be valid RFC 6455 too: stop at the first bad header.
            const opcode = b[0] & 0x0f;
            if ((b[0] & 0x70) !== 0 || ![0x0, 0x1, 0x2, 0x8, 0x9, 0xa].includes(opcode) || (b[1] & 0x80) !== 0) {
                this.invalid = `invalid frame header ${b.subarray(0, 2).toString('hex')} from the server ` +
                    `after ${this.frames.length} valid frames`;
                break;
            }
            let len = b[1] & 0x7f;
            let at = 2;
            if (len === 126) {
                if (b.length < 4) {
                    break;
                }
                len = b.readUInt16BE(2);
                at = 4;
            } else if (len === 127) {
                if (b.length < 10) {
                    break;
                }
                len = Number(b.readBigUInt64BE(2));
                at = 10;
            }
            if (b.length < at + len) {
                break;
            }
            this.frames.push({
                fin: (b[0] & 0x80) !== 0,
                opcode,
                payload: b.subarray(at, at + len),
            });
            this.buffer = b.subarray(at + len);
        }
        this.notify();
    }

    notify() {
        for (const w of this.waiters) {
            w();
        }
    }

    /** Resolves with the frames matching `predicate` once there is at least one. */
    waitFrames(predicate, what = 'frame') {
        return withTimeout(
            new Promise((resolve, reject) => {
                const check = () => {
                    const found = this.frames.filter(predicate);
                    if (found.length > 0) {
                        this.waiters.delete(check);
                        resolve(found);
                    } else if (this.invalid) {
                        this.waiters.delete(check);
                        reject(new Error(`waiting for ${what}: ${this.invalid}`));
                    } else if (this.ended) {
                        this.waiters.delete(check);
                        reject(new Error(`connection closed before a ${what} came`));
                    }
                };
                this.waiters.add(check);
                check();
            }),
            what,
        );
    }

    /** Resolves once `n` frames match `predicate`. */
    waitCount(predicate, n, what) {
        return this.waitFrames(() => this.frames.filter(predicate).length >= n, what);
    }

    send(frame) {
        this.socket.write(Buffer.isBuffer(frame) ? frame : encodeFrame(frame));
    }

    sendText(text) {
        this.send({ opcode: OP.text, payload: text });
    }

    texts() {
        return this.frames.filter((f) => f.opcode === OP.text).map((f) => f.payload.toString());
    }

    /** Waits for the server's close frame and for the TCP connection to end; returns the code. */
    async closeCode() {
        const [close] = await this.waitFrames((f) => f.opcode === OP.close, 'close frame');
        await withTimeout(this.closed, 'TCP close after the close frame');
        return close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005;
    }

    /** Waits for the connection to end, with or without a close frame. */
    async ends() {
        await withTimeout(this.closed, 'connection closed by the server');
    }

    destroy() {
        this.socket.destroy();
    }
}

