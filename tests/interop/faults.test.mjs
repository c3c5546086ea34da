// The fault campaign's short form (scale 1; `make faults` runs it at full scale and writes
// docs/reliability.md): every fault of tests/campaigns/faults.mjs — the Management API slow,
// down, flapping, answering garbage or 64 MiB, cut mid-answer; RabbitMQ killed and revived; a
// restart under a reconnect storm; SIGTERM under fan-out — against one server with a broker of
// its own (it is killed), then a test per fault: the server did what the fault calls for, it
// is (again) running, and a new normal client and the resident one were served afterwards.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import { FAULTS, runCampaign } from '../campaigns/faults.mjs';

let results;

before(async () => {
    ({ results } = await runCampaign({ scale: 1 }));
});

for (const fault of FAULTS) {
    test(`faults: ${fault.name} (${fault.what})`, () => {
        const r = results.find((x) => x.name === fault.name);
        assert.ok(r, 'the fault ran (an earlier one may have stopped the server)');
        assert.ok(r.stepPass, `what the server did: ${r.outcome}`);
        assert.ok(r.running, 'the server is running');
        assert.ok(r.probeDuring.ok, `a new client during the fault: ${r.probeDuring.error}`);
        assert.ok(r.probeAfter.ok, `a new client after the fault: ${r.probeAfter.error}`);
        assert.ok(r.resident.during.ok && r.resident.after.ok, `the resident client: ${JSON.stringify(r.resident)}`);
        assert.ok(r.pass, `RSS ${r.rssBeforeKiB} → ${r.rssAfterKiB} KiB`);
    });
}
