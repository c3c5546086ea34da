// Raw TCP helpers for the campaigns: connections that send what no well-behaved client would,
// and a record of how the server ended each of them.

import net from 'node:net';

/**
 * Opens a TCP connection to 127.0.0.1:`port` (from `localAddress`, if given). Resolves with
 * {socket, ended, received()} once connected, or with null if the server refused it (a reset or
 * an immediate close): `ended` resolves with the time the server closed it.
 */
export function openRaw(port, { localAddress } = {}) {
    return new Promise((resolve) => {
        const socket = net.connect({ port, host: '127.0.0.1', localAddress });
        let bytes = Buffer.alloc(0);
        let closedAt = null;
        const ended = new Promise((done) =>
            socket.on('close', () => {
                closedAt = Date.now();
                done(closedAt);
            }),
        );
        socket.on('error', () => {});
        socket.on('data', (chunk) => {
            if (bytes.length < 65536) {
                bytes = Buffer.concat([bytes, chunk]);
            }
        });
        socket.once('connect', () =>
            resolve({
                socket,
                ended,
                received: () => bytes.toString('latin1'),
                closed: () => closedAt !== null,
            }),
        );
        socket.once('close', () => resolve(null));
    });
}

/** Resolves once every connection of `conns` is closed, or after `ms`; returns how many were. */
export async function closedWithin(conns, ms) {
    const timer = new Promise((resolve) => setTimeout(resolve, ms));
    await Promise.race([Promise.all(conns.map((c) => c.ended)), timer]);
    return conns.filter((c) => c.closed()).length;
}

/** The HTTP status of the first response a raw connection received, or null. */
export function statusOf(conn) {
    const m = /^HTTP\/1\.1 (\d{3})/.exec(conn.received());
    return m ? Number(m[1]) : null;
}

/** Counts the values of `list` into {value: count}. */
export function tally(list) {
    const out = {};
    for (const v of list) {
        out[v] = (out[v] ?? 0) + 1;
    }
    return out;
}

/** Destroys every connection still open. */
export function destroyAll(conns) {
    for (const c of conns) {
        c?.socket.destroy();
    }
}
