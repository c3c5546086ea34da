// The abuse campaign's short form (scale 1; `make abuse` runs it at full scale and writes
// docs/reliability.md): every attack of tests/campaigns/abuse.mjs against one production-
// configured server, then a test per attack: the server did what the attack calls for, it is
// still running, a new normal client was served during and after it, the resident client kept
// receiving, and RSS came back within the bound.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import { ATTACKS, runCampaign } from '../campaigns/abuse.mjs';

let results;

before(async () => {
    ({ results } = await runCampaign({ scale: 1 }));
});

for (const attack of ATTACKS) {
    test(`abuse: ${attack.name} (${attack.what})`, () => {
        const r = results.find((x) => x.name === attack.name);
        assert.ok(r, 'the attack ran (an earlier one may have stopped the server)');
        assert.ok(r.stepPass, `what the server did: ${r.outcome}`);
        assert.ok(r.running, 'the server is still running');
        assert.ok(r.probeDuring.ok, `a new client during the attack: ${r.probeDuring.error}`);
        assert.ok(r.probeAfter.ok, `a new client after the attack: ${r.probeAfter.error}`);
        assert.ok(r.resident.during.ok && r.resident.after.ok, `the resident client: ${JSON.stringify(r.resident)}`);
        assert.ok(r.pass, `RSS ${r.rssBeforeKiB} → ${r.rssAfterKiB} KiB`);
    });
}
