// Helpers for the telemetry interop tests (contract sections 4, 6 and 7): kamea-wss with its
// internal listener, the Management API stand-in, telemetry ingestion over HTTP, and small
// event collectors for socket.io-client sockets.
//
// Everything listens on 127.0.0.1 only. Like server.mjs, nothing here checks timings: the
// timeouts only fail a hung step.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { startStandin as startStandinTool } from '../../tools/management-api/server.mjs';
import { recordToken } from '../lib/test-logs.mjs';
import { connectedClient, startServer, STEP_TIMEOUT, withTimeout } from './server.mjs';

/** The Management API stand-in, noting every token it is asked about for the log check. */
export function startStandin(options = {}) {
    return startStandinTool({
        ...options,
        onToken: (token) => {
            recordToken(token);
            options.onToken?.(token);
        },
    });
}

/** Transport setups of socket.io-client: the two fixed ones and the default upgrade. */
export const TRANSPORTS = [
    ['polling', { transports: ['polling'] }],
    ['websocket', { transports: ['websocket'] }],
];

/**
 * Starts kamea-wss (through server.mjs) pointed at `apiUrl` (if given) and reads the port of
 * its internal listener from the `listening` log line. Adds `internalPort` and `internalUrl`.
 */
export async function startKamea(apiUrl, flags = [], options = {}) {
    const server = await startServer([
        ...(apiUrl ? ['--management-api-url', apiUrl] : []),
        ...flags,
    ], options);
    const line = await server.waitForLog((l) => l.event === 'listening' && l.listener === 'internal');
    server.internalPort = line.port;
    server.internalUrl = `http://127.0.0.1:${line.port}`;
    return server;
}

/**
 * The value of metric `name` in the server's /metrics: its series with exactly `labels`
 * (e.g. 'result="allowed"') when given, else its first series; undefined when absent.
 */
export async function readMetric(server, name, labels) {
    const text = await (await fetch(`${server.internalUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => (labels === undefined
        ? l.startsWith(`${name} `) || l.startsWith(`${name}{`)
        : l.startsWith(`${name}{${labels}} `)));
    return line === undefined ? undefined : Number(line.split(' ').pop());
}

/**
 * POSTs to /internal/v1/telemetries. `body` is sent as is when it is a string, else as JSON.
 * Resolves with {status, headers, text, json} (json is undefined when the body is not JSON).
 */
export async function ingest(server, body, { contentType = 'application/json', token, headers = {} } = {}) {
    const h = { ...headers };
    if (contentType !== null) {
        h['content-type'] = contentType;
    }
    if (token !== undefined) {
        h.authorization = `Bearer ${token}`;
    }
    const res = await withTimeout(
        fetch(`${server.internalUrl}/internal/v1/telemetries`, {
            method: 'POST',
            headers: h,
            body: typeof body === 'string' ? body : JSON.stringify(body),
        }),
        'POST /internal/v1/telemetries',
    );
    const text = await res.text();
    let json;
    try {
        json = JSON.parse(text);
    } catch {
        json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
}

/**
 * POSTs to /internal/v1/telemetries with node:http, on the keep-alive connection of `agent`
 * (an http.Agent) or else on a new TCP connection (`Connection: close`); with `chunked`, as
 * Transfer-Encoding: chunked (no Content-Length). Resolves with {status, text}.
 */
export function ingestRaw(server, body, { token, chunked = false, agent } = {}) {
    const headers = { 'content-type': 'application/json' };
    if (!agent) {
        headers.connection = 'close';
    }
    if (token !== undefined) {
        headers.authorization = `Bearer ${token}`;
    }
    if (chunked) {
        headers['transfer-encoding'] = 'chunked';
    }
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return withTimeout(new Promise((resolve, reject) => {
        const req = http.request({
            host: '127.0.0.1',
            port: server.internalPort,
            method: 'POST',
            path: '/internal/v1/telemetries',
            headers,
            agent: agent ?? false,
        }, (res) => {
            let answer = '';
            res.setEncoding('utf8');
            res.on('data', (c) => {
                answer += c;
            });
            res.on('end', () => resolve({ status: res.statusCode, text: answer }));
        });
        req.on('error', reject);
        if (chunked) {
            for (let i = 0; i < text.length; i += 8192) {
                req.write(text.slice(i, i + 8192));
            }
            req.end();
        } else {
            req.end(text);
        }
    }), 'POST /internal/v1/telemetries');
}

/** A TCP port that was free a moment ago (nothing listens on it when this resolves). */
export function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

/**
 * A self-signed certificate for 127.0.0.1 in a new temporary directory.
 * Resolves with {dir, cert, key} (file paths); null when openssl is missing.
 */
export async function makeCertificate() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kamea-tls-'));
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    try {
        await promisify(execFile)('openssl', [
            'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
            '-keyout', key, '-out', cert,
            '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
        ]);
    } catch (err) {
        fs.rmSync(dir, { recursive: true, force: true });
        if (err.code === 'ENOENT') {
            return null;
        }
        throw err;
    }
    return { dir, cert, key };
}

// ---------------------------------------------------------------------------------------------
// socket.io-client helpers

/** Connects to /devices with `token` in the auth payload. */
export function connectDevices(server, token, transportOptions = {}) {
    return connectedClient(`${server.url}/devices`, { auth: { token }, ...transportOptions });
}

/**
 * Records everything a socket receives, in order: every event (name and args) and the
 * disconnect (as {name: 'disconnect', args: [reason]}). `wait(pred)` resolves once an entry
 * matching `pred` is recorded (past or future).
 */
export function record(socket) {
    const entries = [];
    const waiters = new Set();
    const push = (entry) => {
        entries.push(entry);
        for (const w of waiters) {
            w();
        }
    };
    socket.onAny((name, ...args) => push({ name, args }));
    socket.on('disconnect', (reason) => push({ name: 'disconnect', args: [reason] }));
    return {
        entries,
        named: (name) => entries.filter((e) => e.name === name),
        wait(pred, what = 'a recorded event', ms = STEP_TIMEOUT) {
            return withTimeout(new Promise((resolve) => {
                const check = () => {
                    const found = entries.find(pred);
                    if (found) {
                        waiters.delete(check);
                        resolve(found);
                    }
                };
                waiters.add(check);
                check();
            }), what, ms);
        },
        /** Resolves once `count` events named `name` were received. */
        waitCount(name, count, ms = STEP_TIMEOUT) {
            return withTimeout(new Promise((resolve) => {
                const check = () => {
                    if (entries.filter((e) => e.name === name).length >= count) {
                        waiters.delete(check);
                        resolve();
                    }
                };
                waiters.add(check);
                check();
            }), `${count} "${name}" events`, ms);
        },
    };
}

/**
 * Collects the payloads of `telemetries` events (the first argument). `until(n)` resolves once
 * n were received; `untilMatch(pred)` once one matches.
 */
export function telemetrySink(socket) {
    const received = [];
    const waiters = new Set();
    socket.on('telemetries', (t) => {
        received.push(t);
        for (const w of waiters) {
            w();
        }
    });
    const waitFor = (cond, what, ms) => withTimeout(new Promise((resolve) => {
        const check = () => {
            if (cond()) {
                waiters.delete(check);
                resolve(received);
            }
        };
        waiters.add(check);
        check();
    }), what, ms);
    return {
        received,
        until: (n, ms = STEP_TIMEOUT) => waitFor(() => received.length >= n, `${n} telemetries`, ms),
        untilMatch: (pred, what = 'a telemetry', ms = STEP_TIMEOUT) => waitFor(() => received.some(pred), what, ms),
    };
}

/**
 * Emits with an ack and resolves with the ack's first argument; resolves with
 * {disconnected: reason} instead if the socket is disconnected before the ack comes.
 */
export function emitAck(socket, event, ...args) {
    return withTimeout(new Promise((resolve) => {
        const onDisconnect = (reason) => resolve({ disconnected: reason });
        socket.once('disconnect', onDisconnect);
        socket.emit(event, ...args, (answer) => {
            socket.off('disconnect', onDisconnect);
            resolve(answer);
        });
    }), `ack of "${event}"`);
}

/** Subscribes to a device's telemetries and resolves with the ack. */
export function subscribe(socket, deviceId, tenantId) {
    return emitAck(socket, 'telemetries', { deviceId, tenantId });
}

/** A unique suffix, so that tests never share device ids or tokens by accident. */
let counter = 0;
export function uid(prefix = 'x') {
    counter += 1;
    return `${prefix}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}
