// What every test that starts child processes needs: they must not outlive a test file that
// crashes or is killed by the runner, and their one-JSON-object-per-line output is parsed.

import readline from 'node:readline';

const alive = new Set();

process.on('exit', () => {
    for (const proc of alive) {
        try {
            proc.kill('SIGKILL');
        } catch {
            // already gone
        }
    }
});

/** Kills `proc` with SIGKILL if this process exits while it still runs. */
export function killOnExit(proc) {
    alive.add(proc);
    proc.on('close', () => alive.delete(proc));
}

/** Calls `onLine(line, text)` for each line of `stream`: the parsed JSON, or {unparsed: text}. */
export function readJsonLines(stream, onLine) {
    readline.createInterface({ input: stream }).on('line', (text) => {
        let line;
        try {
            line = JSON.parse(text);
        } catch {
            line = { unparsed: text };
        }
        onLine(line, text);
    });
}
