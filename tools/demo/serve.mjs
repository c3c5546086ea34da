#!/usr/bin/env node
// The demo page's own tiny web server (`make run`; not part of the production service). It
// serves tools/demo/{index.html,app.js,style.css}, the stock socket.io-client browser bundle from
// tests/node_modules (no CDN), and /config.json, which tells the page where kamea-wss is. It
// runs on another port, hence another origin, than the service, as a real front end would: the
// service must list this origin in --cors-origins for the polling transport to work.
//
//   node tools/demo/serve.mjs [--port 8080] [--host 127.0.0.1] [--service http://127.0.0.1:3000]
//       [--tenant demo] [--devices demo-1,demo-2,demo-3] [--token allow-demo]
//       [--client-dist tests/node_modules/socket.io-client/dist] [--quiet]
//
// First stdout line once listening: {"event":"listening","port":N,"url":"http://127.0.0.1:N/"}
// (port 0 picks a free one); then one JSON line per request unless --quiet. SIGTERM/SIGINT
// closes it and exits 0; a bad flag, a missing client bundle or a busy port exits non-zero.
// Node.js >= 20, standard library only. Also usable in-process: startDemoServer(options).

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');

export const DEFAULTS = {
    port: 8080,
    host: '127.0.0.1',
    service: 'http://127.0.0.1:3000',
    tenant: 'demo',
    devices: ['demo-1', 'demo-2', 'demo-3'],
    token: 'allow-demo',
    clientDist: path.join(ROOT, 'tests/node_modules/socket.io-client/dist'),
};

const TYPES = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.map': 'application/json; charset=utf-8',
    '.json': 'application/json; charset=utf-8',
};

// Scripts, styles and images only from this server (no CDN can sneak in); connections to the
// service wherever --service (or ?service=) says.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self' http: https: ws: wss:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * Starts the demo server. Resolves to {server, port, url, close()}; rejects if it cannot listen
 * or the client bundle is missing.
 */
export async function startDemoServer(options = {}) {
    const opts = { ...DEFAULTS, ...options };
    const service = new URL(opts.service);
    if (!['http:', 'https:'].includes(service.protocol)) {
        throw new Error(`service must be an http(s) URL: ${opts.service}`);
    }
    const bundle = path.join(opts.clientDist, 'socket.io.min.js');
    if (!fs.existsSync(bundle)) {
        throw new Error(`the socket.io-client browser bundle is missing (${bundle}): run \`npm ci\` in tests/ ` +
            '(scripts/install-deps.sh does)');
    }
    const config = JSON.stringify({
        service: service.origin + service.pathname.replace(/\/+$/, ''),
        tenant: opts.tenant,
        devices: opts.devices,
        token: opts.token,
    });
    const files = new Map([
        ['/', path.join(HERE, 'index.html')],
        ['/index.html', path.join(HERE, 'index.html')],
        ['/app.js', path.join(HERE, 'app.js')],
        ['/style.css', path.join(HERE, 'style.css')],
        ['/vendor/socket.io.min.js', bundle],
        ['/vendor/socket.io.min.js.map', `${bundle}.map`],
    ]);
    const log = typeof opts.log === 'function' ? opts.log : opts.log ? (line) => {
        process.stdout.write(`${JSON.stringify(line)}\n`);
    } : () => {};

    const server = http.createServer((req, res) => {
        const started = performance.now();
        res.on('finish', () => log({
            time: new Date().toISOString(), event: 'request', method: req.method, path: req.url,
            status: res.statusCode, ms: Math.round(performance.now() - started),
        }));
        const send = (status, type, body, extra = {}) => {
            res.writeHead(status, {
                'content-type': type,
                'content-length': Buffer.byteLength(body),
                'cache-control': 'no-store',
                'x-content-type-options': 'nosniff',
                'content-security-policy': CSP,
                'referrer-policy': 'no-referrer',
                ...extra,
            });
            res.end(req.method === 'HEAD' ? undefined : body);
        };
        if (req.method !== 'GET' && req.method !== 'HEAD') {
            send(405, 'application/json', '{"error":"method_not_allowed"}', { allow: 'GET, HEAD' });
            return;
        }
        const pathname = new URL(req.url, 'http://x').pathname;
        if (pathname === '/config.json') {
            send(200, TYPES['.json'], config);
            return;
        }
        if (pathname === '/favicon.ico') {
            send(204, 'image/x-icon', '');
            return;
        }
        const file = files.get(pathname);
        if (!file) {
            send(404, 'application/json', '{"error":"not_found"}');
            return;
        }
        fs.readFile(file, (err, body) => {
            if (err) {
                send(404, 'application/json', '{"error":"not_found"}');
            } else {
                send(200, TYPES[path.extname(file)] ?? 'application/octet-stream', body);
            }
        });
    });
    server.keepAliveTimeout = 5000;

    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(opts.port, opts.host, () => {
            server.off('error', reject);
            resolve();
        });
    });
    const { port } = server.address();
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    return {
        server,
        port,
        url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}/`,
        close: () => new Promise((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
        }),
    };
}

function fail(message) {
    process.stderr.write(`demo server: ${message}\n` +
        'usage: node tools/demo/serve.mjs [--port 8080] [--host 127.0.0.1] [--service http://127.0.0.1:3000]\n' +
        '       [--tenant demo] [--devices demo-1,demo-2,demo-3] [--token allow-demo] [--client-dist DIR] [--quiet]\n');
    process.exit(2);
}

async function main() {
    let values;
    try {
        ({ values } = parseArgs({
            options: {
                port: { type: 'string', default: String(DEFAULTS.port) },
                host: { type: 'string', default: DEFAULTS.host },
                service: { type: 'string', default: DEFAULTS.service },
                tenant: { type: 'string', default: DEFAULTS.tenant },
                devices: { type: 'string', default: DEFAULTS.devices.join(',') },
                token: { type: 'string', default: DEFAULTS.token },
                'client-dist': { type: 'string', default: DEFAULTS.clientDist },
                quiet: { type: 'boolean', default: false },
            },
            strict: true,
            allowPositionals: false,
        }));
    } catch (err) {
        fail(err.message);
    }
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
        fail(`--port must be an integer from 0 to 65535: ${values.port}`);
    }
    try {
        new URL(values.service); // eslint-disable-line no-new
    } catch {
        fail(`--service is not a URL: ${values.service}`);
    }
    const devices = values.devices.split(',').map((d) => d.trim()).filter(Boolean);
    let demo;
    try {
        demo = await startDemoServer({
            port,
            host: values.host,
            service: values.service,
            tenant: values.tenant,
            devices,
            token: values.token,
            clientDist: path.resolve(values['client-dist']),
            log: !values.quiet,
        });
    } catch (err) {
        process.stderr.write(`demo server: ${err.message}\n`);
        process.exit(1);
    }
    process.stdout.write(`${JSON.stringify({ event: 'listening', port: demo.port, url: demo.url })}\n`);
    const stop = async () => {
        await demo.close();
        process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
}

const isMain = () => {
    try {
        return fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
    } catch {
        return false;
    }
};
if (process.argv[1] && isMain()) {
    main();
}
