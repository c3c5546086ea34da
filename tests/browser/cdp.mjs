// A minimal Chrome DevTools Protocol client for the browser tests: it runs Debian's headless
// chromium with --remote-debugging-pipe (messages are JSON texts ended by a NUL byte, written to
// the browser's fd 3 and read from its fd 4), so no npm package, no downloaded browser and no
// debugging port are involved.
//
//   const browser = await launchChromium();
//   const page = await browser.newPage();         // a tab, with Page/Runtime/Network enabled
//   await page.goto(url);
//   await page.waitFor('document.title === "x"', 'the title');
//   page.events                                   // every CDP event of the tab, in order
//   await browser.close();
//
// Timeouts only fail a hung step; nothing here measures time.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const CHROMIUM = process.env.KAMEA_CHROMIUM ?? '/usr/bin/chromium';
export const STEP_TIMEOUT = 20_000;

const FLAGS = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-extensions',
    '--disable-dev-shm-usage',
    '--mute-audio',
    '--remote-debugging-pipe',
];

/** Rejects after `ms` with a message naming what was awaited. */
export function withTimeout(promise, what, ms = STEP_TIMEOUT) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Starts headless chromium with a fresh profile and resolves with a Browser. */
export async function launchChromium({ width = 1280, height = 900 } = {}) {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kamea-browser-test-'));
    const proc = spawn(CHROMIUM, [
        ...FLAGS,
        `--user-data-dir=${profile}`,
        `--window-size=${width},${height}`,
        'about:blank',
    ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    const browser = new Browser(proc, profile);
    try {
        const { product } = await withTimeout(browser.send('Browser.getVersion'), 'chromium to start');
        browser.version = product;
        return browser;
    } catch (err) {
        await browser.close();
        throw new Error(`${err.message}\nchromium stderr: ${browser.stderr.slice(-2000)}`);
    }
}

class Browser {
    constructor(proc, profile) {
        this.proc = proc;
        this.profile = profile;
        this.stderr = '';
        this.version = '';
        this._nextId = 1;
        this._pending = new Map();
        this._sessions = new Map();
        this._buffer = Buffer.alloc(0);
        this.exited = new Promise((resolve) => proc.once('close', resolve));
        this.exited.then(() => {
            for (const { reject } of this._pending.values()) {
                reject(new Error(`chromium exited\n${this.stderr.slice(-2000)}`));
            }
            this._pending.clear();
        });
        proc.on('error', (err) => {
            this.stderr += `${err.message}\n`;
        });
        proc.stderr.setEncoding('utf8');
        proc.stderr.on('data', (chunk) => {
            // Keep the tail only: enough to explain a failure.
            this.stderr = (this.stderr + chunk).slice(-20_000);
        });
        proc.stdio[3].on('error', () => {}); // EPIPE once the browser is gone
        proc.stdio[4].on('data', (chunk) => this._onData(chunk));
    }

    _onData(chunk) {
        this._buffer = Buffer.concat([this._buffer, chunk]);
        let end;
        while ((end = this._buffer.indexOf(0)) !== -1) {
            const text = this._buffer.subarray(0, end).toString('utf8');
            this._buffer = this._buffer.subarray(end + 1);
            this._onMessage(JSON.parse(text));
        }
    }

    _onMessage(msg) {
        if (msg.id !== undefined) {
            const pending = this._pending.get(msg.id);
            if (pending) {
                this._pending.delete(msg.id);
                if (msg.error) {
                    pending.reject(new Error(`${pending.method}: ${msg.error.message}`));
                } else {
                    pending.resolve(msg.result);
                }
            }
            return;
        }
        if (msg.sessionId) {
            this._sessions.get(msg.sessionId)?._onEvent(msg.method, msg.params);
        }
    }

    /** Sends one CDP command (to the browser, or to a tab with sessionId). */
    send(method, params = {}, sessionId = undefined) {
        const id = this._nextId++;
        const message = { id, method, params };
        if (sessionId) {
            message.sessionId = sessionId;
        }
        return new Promise((resolve, reject) => {
            this._pending.set(id, { resolve, reject, method });
            this.proc.stdio[3].write(`${JSON.stringify(message)}\0`);
        });
    }

    /** Opens a new tab and resolves with its Page. */
    async newPage({ width = 1280, height = 900 } = {}) {
        const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
        const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
        const page = new Page(this, targetId, sessionId);
        this._sessions.set(sessionId, page);
        await Promise.all([
            page.send('Page.enable'),
            page.send('Runtime.enable'),
            page.send('Network.enable'),
            page.send('Emulation.setDeviceMetricsOverride', {
                width, height, deviceScaleFactor: 1, mobile: false,
            }),
        ]);
        return page;
    }

    /** Closes the browser (SIGKILL if it does not go) and removes its profile. */
    async close() {
        if (this.proc.exitCode === null && this.proc.signalCode === null) {
            this.send('Browser.close').catch(() => {});
            const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
            await this.exited;
            clearTimeout(timer);
        }
        fs.rmSync(this.profile, { recursive: true, force: true });
    }
}

class Page {
    constructor(browser, targetId, sessionId) {
        this.browser = browser;
        this.targetId = targetId;
        this.sessionId = sessionId;
        /** Every CDP event of this tab: {method, params}. */
        this.events = [];
        /** Console messages and uncaught exceptions of the page, as text. */
        this.console = [];
        this._waiters = new Set();
    }

    _onEvent(method, params) {
        this.events.push({ method, params });
        if (method === 'Runtime.consoleAPICalled') {
            this.console.push(`${params.type}: ${params.args.map((a) => a.value ?? a.description).join(' ')}`);
        } else if (method === 'Runtime.exceptionThrown') {
            const d = params.exceptionDetails;
            this.console.push(`exception: ${d.exception?.description ?? d.text}`);
        }
        for (const waiter of this._waiters) {
            waiter(method, params);
        }
    }

    send(method, params = {}) {
        return this.browser.send(method, params, this.sessionId);
    }

    /** Navigates and resolves once the load event fired. */
    async goto(url) {
        const loaded = this.nextEvent('Page.loadEventFired');
        const { errorText } = await this.send('Page.navigate', { url });
        if (errorText) {
            throw new Error(`navigation to ${url} failed: ${errorText}`);
        }
        await loaded;
    }

    /** Resolves with the params of the next event `method` (optionally matching `predicate`). */
    nextEvent(method, predicate = () => true, ms = STEP_TIMEOUT) {
        let waiter;
        return withTimeout(new Promise((resolve) => {
            waiter = (m, params) => {
                if (m === method && predicate(params)) {
                    resolve(params);
                }
            };
            this._waiters.add(waiter);
        }), `event ${method}`, ms).finally(() => this._waiters.delete(waiter));
    }

    /** Evaluates a JavaScript expression in the page; resolves with its (JSON) value. */
    async evaluate(expression) {
        const { result, exceptionDetails } = await this.send('Runtime.evaluate', {
            expression,
            returnByValue: true,
            awaitPromise: true,
        });
        if (exceptionDetails) {
            throw new Error(`evaluate(${expression}): ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
        }
        return result.value;
    }

    /**
     * Evaluates `expression` again and again until it gives a truthy value, and resolves with
     * that value. A timeout only fails a hung step; the error shows the last value seen and
     * `describe` (an expression giving the page's state) to explain it.
     */
    async waitFor(expression, what, { ms = STEP_TIMEOUT, describe } = {}) {
        const deadline = Date.now() + ms;
        let last;
        for (;;) {
            last = await this.evaluate(expression);
            if (last) {
                return last;
            }
            if (Date.now() > deadline) {
                const state = describe ? await this.evaluate(describe).catch((e) => e.message) : undefined;
                throw new Error(`timed out waiting for ${what} (last value ${JSON.stringify(last)})` +
                    (state === undefined ? '' : `\npage state: ${JSON.stringify(state, null, 2)}`) +
                    `\npage console: ${this.console.slice(-20).join('\n')}`);
            }
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
    }

    /** A PNG of the viewport (or the whole page with fullPage) as a Buffer. */
    async screenshot({ fullPage = false } = {}) {
        const { data } = await this.send('Page.captureScreenshot', {
            format: 'png',
            captureBeyondViewport: fullPage,
        });
        return Buffer.from(data, 'base64');
    }

    async close() {
        await this.browser.send('Target.closeTarget', { targetId: this.targetId }).catch(() => {});
        this.browser._sessions.delete(this.sessionId);
    }
}
