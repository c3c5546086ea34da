// The demo page (tools/demo/) in a real browser, headless Debian chromium, against the real
// kamea-wss (issue 4): the page is served by tools/demo/serve.mjs on another port, so another
// origin, than the service; it loads the stock socket.io-client browser bundle and connects to
// /devices with the token in the CONNECT auth payload, as browsers must.
//
// For each transport setup of the page (polling then upgrade, WebSocket only, polling only) it
// waits until the page shows it is connected and subscribed, publishes telemetry through the
// internal listener, and checks that the page shows those values and the transport the browser
// really used. The browser's own network events (Chrome DevTools Protocol) confirm it: the
// polling requests and WebSocket the page opened, the CORS headers, the Origin, the CONNECT
// packet with the token and no Authorization header anywhere. A second origin that kamea-wss does
// not list cannot poll (so CORS is really in play), the page shows the service's errors, and the
// simulator of `make run` feeds the page. UPDATE_SCREENSHOT=1 saves docs/demo.png.
//
// Run: node --test tests/browser/   (needs build/kamea-wss, or $KAMEA_WSS_BIN, and /usr/bin/chromium;
// skipped with a message when chromium is missing). Timeouts only fail a hung step: nothing here
// checks how long anything takes.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startStandin } from '../../tools/management-api/server.mjs';
import { deviceModel } from '../../tools/simulator/simulator.mjs';
import { killOnExit, readJsonLines } from '../lib/processes.mjs';
import { CHROMIUM, launchChromium, STEP_TIMEOUT } from './cdp.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SERVER_BIN = process.env.KAMEA_WSS_BIN
    ? path.resolve(ROOT, process.env.KAMEA_WSS_BIN)
    : path.join(ROOT, 'build/kamea-wss');
const SCREENSHOT = path.join(ROOT, 'docs/demo.png');
const TENANT = 'demo';
const DEVICES = ['demo-1', 'demo-2', 'demo-3'];
const INGEST_TOKEN = `ingest-${randomBytes(6).toString('hex')}`;

// ---------------------------------------------------------------------------------------------
// Child processes that print one JSON object per line on stdout

function startProcess(name, command, args) {
    const proc = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const child = { name, proc, lines: [], stderr: '', waiters: new Set(), exit: null };
    killOnExit(proc);
    readJsonLines(proc.stdout, (line, text) => {
        child.lines.push(line);
        if (process.env.KAMEA_TEST_LOGS) {
            process.stderr.write(`[${name}] ${text}\n`);
        }
        for (const waiter of child.waiters) {
            waiter();
        }
    });
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
        child.stderr = (child.stderr + chunk).slice(-10_000);
    });
    child.exited = new Promise((resolve) => {
        proc.on('close', (code, signal) => {
            child.exit = { code, signal };
            for (const waiter of child.waiters) {
                waiter();
            }
            resolve(child.exit);
        });
        proc.on('error', (err) => {
            child.stderr += `${err.message}\n`;
        });
    });
    /** Resolves with the first line (past or future) matching `predicate`. */
    child.waitFor = (predicate, what) => new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`${name}: timed out waiting for ${what}`)), STEP_TIMEOUT);
        const check = () => {
            const line = child.lines.find(predicate);
            if (line) {
                done(null, line);
            } else if (child.exit) {
                done(new Error(`${name} exited (${JSON.stringify(child.exit)}) before ${what}: ${child.stderr.trim()}`));
            }
        };
        const done = (err, line) => {
            clearTimeout(timer);
            child.waiters.delete(check);
            if (err) {
                reject(err);
            } else {
                resolve(line);
            }
        };
        child.waiters.add(check);
        check();
    });
    child.stop = async () => {
        if (!child.exit) {
            proc.kill('SIGTERM');
            const timer = setTimeout(() => proc.kill('SIGKILL'), STEP_TIMEOUT);
            await child.exited;
            clearTimeout(timer);
        }
        return child.exit;
    };
    return child;
}

async function startDemoServer(name, service) {
    const child = startProcess(name, process.execPath, [
        path.join(ROOT, 'tools/demo/serve.mjs'), '--port', '0', '--service', service, '--quiet',
    ]);
    const line = await child.waitFor((l) => l.event === 'listening', 'the demo server to listen');
    child.origin = `http://127.0.0.1:${line.port}`;
    return child;
}

async function startKamea(apiUrl, corsOrigin) {
    const child = startProcess('kamea-wss', SERVER_BIN, [
        '--public-host', '127.0.0.1', '--public-port', '0',
        '--internal-host', '127.0.0.1', '--internal-port', '0',
        '--threads', '2',
        '--management-api-url', apiUrl,
        '--cors-origins', corsOrigin,
        '--ingest-token', INGEST_TOKEN,
        '--shutdown-grace', '1000',
    ]);
    const listening = (listener) => child.waitFor(
        (l) => l.event === 'listening' && l.listener === listener, `the ${listener} listener`);
    const [pub, internal] = await Promise.all([listening('public'), listening('internal')]);
    child.url = `http://127.0.0.1:${pub.port}`;
    child.internalUrl = `http://127.0.0.1:${internal.port}`;
    return child;
}

/** POSTs telemetry to kamea-wss's internal listener; resolves with the JSON answer. */
async function publish(kamea, telemetries) {
    const res = await fetch(`${kamea.internalUrl}/internal/v1/telemetries`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST_TOKEN}` },
        body: JSON.stringify(telemetries),
    });
    const body = await res.json();
    assert.equal(res.status, 202, JSON.stringify(body));
    assert.equal(body.accepted, telemetries.length);
    return body;
}

// ---------------------------------------------------------------------------------------------
// What the page shows, read from its DOM

const PAGE_STATE = `(() => ({
    state: document.querySelector('#connection-state').dataset.state,
    transport: document.querySelector('#transport').textContent,
    history: document.querySelector('#transport-history').textContent,
    subscriptions: document.querySelector('#subscription-summary').textContent,
    service: document.querySelector('#service-url').textContent,
    events: [...document.querySelectorAll('#errors li')].map((li) => li.textContent),
    devices: Object.fromEntries([...document.querySelectorAll('.device')].map((card) => [card.dataset.device, {
        subscription: card.dataset.subscription,
        ...Object.fromEntries([...card.querySelectorAll('[data-field]')]
            .filter((el) => el.dataset.field !== 'raw')
            .map((el) => [el.dataset.field, el.textContent])),
        points: Number(card.querySelector('canvas').dataset.points),
    }])),
}))()`;

const readPage = (page) => page.evaluate(PAGE_STATE);

/** Waits until `check(state)` is true for the page state; resolves with that state. */
async function waitForPage(page, what, check) {
    const source = `((s) => (${check.toString()})(s))(${PAGE_STATE})`;
    await page.waitFor(source, what, { describe: PAGE_STATE });
    return readPage(page);
}

const connectedAndSubscribed = (s) => s.state === 'connected' &&
    Object.values(s.devices).length === 3 &&
    Object.values(s.devices).every((d) => d.subscription === 'subscribed');

// ---------------------------------------------------------------------------------------------
// What the browser did on the network, from the Chrome DevTools Protocol events of the tab

function header(headers, name) {
    const key = Object.keys(headers ?? {}).find((k) => k.toLowerCase() === name);
    return key === undefined ? undefined : headers[key];
}

function network(page, serviceUrl) {
    const ofService = (url) => url.startsWith(`${serviceUrl}/socket.io/`) ||
        url.startsWith(`${serviceUrl.replace(/^http/, 'ws')}/socket.io/`);
    const requests = new Map(); // requestId -> {url, method, postData, headers, response}
    const sockets = new Map(); // requestId -> {url, handshake, framesSent}
    const extraHeaders = new Map(); // requestId -> headers
    for (const { method, params } of page.events) {
        if (method === 'Network.requestWillBeSent' && ofService(params.request.url)) {
            const r = params.request;
            const postData = r.postData ?? (r.postDataEntries ?? [])
                .map((e) => Buffer.from(e.bytes ?? '', 'base64').toString('utf8')).join('');
            requests.set(params.requestId, { url: r.url, method: r.method, postData, headers: { ...r.headers } });
        } else if (method === 'Network.requestWillBeSentExtraInfo') {
            // The headers really sent (Origin included); may come before requestWillBeSent.
            extraHeaders.set(params.requestId, params.headers);
        } else if (method === 'Network.responseReceived' && requests.has(params.requestId)) {
            requests.get(params.requestId).response = params.response;
        } else if (method === 'Network.loadingFailed' && requests.has(params.requestId)) {
            requests.get(params.requestId).failed = params;
        } else if (method === 'Network.webSocketCreated' && ofService(params.url)) {
            sockets.set(params.requestId, { url: params.url, framesSent: [] });
        } else if (method === 'Network.webSocketWillSendHandshakeRequest' && sockets.has(params.requestId)) {
            sockets.get(params.requestId).handshake = params.request.headers;
        } else if (method === 'Network.webSocketFrameSent' && sockets.has(params.requestId)) {
            sockets.get(params.requestId).framesSent.push(params.response.payloadData);
        }
    }
    for (const [id, r] of requests) {
        Object.assign(r.headers, extraHeaders.get(id));
    }
    const all = [...requests.values()];
    return {
        polling: all.filter((r) => new URL(r.url).searchParams.get('transport') === 'polling' && r.method !== 'OPTIONS'),
        requests: all,
        websockets: [...sockets.values()],
        /** Everything the page sent to the service: polling POST bodies and WebSocket frames. */
        sent: [...all.map((r) => r.postData).filter(Boolean), ...[...sockets.values()].flatMap((s) => s.framesSent)],
    };
}

// ---------------------------------------------------------------------------------------------

const noChromium = fs.existsSync(CHROMIUM)
    ? false
    : `${CHROMIUM} not found: the browser test needs Debian's chromium (apt-get install -y chromium)`;

describe('the demo page in headless chromium, from another origin than kamea-wss', { skip: noChromium }, () => {
    let api;
    let demo; // the demo server whose origin kamea-wss lists in --cors-origins
    let kamea;
    let browser;

    before(async () => {
        assert.ok(fs.existsSync(SERVER_BIN), `${SERVER_BIN} is missing: run make build`);
        api = await startStandin({ port: 0 });
        // The page is told where the service is with ?service=, so the demo server can start
        // first and kamea-wss can list its origin.
        demo = await startDemoServer('demo', 'http://127.0.0.1:9');
        kamea = await startKamea(api.url, demo.origin);
        browser = await launchChromium();
    });

    after(async () => {
        await browser?.close();
        await Promise.all([kamea?.stop(), demo?.stop()]);
        await api?.close();
    });

    const modes = [
        // [page's ?transport=, the transport the page ends on, what the browser must have opened]
        ['upgrade', 'websocket', 'polling, then a WebSocket upgrading that session'],
        ['websocket', 'websocket', 'a WebSocket only'],
        ['polling', 'polling', 'long-polling only'],
    ];
    modes.forEach(([mode, finalTransport, description], index) => {
        test(`transport=${mode} (${description}): connects, subscribes and shows published telemetry`, async () => {
            const token = `allow-browser-${mode}-${randomBytes(4).toString('hex')}`;
            const page = await browser.newPage();
            try {
                await page.goto(`${demo.origin}/?${new URLSearchParams({ service: kamea.url, transport: mode, token })}`);
                let state = await waitForPage(page, 'connected and subscribed', connectedAndSubscribed);
                if (mode === 'upgrade') {
                    state = await waitForPage(page, 'the upgrade to websocket', (s) => s.transport === 'websocket');
                    assert.equal(state.history, '(polling \u2192 websocket)');
                }
                assert.equal(state.transport, finalTransport);
                assert.equal(state.service, kamea.url);

                // Telemetry published now, with values of this test only.
                const sent = DEVICES.map((deviceId, i) => ({
                    deviceId,
                    tenantId: TENANT,
                    seq: 1000 * (index + 1) + i,
                    ts: new Date().toISOString(),
                    temperature: Number((17.25 + 3 * index + 0.5 * i).toFixed(2)),
                    humidity: Number((41.5 + 2 * index + i).toFixed(1)),
                }));
                await publish(kamea, sent);
                state = await waitForPage(page, 'the published values on the page', new Function('s', `
                    const sent = ${JSON.stringify(sent)};
                    return sent.every((t) => s.devices[t.deviceId] &&
                        s.devices[t.deviceId].temperature === String(t.temperature) &&
                        s.devices[t.deviceId].humidity === String(t.humidity) &&
                        s.devices[t.deviceId].seq === String(t.seq) &&
                        s.devices[t.deviceId].ts === t.ts);`));
                assert.equal(state.state, 'connected');
                assert.equal(state.transport, finalTransport, 'the page still shows the expected transport');

                // The browser's own view of the network.
                const net = network(page, kamea.url);
                const pageOrigin = await page.evaluate('location.origin');
                assert.equal(pageOrigin, demo.origin);
                assert.notEqual(pageOrigin, new URL(kamea.url).origin, 'the page and the service are on different origins');
                if (finalTransport === 'polling' || mode === 'upgrade') {
                    const answered = net.polling.filter((x) => x.response);
                    assert.ok(answered.length > 0, 'the browser polled and read the answers');
                    for (const r of answered) {
                        assert.equal(header(r.headers, 'origin'), demo.origin, `Origin of ${r.method} ${r.url}`);
                        assert.equal(header(r.response.headers, 'access-control-allow-origin'), demo.origin,
                            `CORS answer to ${r.method} ${r.url}`);
                    }
                } else {
                    assert.deepEqual(net.polling.map((r) => r.url), [], 'no polling request in websocket-only mode');
                }
                if (finalTransport === 'websocket') {
                    assert.equal(net.websockets.length, 1, JSON.stringify(net.websockets.map((s) => s.url)));
                    const ws = new URL(net.websockets[0].url);
                    assert.equal(ws.searchParams.get('transport'), 'websocket');
                    // An upgrade carries the sid of the polling session; a direct WebSocket has none.
                    assert.equal(ws.searchParams.has('sid'), mode === 'upgrade', ws.href);
                    assert.equal(header(net.websockets[0].handshake, 'origin'), demo.origin);
                } else {
                    assert.deepEqual(net.websockets.map((s) => s.url), [], 'no WebSocket in polling-only mode');
                }
                // The token travels in the CONNECT packet's auth payload, never in a header.
                const connectPacket = `40/devices,${JSON.stringify({ token })}`;
                assert.ok(net.sent.some((payload) => payload.includes(connectPacket)),
                    `the page sent ${connectPacket}; it sent: ${JSON.stringify(net.sent.slice(0, 5))}`);
                for (const r of net.requests) {
                    assert.equal(header(r.headers, 'authorization'), undefined, `no Authorization on ${r.url}`);
                }
                for (const s of net.websockets) {
                    assert.equal(header(s.handshake, 'authorization'), undefined, 'no Authorization on the WebSocket');
                }
                // ... and it is the token the service presented to the Management API.
                const byKey = api.stats().byKey;
                for (const deviceId of DEVICES) {
                    assert.ok(byKey[`${token}|${TENANT}|${deviceId}`] >= 1, `check of ${deviceId} with the page's token`);
                }
            } finally {
                await page.close();
            }
        });
    });

    test('an origin that kamea-wss does not list cannot poll: the browser blocks it (CORS)', async () => {
        // This demo server gives the page the service URL through /config.json (no ?service=).
        const stranger = await startDemoServer('demo-unlisted', kamea.url);
        const page = await browser.newPage();
        try {
            await page.goto(`${stranger.origin}/?transport=polling`);
            const state = await waitForPage(page, 'a connect_error', (s) => s.events.some((e) => e.includes('connect_error')));
            assert.equal(state.service, kamea.url, 'the page took the service URL from config.json');
            assert.notEqual(state.state, 'connected');
            assert.ok(state.events.some((e) => e.includes('xhr poll error') && e.includes('--cors-origins')),
                JSON.stringify(state.events));
            const blocked = network(page, kamea.url).requests.filter((r) => r.failed?.corsErrorStatus);
            assert.ok(blocked.length > 0, 'chromium reports a CORS error on the handshake');
            assert.equal(blocked[0].failed.corsErrorStatus.corsError, 'MissingAllowOriginHeader');
        } finally {
            await page.close();
            await stranger.stop();
        }
    });

    test('the page shows the service\'s errors: access_denied, internal_server_error, connect_error', async () => {
        const open = async (params) => {
            const page = await browser.newPage();
            await page.goto(`${demo.origin}/?${new URLSearchParams({ service: kamea.url, transport: 'websocket', ...params })}`);
            return page;
        };
        let page = await open({ token: `deny-${randomBytes(4).toString('hex')}` });
        try {
            const state = await waitForPage(page, 'access_denied and the disconnect', (s) =>
                s.events.some((e) => e.includes('access_denied')) && s.state === 'disconnected' &&
                s.events.some((e) => e.includes('io server disconnect')));
            assert.ok(Object.values(state.devices).some((d) => d.subscription === 'denied'), JSON.stringify(state.devices));
        } finally {
            await page.close();
        }

        page = await open({ token: `e500-${randomBytes(4).toString('hex')}` });
        try {
            const state = await waitForPage(page, 'internal_server_error', (s) =>
                s.events.some((e) => e.includes('internal_server_error')) &&
                Object.values(s.devices).every((d) => d.subscription.startsWith('error')));
            assert.equal(state.state, 'connected', 'an authorization error keeps the connection');
            assert.ok(state.events.some((e) => e.includes('management API answered 500')), JSON.stringify(state.events));
        } finally {
            await page.close();
        }

        page = await open({ token: '' });
        try {
            const state = await waitForPage(page, 'connect_error', (s) => s.events.some((e) => e.includes('connect_error')));
            assert.ok(state.events.some((e) => e.includes('Unauthorized: missing bearer token')), JSON.stringify(state.events));
            assert.equal(state.state, 'error');
        } finally {
            await page.close();
        }
    });

    test('the simulator of make run feeds the page (and UPDATE_SCREENSHOT=1 saves docs/demo.png)', async () => {
        const page = await browser.newPage({ width: 1280, height: 700 });
        let simulator;
        try {
            await page.goto(`${demo.origin}/?${new URLSearchParams({ service: kamea.url })}`);
            await waitForPage(page, 'connected and subscribed', connectedAndSubscribed);

            // A minute and a half of history from the simulator's own model, in one batch...
            const now = Date.now();
            const history = DEVICES.map((d) => deviceModel(d, TENANT));
            const batch = [];
            for (let s = 90; s >= 1; s -= 1) {
                batch.push(...history.map((m) => m.next(now - s * 1000)));
            }
            await publish(kamea, batch);
            await waitForPage(page, 'the history on the page', (s) =>
                Object.values(s.devices).every((d) => d.received === '90'));

            // ... then the simulator itself, as `make run` starts it.
            simulator = startProcess('simulator', process.execPath, [
                path.join(ROOT, 'tools/simulator/simulator.mjs'),
                '--url', kamea.internalUrl, '--ingest-token', INGEST_TOKEN, '--interval', '250',
            ]);
            const batches = () => simulator.lines.filter((l) => l.event === 'batch');
            await simulator.waitFor(() => batches().length >= 2, 'two batches');
            for (const line of batches()) {
                assert.equal(line.status, 202, JSON.stringify(line));
                assert.equal(line.accepted, 3, JSON.stringify(line));
            }
            // The simulator counts seq from 1: the last value shown is its, after the 90 above.
            await waitForPage(page, 'the simulator\'s telemetry on the page', (s) =>
                Object.values(s.devices).every((d) => Number(d.received) >= 92 &&
                    Number(d.seq) === Number(d.received) - 90));
            const exit = await simulator.stop();
            assert.deepEqual(exit, { code: 0, signal: null }, simulator.stderr);
            assert.equal(simulator.lines.at(-1).event, 'stopped');

            // The chart has drawn every point received.
            const state = await waitForPage(page, 'the charts drawn', (s) =>
                Object.values(s.devices).every((d) => d.points === Number(d.received)));
            assert.equal(state.state, 'connected');
            if (process.env.UPDATE_SCREENSHOT === '1') {
                fs.writeFileSync(SCREENSHOT, await page.screenshot());
            }
        } finally {
            await simulator?.stop();
            await page.close();
        }
    });
});
