// The files of deploy/ as they are: the systemd unit (systemd-analyze verify and its offline
// security review), the Kubernetes manifests (parsed and cross-checked: kinds, probes, ports,
// Secrets, variables, grace periods, selectors, the internal Service kept internal) and the
// HAProxy configuration (haproxy -c and what a Socket.IO balancer needs). They cannot run
// here; the HAProxy one does in cluster.test.mjs, and make run-cluster uses it.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';

import YAML from 'yaml';

import { REPO_ROOT, SERVER_BIN } from './server.mjs';

const DEPLOY = path.join(REPO_ROOT, 'deploy');
const has = (cmd, args = ['--version']) => spawnSync(cmd, args).status === 0;

/** Every WSS_* variable kamea-wss reads, with its default: from --help, else the docs. */
function knownVariables() {
    const vars = new Map();
    const help = spawnSync(SERVER_BIN, ['--help'], { encoding: 'utf8' });
    if (help.status === 0) {
        // "  --shutdown-grace INT:INT in [..]=10000 (Env:WSS_SHUTDOWN_GRACE)"
        for (const m of help.stdout.matchAll(/--[a-z0-9-]+ [^\n]*?(?:=(\S+))? \(Env:(WSS_[A-Z0-9_]+)\)/g)) {
            vars.set(m[2], m[1]);
        }
    } else {
        const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'configuration.md'), 'utf8');
        for (const m of doc.matchAll(/^\| `--[a-z0-9-]+` \| `(WSS_[A-Z0-9_]+)` \| `?([^`|]*)`? \|/gm)) {
            vars.set(m[1], m[2].trim());
        }
    }
    assert.ok(vars.size > 30 && vars.has('WSS_AMQP_URL_FILE'), 'could not read the list of variables');
    return vars;
}
const VARIABLES = knownVariables();
const DEFAULT_GRACE_MS = Number(VARIABLES.get('WSS_SHUTDOWN_GRACE') ?? 10000);

// ---------------------------------------------------------------------------------------------
// systemd

const UNIT = path.join(DEPLOY, 'systemd', 'kamea-wss.service');

/** The unit's [Service] settings: {key: [values...]} (continuation lines are not used). */
function unitSettings(text, section = 'Service') {
    const out = {};
    let current = '';
    for (const raw of text.split('\n')) {
        const line = raw.trim();
        if (line === '' || line.startsWith('#') || line.startsWith(';')) {
            continue;
        }
        const sec = /^\[(.+)\]$/.exec(line);
        if (sec) {
            current = sec[1];
            continue;
        }
        if (current !== section) {
            continue;
        }
        const eq = line.indexOf('=');
        const key = line.slice(0, eq);
        (out[key] ??= []).push(line.slice(eq + 1));
    }
    return out;
}

/** A copy of the unit whose ExecStart runs an executable that exists here (verify checks it). */
function unitCopy() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kamea-unit-'));
    const exe = fs.existsSync(SERVER_BIN) ? SERVER_BIN : '/bin/true';
    const text = fs.readFileSync(UNIT, 'utf8').replace(/^ExecStart=\S+/m, `ExecStart=${exe}`);
    const file = path.join(dir, 'kamea-wss.service');
    fs.writeFileSync(file, text);
    return { dir, file };
}

describe('deploy/systemd/kamea-wss.service', () => {
    const text = fs.readFileSync(UNIT, 'utf8');
    const s = unitSettings(text);

    test('systemd-analyze verify accepts it, without a warning', { skip: !has('systemd-analyze') && 'no systemd-analyze' }, () => {
        const { dir, file } = unitCopy();
        try {
            const r = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8' });
            const ours = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('kamea-wss'));
            assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
            assert.deepEqual(ours, [], 'warnings about the unit');
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test('its offline security review rates it OK (exposure at most 2.0 of 10)', { skip: !has('systemd-analyze') && 'no systemd-analyze' }, () => {
        const { dir, file } = unitCopy();
        try {
            const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--threshold=20', file], { encoding: 'utf8' });
            assert.equal(r.status, 0, `exposure above 2.0:\n${r.stdout.split('\n').filter((l) => l.includes('✗') || l.includes('Overall')).join('\n')}`);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test('secrets come from root-only files, never the command line', () => {
        const exec = s.ExecStart.join(' ');
        assert.match(exec, /^\/opt\/kamea-wss\/kamea-wss\b/);
        assert.doesNotMatch(exec, /--(amqp-url|ingest-token)\b(?!-file)/, 'a secret on the command line');
        assert.ok(s.EnvironmentFile?.some((f) => /^-?\/etc\/kamea-wss\//.test(f)), 'no EnvironmentFile under /etc/kamea-wss');
        // LoadCredential: systemd reads the root-only file and hands the service a copy of it
        // in its credentials directory (%d), readable by the service's user only.
        const creds = Object.fromEntries((s.LoadCredential ?? []).map((v) => v.split(':')));
        const env = Object.fromEntries((s.Environment ?? []).map((v) => v.replace(/^"|"$/g, '').split('=')));
        for (const [variable, name] of [['WSS_AMQP_URL_FILE', 'amqp-url'], ['WSS_INGEST_TOKEN_FILE', 'ingest-token']]) {
            assert.equal(env[variable], `%d/${name}`, `${variable} should name the credential ${name}`);
            assert.match(creds[name] ?? '', /^\/etc\/kamea-wss\//, `credential ${name} is not loaded from /etc/kamea-wss`);
        }
        assert.ok(!('WSS_AMQP_URL' in env) && !('WSS_INGEST_TOKEN' in env), 'a secret in Environment=');
    });

    test('its variables are real, it stops after the drain, it may hold many descriptors', () => {
        const env = Object.fromEntries((s.Environment ?? []).map((v) => v.replace(/^"|"$/g, '').split('=')));
        for (const name of Object.keys(env)) {
            assert.ok(VARIABLES.has(name), `${name} is not a kamea-wss variable`);
        }
        const graceMs = Number(env.WSS_SHUTDOWN_GRACE ?? DEFAULT_GRACE_MS);
        const stopSec = Number(s.TimeoutStopSec?.at(-1));
        assert.ok(stopSec * 1000 > graceMs, `TimeoutStopSec=${stopSec} s is not above the ${graceMs} ms grace`);
        assert.equal(s.KillSignal?.at(-1) ?? 'SIGTERM', 'SIGTERM');
        assert.ok(Number(s.LimitNOFILE?.at(-1)) >= 65536, 'LimitNOFILE too low for a connection server');
        for (const key of ['NoNewPrivileges', 'ProtectSystem', 'PrivateTmp', 'SystemCallFilter']) {
            assert.ok(s[key], `${key} is not set`);
        }
    });
});

// ---------------------------------------------------------------------------------------------
// Kubernetes

const K8S = path.join(DEPLOY, 'kubernetes');

function loadManifests() {
    const docs = [];
    for (const name of fs.readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f)).sort()) {
        const text = fs.readFileSync(path.join(K8S, name), 'utf8');
        for (const doc of YAML.parseAllDocuments(text)) {
            assert.deepEqual(doc.errors.map(String), [], `${name} does not parse`);
            assert.deepEqual(doc.warnings.map(String), [], `${name}: YAML warnings`);
            const value = doc.toJS();
            if (value !== null) {
                docs.push({ file: name, ...value });
            }
        }
    }
    return docs;
}

/** True when every label of `selector` is among `labels`. */
const selects = (selector, labels) => Object.entries(selector ?? {}).length > 0 &&
    Object.entries(selector).every(([k, v]) => labels?.[k] === v);

describe('deploy/kubernetes', () => {
    const docs = loadManifests();
    const ofKind = (kind) => docs.filter((d) => d.kind === kind);
    const [deployment] = ofKind('Deployment');
    const pod = deployment?.spec?.template?.spec;
    const container = pod?.containers?.find((c) => c.name === 'kamea-wss') ?? pod?.containers?.[0];
    const envOf = (name) => container.env.find((e) => e.name === name);
    const ports = Object.fromEntries((container?.ports ?? []).map((p) => [p.name, p.containerPort]));
    const portNumber = (ref) => (typeof ref === 'number' ? ref : ports[ref]);

    test('kinds: a Deployment, two Services, a PodDisruptionBudget, an Ingress, a Kustomization and an example Secret', () => {
        assert.equal(ofKind('Deployment').length, 1);
        assert.equal(ofKind('Service').length, 2);
        assert.equal(ofKind('PodDisruptionBudget').length, 1);
        assert.equal(ofKind('Ingress').length, 1);
        assert.equal(ofKind('Kustomization').length, 1);
        assert.ok(ofKind('Secret').length >= 1);
        assert.equal(deployment.spec.replicas, 3);
        for (const d of docs.filter((x) => x.kind !== 'Kustomization')) {
            assert.ok(d.apiVersion && d.metadata?.name, `${d.file}: ${d.kind} without apiVersion or name`);
        }
    });

    test('the kustomization lists every manifest but the example Secret, and the image', () => {
        const [k] = ofKind('Kustomization');
        const listed = new Set(k.resources);
        for (const file of new Set(docs.map((d) => d.file))) {
            if (file === 'kustomization.yaml') {
                continue;
            }
            const isSecret = docs.filter((d) => d.file === file).every((d) => d.kind === 'Secret');
            assert.equal(listed.has(file), !isSecret, isSecret ? `${file} (placeholders) must not be applied` : `${file} is not in the kustomization`);
        }
        for (const r of listed) {
            assert.ok(fs.existsSync(path.join(K8S, r)), `kustomization names a missing ${r}`);
        }
        const image = container.image.split(':')[0];
        assert.ok(k.images.some((i) => i.name === image), 'the kustomization does not set the image');
    });

    test('probes on the internal port: liveness /health/live, readiness /health/ready', () => {
        const internal = Number(envOf('WSS_INTERNAL_PORT')?.value ?? VARIABLES.get('WSS_INTERNAL_PORT'));
        const publicPort = Number(envOf('WSS_PUBLIC_PORT')?.value ?? VARIABLES.get('WSS_PUBLIC_PORT'));
        assert.equal(ports.internal, internal, 'the container port "internal" is not the internal listener');
        assert.equal(ports.public, publicPort, 'the container port "public" is not the public listener');
        // The kubelet probes from outside the pod: the internal listener must not be loopback.
        assert.equal(envOf('WSS_INTERNAL_HOST')?.value, '0.0.0.0');
        for (const [probe, want] of [['livenessProbe', '/health/live'], ['readinessProbe', '/health/ready'], ['startupProbe', '/health/live']]) {
            const p = container[probe];
            if (probe === 'startupProbe' && !p) {
                continue;
            }
            assert.ok(p?.httpGet, `no ${probe}`);
            assert.equal(p.httpGet.path, want, `${probe} path`);
            assert.equal(portNumber(p.httpGet.port), internal, `${probe} is not on the internal port`);
        }
    });

    test('every variable is a real kamea-wss setting', () => {
        for (const e of container.env) {
            assert.ok(VARIABLES.has(e.name), `${e.name} is not a kamea-wss variable`);
        }
        assert.ok(!container.args?.some((a) => /^--(amqp-url|ingest-token)$/.test(a)), 'a secret in args');
    });

    test('every Secret key referenced is defined in a Secret manifest, and the secrets are files', () => {
        const secrets = new Map(ofKind('Secret').map((s) => [s.metadata.name, new Set(Object.keys({ ...s.data, ...s.stringData }))]));
        const refs = [];
        for (const e of container.env) {
            const ref = e.valueFrom?.secretKeyRef;
            if (ref) {
                refs.push([ref.name, ref.key, `env ${e.name}`]);
            }
        }
        const secretVolumes = new Map();
        for (const v of pod.volumes ?? []) {
            if (v.secret) {
                secretVolumes.set(v.name, v.secret);
                for (const item of v.secret.items ?? []) {
                    refs.push([v.secret.secretName, item.key, `volume ${v.name}`]);
                }
            }
        }
        assert.ok(refs.length > 0, 'no Secret is referenced');
        for (const [name, key, where] of refs) {
            assert.ok(secrets.get(name)?.has(key), `${where} reads key "${key}" of Secret "${name}", defined nowhere`);
        }
        // WSS_*_FILE: a file of a mounted Secret volume.
        for (const variable of ['WSS_AMQP_URL_FILE', 'WSS_INGEST_TOKEN_FILE']) {
            const file = envOf(variable)?.value;
            const viaEnv = envOf(variable.replace(/_FILE$/, ''))?.valueFrom?.secretKeyRef;
            assert.ok(file || viaEnv, `${variable.replace(/_FILE$/, '')} comes from no Secret`);
            if (!file) {
                continue;
            }
            const mount = container.volumeMounts.find((m) => file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`));
            assert.ok(mount, `${variable}=${file} is on no mounted volume`);
            const secret = secretVolumes.get(mount.name);
            assert.ok(secret, `${file} is not on a Secret volume`);
            const rel = file.slice(mount.mountPath.replace(/\/$/, '').length + 1);
            const files = secret.items ? secret.items.map((i) => i.path) : [...(secrets.get(secret.secretName) ?? [])];
            assert.ok(files.includes(rel), `${rel} is not a file of Secret ${secret.secretName}`);
            assert.equal(mount.readOnly, true);
        }
    });

    test('the grace period outlasts preStop plus --shutdown-grace', () => {
        const graceMs = Number(envOf('WSS_SHUTDOWN_GRACE')?.value ?? DEFAULT_GRACE_MS);
        const cmd = container.lifecycle?.preStop?.exec?.command ?? [];
        const sleepSec = Number(container.lifecycle?.preStop?.sleep?.seconds ??
            (cmd.length && /sleep$/.test(cmd[0]) ? cmd[1] : 0));
        assert.ok(pod.terminationGracePeriodSeconds * 1000 > sleepSec * 1000 + graceMs,
            `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} <= preStop ${sleepSec} s + grace ${graceMs} ms`);
        // A shared broker going down must not empty every replica's endpoints.
        assert.notEqual(envOf('WSS_READY_REQUIRES_BUS')?.value, 'true');
    });

    test('the Services, the PodDisruptionBudget and the Ingress select the Deployment\'s pods', () => {
        const labels = deployment.spec.template.metadata.labels;
        assert.ok(selects(deployment.spec.selector.matchLabels, labels), 'the Deployment does not select its own pods');
        for (const svc of ofKind('Service')) {
            assert.ok(selects(svc.spec.selector, labels), `Service ${svc.metadata.name} selects no pod of the Deployment`);
            for (const p of svc.spec.ports) {
                assert.ok(portNumber(p.targetPort ?? p.port), `Service ${svc.metadata.name}: targetPort ${p.targetPort} is not a container port`);
            }
        }
        const [pdb] = ofKind('PodDisruptionBudget');
        assert.ok(selects(pdb.spec.selector.matchLabels, labels), 'the PodDisruptionBudget selects no pod');
        assert.ok(pdb.spec.maxUnavailable === 1 || pdb.spec.minAvailable < deployment.spec.replicas);
    });

    test('the internal port is only on a ClusterIP Service, the public one behind the Ingress', () => {
        const internal = ports.internal;
        const targets = (svc) => svc.spec.ports.map((p) => portNumber(p.targetPort ?? p.port));
        const internalSvcs = ofKind('Service').filter((s) => targets(s).includes(internal));
        assert.equal(internalSvcs.length, 1, 'one Service for the internal port');
        const [inner] = internalSvcs;
        assert.equal(inner.spec.type ?? 'ClusterIP', 'ClusterIP');
        assert.ok(inner.spec.ports.every((p) => p.nodePort === undefined), 'a nodePort on the internal Service');
        for (const key of ['externalIPs', 'loadBalancerIP', 'loadBalancerSourceRanges', 'externalName']) {
            assert.equal(inner.spec[key], undefined, `${key} on the internal Service`);
        }
        const [outer] = ofKind('Service').filter((s) => s !== inner);
        assert.deepEqual(targets(outer), [ports.public], 'the public Service exposes other ports than the public one');
        const backends = ofKind('Ingress').flatMap((ing) => ing.spec.rules.flatMap((r) => r.http.paths.map((p) => p.backend.service)));
        assert.ok(backends.length > 0);
        for (const b of backends) {
            assert.equal(b.name, outer.metadata.name, `the Ingress routes to ${b.name}`);
            const port = outer.spec.ports.find((p) => p.name === b.port.name || p.port === b.port.number);
            assert.ok(port, `the Ingress names port ${JSON.stringify(b.port)} of ${b.name}, which it lacks`);
        }
    });
});

// ---------------------------------------------------------------------------------------------
// HAProxy

const HAPROXY = path.join(DEPLOY, 'haproxy', 'haproxy.cfg');

describe('deploy/haproxy/haproxy.cfg', () => {
    const text = fs.readFileSync(HAPROXY, 'utf8');
    const config = text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
    const line = (re) => config.find((l) => re.test(l));

    test('haproxy -c accepts it as it is, with and without the same-origin web app', { skip: !has('haproxy', ['-v']) && 'no haproxy' }, () => {
        for (const extra of [{}, { KAMEA_LB_APP: '127.0.0.1:8080' }]) {
            const env = { ...process.env, ...extra };
            if (!extra.KAMEA_LB_APP) {
                delete env.KAMEA_LB_APP;
            }
            const r = spawnSync('haproxy', ['-c', '-f', HAPROXY], { encoding: 'utf8', env });
            assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
            assert.doesNotMatch(`${r.stdout}${r.stderr}`, /WARNING|ALERT/, 'haproxy -c warns');
        }
    });

    test('what a Socket.IO balancer needs', () => {
        assert.ok(line(/^balance (roundrobin|leastconn)$/), 'balance roundrobin or leastconn');
        assert.ok(line(/^cookie SERVERID insert indirect nocache\b/), 'the sticky cookie for polling');
        assert.ok(line(/^timeout tunnel (\d+h|\d{4,}s)$/), 'a WebSocket tunnel timeout of an hour or so');
        for (const bad of [/^option http-server-close/, /^option httpclose/, /^option forceclose/, /send-proxy/]) {
            assert.equal(line(bad), undefined, `${bad} has no place here`);
        }
        // Long-polling GETs are held for pingInterval: the timeouts must be longer.
        const seconds = (v) => (v.endsWith('ms') ? Number(v.slice(0, -2)) / 1000 : v.endsWith('m') ? Number(v.slice(0, -1)) * 60 : Number(v.replace(/s$/, '')));
        const pingSec = Number(VARIABLES.get('WSS_PING_INTERVAL') ?? 25000) / 1000;
        for (const which of ['client', 'server']) {
            const t = line(new RegExp(`^timeout ${which} `));
            assert.ok(t && seconds(t.split(/\s+/)[2]) > pingSec, `timeout ${which} must exceed pingInterval`);
        }
        assert.ok(line(/^option httpchk GET \/health\/ready$/), 'health check on /health/ready');
        assert.ok(line(/^bind "\$\{KAMEA_LB_HOST-127\.0\.0\.1\}:/), 'the frontend binds loopback by default');
    });

    test('three servers, each checked on its own internal port, with a cookie of its own', () => {
        const servers = config.filter((l) => /^server kamea\d /.test(l));
        assert.equal(servers.length, 3);
        const cookies = new Set();
        const defaults = new Set();
        for (const s of servers) {
            const m = /^server (\S+) "\$\{KAMEA_WSS(\d)_HOST-127\.0\.0\.1\}:\$\{KAMEA_WSS\2_PORT-(\d+)\}" cookie (\S+) check port "\$\{KAMEA_WSS\2_INTERNAL_PORT-(\d+)\}"$/.exec(s);
            assert.ok(m, `unexpected server line: ${s}`);
            assert.notEqual(m[3], m[5], 'the check must go to the internal port, not the public one');
            cookies.add(m[4]);
            defaults.add(m[3]).add(m[5]);
        }
        assert.equal(cookies.size, 3, 'each server needs a cookie value of its own');
        assert.equal(defaults.size, 6, 'the default ports overlap');
    });
});

// ---------------------------------------------------------------------------------------------
// make run-cluster

test('scripts/run-cluster.sh parses, and make run-cluster calls it', () => {
    const script = path.join(REPO_ROOT, 'scripts', 'run-cluster.sh');
    const r = spawnSync('bash', ['-n', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(fs.statSync(script).mode & 0o111, 'run-cluster.sh is not executable');
    const make = fs.readFileSync(path.join(REPO_ROOT, 'Makefile'), 'utf8');
    assert.match(make, /^run-cluster: build\n\tscripts\/run-cluster\.sh/m);
    assert.match(make, /^\.PHONY:.*\brun-cluster\b/m);
});

test('every flag and variable docs/deployment.md names is a real one', () => {
    const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'deployment.md'), 'utf8');
    const flags = new Set([...VARIABLES.keys()].map((v) => `--${v.slice(4).toLowerCase().replaceAll('_', '-')}`));
    // Flags of other programs the page quotes (haproxy, kubectl, docker, rabbitmqctl...).
    const foreign = new Set(['--rm', '--from-file', '--offline']);
    for (const [flag] of doc.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)) {
        assert.ok(flags.has(flag) || foreign.has(flag), `docs/deployment.md names ${flag}, which kamea-wss lacks`);
    }
    for (const [variable] of doc.matchAll(/\bWSS_[A-Z0-9_]+\b/g)) {
        assert.ok(VARIABLES.has(variable), `docs/deployment.md names ${variable}, which kamea-wss lacks`);
    }
    for (const [, file] of doc.matchAll(/`(deploy\/[^`\s]+)`/g)) {
        assert.ok(fs.existsSync(path.join(REPO_ROOT, file)), `docs/deployment.md names ${file}, which is missing`);
    }
});
