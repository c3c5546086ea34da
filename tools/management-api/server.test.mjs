// Tests of the Management API stand-in, with real HTTP(S) requests.
// Run: node --test tools/management-api/
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { makeJwt, startStandin } from './server.mjs';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'server.mjs');
const T = { timeout: 20_000 };
const CHECK = '/authorization/check-authorized';
const BODY = { tenantId: 'tenant-1', deviceId: 'device-1', permission: 'telemetries:read' };

/** One request; resolves {status, headers, text, json} (json undefined if the body is not JSON). */
function request(url, { method = 'POST', headers = {}, body, agent, ca } = {}) {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
        const req = mod.request(u, { method, headers, agent, ca }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c) => { text += c; });
            res.on('end', () => {
                let json;
                try { json = JSON.parse(text); } catch { /* not JSON */ }
                resolve({ status: res.statusCode, headers: res.headers, text, json });
            });
        });
        req.on('error', reject);
        req.end(data);
    });
}

/** A well-formed check with `token` (body fields can be overridden). */
const check = (s, token, body = {}, opts = {}) => request(`${s.url}${CHECK}`, {
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: { ...BODY, ...body }, ...opts,
});
const control = (s, what, body) => request(`${s.url}/_control/${what}`,
    what === 'stats' ? { method: 'GET' } : { body: body ?? {}, headers: { 'Content-Type': 'application/json' } });

/** Spawns the CLI; resolves {proc, ready (the first stdout line, parsed), lines (later ones)}. */
async function spawnCli(args) {
    const proc = spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const rl = readline.createInterface({ input: proc.stdout });
    const lines = [];
    let stderr = '';
    proc.stderr.on('data', (c) => { stderr += c; });
    const ready = await new Promise((resolve, reject) => {
        rl.once('line', resolve);
        proc.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    rl.on('line', (l) => lines.push(l));
    const exited = new Promise((resolve) => proc.once('close', (code, signal) => resolve({ code, signal })));
    return { proc, ready, lines, exited };
}

describe('check-authorized', () => {
    let s;
    before(async () => { s = await startStandin(); });
    after(() => s.close());

    test('the answer is chosen by the token', T, async () => {
        const cases = [
            ['allow-abc', 200, { authorized: true }],
            ['deny-abc', 200, { authorized: false }],
            ['e401-x', 401], ['e403-x', 403], ['e500-x', 500],
            ['noflag-x', 200, {}],
            ['whatever', 200, { authorized: false }],
            ['revocable-x', 200, { authorized: true }],
        ];
        for (const [token, status, json] of cases) {
            const r = await check(s, token);
            assert.equal(r.status, status, token);
            assert.match(r.headers['content-type'], /^application\/json/, token);
            if (json) assert.deepEqual(r.json, json, token);
            else assert.equal(typeof r.json.error, 'string', token);
        }
        const unavailable = await check(s, 'e503-x');
        assert.equal(unavailable.status, 503);
        const garbage = await check(s, 'garbage-x');
        assert.equal(garbage.status, 200);
        assert.equal(garbage.json, undefined, 'garbage answers are not JSON');
    });

    test('a JWT is 401 once its exp is past, else answered as its sub', T, async () => {
        const now = Math.floor(Date.now() / 1000);
        const cases = [
            [makeJwt({ sub: 'allow-u1', exp: now + 60 }), 200, { authorized: true }],
            [makeJwt({ sub: 'allow-u1' }), 200, { authorized: true }],
            [makeJwt({ sub: 'deny-u1', exp: now + 60 }), 200, { authorized: false }],
            [makeJwt({ sub: 'e500-u1', exp: now + 60 }), 500],
            [makeJwt({ sub: 'allow-u1', exp: now - 1 }), 401],
            [makeJwt({ exp: now + 60 }), 200, { authorized: false }],
            [makeJwt({ sub: makeJwt({ sub: 'allow-u1' }) }), 200, { authorized: false }],
        ];
        for (const [token, status, json] of cases) {
            const r = await check(s, token);
            assert.equal(r.status, status, token);
            if (json) assert.deepEqual(r.json, json, token);
            else assert.equal(typeof r.json.error, 'string', token);
        }
        // Two dots but no JSON in the middle: an ordinary token, answered by its prefix.
        assert.deepEqual((await check(s, 'allow.x.y')).json, { authorized: true });
        assert.deepEqual((await check(s, 'deny.x.y')).json, { authorized: false });
    });

    test('a device starting with "forbidden" is denied whatever the token', T, async () => {
        for (const token of ['allow-1', 'revocable-1', 'e500-1', 'slow10-1']) {
            const r = await check(s, token, { deviceId: 'forbidden-42' });
            assert.deepEqual([r.status, r.json], [200, { authorized: false }], token);
        }
    });

    test('bad requests get 400 JSON, unknown paths 404, wrong methods 405', T, async () => {
        const url = `${s.url}${CHECK}`;
        const json = { 'Content-Type': 'application/json' };
        const bad = [
            { headers: json, body: BODY },
            { headers: { ...json, Authorization: 'Basic dXNlcjpwYXNz' }, body: BODY },
            { headers: { ...json, Authorization: 'Bearer ' }, body: BODY },
            { headers: { ...json, Authorization: 'allow-1' }, body: BODY },
            { headers: { Authorization: 'Bearer allow-1', 'Content-Type': 'text/plain' }, body: BODY },
            { headers: { Authorization: 'Bearer allow-1' }, body: BODY },
            { headers: { ...json, Authorization: 'Bearer allow-1' }, body: '{"tenantId":' },
            { headers: { ...json, Authorization: 'Bearer allow-1' }, body: '[]' },
            { headers: { ...json, Authorization: 'Bearer allow-1' }, body: { ...BODY, deviceId: undefined } },
            { headers: { ...json, Authorization: 'Bearer allow-1' }, body: { ...BODY, tenantId: 7 } },
            { headers: { ...json, Authorization: 'Bearer allow-1' }, body: { ...BODY, deviceId: '' } },
            { headers: { ...json, Authorization: 'Bearer allow-1' }, body: { ...BODY, permission: undefined } },
        ];
        for (const [i, opts] of bad.entries()) {
            const r = await request(url, opts);
            assert.equal(r.status, 400, `case ${i}: ${r.text}`);
            assert.equal(r.json.error, 'bad_request', `case ${i}`);
        }
        // Scheme is case-insensitive; a charset parameter is fine.
        const ok = await request(url, { headers: { Authorization: 'bearer allow-1',
            'Content-Type': 'application/json; charset=utf-8' }, body: BODY });
        assert.deepEqual(ok.json, { authorized: true });

        const big = await check(s, 'allow-1', { pad: 'x'.repeat(100_000) });
        assert.equal(big.status, 413);
        const get = await request(url, { method: 'GET' });
        assert.equal(get.status, 405);
        for (const p of ['/', '/authorization', '/_control/nope', '/authorization/check-authorized/x']) {
            const r = await request(`${s.url}${p}`, { method: 'GET' });
            assert.equal(r.status, 404, p);
            assert.equal(r.json.error, 'not_found', p);
        }
    });

    test('slow<ms>- tokens wait, then allow', T, async () => {
        const t0 = Date.now();
        const r = await check(s, 'slow300-abc');
        assert.ok(Date.now() - t0 >= 290, `answered after ${Date.now() - t0} ms`);
        assert.deepEqual(r.json, { authorized: true });
    });
});

describe('control API', () => {
    let s;
    before(async () => { s = await startStandin(); });
    after(() => s.close());

    test('revoke denies a revocable token from then on; reset clears it', T, async () => {
        assert.deepEqual((await check(s, 'revocable-a')).json, { authorized: true });
        assert.equal((await control(s, 'revoke', { token: 'revocable-a' })).status, 200);
        assert.deepEqual((await check(s, 'revocable-a')).json, { authorized: false });
        assert.deepEqual((await check(s, 'revocable-b')).json, { authorized: true }, 'other tokens unaffected');
        assert.equal((await control(s, 'revoke', { token: 'allow-1' })).status, 400);
        assert.equal((await control(s, 'revoke', {})).status, 400);
        assert.equal((await control(s, 'reset')).status, 200);
        assert.deepEqual((await check(s, 'revocable-a')).json, { authorized: true });
    });

    test('stats count checks per key, in-flight maximum, and reset clears them', T, async () => {
        await control(s, 'reset');
        await check(s, 'allow-1');
        await check(s, 'allow-1');
        await check(s, 'deny-1', { tenantId: 't2', deviceId: 'd2' });
        await Promise.all([check(s, 'slow200-a'), check(s, 'slow200-b'), check(s, 'slow200-c')]);
        const st = (await control(s, 'stats')).json;
        assert.equal(st.requests, 6);
        assert.deepEqual(st.byKey, {
            'allow-1|tenant-1|device-1': 2, 'deny-1|t2|d2': 1,
            'slow200-a|tenant-1|device-1': 1, 'slow200-b|tenant-1|device-1': 1, 'slow200-c|tenant-1|device-1': 1,
        });
        assert.equal(st.inFlightMax, 3);
        assert.equal(st.inFlight, 0);
        assert.deepEqual(st.byPermission, { 'telemetries:read': 6 });
        assert.ok(st.connections >= 1);
        assert.deepEqual(s.stats().byKey, st.byKey, 'stats() in process matches GET /_control/stats');

        await control(s, 'reset');
        const cleared = s.stats();
        assert.deepEqual([cleared.requests, cleared.connections, cleared.inFlightMax, cleared.byKey],
            [0, 0, 0, {}]);
    });

    test('delay slows every check answer; 0 removes it', T, async () => {
        assert.deepEqual((await control(s, 'delay', { ms: 1000 })).json, { delayMs: 1000 });
        const t0 = Date.now();
        const [allowed, failed, stats] = await Promise.all([check(s, 'allow-1'), check(s, 'e500-1'),
            control(s, 'stats').then((r) => [r.status, Date.now() - t0])]);
        assert.ok(Date.now() - t0 >= 990, `answered after ${Date.now() - t0} ms`);
        assert.deepEqual([allowed.json, failed.status], [{ authorized: true }, 500], 'errors are delayed too');
        assert.equal(stats[0], 200);
        assert.ok(stats[1] < 900, 'control answers are not delayed');
        await control(s, 'delay', { ms: 0 });
        const t1 = Date.now();
        await check(s, 'allow-1');
        assert.ok(Date.now() - t1 < 900, 'delay removed');
        for (const ms of [-1, 1.5, 'x', undefined]) {
            assert.equal((await control(s, 'delay', { ms })).status, 400, String(ms));
        }
        assert.equal((await request(`${s.url}/_control/stats`, { body: {} })).status, 405);
        assert.equal((await request(`${s.url}/_control/reset`, { method: 'GET' })).status, 405);
    });

    test('in-process helpers revoke(), setDelay(), reset()', T, async () => {
        s.revoke('revocable-z');
        assert.deepEqual((await check(s, 'revocable-z')).json, { authorized: false });
        assert.throws(() => s.revoke('allow-z'));
        s.setDelay(200);
        const t0 = Date.now();
        await check(s, 'allow-z');
        assert.ok(Date.now() - t0 >= 190);
        s.reset();
        assert.deepEqual((await check(s, 'revocable-z')).json, { authorized: true });
    });
});

test('keep-alive: connections are counted, and reused by a keep-alive client', T, async () => {
    const s = await startStandin();
    try {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        for (let i = 0; i < 5; i++) assert.equal((await check(s, 'allow-1', {}, { agent })).status, 200);
        assert.match((await check(s, 'allow-1', {}, { agent })).headers.connection, /keep-alive/i);
        let st = s.stats();
        assert.deepEqual([st.requests, st.connections, st.checkConnections], [6, 1, 1]);
        agent.destroy();

        const noReuse = new http.Agent({ keepAlive: false });
        for (let i = 0; i < 3; i++) await check(s, 'allow-1', {}, { agent: noReuse });
        st = s.stats();
        assert.deepEqual([st.requests, st.connections, st.checkConnections], [9, 4, 4]);
        // A stats request over its own connection counts as a connection, not as a check connection.
        const viaHttp = (await request(`${s.url}/_control/stats`, { method: 'GET', agent: noReuse })).json;
        assert.deepEqual([viaHttp.connections, viaHttp.checkConnections], [5, 4]);
    } finally {
        await s.close();
    }
});

test('rules override answers per exact token', T, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-rules-'));
    try {
        const rules = { tokens: {
            tok1: { status: 200, body: { authorized: true } },
            tok2: { status: 429, body: { error: 'slow_down' }, delayMs: 200 },
            'allow-overridden': { body: { authorized: false } },
            tok3: { rawBody: 'plain' },
        } };
        const file = path.join(dir, 'rules.json');
        fs.writeFileSync(file, JSON.stringify(rules));
        const s = await startStandin({ rules: file });
        try {
            assert.deepEqual((await check(s, 'tok1')).json, { authorized: true });
            assert.deepEqual((await check(s, 'tok1x')).json, { authorized: false }, 'exact match only');
            const t0 = Date.now();
            const r = await check(s, 'tok2');
            assert.ok(Date.now() - t0 >= 190);
            assert.deepEqual([r.status, r.json], [429, { error: 'slow_down' }]);
            assert.deepEqual((await check(s, 'allow-overridden')).json, { authorized: false });
            assert.equal((await check(s, 'tok3')).text, 'plain');
        } finally {
            await s.close();
        }
        await assert.rejects(startStandin({ rules: { tokens: { t: { status: 'x' } } } }), /status/);
        await assert.rejects(startStandin({ rules: { tokens: [] } }), /rules/);
        await assert.rejects(startStandin({ host: '0.0.0.0' }), /loopback/);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

describe('CLI', () => {
    test('prints one listening line, logs requests without the full token, exits 0 on SIGTERM', T, async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-cli-'));
        const rules = path.join(dir, 'rules.json');
        fs.writeFileSync(rules, JSON.stringify({ tokens: { 'deny-but-allowed': { body: { authorized: true } } } }));
        const cli = await spawnCli(['--port', '0', '--host', '127.0.0.1', '--rules', rules]);
        try {
            const ready = JSON.parse(cli.ready);
            assert.deepEqual(Object.keys(ready), ['event', 'port', 'tls']);
            assert.equal(ready.event, 'listening');
            assert.equal(ready.tls, false);
            assert.ok(ready.port > 0);
            const s = { url: `http://127.0.0.1:${ready.port}` };
            assert.deepEqual((await check(s, 'allowVerySecretToken')).json, { authorized: true });
            assert.deepEqual((await check(s, 'deny-but-allowed')).json, { authorized: true }, '--rules applies');
            while (cli.lines.length < 2) await new Promise((r) => setTimeout(r, 20));
            const line = JSON.parse(cli.lines[0]);
            assert.deepEqual([line.event, line.path, line.status, line.token], ['request', CHECK, 200, 'allo']);
            assert.ok(!cli.lines.join('\n').includes('allowVery'), 'token not printed');
            assert.ok(!cli.lines.join('\n').includes('deny-but'), 'token not printed');
        } finally {
            cli.proc.kill('SIGTERM');
            fs.rmSync(dir, { recursive: true, force: true });
        }
        assert.deepEqual(await cli.exited, { code: 0, signal: null });
        assert.equal(cli.lines.length, 2, 'one log line per request');
    });

    test('rejects unknown flags and bad values', T, () => {
        for (const args of [['--nope'], ['--port', 'abc'], ['--tls-cert', 'x'], ['--rules', '/nonexistent.json']]) {
            assert.throws(() => execFileSync(process.execPath, [SCRIPT, ...args], { stdio: 'pipe' }),
                (err) => err.status !== 0 && err.stderr.length > 0, args.join(' '));
        }
    });

    let opensslOk = true;
    try { execFileSync('openssl', ['version'], { stdio: 'ignore' }); } catch { opensslOk = false; }

    test('HTTPS with --tls-cert/--tls-key (self-signed cert made with openssl)', { ...T, skip: !opensslOk && 'no openssl' }, async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-tls-'));
        const cert = path.join(dir, 'cert.pem');
        const key = path.join(dir, 'key.pem');
        try {
            execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1',
                '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert],
            { stdio: 'ignore' });
            const ca = fs.readFileSync(cert);
            const cli = await spawnCli(['--port', '0', '--tls-cert', cert, '--tls-key', key, '--quiet']);
            try {
                const ready = JSON.parse(cli.ready);
                assert.deepEqual(ready, { event: 'listening', port: ready.port, tls: true });
                const s = { url: `https://127.0.0.1:${ready.port}` };
                assert.deepEqual((await check(s, 'allow-1', {}, { ca })).json, { authorized: true });
                await assert.rejects(check(s, 'allow-1'), 'the self-signed cert is not trusted by default');
                const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
                for (let i = 0; i < 3; i++) await check(s, 'deny-1', {}, { agent });
                const st = (await request(`${s.url}/_control/stats`, { method: 'GET', agent })).json;
                agent.destroy();
                assert.equal(st.requests, 4);
                assert.equal(st.checkConnections, 2, 'one for the first check, one reused by the agent');
                assert.equal(cli.lines.length, 0, '--quiet logs nothing');
            } finally {
                cli.proc.kill('SIGTERM');
            }
            assert.equal((await cli.exited).code, 0);

            const s = await startStandin({ tlsCert: cert, tlsKey: fs.readFileSync(key, 'utf8') });
            try {
                assert.ok(s.url.startsWith('https://127.0.0.1:'));
                assert.equal((await check(s, 'e403-1', {}, { ca })).status, 403);
            } finally {
                await s.close();
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

test('close() ends pending slow checks and open keep-alive connections promptly', T, async () => {
    const s = await startStandin();
    const agent = new http.Agent({ keepAlive: true });
    await check(s, 'allow-1', {}, { agent });
    const pending = check(s, 'slow60000-x').catch((err) => err);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(s.stats().inFlight, 1);
    const t0 = Date.now();
    await s.close();
    assert.ok(Date.now() - t0 < 2000);
    assert.ok((await pending) instanceof Error, 'the pending check was cut off');
    agent.destroy();
});
