// The benchmark's own tools against the real server, since `make bench` figures are only as good
// as they are: build/bench/kamea-loadgen (Socket.IO clients, JSON report on stdout, progress and
// "ready" lines on stderr) subscribing through the Management API stand-in, and
// build/bench/kamea-publish posting stamped telemetries to the internal listener, with the same
// flags as bench/run.sh. Every connection must be established and subscribed, every telemetry
// accepted and delivered exactly once to each subscriber of its device, in order and without
// gaps, and with a fast server heartbeat the load generator must answer the pings and keep
// every connection.
//
// kamea-floor, the bare fan-out server that gives `make bench` its floor of CPU per message, is
// checked the same way with both of its send paths, and must count every send and no error.
//
// The tools sit next to the server under test: $(dirname $KAMEA_WSS_BIN)/bench/ (default
// build/bench/), built by `make build`. A missing tool fails the test.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { killOnExit, readJsonLines } from '../lib/processes.mjs';
import { SERVER_BIN, STEP_TIMEOUT } from './server.mjs';
import { startKamea, startStandin } from './standin.mjs';

const BENCH_DIR = path.join(path.dirname(SERVER_BIN), 'bench');
const LOADGEN = path.join(BENCH_DIR, 'kamea-loadgen');
const PUBLISH = path.join(BENCH_DIR, 'kamea-publish');
const FLOOR = path.join(BENCH_DIR, 'kamea-floor');

const DEVICES = 4;
const CONNECTIONS = 40;
const PER_DEVICE = CONNECTIONS / DEVICES; // client i subscribes to dev-<i mod DEVICES>
const TOKEN = 'allow-bench'; // allowed by the stand-in, as in bench/run.sh

const running = new Set(); // tools still running, for after()

/** A running bench tool: its stdout kept whole, its stderr lines parsed as JSON. */
class Tool {
    constructor(bin, args) {
        this.name = path.basename(bin);
        this.command = `${bin} ${args.join(' ')}`;
        this.proc = spawn(bin, args.map(String), { stdio: ['ignore', 'pipe', 'pipe'] });
        this.stdout = '';
        this.stderr = '';
        /** stderr lines (JSON objects, or {unparsed}) */
        this.lines = [];
        this._waiters = new Set();
        running.add(this);
        killOnExit(this.proc);
        this.proc.stdout.setEncoding('utf8');
        this.proc.stdout.on('data', (c) => {
            this.stdout += c;
        });
        readJsonLines(this.proc.stderr, (line, text) => {
            this.stderr += `${text}\n`;
            this.lines.push(line);
            for (const w of this._waiters) {
                w(line);
            }
        });
        this.exited = new Promise((resolve) => {
            let done = false;
            const finish = (code, signal) => {
                if (done) {
                    return;
                }
                done = true;
                this.exit = { code, signal };
                running.delete(this);
                for (const w of this._waiters) {
                    w(null);
                }
                resolve(this.exit);
            };
            this.proc.on('close', finish); // after the last stdout/stderr bytes
            this.proc.on('error', (err) => {
                this.stderr += `${err.message}\n`;
                finish(null, null);
            });
        });
    }

    /** Resolves with the first stderr line (past or future) matching `predicate`. */
    waitForLine(predicate, what, timeout = STEP_TIMEOUT) {
        const found = this.lines.find(predicate);
        if (found) {
            return Promise.resolve(found);
        }
        return new Promise((resolve, reject) => {
            const fail = (why) => {
                clearTimeout(timer);
                this._waiters.delete(waiter);
                const last = this.lines.at(-1);
                reject(new Error(`${this.name}: ${why} waiting for ${what}; last line: ` +
                    `${JSON.stringify(last)}\nstderr: ${this.stderr.slice(-2000)}`));
            };
            const timer = setTimeout(() => fail('timed out'), timeout);
            const waiter = (line) => {
                if (line === null) {
                    fail(`exited (${JSON.stringify(this.exit)})`);
                } else if (predicate(line)) {
                    clearTimeout(timer);
                    this._waiters.delete(waiter);
                    resolve(line);
                }
            };
            this._waiters.add(waiter);
        });
    }

    /** Waits for the exit (SIGKILL after `timeout`), asserts exit code 0, parses the report. */
    async report(timeout = STEP_TIMEOUT) {
        const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeout);
        const exit = await this.exited.finally(() => clearTimeout(timer));
        const context = `${this.command}\nexit: ${JSON.stringify(exit)}\nstdout: ${this.stdout}\n` +
            `stderr: ${this.stderr.slice(-2000)}`;
        assert.deepEqual(exit, { code: 0, signal: null }, `${this.name} failed: ${context}`);
        const text = this.stdout.trim();
        assert.equal(text.split('\n').length, 1, `${this.name}: expected one report line: ${context}`);
        let report;
        try {
            report = JSON.parse(text);
        } catch (err) {
            assert.fail(`${this.name}: the report is not JSON (${err.message}): ${context}`);
        }
        assert.equal(report.tool, this.name, context);
        return report;
    }

    /** Sends SIGINT (what bench/run.sh does) and returns the report. */
    async interrupt() {
        this.proc.kill('SIGINT');
        return this.report();
    }
}

/**
 * Starts kamea-floor on free ports; resolves with {port, internalPort, proc, stop}, where stop()
 * ends it with SIGTERM (as bench/run.sh does) and resolves with its counters.
 */
async function startFloor(send) {
    // Two loops: telemetries ingested by one reach the other's subscribers through its inbox.
    // A ring of 4 entries fills up within every telemetry's sends (10 subscribers per device),
    // so sends are submitted, and some completed, while a frame is still being queued.
    const floor = new Tool(FLOOR, ['--host', '127.0.0.1', '--port', 0, '--internal-port', 0, '--send', send,
        '--threads', 2, '--ring-entries', 4]);
    const deadline = Date.now() + STEP_TIMEOUT;
    while (!floor.stdout.includes('\n')) {
        assert.ok(floor.exit === undefined && Date.now() < deadline,
            `kamea-floor did not start: ${floor.stdout} ${floor.stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const { listening, internal } = JSON.parse(floor.stdout.split('\n')[0]);
    assert.ok(listening > 0 && internal > 0, floor.stdout);
    return {
        port: listening,
        internalPort: internal,
        proc: floor.proc,
        async stop() {
            floor.proc.kill('SIGTERM');
            const exit = await floor.exited;
            assert.deepEqual(exit, { code: 0, signal: null }, `kamea-floor: ${floor.stderr}`);
            return JSON.parse(floor.stdout.trim().split('\n').at(-1));
        },
    };
}

/** Runs kamea-publish to the end and checks that every telemetry it sent was accepted. */
async function publish(server, { rate, duration, step }) {
    const pub = new Tool(PUBLISH, [
        '--port', server.internalPort,
        '--rate', rate,
        '--duration', duration,
        '--devices', DEVICES,
        '--batch', 5,
        '--connections', 1,
        '--step', step,
        '--server-pid', server.proc.pid,
        '--timeout', 10,
    ]);
    const report = await pub.report(20_000);
    const context = JSON.stringify(report);
    const sent = Math.ceil(rate * duration / 5) * 5;
    assert.equal(report.timed_out, false, context);
    assert.equal(report.sent, sent, context);
    assert.equal(report.requests, sent / 5, context);
    assert.equal(report.accepted, report.sent, context);
    assert.equal(report.errors, 0, context);
    assert.equal(report.http_errors, 0, context);
    assert.deepEqual(report.io_errors, {}, context);
    assert.deepEqual(report.statuses, { 202: report.requests }, context);
    assert.equal(report.request_latency.count, report.requests, context);
    assert.ok(report.server.cpu_s >= 0 && report.server.rss_kib_end > 0, context);
    return report;
}

/** Nothing failed or dropped, and every connection is still open. */
function assertAllOpen(report) {
    const context = JSON.stringify(report);
    assert.equal(report.ready, true, context);
    assert.deepEqual(report.connections, {
        attempted: CONNECTIONS,
        established: CONNECTIONS,
        failed: 0,
        dropped: 0,
        open: CONNECTIONS,
    }, context);
    assert.equal(report.errors, 0, context);
    assert.deepEqual(report.failures, {}, context);
    assert.deepEqual(report.drops, {}, context);
    assert.equal(report.connect.latency.count, CONNECTIONS, context);
}

let api;
const servers = [];

before(async () => {
    for (const bin of [LOADGEN, PUBLISH, FLOOR]) {
        try {
            fs.accessSync(bin, fs.constants.X_OK);
        } catch {
            assert.fail(`${bin} is missing or not executable: build it with \`make build\` ` +
                `(or ninja -C ${path.dirname(BENCH_DIR)} kamea-loadgen kamea-publish kamea-floor)`);
        }
    }
    api = await startStandin();
});

after(async () => {
    for (const tool of running) {
        tool.proc.kill('SIGKILL');
    }
    await Promise.all(servers.map((s) => s.stop()));
    await api?.close();
});

/**
 * Subscribes CONNECTIONS clients through kamea-loadgen to `server` ({port, internalPort, proc}),
 * publishes two steps with kamea-publish, and checks that each subscriber received every
 * telemetry of its device once, in order. Returns the number of messages delivered.
 */
async function checkFanOut(server) {
    // As bench/run.sh starts them, but with frequent progress lines to poll.
    const lg = new Tool(LOADGEN, [
        '--port', server.port,
        '--scenario', 'subscribe',
        '--devices', DEVICES,
        '--token', TOKEN,
        '--connections', CONNECTIONS,
        '--source', '127.0.0.2,127.0.0.3',
        '--hold', 0,
        '--progress-interval', 100,
        '--server-pid', server.proc.pid,
        '--label', 'interop',
    ]);
    const ready = await lg.waitForLine((l) => l.event === 'ready', '"event":"ready"');
    assert.equal(ready.established, CONNECTIONS, JSON.stringify(ready));
    assert.equal(ready.failed, 0, JSON.stringify(ready));
    assert.equal(ready.subscribed, CONNECTIONS, JSON.stringify(ready));
    assert.equal(ready.subscribe_errors, 0, JSON.stringify(ready));

    // Two steps, as the fan-out steps up: the sequence numbers start again at 0 in step 2.
    const pub1 = await publish(server, { rate: 200, duration: 1, step: 1 });
    const pub2 = await publish(server, { rate: 400, duration: 0.5, step: 2 });
    const expected = (pub1.accepted + pub2.accepted) * PER_DEVICE;

    await lg.waitForLine((l) => l.event === 'progress' && l.telemetries >= expected,
        `${expected} telemetries received`);
    // A little longer, so that a duplicate delivery would be counted too.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const report = await lg.interrupt();
    const context = JSON.stringify(report);

    assertAllOpen(report);
    assert.equal(report.scenario, 'subscribe', context);
    assert.equal(report.label, 'interop', context);
    assert.deepEqual(report.subscribe.ok, CONNECTIONS, context);
    assert.equal(report.subscribe.errors, 0, context);
    assert.deepEqual(report.subscribe.error_kinds, {}, context);
    assert.equal(report.telemetries.received, expected, context);
    assert.equal(report.telemetries.out_of_order, 0, context);
    assert.equal(report.telemetries.gaps, 0, context);
    assert.deepEqual(report.telemetries.other_events, {}, context);
    assert.equal(report.telemetries.latency.count, expected, context);
    assert.deepEqual(Object.keys(report.telemetries.by_step).sort(), ['1', '2'], context);
    assert.equal(report.telemetries.by_step['1'].received, pub1.accepted * PER_DEVICE, context);
    assert.equal(report.telemetries.by_step['2'].received, pub2.accepted * PER_DEVICE, context);
    assert.equal(report.traffic.events, expected, context);
    assert.equal(report.traffic.acks, CONNECTIONS, context);
    // The /proc samples of the server that bench/run.sh relies on.
    assert.equal(report.server.pid, server.proc.pid, context);
    assert.equal(report.server.gone, false, context);
    assert.ok(report.server.ready.rss_kib > 0 && report.server.end.rss_kib > 0, context);
    return expected;
}

describe('bench tools (kamea-loadgen, kamea-publish, kamea-floor)', () => {
    test('subscribe fan-out: every telemetry accepted and delivered once per subscriber, in order', { timeout: 60_000 }, async () => {
        const server = await startKamea(api.url);
        servers.push(server);

        await checkFanOut(server);
    });

    for (const send of ['uring', 'epoll']) {
        test(`kamea-floor --send ${send}: the same fan-out, every send counted and none failed`, { timeout: 60_000 }, async () => {
            const floor = await startFloor(send); // a Tool: after() kills it if a check fails
            const delivered = await checkFanOut(floor);
            const counters = await floor.stop();
            const context = JSON.stringify(counters);
            assert.equal(counters.subscriptions, CONNECTIONS, context);
            assert.equal(counters.sends, delivered, context);
            assert.equal(counters.send_errors, 0, context);
            if (send === 'uring') {
                // Sends are batched, at most 4 (the ring's size) per submission.
                assert.ok(counters.submissions >= counters.sends / 4, context);
                assert.ok(counters.submissions < counters.sends, context);
            } else {
                assert.equal(counters.submissions, 0, context);
            }
        });
    }

    test('a fast server heartbeat: the pings are answered and no connection is dropped', { timeout: 60_000 }, async () => {
        // A client that never answered would be dropped 300 + 1000 ms after connecting, well
        // within the hold; one that answers has a whole second for each pong.
        const server = await startKamea(api.url, ['--ping-interval', '300', '--ping-timeout', '1000']);
        servers.push(server);

        const lg = new Tool(LOADGEN, [
            '--port', server.port,
            '--scenario', 'idle',
            '--token', TOKEN,
            '--connections', CONNECTIONS,
            '--hold', 2.5,
            '--progress-interval', 0,
        ]);
        await lg.waitForLine((l) => l.event === 'ready', '"event":"ready"');
        // --hold: the load generator stops by itself and reports.
        const report = await lg.report();
        const context = JSON.stringify(report);

        assertAllOpen(report);
        assert.equal(report.scenario, 'idle', context);
        assert.equal(report.settings.hold_s, 2.5, context);
        assert.ok(report.duration_s >= 2.5, context);
        // About 8 pings per connection in 2.5 s; at least one each on average.
        assert.ok(report.traffic.pings_answered >= CONNECTIONS,
            `pings answered: ${report.traffic.pings_answered}: ${context}`);
    });
});
