// Subscribing to telemetries and receiving them (contract sections 4 and 7), with the real
// socket.io-client over polling and over WebSocket and the Management API stand-in answering
// `allow…` tokens: the ack, delivery of the object exactly as posted, batches in order,
// validation (`bad_request`, connection kept), unsubscribe, many subscribers of one device,
// and --max-subscriptions-per-socket.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { closeAllClients, connectedClient } from './server.mjs';
import {
    connectDevices,
    emitAck,
    ingest,
    readMetric,
    record,
    startKamea,
    startStandin,
    subscribe,
    telemetrySink,
    TRANSPORTS,
    uid,
} from './standin.mjs';

const TENANT = 'tenant-1';

let api;
let server;

before(async () => {
    api = await startStandin();
    server = await startKamea(api.url);
});

after(async () => {
    closeAllClients();
    await server?.stop();
    await api?.close();
});

async function post(body) {
    const res = await ingest(server, body);
    assert.equal(res.status, 202, `ingest answered ${res.status} ${res.text}`);
    return res;
}

const SETUPS = [...TRANSPORTS, ['upgrade', {}]];

for (const [name, transportOptions] of SETUPS) {
    describe(`subscribe and receive (${name})`, () => {
        test('an allowed subscription acks {"status":"ok"} and gets the object exactly as posted', async () => {
            const device = uid('dev');
            const socket = await connectDevices(server, uid('allow'), transportOptions);
            const sink = telemetrySink(socket);
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });

            // No whitespace and no integer-like keys, so JSON.stringify of the parsed object
            // must give back the very same text if the key order was kept.
            const text = `{"z":1,"deviceId":"${device}","tenantId":"${TENANT}","value":21.5,` +
                '"a":{"y":[1,2.5,true,null,"x",{"k":"v"}],"b":"q\\"uote \\\\ é ✓ 🚀","empty":{}},' +
                '"n":-0.25,"flag":false,"nothing":null,"list":[]}';
            const res = await post(text);
            assert.deepEqual(res.json, { accepted: 1 });

            const [got] = await sink.until(1);
            assert.deepEqual(got, JSON.parse(text));
            assert.equal(JSON.stringify(got), text, 'key order and values must be kept');
        });

        test('an array is delivered element by element, in order, each exactly as posted', async () => {
            const device = uid('dev');
            const socket = await connectDevices(server, uid('allow'), transportOptions);
            const sink = telemetrySink(socket);
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });

            const batch = [];
            for (let i = 0; i < 20; i++) {
                batch.push({ seq: i, deviceId: device, tenantId: TENANT, data: { t: i * 1.5, s: `v${i}` } });
            }
            const res = await post(batch);
            assert.deepEqual(res.json, { accepted: batch.length });
            const got = await sink.until(batch.length);
            assert.deepEqual(got, batch);
            assert.deepEqual(got.map((t) => JSON.stringify(t)), batch.map((t) => JSON.stringify(t)));
        });

        test('fields pass through untouched: whitespace-laden text and integers beyond double precision', async () => {
            const device = uid('dev');
            const socket = await connectDevices(server, uid('allow'), transportOptions);
            const frames = [];
            socket.io.engine.on('packet', (p) => {
                if (p.type === 'message' && typeof p.data === 'string' && p.data.includes('"telemetries"')) {
                    frames.push(p.data);
                }
            });
            // The client may upgrade to WebSocket: listen on the new engine transport too
            // (the 'packet' event is on the engine, which stays the same object).
            const sink = telemetrySink(socket);
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });

            const big = '123456789012345678901234567890';
            const text = `{\n  "deviceId" : "${device}",\t"tenantId":"${TENANT}",\n  "counter": ${big},\n` +
                '  "ratio": 0.1000000000000000055511151231257827, "nested": { "k" : [ 1 , 2 ] }\n}';
            await post(text);
            const [got] = await sink.until(1);
            assert.deepEqual(got, JSON.parse(text));
            assert.equal(frames.length, 1);
            // What the socket.io-client parses is the posted text: the big integer keeps all its
            // digits on the wire (it was not re-encoded through a double).
            assert.ok(frames[0].includes(big), `the frame lost digits of ${big}: ${frames[0]}`);
            assert.ok(frames[0].includes('0.1000000000000000055511151231257827'), frames[0]);
        });

        test('subscribing twice to the same device is harmless and delivers each telemetry once', async () => {
            const device = uid('dev');
            const marker = uid('dev');
            const socket = await connectDevices(server, uid('allow'), transportOptions);
            const sink = telemetrySink(socket);
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
            assert.deepEqual(await subscribe(socket, marker, TENANT), { status: 'ok' });

            await post([{ deviceId: device, tenantId: TENANT, n: 1 }, { deviceId: device, tenantId: TENANT, n: 2 }]);
            await post({ deviceId: marker, tenantId: TENANT, last: true });
            await sink.untilMatch((t) => t.last === true, 'the marker');
            assert.deepEqual(sink.received.map((t) => t.n ?? 'marker'), [1, 2, 'marker']);
        });

        test('telemetries:unsubscribe acks ok and stops delivery for that device only', async () => {
            const device = uid('dev');
            const other = uid('dev');
            const socket = await connectDevices(server, uid('allow'), transportOptions);
            const sink = telemetrySink(socket);
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
            assert.deepEqual(await subscribe(socket, other, TENANT), { status: 'ok' });

            await post({ deviceId: device, tenantId: TENANT, n: 1 });
            await sink.until(1);

            assert.deepEqual(await emitAck(socket, 'telemetries:unsubscribe', { deviceId: device }), { status: 'ok' });
            await post({ deviceId: device, tenantId: TENANT, n: 2 });
            await post({ deviceId: other, tenantId: TENANT, n: 3 });
            await sink.untilMatch((t) => t.n === 3, 'the telemetry of the device still subscribed');
            assert.deepEqual(sink.received.map((t) => t.n), [1, 3]);

            // Unsubscribing from a device never subscribed is harmless too.
            assert.deepEqual(await emitAck(socket, 'telemetries:unsubscribe', { deviceId: uid('dev') }),
                { status: 'ok' });
            // And subscribing again works.
            assert.deepEqual(await subscribe(socket, device, TENANT), { status: 'ok' });
            await post({ deviceId: device, tenantId: TENANT, n: 4 });
            await sink.untilMatch((t) => t.n === 4, 'the telemetry after subscribing again');
            assert.ok(socket.connected);
        });

        test('invalid subscriptions get bad_request (event and error ack), keep the connection and never reach the API', async () => {
            const socket = await connectDevices(server, uid('allow'), transportOptions);
            const rec = record(socket);
            const requestsBefore = api.stats().requests;
            const long = 'a'.repeat(129);
            const cases = [
                ['missing deviceId', [{ tenantId: TENANT }]],
                ['missing tenantId', [{ deviceId: 'dev-1' }]],
                ['deviceId not a string', [{ deviceId: 42, tenantId: TENANT }]],
                ['tenantId not a string', [{ deviceId: 'dev-1', tenantId: ['t'] }]],
                ['tenantId null', [{ deviceId: 'dev-1', tenantId: null }]],
                ['empty deviceId', [{ deviceId: '', tenantId: TENANT }]],
                ['deviceId of 129 characters', [{ deviceId: long, tenantId: TENANT }]],
                ['tenantId of 129 characters', [{ deviceId: 'dev-1', tenantId: long }]],
                ['deviceId with a space', [{ deviceId: 'dev 1', tenantId: TENANT }]],
                ['deviceId with a slash', [{ deviceId: 'dev/1', tenantId: TENANT }]],
                ['tenantId with a non-ASCII letter', [{ deviceId: 'dev-1', tenantId: 'tenänt' }]],
                ['deviceId with a NUL', [{ deviceId: 'dev\u0000', tenantId: TENANT }]],
                ['no payload', []],
                ['a string payload', ['dev-1']],
                ['an array payload', [['dev-1', TENANT]]],
                ['a null payload', [null]],
            ];
            for (const [what, args] of cases) {
                const seen = rec.named('bad_request').length;
                const ack = await emitAck(socket, 'telemetries', ...args);
                assert.equal(ack.status, 'error', `${what}: ${JSON.stringify(ack)}`);
                assert.equal(ack.error, 'bad_request', `${what}: ${JSON.stringify(ack)}`);
                assert.equal(typeof ack.message, 'string', what);
                assert.ok(ack.message.length > 0, what);
                await rec.waitCount('bad_request', seen + 1);
                const [payload] = rec.named('bad_request')[seen].args;
                assert.equal(payload.event, 'telemetries', `${what}: ${JSON.stringify(payload)}`);
                assert.equal(typeof payload.message, 'string', what);
                assert.ok(socket.connected, `${what}: the connection must be kept`);
            }
            // Without an ack: the event alone.
            const seen = rec.named('bad_request').length;
            socket.emit('telemetries', { deviceId: 'dev 1', tenantId: TENANT });
            await rec.waitCount('bad_request', seen + 1);
            assert.equal(rec.named('bad_request')[seen].args[0].event, 'telemetries');

            // An invalid unsubscribe names its own event.
            const unsub = await emitAck(socket, 'telemetries:unsubscribe', { deviceId: 'a b' });
            assert.equal(unsub.status, 'error');
            assert.equal(unsub.error, 'bad_request');
            await rec.waitCount('bad_request', seen + 2);
            assert.equal(rec.named('bad_request')[seen + 1].args[0].event, 'telemetries:unsubscribe');

            assert.equal(api.stats().requests, requestsBefore, 'an invalid subscription must not reach the API');
            assert.deepEqual(rec.named('disconnect'), []);

            // The boundary is allowed, and the connection still works.
            const sink = telemetrySink(socket);
            const max = `${'d'.repeat(120)}._:-A9z`;
            assert.equal(max.length, 127);
            const device = `${max}x`;
            assert.deepEqual(await subscribe(socket, device, `${'t'.repeat(127)}Z`), { status: 'ok' });
            await post({ deviceId: device, tenantId: `${'t'.repeat(127)}Z`, ok: true });
            await sink.until(1);
            assert.deepEqual(rec.named('access_denied'), []);
            assert.deepEqual(rec.named('internal_server_error'), []);
        });
    });
}

describe('many subscribers of one device', () => {
    test('100 subscribers of a device all get each of its telemetries; subscribers of another device get none', async () => {
        const device = uid('dev');
        const other = uid('dev');
        const token = uid('allow');
        const connect = (i) => connectDevices(server, token, TRANSPORTS[i % 2][1]);
        const mains = await Promise.all(Array.from({ length: 100 }, (_, i) => connect(i)));
        const others = await Promise.all(Array.from({ length: 10 }, (_, i) => connect(i)));
        const mainSinks = mains.map(telemetrySink);
        const otherSinks = others.map(telemetrySink);
        const acks = await Promise.all([
            ...mains.map((s) => subscribe(s, device, TENANT)),
            ...others.map((s) => subscribe(s, other, TENANT)),
        ]);
        for (const ack of acks) {
            assert.deepEqual(ack, { status: 'ok' });
        }

        const telemetries = Array.from({ length: 5 }, (_, i) => ({ deviceId: device, tenantId: TENANT, i }));
        await post(telemetries.slice(0, 2));
        await post(telemetries.slice(2));
        await Promise.all(mainSinks.map((s) => s.until(telemetries.length)));
        for (const s of mainSinks) {
            assert.deepEqual(s.received, telemetries);
        }

        // Then one for the other device: its subscribers get that one and nothing before it.
        const mark = { deviceId: other, tenantId: TENANT, mark: true };
        await post(mark);
        await Promise.all(otherSinks.map((s) => s.until(1)));
        for (const s of otherSinks) {
            assert.deepEqual(s.received, [mark]);
        }
        for (const s of mainSinks) {
            assert.equal(s.received.length, telemetries.length);
        }
        for (const s of [...mains, ...others]) {
            s.disconnect();
        }
    });
});

describe('--max-subscriptions-per-socket', () => {
    let limited;

    before(async () => {
        limited = await startKamea(api.url, ['--max-subscriptions-per-socket', '2']);
    });

    after(async () => {
        await limited?.stop();
    });

    for (const [name, transportOptions] of TRANSPORTS) {
        test(`a third distinct device gets bad_request (${name}); re-subscribing or freeing a slot is fine`, async () => {
            const socket = await connectedClient(`${limited.url}/devices`, { auth: { token: uid('allow') }, ...transportOptions });
            const rec = record(socket);
            const [d1, d2, d3] = [uid('dev'), uid('dev'), uid('dev')];
            assert.deepEqual(await subscribe(socket, d1, TENANT), { status: 'ok' });
            assert.deepEqual(await subscribe(socket, d2, TENANT), { status: 'ok' });
            assert.deepEqual(await subscribe(socket, d1, TENANT), { status: 'ok' }, 'the same device again counts once');

            const ack = await subscribe(socket, d3, TENANT);
            assert.equal(ack.status, 'error', JSON.stringify(ack));
            assert.equal(ack.error, 'bad_request');
            await rec.waitCount('bad_request', 1);
            assert.equal(rec.named('bad_request')[0].args[0].event, 'telemetries');
            assert.ok(socket.connected);

            assert.deepEqual(await emitAck(socket, 'telemetries:unsubscribe', { deviceId: d1 }), { status: 'ok' });
            assert.deepEqual(await subscribe(socket, d3, TENANT), { status: 'ok' });

            const sink = telemetrySink(socket);
            const res = await ingest(limited, { deviceId: d3, tenantId: TENANT, v: 1 });
            assert.equal(res.status, 202);
            assert.deepEqual(await sink.until(1), [{ deviceId: d3, tenantId: TENANT, v: 1 }]);
            socket.disconnect();
        });
    }
});

describe('--max-event-rate 5 --event-burst 10', () => {
    let limited;

    before(async () => {
        limited = await startKamea(api.url, ['--max-event-rate', '5', '--event-burst', '10']);
    });

    after(async () => {
        await limited?.stop();
    });

    for (const [name, transportOptions] of TRANSPORTS) {
        test(`past the burst, events get bad_request; a socket that goes on is disconnected; others are served (${name})`, async () => {
            const token = uid('allow');
            const flooder = await connectedClient(`${limited.url}/devices`, { auth: { token }, ...transportOptions });
            const neighbour = await connectedClient(`${limited.url}/devices`, { auth: { token }, ...transportOptions });
            const rec = record(flooder);
            const refusedBefore = await readMetric(limited, 'kamea_events_rate_limited_total');
            const cutBefore = await readMetric(limited, 'kamea_event_rate_disconnects_total');
            // The burst: ten events at once are all served.
            const served = await Promise.all(Array.from({ length: 10 },
                (_, i) => emitAck(flooder, 'telemetries:unsubscribe', { deviceId: `d${i}` })));
            assert.deepEqual(served, Array(10).fill({ status: 'ok' }));
            // The eleventh, at once, is refused with a clear error and the socket stays.
            const refused = await emitAck(flooder, 'telemetries:unsubscribe', { deviceId: 'd10' });
            assert.equal(refused.status, 'error', JSON.stringify(refused));
            assert.equal(refused.error, 'bad_request');
            assert.match(refused.message, /too many events: at most 5 a second/);
            await rec.waitCount('bad_request', 1);
            assert.equal(rec.named('bad_request')[0].args[0].event, 'telemetries:unsubscribe');
            assert.ok(flooder.connected);
            // Going on (ten refusals in a row) cuts the socket off for good.
            const disconnected = new Promise((resolve) => flooder.once('disconnect', resolve));
            for (let i = 0; i < 20; i++) {
                flooder.emit('anything', i);
            }
            assert.equal(await disconnected, 'io server disconnect');
            assert.ok(await readMetric(limited, 'kamea_events_rate_limited_total') >= refusedBefore + 10);
            assert.equal(await readMetric(limited, 'kamea_event_rate_disconnects_total'), cutBefore + 1);
            // The neighbour, same token, same process, has its own budget.
            const device = uid('dev');
            assert.deepEqual(await subscribe(neighbour, device, TENANT), { status: 'ok' });
            const sink = telemetrySink(neighbour);
            assert.equal((await ingest(limited, { deviceId: device, tenantId: TENANT, v: 1 })).status, 202);
            assert.deepEqual(await sink.until(1), [{ deviceId: device, tenantId: TENANT, v: 1 }]);
            neighbour.disconnect();
        });
    }
});
