// Runs a campaign's steps (attacks or faults) one after another against one target and records,
// for each: the load, what the server did, what the probe (a new normal client, during the step
// and after it) and the resident client (connected before everything) saw, and RSS and open
// files before and after. A step passes when its own rule holds, the server still runs, both
// clients were served, and RSS grew by less than `rssBoundKiB`.

import { ingest, subscribe, telemetrySink, connectDevices, uid } from '../../interop/standin.mjs';
import { openFiles, probe, rssKiB, settle, TENANT } from './target.mjs';

/** A client connected before the campaign: each check posts one telemetry and awaits it. */
async function residentClient(server) {
    const socket = await connectDevices(server, uid('allow-resident'), { transports: ['websocket'] });
    const device = uid('resident');
    await subscribe(socket, device, TENANT);
    const sink = telemetrySink(socket);
    let seq = 0;
    return {
        async check() {
            try {
                seq += 1;
                const started = performance.now();
                const res = await ingest(server, { deviceId: device, tenantId: TENANT, seq });
                if (res.status !== 202) {
                    return { ok: false, error: `ingestion answered ${res.status}` };
                }
                await sink.until(seq, 10_000);
                return { ok: socket.connected, ms: Math.round(performance.now() - started) };
            } catch (err) {
                return { ok: false, error: err.message };
            }
        },
        close: () => socket.disconnect(),
    };
}

/**
 * Runs `steps` ({name, what, run(ctx), probeDuring?, residentDuring?}) on `target`
 * ({server, ...}); `only` (names) narrows them. A step that restarts the server replaces
 * `target.server` and sets `ctx.restarted`: the resident client is then connected anew (its
 * loss is the step's to judge). Returns {baseline, results: [...]}.
 */
export async function runSteps(target, steps, { scale = 1, only, rssBoundKiB = 64 * 1024, log = () => {} } = {}) {
    let resident = await residentClient(target.server);
    const baseline = await probe(target.server);
    log({ event: 'baseline', ...baseline });
    const results = [];
    for (const step of steps) {
        if (only && !only.includes(step.name)) {
            continue;
        }
        let server = target.server;
        const rssBefore = rssKiB(server);
        const filesBefore = openFiles(server);
        let duringProbe = null;
        let duringResident = null;
        const ctx = {
            ...target,
            target,
            scale,
            // Called by the step while its load is held.
            async during() {
                [duringProbe, duringResident] = await Promise.all([
                    step.probeDuring === false ? Promise.resolve({ ok: true, skipped: true }) : probe(target.server),
                    step.residentDuring === false ? Promise.resolve({ ok: true, skipped: true }) : resident.check(),
                ]);
            },
        };
        let own;
        try {
            own = await step.run(ctx);
        } catch (err) {
            own = { load: '?', outcome: `the step failed: ${err.stack ?? err}`, pass: false };
        }
        if (!duringProbe) {
            await ctx.during(); // a step that forgot to call it is still observed
        }
        await settle(1000);
        if (ctx.restarted) {
            resident.close();
            resident = await residentClient(target.server);
        }
        server = target.server;
        const after = await probe(server);
        const afterResident = await resident.check();
        const rssAfter = rssKiB(server);
        const result = {
            name: step.name,
            what: step.what,
            load: own.load,
            outcome: own.outcome,
            stepPass: Boolean(own.pass),
            running: server.running,
            probeDuring: duringProbe,
            probeAfter: after,
            resident: { during: duringResident, after: afterResident },
            restarted: Boolean(ctx.restarted),
            rssBeforeKiB: rssBefore,
            rssAfterKiB: rssAfter,
            filesBefore,
            filesAfter: openFiles(server),
        };
        result.pass = result.stepPass && result.running && duringProbe.ok && after.ok &&
            duringResident.ok && afterResident.ok && (ctx.restarted || rssAfter - rssBefore < rssBoundKiB);
        log({ event: 'step', ...result });
        results.push(result);
        if (!server.running) {
            break;
        }
    }
    resident.close();
    return { baseline, results };
}
