// The server under attack and what the campaigns read of it: kamea-wss in its production
// configuration (no --conformance) with the Management API stand-in, its RSS and open files
// from /proc, and a normal client (the probe) whose experience is the pass rule: it connects,
// subscribes, and receives every telemetry posted for it, and its latency is reported.

import fs from 'node:fs';

import { closeAllClients } from '../../interop/server.mjs';
import { connectDevices, ingest, startKamea, startStandin, subscribe, telemetrySink, uid } from '../../interop/standin.mjs';

export const TENANT = 'campaign-tenant';

/** Starts the stand-in and kamea-wss with `flags`; returns {api, server, close()}. */
export async function startTarget(flags = []) {
    const api = await startStandin();
    const server = await startKamea(api.url, flags);
    return {
        api,
        server,
        async close() {
            closeAllClients();
            await server.stop();
            await api.close();
        },
    };
}

/** Resident memory of the server process, in KiB (0 once it is gone). */
export function rssKiB(server) {
    try {
        const status = fs.readFileSync(`/proc/${server.proc.pid}/status`, 'utf8');
        return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {
        return 0;
    }
}

/** Open file descriptors of the server process (sockets included). */
export function openFiles(server) {
    try {
        return fs.readdirSync(`/proc/${server.proc.pid}/fd`).length;
    } catch {
        return 0;
    }
}

function percentile(sorted, p) {
    if (sorted.length === 0) {
        return null;
    }
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * A normal user: a fresh socket.io-client over WebSocket joins /devices, subscribes to a device
 * of its own, and receives `samples` telemetries posted one after another (each waited for).
 * Resolves with {ok, error?, connectMs, p50, p99, max} (latencies in ms, post to receipt).
 */
export async function probe(server, { samples = 20, timeoutMs = 10_000, transports = ['websocket'] } = {}) {
    const started = Date.now();
    let socket;
    try {
        socket = await connectDevices(server, uid('allow-probe'), { transports, timeout: timeoutMs });
        const connectMs = Date.now() - started;
        const device = uid('probe');
        const ack = await subscribe(socket, device, TENANT);
        if (ack?.status !== 'ok') {
            return { ok: false, error: `subscription answered ${JSON.stringify(ack)}`, connectMs };
        }
        const sink = telemetrySink(socket);
        const latencies = [];
        for (let i = 0; i < samples; i++) {
            const sentAt = performance.now();
            const res = await ingest(server, { deviceId: device, tenantId: TENANT, seq: i });
            if (res.status !== 202) {
                return { ok: false, error: `ingestion answered ${res.status}`, connectMs };
            }
            await sink.until(i + 1, timeoutMs);
            latencies.push(performance.now() - sentAt);
        }
        const exact = sink.received.every((t, i) => t.seq === i) && sink.received.length === samples;
        latencies.sort((a, b) => a - b);
        const round = (v) => Math.round(v * 10) / 10;
        return {
            ok: exact,
            ...(exact ? {} : { error: 'telemetries out of order or duplicated' }),
            connectMs,
            p50: round(percentile(latencies, 50)),
            p99: round(percentile(latencies, 99)),
            max: round(latencies.at(-1)),
        };
    } catch (err) {
        return { ok: false, error: err.message, connectMs: Date.now() - started };
    } finally {
        socket?.disconnect();
    }
}

export const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
