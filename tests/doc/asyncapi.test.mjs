// The AsyncAPI document served at /doc (contract section 5):
// - asyncapi/asyncapi.yaml is a valid AsyncAPI 3.0 document for @asyncapi/parser (warnings allowed);
// - it describes every event of the service in the right direction (client's point of view:
//   send = the client emits, receive = the client gets), with the acks, JSON Schemas that hold
//   the id rule, examples that match their schemas, and the operational notes;
// - scripts/build-doc.sh builds the offline site (index.html, asyncapi.yaml, asyncapi.json from
//   the same source, the renderer's bundle and CSS), idempotently;
// - the page, served under /doc/ by a tiny static server on 127.0.0.1 as the service does,
//   renders the events in headless Debian chromium without any other host.
//   UPDATE_SCREENSHOT=1 also saves docs/asyncapi-doc.png.
// Run: node --test tests/doc/

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE = path.join(ROOT, 'asyncapi/asyncapi.yaml');
const CHROMIUM = process.env.KAMEA_CHROMIUM ?? '/usr/bin/chromium'; // override only to test the skip
const ID_PATTERN = '^[A-Za-z0-9._:-]+$';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kamea-doc-test-'));
const out = path.join(tmp, 'doc');

let require; // resolves from asyncapi/node_modules, which the build installs
let parsed; // { document, diagnostics } of asyncapi/asyncapi.yaml
let ajv;

function runBuild() {
    return execFileSync('bash', [path.join(ROOT, 'scripts/build-doc.sh'), out], {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        timeout: 300_000,
    });
}

before(async () => {
    runBuild();
    require = createRequire(path.join(ROOT, 'asyncapi/package.json'));
    const { Parser } = require('@asyncapi/parser');
    parsed = await new Parser().parse(fs.readFileSync(SOURCE, 'utf8'));
    const Ajv = require('ajv');
    ajv = new Ajv({ strict: false, allErrors: true });
});

after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
});

const errorsOf = (diagnostics) => diagnostics.filter((d) => d.severity === 0);
const describeDiagnostic = (d) => `${d.code}: ${d.message} at ${d.path.join('.')}`;

// Every operation as {id, action, names, replyNames, messages, replyMessages}.
function operations() {
    return parsed.document.operations().all().map((op) => {
        const messages = op.messages().all();
        const replyMessages = op.reply()?.messages().all() ?? [];
        return {
            id: op.id(),
            action: op.action(),
            op,
            messages,
            replyMessages,
            names: messages.map((m) => m.name()),
            replyNames: replyMessages.map((m) => m.name()),
        };
    });
}

function message(id) {
    const m = parsed.document.allMessages().all().find((x) => x.id() === id);
    assert.ok(m, `message ${id} is in the document`);
    return m;
}

function validator(messageId) {
    return ajv.compile(message(messageId).payload().json());
}

describe('asyncapi/asyncapi.yaml', () => {
    test('is a valid AsyncAPI 3.0 document for @asyncapi/parser (warnings allowed)', () => {
        const errors = errorsOf(parsed.diagnostics);
        assert.deepEqual(errors.map(describeDiagnostic), [], 'no parser errors');
        assert.ok(parsed.document, 'the parser returned a document');
        assert.equal(parsed.document.version(), '3.0.0');
        const others = parsed.diagnostics.filter((d) => d.severity !== 0);
        if (others.length) {
            console.log(`${others.length} parser warning(s)/hint(s): ${others.map(describeDiagnostic).join('; ')}`);
        }
    });

    test('Socket.IO at /socket.io/, namespace /devices, bearer token', () => {
        const servers = parsed.document.servers().all();
        assert.ok(servers.length > 0, 'at least one server');
        for (const s of servers) {
            assert.equal(s.pathname(), '/socket.io/', `server ${s.id()} pathname`);
            const schemes = s.security().flatMap((req) => req.all().map((r) => r.scheme()));
            assert.ok(schemes.some((sc) => sc.type() === 'http' && sc.scheme() === 'bearer'), `server ${s.id()} has a bearer scheme`);
        }
        const channels = parsed.document.channels().all();
        assert.deepEqual(channels.map((c) => c.address()), ['/devices'], 'the only channel is the namespace /devices');
        const bearer = parsed.document.components().securitySchemes().all()[0];
        assert.match(bearer.description(), /auth payload/);
        assert.match(bearer.description(), /Authorization: Bearer/);
    });

    test('every event is there, in the right direction (client point of view)', () => {
        const ops = operations();
        const sends = ops.filter((o) => o.action === 'send');
        const receives = ops.filter((o) => o.action === 'receive');
        const sentNames = sends.flatMap((o) => o.names);
        const receivedNames = receives.flatMap((o) => o.names);

        // Client -> server, each with its ack (the operation's reply).
        for (const event of ['connect', 'telemetries', 'telemetries:unsubscribe', 'auth:refresh']) {
            const op = sends.find((o) => o.names.includes(event));
            assert.ok(op, `a send operation carries the client's "${event}"`);
            assert.ok(op.replyMessages.length > 0, `"${event}" has a reply (its ack or answer)`);
        }
        const connect = sends.find((o) => o.names.includes('connect'));
        assert.ok(connect.replyNames.includes('connect_error'), 'connect can be answered with connect_error');

        // Server -> client.
        for (const event of ['telemetries', 'bad_request', 'access_denied', 'internal_server_error', 'disconnect']) {
            assert.ok(receivedNames.includes(event), `a receive operation carries the server's "${event}"`);
        }
        // Nothing in the wrong direction.
        for (const event of ['bad_request', 'access_denied', 'internal_server_error', 'disconnect', 'connect_error']) {
            assert.ok(!sentNames.includes(event), `"${event}" is not emitted by the client`);
        }
        for (const event of ['telemetries:unsubscribe', 'connect']) {
            assert.ok(!receivedNames.includes(event), `"${event}" is not a server event`);
        }
        for (const o of ops) {
            assert.equal(o.op.channels().all()[0]?.address(), '/devices', `${o.id} is on /devices`);
        }
    });

    test('the id rule (1-128 of [A-Za-z0-9._:-]) is in the schemas and holds', () => {
        const withIds = {
            subscribeTelemetries: ['deviceId', 'tenantId'],
            unsubscribeTelemetries: ['deviceId'],
            telemetry: ['deviceId', 'tenantId'],
            accessDenied: ['deviceId', 'tenantId'],
        };
        for (const [id, fields] of Object.entries(withIds)) {
            const schema = message(id).payload().json();
            for (const f of fields) {
                const p = schema.properties[f];
                assert.equal(p.type, 'string', `${id}.${f} type`);
                assert.equal(p.pattern, ID_PATTERN, `${id}.${f} pattern`);
                assert.equal(p.minLength, 1, `${id}.${f} minLength`);
                assert.equal(p.maxLength, 128, `${id}.${f} maxLength`);
                assert.ok(schema.required.includes(f), `${id}.${f} required`);
            }
        }
        const subscribe = validator('subscribeTelemetries');
        for (const good of ['a', 'A-z_0.9:x', 'x'.repeat(128), 'tenant-1', 'urn:dev:42']) {
            assert.ok(subscribe({ deviceId: good, tenantId: 'acme' }), `"${good}" is a valid id`);
        }
        for (const bad of ['', 'x'.repeat(129), 'a b', 'dév', 'a/b', 'a\n', 42, null]) {
            assert.ok(!subscribe({ deviceId: bad, tenantId: 'acme' }), `${JSON.stringify(bad)} is not a valid id`);
        }
        assert.ok(!subscribe({ deviceId: 'd1' }), 'tenantId is required');
        assert.ok(validator('unsubscribeTelemetries')({ deviceId: 'd1' }));
        assert.ok(!validator('unsubscribeTelemetries')({}), 'unsubscribe needs deviceId');
    });

    test('payload schemas of the server events and the acks', () => {
        const telemetry = validator('telemetry');
        assert.ok(telemetry({ deviceId: 'd1', tenantId: 't1', temperature: 3, nested: { any: [1, 'x'] } }), 'other fields pass through');
        assert.ok(!telemetry({ deviceId: 'd1' }), 'a telemetry has a tenantId');

        const badRequest = validator('badRequest');
        assert.ok(badRequest({ event: 'telemetries', message: 'deviceId is required' }));
        assert.ok(badRequest({ event: 'telemetries:unsubscribe', message: 'deviceId is required' }));
        assert.ok(!badRequest({ message: 'x' }), 'bad_request names the event');

        const denied = validator('accessDenied');
        assert.ok(denied({ deviceId: 'd1', tenantId: 't1', message: 'not authorized for this device' }));
        assert.ok(!denied({ deviceId: 'd1', message: 'x' }));

        const internal = validator('internalServerError');
        assert.ok(internal({ message: 'management API timeout' }));
        assert.ok(!internal({}));

        const connectError = validator('connectError');
        assert.ok(connectError({ message: 'Unauthorized: missing bearer token' }));
        assert.ok(connectError({ message: 'Invalid namespace' }));
        assert.ok(!connectError({ message: 'something else' }));

        const ops = operations();
        const ackOf = (event) => ajv.compile(ops.find((o) => o.action === 'send' && o.names.includes(event)).replyMessages[0].payload().json());
        const ack = ackOf('telemetries');
        assert.ok(ack({ status: 'ok' }));
        for (const error of ['bad_request', 'access_denied', 'internal_server_error']) {
            assert.ok(ack({ status: 'error', error, message: 'why' }), `telemetries ack with error ${error}`);
        }
        assert.ok(!ack({ status: 'error', error: 'teapot', message: 'why' }));
        assert.ok(ack({ status: 'ok', last: true }) && ack({ status: 'ok', last: false }));
        assert.ok(!ack({ status: 'ok', last: 'yes' }));
        assert.ok(validator('subscribeTelemetries')({ deviceId: 'd1', tenantId: 't1', last: true }));
        assert.ok(!validator('subscribeTelemetries')({ deviceId: 'd1', tenantId: 't1', last: 1 }));
        assert.ok(!ack({ status: 'error', error: 'bad_request' }), 'an error ack has a message');
        const refreshAck = ackOf('auth:refresh');
        assert.ok(refreshAck({ status: 'ok' }));
        for (const error of ['bad_request', 'access_denied', 'internal_server_error']) {
            assert.ok(refreshAck({ status: 'error', error, message: 'why' }), `auth:refresh ack with error ${error}`);
        }
        const refresh = validator('refreshToken');
        assert.ok(refresh({ token: 'eyJ.a.b' }));
        assert.ok(!refresh({ token: '' }) && !refresh({}) && !refresh({ token: 'x'.repeat(8193) }));
        assert.ok(badRequest({ event: 'auth:refresh', message: 'token too long (at most 8192 bytes)' }));
        assert.ok(connectError({ message: 'Unauthorized: bearer token too long' }));
        const unsubscribeAck = ackOf('telemetries:unsubscribe');
        assert.ok(unsubscribeAck({ status: 'ok' }));
        assert.ok(unsubscribeAck({ status: 'error', error: 'bad_request', message: 'deviceId is required' }));
    });

    test('every message has examples, and they match their payload schema', () => {
        for (const m of parsed.document.allMessages().all()) {
            const examples = m.examples().all();
            if (m.id() === 'serverDisconnect') {
                continue; // DISCONNECT has no payload
            }
            assert.ok(examples.length > 0, `message ${m.id()} has examples`);
            const validate = ajv.compile(m.payload().json());
            for (const ex of examples) {
                assert.ok(validate(ex.payload()), `example "${ex.name()}" of ${m.id()}: ${ajv.errorsText(validate.errors)}`);
            }
        }
    });

    test('the operational notes are in the descriptions', () => {
        const info = parsed.document.info().description();
        assert.match(info, /client's point of view/);
        assert.match(info, /at most once/i);
        assert.match(info, /publish order per device/i);
        assert.match(info, /Re-authorization/);
        assert.match(info, /--reauth-interval/);
        const ops = operations();
        const denied = ops.find((o) => o.action === 'receive' && o.names.includes('access_denied'));
        assert.match(denied.op.description(), /io server disconnect/);
        const receive = ops.find((o) => o.action === 'receive' && o.names.includes('telemetries'));
        assert.match(receive.op.description(), /at most once/i);
        assert.match(receive.op.description(), /publish order per device/i);
    });
});

describe('scripts/build-doc.sh', () => {
    test('writes the five files, the JSON being the YAML converted', () => {
        assert.deepEqual(fs.readdirSync(out).sort(),
            ['asyncapi-standalone.js', 'asyncapi.css', 'asyncapi.json', 'asyncapi.yaml', 'index.html']);
        assert.equal(fs.readFileSync(path.join(out, 'asyncapi.yaml'), 'utf8'), fs.readFileSync(SOURCE, 'utf8'));
        const yaml = require('js-yaml');
        const fromYaml = yaml.load(fs.readFileSync(SOURCE, 'utf8'), { schema: yaml.CORE_SCHEMA });
        assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'asyncapi.json'), 'utf8')), fromYaml);
        const pkg = path.dirname(require.resolve('@asyncapi/react-component/package.json'));
        assert.ok(fs.readFileSync(path.join(out, 'asyncapi-standalone.js')).equals(fs.readFileSync(path.join(pkg, 'browser/standalone/index.js'))));
        assert.ok(fs.statSync(path.join(out, 'asyncapi.css')).size > 1000);
    });

    test('asyncapi.json is valid for the parser too', async () => {
        const { Parser } = require('@asyncapi/parser');
        const { document, diagnostics } = await new Parser().parse(fs.readFileSync(path.join(out, 'asyncapi.json'), 'utf8'));
        assert.deepEqual(errorsOf(diagnostics).map(describeDiagnostic), []);
        assert.ok(document);
    });

    test('index.html is offline: only relative URLs under <base href="/doc/">', () => {
        const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
        assert.match(html, /<base href="\/doc\/">/);
        assert.doesNotMatch(html, /(https?:)?\/\/[a-z0-9]/i, 'no absolute or protocol-relative URL');
        assert.match(html, /<script src="asyncapi-standalone\.js"><\/script>/);
        assert.match(html, /<link rel="stylesheet" href="asyncapi\.css">/);
        assert.match(html, /url: 'asyncapi\.json'/);
    });

    test('is idempotent: a second run changes nothing', () => {
        const mtimes = () => fs.readdirSync(out).map((f) => [f, fs.statSync(path.join(out, f)).mtimeMs]);
        const before = mtimes();
        const log = runBuild();
        assert.match(log, /0 updated/);
        assert.deepEqual(mtimes(), before);
    });
});

// --- the page in a real browser ---------------------------------------------------------------

const TYPES = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.json': 'application/json',
    '.yaml': 'application/yaml',
};

// Serves dir the way the service does: GET /doc and /doc/ -> index.html, /doc/<name> -> that file.
function serveDoc(dir) {
    const requests = [];
    const server = http.createServer((req, res) => {
        const { pathname } = new URL(req.url, 'http://127.0.0.1');
        let name = null;
        if (pathname === '/doc' || pathname === '/doc/') {
            name = 'index.html';
        } else if (pathname.startsWith('/doc/') && /^[A-Za-z0-9._-]+$/.test(pathname.slice(5))) {
            name = pathname.slice(5);
        }
        const file = name && path.join(dir, name);
        if (!file || !fs.existsSync(file)) {
            requests.push({ pathname, status: 404 });
            res.writeHead(404, { 'Content-Type': 'text/plain' });
            res.end('not found');
            return;
        }
        requests.push({ pathname, status: 200 });
        res.writeHead(200, { 'Content-Type': TYPES[path.extname(name)] ?? 'application/octet-stream' });
        res.end(fs.readFileSync(file));
    });
    return new Promise((resolve) => {
        server.listen(0, '127.0.0.1', () => resolve({ server, requests, base: `http://127.0.0.1:${server.address().port}` }));
    });
}

// Runs headless chromium on url with extra arguments; resolves with its stdout.
function chromium(url, extra) {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kamea-doc-chromium-'));
    const args = [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--disable-dev-shm-usage', '--hide-scrollbars', `--user-data-dir=${profile}`,
        // Any host name other than the IP literal fails: the page must need no other host.
        '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
        // Virtual time runs the page's scripts, its fetch of asyncapi.json and the rendering
        // to the end before the DOM is dumped or the screenshot taken.
        '--virtual-time-budget=30000',
        ...extra,
        url,
    ];
    return new Promise((resolve, reject) => {
        execFile(CHROMIUM, args, { timeout: 120_000, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
            fs.rmSync(profile, { recursive: true, force: true });
            if (err) {
                reject(new Error(`chromium failed: ${err.message}\n${stderr.slice(-2000)}`));
            } else {
                resolve(stdout);
            }
        });
    });
}

const textOf = (html) => html
    .replace(/<script[\s\S]*?<\/script>/gi, ' ')
    .replace(/<style[\s\S]*?<\/style>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');

const noChromium = fs.existsSync(CHROMIUM)
    ? false
    : `${CHROMIUM} not found: the browser test needs Debian's chromium (apt-get install -y chromium)`;
if (noChromium) {
    console.log(`SKIP browser test: ${noChromium}`);
}

describe('the /doc page in headless chromium', { skip: noChromium }, () => {
    let site;
    before(async () => {
        site = await serveDoc(out);
    });
    after(() => site?.server.close());

    for (const route of ['/doc', '/doc/']) {
        test(`GET ${route} renders every event, offline`, async () => {
            site.requests.length = 0;
            const dom = await chromium(`${site.base}${route}`, ['--dump-dom']);
            const text = textOf(dom);
            assert.match(text, /kamea-wss real-time API/, 'the document title is rendered');
            assert.match(text, /Operations/, 'the operations section is rendered');
            for (const event of ['telemetries', 'telemetries:unsubscribe', 'bad_request', 'access_denied',
                'internal_server_error', 'connect_error', 'disconnect']) {
                assert.ok(text.includes(event), `the page shows "${event}"`);
            }
            for (const op of ['subscribeTelemetries', 'unsubscribeTelemetries', 'receiveTelemetries', 'receiveBadRequest',
                'receiveAccessDenied', 'receiveInternalServerError']) {
                assert.ok(text.includes(op), `the page shows operation ${op}`);
            }
            assert.match(text, /CLIENT EMITS/);
            assert.match(text, /CLIENT RECEIVES/);
            assert.match(text, /1 to 128 characters of A-Z a-z 0-9 \. _ : -/, 'the id rule is shown');
            assert.doesNotMatch(text, /Error while|error occurred|Invalid AsyncAPI/i, 'no renderer error');

            const ok = site.requests.filter((r) => r.status === 200).map((r) => r.pathname);
            for (const asset of ['/doc/asyncapi-standalone.js', '/doc/asyncapi.css', '/doc/asyncapi.json']) {
                assert.ok(ok.includes(asset), `the page loaded ${asset} (got ${ok.join(', ')})`);
            }
            const missing = site.requests.filter((r) => r.status !== 200 && r.pathname !== '/favicon.ico');
            assert.deepEqual(missing, [], 'no request of the page failed');
        });
    }

    test('screenshot (UPDATE_SCREENSHOT=1 writes docs/asyncapi-doc.png)', { skip: process.env.UPDATE_SCREENSHOT === '1' ? false : 'set UPDATE_SCREENSHOT=1 to refresh docs/asyncapi-doc.png' }, async () => {
        const target = path.join(ROOT, 'docs/asyncapi-doc.png');
        const shot = path.join(tmp, 'shot.png');
        await chromium(`${site.base}/doc`, [`--screenshot=${shot}`, '--window-size=1440,2200']);
        const png = fs.readFileSync(shot);
        assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'a PNG');
        assert.ok(png.length > 50_000, 'not a blank page');
        fs.copyFileSync(shot, target);
        console.log(`screenshot written to ${path.relative(ROOT, target)}`);
    });
});
