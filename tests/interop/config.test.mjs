// Configuration (contract section 2): --help and docs/configuration.md come from one table and
// agree; variables work and the flag wins; bad values stop the process with a clear message.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { REPO_ROOT, SERVER_BIN, startServer } from './server.mjs';

const run = (args, env = {}) =>
    spawnSync(SERVER_BIN, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 10_000 });

test('docs/configuration.md is the table the binary prints (regenerate with scripts/gen-config-doc.sh)', () => {
    const table = run(['--config-markdown']).stdout;
    const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'configuration.md'), 'utf8');
    assert.ok(table.length > 100);
    assert.ok(doc.includes(table), 'docs/configuration.md is stale');
});

test('--help lists every flag of the configuration doc, with its variable', () => {
    const help = run(['--help']);
    assert.equal(help.status, 0);
    const flags = [...fs.readFileSync(path.join(REPO_ROOT, 'docs', 'configuration.md'), 'utf8')
        .matchAll(/^\| `(--[a-z-]+)` \| `(WSS_[A-Z_]+)`/gm)];
    assert.ok(flags.length >= 25);
    for (const [, flag, env] of flags) {
        assert.ok(help.stdout.includes(flag), flag);
        assert.ok(help.stdout.includes(env), env);
    }
});

test('unknown flags and bad values exit non-zero with a message naming them', () => {
    for (const [args, needle] of [
        [['--no-such-flag'], 'no-such-flag'],
        [['--ping-interval', 'soon'], 'ping-interval'],
        [['--public-port', '70000'], 'public-port'],
        [['--log-level', 'loud'], 'log-level'],
        [['--management-api-url', 'ftp://x'], 'management-api-url'],
    ]) {
        const r = run(args);
        assert.notEqual(r.status, 0, args.join(' '));
        assert.match(r.stderr, new RegExp(needle), args.join(' '));
    }
    const env = run([], { WSS_PING_TIMEOUT: 'never' });
    assert.notEqual(env.status, 0);
    assert.match(env.stderr, /ping-timeout|PING_TIMEOUT/);
});

test('a WSS_ variable sets a value and the flag wins over it', async () => {
    const handshake = async (server) => {
        const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
        return JSON.parse((await res.text()).slice(1));
    };
    process.env.WSS_PING_INTERVAL = '1234';
    try {
        const a = await startServer([]);
        assert.equal((await handshake(a)).pingInterval, 1234);
        await a.stop();
        const b = await startServer(['--ping-interval', '4321']);
        assert.equal((await handshake(b)).pingInterval, 4321);
        await b.stop();
    } finally {
        delete process.env.WSS_PING_INTERVAL;
    }
});

// kamea-wss asks glibc for a heap on transparent huge pages (core/huge_page_heap.hpp): glibc
// reads GLIBC_TUNABLES at start only, so the server sets it and executes itself again, once (the
// same pid). The effect shows in /proc/<pid>/smaps: glibc's heap mappings are advised for huge
// pages ("hg" in VmFlags). A sanitizer build allocates with its own allocator, so there only the
// environment the server runs with can be checked (/proc/<pid>/environ; ld.so splits the
// variable in place at each ':', hence the pieces).
const procText = (pid, file) => fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
const hugePageVmas = (pid) => procText(pid, 'smaps').split('\n').filter((l) => /^VmFlags:.* hg\b/.test(l)).length;
const environPieces = (pid) => procText(pid, 'environ').split('\0');

for (const [given, on, why] of [
    [undefined, true, 'set when absent'],
    ['glibc.malloc.arena_max=4', true, 'added to the tunables already set'],
    ['glibc.malloc.hugetlb=0', false, 'left alone when the environment already chose (0: off)'],
]) {
    test(`malloc on transparent huge pages: GLIBC_TUNABLES ${why}`, async () => {
        const server = await startServer([], { env: { GLIBC_TUNABLES: given } });
        try {
            const pid = server.proc.pid;
            const pieces = environPieces(pid);
            const context = JSON.stringify(pieces.filter((p) => p.includes('glibc.')));
            assert.equal(pieces.some((p) => p.endsWith('glibc.malloc.hugetlb=1')), on, context);
            if (given !== undefined) {
                assert.ok(pieces.some((p) => p.endsWith(given)), `${given} kept: ${context}`);
            }
            if (!/libasan|libtsan/.test(procText(pid, 'maps'))) {
                assert.equal(hugePageVmas(pid) > 0, on, `VMAs advised for huge pages: ${hugePageVmas(pid)}`);
            }
            // And the program that runs is the server: an Engine.IO handshake.
            const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
            assert.equal(res.status, 200);
            assert.match(await res.text(), /^0\{"sid":/);
        } finally {
            await server.stop();
        }
    });
}
