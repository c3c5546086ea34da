// Where the interop suite keeps what the log check (tests/logs/) reads afterwards: with
// KAMEA_TEST_LOG_DIR set (scripts/test.sh sets it), every kamea-wss a test starts writes its
// log (stdout) to <dir>/kamea-<pid>.log and its stderr to <dir>/kamea-<pid>.stderr, and every token the suite uses (each bearer token the
// Management API stand-in is asked about, each ingest token given to a server) goes to
// <dir>/tokens-<pid>.txt. Without it, nothing is written.

import fs from 'node:fs';
import path from 'node:path';

const dir = process.env.KAMEA_TEST_LOG_DIR;
const seen = new Set();

/** Notes a secret the suite used: no log line may contain it. */
export function recordToken(token) {
    if (!dir || typeof token !== 'string' || token.length === 0 || seen.has(token)) {
        return;
    }
    seen.add(token);
    fs.appendFileSync(path.join(dir, `tokens-${process.pid}.txt`), `${token}\n`);
}

/**
 * A writer of server process `pid`'s stdout ('log') or stderr ('stderr'); a no-op without
 * KAMEA_TEST_LOG_DIR. Its file stays open until this test process exits: lines may still
 * arrive after the server's own exit.
 */
export function serverLog(pid, kind) {
    if (!dir || !pid) {
        return () => {};
    }
    const fd = fs.openSync(path.join(dir, `kamea-${pid}.${kind}`), 'a');
    return (text) => fs.writeSync(fd, text);
}
