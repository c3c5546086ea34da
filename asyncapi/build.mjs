// Writes the /doc site into an output directory (called by scripts/build-doc.sh):
//   index.html            the page (asyncapi/index.html with its <base href> filled in)
//   asyncapi.yaml         the source document, copied
//   asyncapi.json         the same document converted from the YAML
//   asyncapi-standalone.js, asyncapi.css   the renderer's browser bundle and styles
// Files whose content did not change are not rewritten, so running it again is a no-op.
// Usage: node asyncapi/build.mjs <out-dir> [base-href]
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const yaml = require('js-yaml');

const [outDir, baseHref = '/doc/'] = process.argv.slice(2);
if (!outDir) {
    console.error('usage: node asyncapi/build.mjs <out-dir> [base-href]');
    process.exit(2);
}
if (!/^\/([A-Za-z0-9._~-]+\/)*$/.test(baseHref)) {
    console.error(`build-doc: base href must be an absolute path ending with "/", got ${JSON.stringify(baseHref)}`);
    process.exit(2);
}

const reactComponent = path.dirname(require.resolve('@asyncapi/react-component/package.json'));
const source = fs.readFileSync(path.join(here, 'asyncapi.yaml'), 'utf8');

// CORE_SCHEMA: plain YAML 1.2 types only (no dates turned into objects), so the JSON holds
// exactly the values that the YAML spells.
let document;
try {
    document = yaml.load(source, { schema: yaml.CORE_SCHEMA, filename: 'asyncapi/asyncapi.yaml' });
} catch (e) {
    console.error(`build-doc: ${e.message}`);
    process.exit(1);
}
if (document?.asyncapi === undefined) {
    console.error('build-doc: asyncapi/asyncapi.yaml is not an AsyncAPI document');
    process.exit(1);
}

const page = fs.readFileSync(path.join(here, 'index.html'), 'utf8').replaceAll('@BASE_HREF@', baseHref);
const external = page.match(/\b(?:https?:)?\/\/[^\s"'<>]+/);
if (external) {
    console.error(`build-doc: index.html must work offline but refers to ${external[0]}`);
    process.exit(1);
}

const files = [
    ['index.html', page],
    ['asyncapi.yaml', source],
    ['asyncapi.json', JSON.stringify(document, null, 2) + '\n'],
    ['asyncapi-standalone.js', fs.readFileSync(path.join(reactComponent, 'browser/standalone/index.js'))],
    ['asyncapi.css', fs.readFileSync(path.join(reactComponent, 'styles/default.min.css'))],
];

fs.mkdirSync(outDir, { recursive: true });
let written = 0;
for (const [name, content] of files) {
    const target = path.join(outDir, name);
    const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content);
    let old = null;
    try {
        old = fs.readFileSync(target);
    } catch {
        // not there yet
    }
    if (old !== null && old.equals(bytes)) {
        continue;
    }
    const tmp = `${target}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, target);
    written++;
}
console.log(`build-doc: ${outDir}: ${files.length} files, ${written} updated`);
