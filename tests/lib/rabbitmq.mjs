// The throwaway RabbitMQ node of scripts/rabbitmq.sh, for interop tests: its variables come
// from `<dir>/env` (KAMEA_AMQP_URL, KAMEA_RABBITMQ_NODE, KAMEA_RABBITMQ_PID,
// KAMEA_RABBITMQ_HOME, and the second node's KAMEA_*2 for a cluster). `node: 2` in the
// options picks the second node.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const rabbitmqctlPath = '/usr/lib/rabbitmq/bin/rabbitmqctl';

function nodeEnv(node = 1) {
    const suffix = node === 2 ? '2' : '';
    const url = process.env[`KAMEA_AMQP_URL${suffix}`];
    const name = process.env[`KAMEA_RABBITMQ_NODE${suffix}`];
    const pid = Number(process.env[`KAMEA_RABBITMQ_PID${suffix}`]);
    const home = process.env.KAMEA_RABBITMQ_HOME;
    if (!url || !name || !home) {
        throw new Error('no test broker: run scripts/rabbitmq.sh start <dir> and load <dir>/env');
    }
    return { url, name, pid, home };
}

/** True when a test broker is configured (tests skip otherwise). */
export function brokerAvailable() {
    return Boolean(process.env.KAMEA_AMQP_URL && process.env.KAMEA_RABBITMQ_NODE && process.env.KAMEA_RABBITMQ_HOME);
}

/** The AMQP URL of node 1 (or 2). */
export function amqpUrl({ node = 1 } = {}) {
    return nodeEnv(node).url;
}

/** Runs rabbitmqctl against the node; resolves with its stdout. */
export async function rabbitmqctl(args, { node = 1, timeoutMs = 60000 } = {}) {
    const n = nodeEnv(node);
    const { stdout } = await run(rabbitmqctlPath, ['-q', '-n', n.name, ...args], {
        env: { ...process.env, HOME: n.home }, // the node's Erlang cookie is there
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
}

/** Bindings as [{source, destination, routingKey}], of `exchange` only when given. */
export async function listBindings({ exchange, node = 1 } = {}) {
    const out = await rabbitmqctl(
        ['list_bindings', 'source_name', 'destination_name', 'routing_key', '--formatter', 'json'],
        { node },
    );
    const rows = JSON.parse(out || '[]').map((b) => ({
        source: b.source_name,
        destination: b.destination_name,
        routingKey: b.routing_key,
    }));
    return exchange === undefined ? rows : rows.filter((b) => b.source === exchange);
}

/** Stops the RabbitMQ application (the Erlang node stays up): every connection drops. */
export async function stopApp({ node = 1 } = {}) {
    await rabbitmqctl(['stop_app'], { node });
}

/** Starts it again and waits until it accepts connections. */
export async function startApp({ node = 1 } = {}) {
    await rabbitmqctl(['start_app'], { node });
    await rabbitmqctl(['await_startup'], { node });
}

/** Freezes the broker's VM (SIGSTOP): connections stay up but nothing answers. */
export function freeze({ node = 1 } = {}) {
    process.kill(nodeEnv(node).pid, 'SIGSTOP');
}

/** Undoes freeze(). */
export function thaw({ node = 1 } = {}) {
    process.kill(nodeEnv(node).pid, 'SIGCONT');
}

/**
 * Publishes `body` (a string, or an object sent as JSON) as a platform producer would, with
 * amqp-publish (amqp-tools). `headers` is an object of string values.
 */
export async function publishRaw(routingKey, body, { exchange = 'telemetries', headers = {}, node = 1 } = {}) {
    // rabbitmq-c reads "amqp://host/" as the empty vhost; without the slash it is "/".
    const url = nodeEnv(node).url.replace(/\/$/, '');
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const args = [`--url=${url}`, '-e', exchange, '-r', routingKey, '-C', 'application/json', '-b', text];
    for (const [k, v] of Object.entries(headers)) {
        args.push('-H', `${k}: ${v}`);
    }
    await run('amqp-publish', args, { timeout: 15000 });
}

const rabbitmqScript = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'rabbitmq.sh');

/**
 * Starts a broker of the calling test file's own (`kind`: 'start' for one node, 'cluster' for
 * two), for files that stop, freeze or kill it and so cannot use the run's shared one. Its
 * variables replace the KAMEA_* ones of this process, so every function above talks to it.
 * Resolves with `stop()`, which stops it and removes its directory.
 */
export async function startOwnBroker(kind = 'start') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kamea-broker-${kind}-`));
    await run(rabbitmqScript, [kind, dir], { timeout: 240_000 });
    for (const line of fs.readFileSync(path.join(dir, 'env'), 'utf8').split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) {
            process.env[line.slice(0, eq)] = line.slice(eq + 1);
        }
    }
    return {
        async stop() {
            await run(rabbitmqScript, ['stop', dir], { timeout: 60_000 }).catch(() => {});
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}
