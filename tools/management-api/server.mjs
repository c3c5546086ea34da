#!/usr/bin/env node
// A stand-in for the platform's Management API (contract.md section 6), for the tests and
// `make run`. The answer to POST /authorization/check-authorized is chosen by the bearer token
// (see README.md); /_control/* lets a test revoke tokens, add latency and read counters.
// Node standard library only. Run as a script (CLI below) or import startStandin().
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CHECK_PATH = '/authorization/check-authorized';
const MAX_BODY = 64 * 1024;
const MAX_DELAY_MS = 600_000;
const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;
const PERMISSION = /^[\w.-]+:[\w.-]+$/;

const isDelay = (v) => Number.isInteger(v) && v >= 0 && v <= MAX_DELAY_MS;
const pem = (v) => (/-----BEGIN /.test(v) ? v : fs.readFileSync(v));
// At most the first 4 characters of a token, and never all of a short one.
const tokenHint = (t) => t.slice(0, Math.min(4, t.length - 1));

/** The claims of a token shaped like a JWT (three base64url parts, the middle one a JSON
 * object), else null. The signature is not checked: this is a stand-in. */
export function jwtClaims(token) {
    const parts = token.split('.');
    if (parts.length !== 3 || !/^[A-Za-z0-9_-]+$/.test(parts[1])) return null;
    try {
        const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
        return typeof claims === 'object' && claims !== null && !Array.isArray(claims) ? claims : null;
    } catch {
        return null;
    }
}

/** A JWT-shaped test token with these claims, e.g. {sub: 'allow-u1', exp: <seconds>}. */
export function makeJwt(claims) {
    const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.stand-in`;
}

/** Validates {"tokens": {"<token>": {status?, body?, rawBody?, delayMs?}}}; returns the map. */
function loadRules(rules) {
    if (rules == null) return {};
    const r = typeof rules === 'string' ? JSON.parse(fs.readFileSync(rules, 'utf8')) : rules;
    const tokens = r?.tokens ?? {};
    if (typeof r !== 'object' || typeof tokens !== 'object' || Array.isArray(tokens)) {
        throw new Error('rules: expected {"tokens": {"<token>": {"status", "body", "delayMs"}}}');
    }
    for (const [token, rule] of Object.entries(tokens)) {
        if (typeof rule !== 'object' || rule === null) throw new Error(`rules: token ${tokenHint(token)}…: expected an object`);
        const status = rule.status ?? 200;
        if (!Number.isInteger(status) || status < 200 || status > 599) {
            throw new Error(`rules: token ${tokenHint(token)}…: status must be an integer 200-599`);
        }
        if (!isDelay(rule.delayMs ?? 0)) {
            throw new Error(`rules: token ${tokenHint(token)}…: delayMs must be 0-${MAX_DELAY_MS}`);
        }
        if (rule.rawBody !== undefined && typeof rule.rawBody !== 'string') {
            throw new Error(`rules: token ${tokenHint(token)}…: rawBody must be a string`);
        }
    }
    return tokens;
}

function readBody(req) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let size = 0;
        req.on('data', (c) => {
            size += c.length;
            if (size <= MAX_BODY) chunks.push(c);
        });
        req.on('end', () => resolve(size > MAX_BODY ? null : Buffer.concat(chunks).toString('utf8')));
        req.on('error', reject);
    });
}

/** Sends `body` (an object is sent as JSON, a string as is) unless the client went away. */
function send(res, status, body, { type = 'application/json', headers = {} } = {}) {
    if (res.destroyed || res.headersSent) return;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text), ...headers });
    res.end(text);
}
const error = (res, status, code, message, headers) => send(res, status, { error: code, message }, { headers });

/** Waits `ms`, or less if the response is closed meanwhile (client gone, server closing). */
function wait(ms, res) {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
        const done = () => { clearTimeout(timer); res.off('close', done); resolve(); };
        const timer = setTimeout(done, ms);
        res.once('close', done);
    });
}

/**
 * Starts the stand-in. Options: port (0 = any free one), host (loopback only, default
 * 127.0.0.1), tlsCert/tlsKey (file paths or PEM text: HTTPS), rules (object or JSON file path),
 * keepAliveTimeoutMs (default 30000), log (true = JSON lines on stdout, or a function(line)),
 * onToken (a function called with every bearer token a check carries: the tests' log check
 * searches the server's logs for each).
 */
export async function startStandin(options = {}) {
    const { port = 0, host = '127.0.0.1', tlsCert, tlsKey, keepAliveTimeoutMs = 30_000 } = options;
    if (!LOOPBACK.test(host)) throw new Error(`host ${host}: the stand-in only listens on loopback`);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port ${port}`);
    if (!tlsCert !== !tlsKey) throw new Error('tlsCert and tlsKey go together');
    const rules = loadRules(options.rules);
    const log = typeof options.log === 'function' ? options.log
        : options.log ? (line) => process.stdout.write(`${JSON.stringify(line)}\n`) : () => {};

    const tls = Boolean(tlsCert);
    const revoked = new Set();
    let delayMs = 0;
    let inFlight = 0;
    let counters;
    const reset = () => {
        revoked.clear();
        delayMs = 0;
        counters = { requests: 0, connections: 0, checkConnections: 0, inFlightMax: inFlight,
            byKey: {}, byPermission: {}, seen: new WeakSet() };
    };
    reset();
    const stats = () => {
        const { seen, ...rest } = counters;
        return structuredClone({ ...rest, inFlight });
    };
    const revoke = (token) => {
        if (typeof token !== 'string' || !token.startsWith('revocable')) {
            throw new Error('only tokens starting with "revocable" can be revoked');
        }
        revoked.add(token);
    };
    const setDelay = (ms) => {
        if (!isDelay(ms)) throw new Error(`ms must be an integer 0-${MAX_DELAY_MS}`);
        delayMs = ms;
    };

    /** The answer for a valid check, decided when it is sent (after any delay). */
    function answer(token, deviceId) {
        const ok = (authorized) => ({ status: 200, body: { authorized } });
        const rule = Object.hasOwn(rules, token) ? rules[token] : null;
        if (rule) return { status: rule.status ?? 200, body: rule.rawBody ?? rule.body ?? {} };
        const jwt = jwtClaims(token);
        if (jwt) {
            if (typeof jwt.exp === 'number' && jwt.exp * 1000 <= Date.now()) {
                return { status: 401, body: { error: 'unauthorized', message: 'stand-in: token expired' } };
            }
            return typeof jwt.sub === 'string' && jwtClaims(jwt.sub) === null ? answer(jwt.sub, deviceId) : ok(false);
        }
        if (deviceId.startsWith('forbidden')) return ok(false);
        if (token.startsWith('allow') || /^slow\d+-/.test(token)) return ok(true);
        if (token.startsWith('revocable')) return ok(!revoked.has(token));
        const fail = { e401: [401, 'unauthorized'], e403: [403, 'forbidden'], e500: [500, 'internal'] }[token.slice(0, 4)];
        if (fail) return { status: fail[0], body: { error: fail[1], message: `stand-in: ${fail[0]} by token` } };
        if (token.startsWith('e503')) {
            return { status: 503, body: 'Service Unavailable\n', type: 'text/plain', headers: { 'Retry-After': '1' } };
        }
        if (token.startsWith('garbage')) return { status: 200, body: '<html>not JSON {"authorized":true' };
        if (token.startsWith('noflag')) return { status: 200, body: {} };
        return ok(false);
    }

    async function check(req, res, text, entry) {
        counters.requests++;
        if (!counters.seen.has(req.socket)) {
            counters.seen.add(req.socket);
            counters.checkConnections++;
        }
        inFlight++;
        counters.inFlightMax = Math.max(counters.inFlightMax, inFlight);
        res.once('close', () => inFlight--);

        if (req.method !== 'POST') return error(res, 405, 'method_not_allowed', 'use POST', { Allow: 'POST' });
        const auth = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
        if (!auth) return error(res, 400, 'bad_request', 'missing or malformed Authorization: Bearer <token>');
        const token = auth[1];
        options.onToken?.(token);
        entry.token = tokenHint(token);
        const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
        if (type !== 'application/json') return error(res, 400, 'bad_request', 'Content-Type must be application/json');
        if (text === null) return error(res, 413, 'payload_too_large', `body over ${MAX_BODY} bytes`);
        let body;
        try {
            body = JSON.parse(text);
        } catch {
            return error(res, 400, 'bad_request', 'body is not valid JSON');
        }
        if (typeof body !== 'object' || body === null || Array.isArray(body)) {
            return error(res, 400, 'bad_request', 'body must be a JSON object');
        }
        for (const field of ['tenantId', 'deviceId']) {
            if (typeof body[field] !== 'string' || body[field] === '') {
                return error(res, 400, 'bad_request', `${field} must be a non-empty string`);
            }
        }
        if (typeof body.permission !== 'string' || !PERMISSION.test(body.permission)) {
            return error(res, 400, 'bad_request', 'permission must be a string like "telemetries:read"');
        }
        const { tenantId, deviceId, permission } = body;
        Object.assign(entry, { tenantId, deviceId, permission });
        const key = `${token}|${tenantId}|${deviceId}`;
        counters.byKey[key] = (counters.byKey[key] ?? 0) + 1;
        counters.byPermission[permission] = (counters.byPermission[permission] ?? 0) + 1;

        const slow = /^slow(\d+)-/.exec(token);
        const ruleDelay = Object.hasOwn(rules, token) ? rules[token].delayMs ?? 0 : 0;
        await wait(delayMs + (slow ? Math.min(Number(slow[1]), MAX_DELAY_MS) : 0) + ruleDelay, res);
        const a = answer(token, deviceId);
        send(res, a.status, a.body, { type: a.type, headers: a.headers });
    }

    function control(req, res, path, text) {
        const route = `${req.method} ${path}`;
        let body = {};
        try {
            if (text?.trim()) body = JSON.parse(text);
        } catch {
            return error(res, 400, 'bad_request', 'body is not valid JSON');
        }
        try {
            if (route === 'GET /_control/stats') return send(res, 200, stats());
            if (route === 'POST /_control/reset') return reset(), send(res, 200, { reset: true });
            if (route === 'POST /_control/revoke') return revoke(body?.token), send(res, 200, { revoked: true });
            if (route === 'POST /_control/delay') return setDelay(body?.ms), send(res, 200, { delayMs });
        } catch (err) {
            return error(res, 400, 'bad_request', err.message);
        }
        const known = ['/_control/stats', '/_control/reset', '/_control/revoke', '/_control/delay'];
        if (known.includes(path)) return error(res, 405, 'method_not_allowed', `${req.method} not allowed on ${path}`);
        return error(res, 404, 'not_found', `no route ${path}`);
    }

    async function handle(req, res) {
        const started = Date.now();
        const path = new URL(req.url, 'http://standin').pathname;
        const entry = { event: 'request', method: req.method, path };
        res.once('close', () => log({ time: new Date().toISOString(), ...entry, status: res.statusCode,
            ms: Date.now() - started, ...(res.writableFinished ? {} : { aborted: true }) }));
        try {
            const text = await readBody(req);
            if (path === CHECK_PATH) return await check(req, res, text, entry);
            if (path.startsWith('/_control/')) return control(req, res, path, text);
            return error(res, 404, 'not_found', `no route ${path}`);
        } catch (err) {
            return error(res, 500, 'internal', err.message);
        }
    }

    const server = tls
        ? https.createServer({ cert: pem(tlsCert), key: pem(tlsKey) }, handle)
        : http.createServer(handle);
    server.keepAliveTimeout = keepAliveTimeoutMs;
    server.on('connection', () => counters.connections++);
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
            server.off('error', reject);
            resolve();
        });
    });
    const actualPort = server.address().port;
    const close = () => new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
    });
    const urlHost = host.includes(':') ? `[${host}]` : host;
    return { port: actualPort, url: `${tls ? 'https' : 'http'}://${urlHost}:${actualPort}`, tls,
        server, close, stats, reset, revoke, setDelay };
}

const USAGE = `usage: server.mjs [--port 0] [--host 127.0.0.1] [--tls-cert file --tls-key file]
                  [--rules file.json] [--keep-alive-timeout ms] [--quiet]`;

async function main(argv) {
    let values;
    try {
        ({ values } = parseArgs({ args: argv, strict: true, options: {
            port: { type: 'string', default: '0' },
            host: { type: 'string', default: '127.0.0.1' },
            'tls-cert': { type: 'string' },
            'tls-key': { type: 'string' },
            rules: { type: 'string' },
            'keep-alive-timeout': { type: 'string', default: '30000' },
            quiet: { type: 'boolean', default: false },
            help: { type: 'boolean', short: 'h', default: false },
        } }));
    } catch (err) {
        process.stderr.write(`${err.message}\n${USAGE}\n`);
        process.exit(2);
    }
    if (values.help) {
        process.stdout.write(`${USAGE}\n`);
        return;
    }
    const int = (name) => {
        if (!/^\d+$/.test(values[name])) {
            process.stderr.write(`--${name}: expected a non-negative integer, got "${values[name]}"\n`);
            process.exit(2);
        }
        return Number(values[name]);
    };
    let standin;
    try {
        standin = await startStandin({ port: int('port'), host: values.host, tlsCert: values['tls-cert'],
            tlsKey: values['tls-key'], rules: values.rules, keepAliveTimeoutMs: int('keep-alive-timeout'),
            log: !values.quiet });
    } catch (err) {
        process.stderr.write(`management-api stand-in: ${err.message}\n`);
        process.exit(1);
    }
    process.stdout.write(`${JSON.stringify({ event: 'listening', port: standin.port, tls: standin.tls })}\n`);
    const stop = () => standin.close().then(() => process.exit(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
}

const isMain = () => {
    try {
        return fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
    } catch {
        return false;
    }
};
if (isMain()) await main(process.argv.slice(2));
