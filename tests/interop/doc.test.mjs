// /doc on the real server (contract section 5): the rendered page, its offline assets, and
// the AsyncAPI document in YAML and JSON from one source. The page itself is rendered in
// chromium by tests/doc/; here the server's routes are checked.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { REPO_ROOT, SERVER_BIN, startServer } from './server.mjs';

const docDir = path.join(path.dirname(SERVER_BIN), 'doc');
let server;

before(async () => {
    server = await startServer(['--doc-dir', docDir]);
});
after(async () => {
    await server.stop();
});

test('the doc build exists next to the binary', () => {
    assert.ok(fs.existsSync(path.join(docDir, 'index.html')), `run scripts/build-doc.sh ${docDir}`);
});

for (const page of ['/doc', '/doc/']) {
    test(`GET ${page} is the HTML page, with no external URL`, async () => {
        const res = await fetch(`${server.url}${page}`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type'), /^text\/html/);
        const html = await res.text();
        assert.match(html, /asyncapi-standalone\.js/);
        assert.doesNotMatch(html, /(src|href)="https?:\/\//);
    });
}

test('the renderer assets are served from the binary side, not a CDN', async () => {
    for (const [name, type] of [['asyncapi-standalone.js', /javascript/], ['asyncapi.css', /text\/css/]]) {
        const res = await fetch(`${server.url}/doc/${name}`);
        assert.equal(res.status, 200, name);
        assert.match(res.headers.get('content-type'), type);
        assert.ok((await res.arrayBuffer()).byteLength > 1000, name);
    }
});

test('asyncapi.yaml and asyncapi.json are the same document, with every event', async () => {
    const yaml = await (await fetch(`${server.url}/doc/asyncapi.yaml`)).text();
    assert.equal(yaml, fs.readFileSync(path.join(REPO_ROOT, 'asyncapi', 'asyncapi.yaml'), 'utf8'));
    const res = await fetch(`${server.url}/doc/asyncapi.json`);
    assert.match(res.headers.get('content-type'), /application\/json/);
    const doc = await res.json();
    assert.match(doc.asyncapi, /^3\./);
    const text = JSON.stringify(doc);
    for (const event of ['telemetries', 'telemetries:unsubscribe', 'bad_request', 'access_denied', 'internal_server_error']) {
        assert.ok(text.includes(`"${event}"`), event);
    }
});

test('unknown files under /doc are 404, path tricks included', async () => {
    for (const p of ['/doc/nope.js', '/doc/../CMakeLists.txt', '/doc/%2e%2e/README.md', '/doc/sub/index.html']) {
        const res = await fetch(`${server.url}${p}`);
        assert.equal(res.status, 404, p);
    }
});
