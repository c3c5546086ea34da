// `make abuse` / `make faults`: runs one campaign at full scale against the build's kamea-wss
// and writes its figures into docs/reliability.md (between that campaign's markers) and the raw
// results into bench/results/<time>/<campaign>.json. Exits non-zero if any step failed.
//
// node tests/campaigns/run.mjs abuse|faults [--scale 10] [--only name,name] [--no-report]

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { REPO_ROOT } from '../interop/server.mjs';
import { writeSection } from './lib/report.mjs';

const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
        scale: { type: 'string', default: '10' },
        only: { type: 'string' },
        'no-report': { type: 'boolean', default: false },
    },
});
const campaign = positionals[0];
if (!['abuse', 'faults'].includes(campaign)) {
    console.error('usage: run.mjs abuse|faults [--scale N] [--only a,b] [--no-report]');
    process.exit(2);
}
const scale = Number(values.scale);
const mod = await import(`./${campaign}.mjs`);
const started = new Date();
const log = (line) => console.log(JSON.stringify(line));

const { results, baseline } = await mod.runCampaign({ scale, only: values.only?.split(','), log });

const stamp = started.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
const dir = path.join(REPO_ROOT, 'bench', 'results', stamp);
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, `${campaign}.json`), JSON.stringify({ scale, baseline, results }, null, 2));
if (!values['no-report'] && !values.only) {
    const command = `make ${campaign}` + (scale === 10 ? '' : ` CAMPAIGN_SCALE=${scale}`);
    writeSection(path.join(REPO_ROOT, 'docs', 'reliability.md'), campaign, { scale, baseline, results, command, started });
}
const failed = results.filter((r) => !r.pass).map((r) => r.name);
console.log(`${campaign}: ${results.length - failed.length} passed, ${failed.length} failed${failed.length ? ` (${failed.join(', ')})` : ''}`);
process.exit(failed.length ? 1 : 0);
