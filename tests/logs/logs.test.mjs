// The logs of the whole interop suite (docs/operations.md, "Logs"), read after it ran:
// scripts/test.sh gives it KAMEA_TEST_LOG_DIR, where every kamea-wss it started left its stdout
// and stderr and the tests noted every token they used (tests/lib/test-logs.mjs).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = process.env.KAMEA_TEST_LOG_DIR;

// The vocabulary: docs/operations.md's table of events, with the fields each may carry.
function vocabulary() {
    const doc = fs.readFileSync(path.join(root, 'docs', 'operations.md'), 'utf8');
    const table = doc.slice(doc.indexOf('### Events'));
    const events = new Map();
    for (const row of table.split('\n')) {
        const m = /^\| `([a-z_]+)` \| [a-z]+ \| ([^|]*) \|/.exec(row);
        if (m) {
            events.set(m[1], new Set([...m[2].matchAll(/`([A-Za-z_]+)`/g)].map((f) => f[1])));
        }
    }
    return events;
}

function read(suffix) {
    return fs.readdirSync(dir).filter((f) => f.endsWith(suffix))
        .map((f) => ({ file: f, text: fs.readFileSync(path.join(dir, f), 'utf8') }));
}

const skip = dir ? false : 'KAMEA_TEST_LOG_DIR is not set (scripts/test.sh sets it for the interop suite)';

test('every log line is a JSON object with time, level and a documented event, with its documented fields only',
    { skip }, () => {
        const events = vocabulary();
        assert.ok(events.size >= 30, `docs/operations.md lists ${events.size} events`);
        const logs = read('.log');
        let lines = 0;
        const used = new Set();
        for (const { file, text } of logs) {
            for (const raw of text.split('\n').filter(Boolean)) {
                lines++;
                let line;
                try {
                    line = JSON.parse(raw);
                } catch {
                    assert.fail(`${file}: not JSON: ${raw.slice(0, 200)}`);
                }
                const { time, level, event, ...fields } = line;
                assert.equal(typeof time, 'string', `${file}: no time: ${raw}`);
                assert.equal(typeof level, 'string', `${file}: no level: ${raw}`);
                assert.ok(events.has(event), `${file}: event ${event} is not in docs/operations.md: ${raw}`);
                used.add(event);
                for (const key of Object.keys(fields)) {
                    assert.ok(events.get(event).has(key), `${file}: ${event} has undocumented field "${key}": ${raw}`);
                }
                if ('conn' in fields) {
                    assert.ok(Number.isInteger(fields.conn) && fields.conn > 0, `${file}: conn ${fields.conn}: ${raw}`);
                }
            }
        }
        // Not vacuous: the suite starts many servers and runs most paths at debug level.
        assert.ok(logs.length >= 20, `${logs.length} server logs`);
        assert.ok(lines >= 500, `${lines} lines`);
        for (const e of ['listening', 'session_open', 'socket_connected', 'access_denied', 'connect_refused']) {
            assert.ok(used.has(e), `no ${e} line in the whole suite`);
        }
    });

test('no log line and no stderr output holds a token the suite used', { skip }, () => {
    const tokens = new Set(read('.txt').filter(({ file }) => file.startsWith('tokens-'))
        .flatMap(({ text }) => text.split('\n'))
        // Shorter ones (a test's "t") would match ordinary text.
        .filter((t) => t.length >= 6));
    assert.ok(tokens.size >= 50, `${tokens.size} tokens recorded`);
    const outputs = [...read('.log'), ...read('.stderr')];
    for (const { file, text } of outputs) {
        for (const token of tokens) {
            const at = text.indexOf(token);
            assert.equal(at, -1, `${file} holds a token: …${text.slice(Math.max(0, at - 80), at + token.length + 20)}…`);
        }
    }
});

// Under `make sanitize` and `make tsan` a report can come from a server at its exit, after the
// test that started it has passed: every stderr is read here. In the normal build it checks
// that nothing unexpected went to stderr either (the server logs to stdout).
test('no server printed a sanitizer report or a crash to stderr', { skip }, () => {
    const report = /ThreadSanitizer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|terminate called/;
    const stderrs = read('.stderr');
    assert.ok(stderrs.length >= 20, `${stderrs.length} server stderr files`);
    for (const { file, text } of stderrs) {
        const m = report.exec(text);
        assert.equal(m, null, `${file}: ${m ? text.slice(Math.max(0, m.index - 200), m.index + 2000) : ''}`);
    }
});
