// Test helper: runs the kamea-wss binary on 127.0.0.1 with an ephemeral port and offers small
// promise utilities shared by the interop tests.
//
// The binary comes from $KAMEA_WSS_BIN (absolute, or relative to the repository root; default
// build/kamea-wss).
// Each test file starts its own server(s), so files can run in parallel.
// KAMEA_TEST_LOGS=1 copies the servers' log lines to stderr.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { io } from 'socket.io-client';

import { killOnExit, readJsonLines } from '../lib/processes.mjs';
import { recordToken, serverLog } from '../lib/test-logs.mjs';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SERVER_BIN = process.env.KAMEA_WSS_BIN
    ? path.resolve(REPO_ROOT, process.env.KAMEA_WSS_BIN)
    : path.join(REPO_ROOT, 'build', 'kamea-wss');

// Long enough for a loaded 2-core machine; only there to fail a hung step, never a timing check.
export const STEP_TIMEOUT = 10_000;

/**
 * Starts kamea-wss and resolves once its public listener is up.
 *
 * @param {string[]} [flags] extra command-line flags (e.g. ['--conformance'])
 * @param {{port?: number, env?: object}} [options] port 0 (default) picks a free one; env is
 *   added to this process's environment for the server
 * @returns {Promise<KameaServer>}
 */
/** Event loops of every server a test starts without --threads (`make tsan` runs four). */
export const TEST_THREADS = Number(process.env.KAMEA_TEST_THREADS ?? 2);

export async function startServer(flags = [], { port = 0, env = {}, uid } = {}) {
    const args = [
        '--public-host', '127.0.0.1',
        '--public-port', String(port),
        // The internal listener must not collide between test files either.
        '--internal-port', '0',
        ...(flags.includes('--threads') ? [] : ['--threads', String(TEST_THREADS)]),
        // Bounds the teardown when a client vanished just before SIGTERM (its session waits
        // for a poll that never comes). Tests that care pass their own value.
        ...(flags.includes('--shutdown-grace') ? [] : ['--shutdown-grace', '1000']),
        ...flags,
    ];
    for (let i = 0; i < args.length - 1; i++) {
        if (args[i] === '--ingest-token') {
            args[i + 1].split(',').forEach(recordToken);
        }
    }
    if (env.WSS_INGEST_TOKEN) {
        env.WSS_INGEST_TOKEN.split(',').forEach(recordToken);
    }
    // uid (root only): the server runs as that user, with the same numeric group.
    const user = uid === undefined ? {} : { uid, gid: uid };
    const proc = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, ...user });
    killOnExit(proc); // a test file that crashes must not leave servers behind
    const server = new KameaServer(proc, args);
    try {
        const line = await server.waitForLog(
            (l) => l.event === 'listening' && l.listener === 'public',
            STEP_TIMEOUT,
        );
        server.port = line.port;
        server.url = `http://127.0.0.1:${line.port}`;
        return server;
    } catch (err) {
        await server.stop('SIGKILL');
        throw new Error(`kamea-wss did not start (${SERVER_BIN} ${args.join(' ')}): ${err.message}\n` +
            `stderr: ${server.stderr}`);
    }
}

export class KameaServer {
    constructor(proc, args) {
        this.proc = proc;
        this.args = args;
        this.port = 0;
        this.url = '';
        /** Parsed stdout lines (one JSON object each). */
        this.logs = [];
        this.stderr = '';
        this.exitCode = undefined;
        this.exitSignal = undefined;
        this._waiters = new Set();

        // For the log check (tests/lib/test-logs.mjs).
        const saveLog = serverLog(proc.pid, 'log');
        const saveStderr = serverLog(proc.pid, 'stderr');
        readJsonLines(proc.stdout, (line, text) => {
            saveLog(`${text}\n`);
            this.logs.push(line);
            if (process.env.KAMEA_TEST_LOGS) {
                process.stderr.write(`[kamea-wss:${this.port}] ${text}\n`);
            }
            for (const w of this._waiters) {
                w(line);
            }
        });
        proc.stderr.setEncoding('utf8');
        proc.stderr.on('data', (chunk) => {
            this.stderr += chunk;
            saveStderr(chunk);
        });
        this.exited = new Promise((resolve) => {
            const done = (code, signal) => {
                if (this.exitCode !== undefined || this.exitSignal !== undefined) {
                    return;
                }
                this.exitCode = code;
                this.exitSignal = signal;
                for (const w of this._waiters) {
                    w(null);
                }
                resolve({ code, signal });
            };
            // 'close' rather than 'exit': by then every stdout line has been read.
            proc.on('close', done);
            proc.on('error', (err) => {
                // e.g. ENOENT: the binary is missing (not built, or a wrong KAMEA_WSS_BIN).
                this.stderr += `${err.message}\n`;
                done(null, null);
            });
        });
    }

    get running() {
        return this.exitCode === undefined && this.exitSignal === undefined;
    }

    /** Resolves with the first log line (past or future) that matches `predicate`. */
    waitForLog(predicate, timeout = STEP_TIMEOUT) {
        const found = this.logs.find(predicate);
        if (found) {
            return Promise.resolve(found);
        }
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this._waiters.delete(waiter);
                reject(new Error('timed out waiting for a log line'));
            }, timeout);
            const waiter = (line) => {
                if (line === null) {
                    clearTimeout(timer);
                    this._waiters.delete(waiter);
                    reject(new Error(`server exited (code ${this.exitCode}, signal ${this.exitSignal}): ` +
                        this.stderr.trim()));
                } else if (predicate(line)) {
                    clearTimeout(timer);
                    this._waiters.delete(waiter);
                    resolve(line);
                }
            };
            this._waiters.add(waiter);
        });
    }

    /**
     * Sends `signal` (SIGTERM by default) and waits for the exit; SIGKILL after `killAfter` ms.
     * Resolves with {code, signal} of the process.
     */
    async stop(signal = 'SIGTERM', killAfter = 2 * STEP_TIMEOUT) {
        if (this.running) {
            this.proc.kill(signal);
            const timer = setTimeout(() => this.proc.kill('SIGKILL'), killAfter);
            try {
                await this.exited;
            } finally {
                clearTimeout(timer);
            }
        }
        return this.exited;
    }
}

// ---------------------------------------------------------------------------------------------
// Small promise utilities

/** Rejects after `ms` with a message naming what was awaited. */
export function withTimeout(promise, what, ms = STEP_TIMEOUT) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Polls `cond` (sync or async) every `interval` ms until it is true; rejects after `ms` with a
 * message naming what was awaited. For states only visible by asking (a metric, a health
 * body, the broker's bindings), where no event can be awaited.
 */
export async function waitUntil(cond, what, ms = STEP_TIMEOUT, interval = 50) {
    const deadline = Date.now() + ms;
    for (;;) {
        if (await cond()) {
            return;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out waiting for ${what}`);
        }
        await new Promise((resolve) => setTimeout(resolve, interval));
    }
}

/** The arguments of the next `event` on an emitter (socket.io-client or Node), with a timeout. */
export function nextEvent(emitter, event, ms = STEP_TIMEOUT) {
    return withTimeout(
        new Promise((resolve) => emitter.once(event, (...args) => resolve(args))),
        `event "${event}"`,
        ms,
    );
}

/**
 * Asserts that a client connected to the conformance "/" namespace is still connected and still
 * echoed: what a test of bad input checks on a bystander, which must not be disturbed.
 */
export async function assertStillEchoes(socket, text = 'still here') {
    assert.equal(socket.connected, true, 'the bystander was disconnected');
    const echoed = nextEvent(socket, 'message-back');
    socket.emit('message', text);
    assert.deepEqual(await echoed, [text]);
}

/** Emits with an ack and resolves with the ack's arguments. */
export function emitWithAck(socket, event, ...args) {
    return withTimeout(
        new Promise((resolve) => socket.emit(event, ...args, (...ackArgs) => resolve(ackArgs))),
        `ack of "${event}"`,
    );
}

// ---------------------------------------------------------------------------------------------
// socket.io-client sockets that are always cleaned up

const sockets = new Set();

/**
 * Creates a socket.io-client socket (a new Manager each time) with reconnection off unless
 * asked. Call closeAllClients() in an after/afterEach hook.
 */
export function client(url, options = {}) {
    const socket = io(url, {
        forceNew: true,
        reconnection: false,
        timeout: STEP_TIMEOUT,
        ...options,
    });
    sockets.add(socket);
    return socket;
}

/** Creates a client and resolves once it is connected (rejects on connect_error). */
export async function connectedClient(url, options = {}) {
    const socket = client(url, options);
    await waitConnected(socket);
    return socket;
}

export function waitConnected(socket, ms = STEP_TIMEOUT) {
    if (socket.connected) {
        return Promise.resolve(socket);
    }
    return withTimeout(
        new Promise((resolve, reject) => {
            const onConnect = () => {
                socket.off('connect_error', onError);
                resolve(socket);
            };
            const onError = (err) => {
                socket.off('connect', onConnect);
                reject(err);
            };
            socket.once('connect', onConnect);
            socket.once('connect_error', onError);
        }),
        'connect',
        ms,
    );
}

/** Resolves with the Error of the next connect_error. */
export function waitConnectError(socket, ms = STEP_TIMEOUT) {
    return withTimeout(
        new Promise((resolve, reject) => {
            socket.once('connect', () => reject(new Error('connected, expected connect_error')));
            socket.once('connect_error', resolve);
        }),
        'connect_error',
        ms,
    );
}

export function closeAllClients() {
    for (const socket of sockets) {
        socket.io.reconnection(false);
        socket.disconnect();
        socket.io.engine?.close();
    }
    sockets.clear();
}

/** The engine.io transport name of a connected client: "polling" or "websocket". */
export function transportOf(socket) {
    return socket.io.engine.transport.name;
}

/** Resolves once the client's Engine.IO session runs over WebSocket. */
export function waitUpgraded(socket, ms = STEP_TIMEOUT) {
    const engine = socket.io.engine;
    if (engine.transport.name === 'websocket') {
        return Promise.resolve();
    }
    return withTimeout(
        new Promise((resolve, reject) => {
            engine.once('upgrade', (transport) => resolve(transport.name));
            engine.once('upgradeError', (err) => reject(new Error(`upgrade failed: ${err.message}`)));
        }),
        'upgrade to websocket',
        ms,
    );
}
