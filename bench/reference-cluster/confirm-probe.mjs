// A client that watches the broker: publishes one small message every --interval ms to the
// exchange (routing key --key; nobody needs to consume it) on a confirm channel and writes, for
// each message, "<sent unix ms>\t<confirm latency ms>" to --out; meanwhile, on a channel of its
// own, binds a fresh key to an exclusive queue of its own and unbinds it, one pair every 100 ms,
// writing "<bind sent unix ms>\t<bind-ok latency ms>" to --bind-out (what a subscriber's first
// ack waits for). Once a second it prints {"unix_ms","sent","confirmed","oldest_pending_ms",
// "max_ms","bind_pending_ms","bind_max_ms"} on stdout (the max_*: the slowest answered in that
// second), which bench/bus.sh watches to see a stall end. Stops on SIGINT/SIGTERM (what is still
// unanswered then is written with its age so far and a "pending" mark).
//
//   node confirm-probe.mjs --url amqp://… [--exchange telemetries] [--key bench.probe]
//                          [--interval 10] --out FILE --bind-out FILE

import fs from "node:fs";
import { parseArgs } from "node:util";
import amqp from "amqplib";

const { values: a } = parseArgs({
  options: {
    url: { type: "string" },
    exchange: { type: "string", default: "telemetries" },
    key: { type: "string", default: "bench.probe" },
    interval: { type: "string", default: "10" },
    out: { type: "string" },
    "bind-out": { type: "string" },
  },
});
const out = fs.createWriteStream(a.out);
const connection = await amqp.connect(a.url, { noDelay: true });
const channel = await connection.createConfirmChannel();
await channel.assertExchange(a.exchange, "direct", { durable: true });
const bindOut = fs.createWriteStream(a["bind-out"]);
const binder = await connection.createChannel();
const { queue } = await binder.assertQueue("", { exclusive: true });
let bindStarted = 0; // sent time of the bind in flight, 0 when none
let bindMax = 0;
let stopping = false;
(async () => {
  for (let i = 0; !stopping; i++) {
    const key = `probe.bind.${process.pid}.${i}`;
    bindStarted = Date.now();
    await binder.bindQueue(queue, a.exchange, key);
    const latency = Date.now() - bindStarted;
    bindOut.write(`${bindStarted}\t${latency}\n`);
    bindMax = Math.max(bindMax, latency);
    bindStarted = 0;
    await binder.unbindQueue(queue, a.exchange, key);
    await new Promise((r) => setTimeout(r, 100));
  }
})().catch(() => {});

let sent = 0;
let confirmed = 0;
let maxInSecond = 0;
const pending = new Map(); // seq -> sent ms
const body = Buffer.from('{"probe":true}');
const timer = setInterval(() => {
  const seq = sent++;
  const t = Date.now();
  pending.set(seq, t);
  channel.publish(a.exchange, a.key, body, {}, () => {
    const latency = Date.now() - t;
    pending.delete(seq);
    confirmed++;
    maxInSecond = Math.max(maxInSecond, latency);
    out.write(`${t}\t${latency}\n`);
  });
}, Number(a.interval));
const status = setInterval(() => {
  let oldest = 0;
  for (const t of pending.values()) { oldest = Date.now() - t; break; }
  const bindPending = bindStarted ? Date.now() - bindStarted : 0;
  console.log(JSON.stringify({ unix_ms: Date.now(), sent, confirmed, oldest_pending_ms: oldest, max_ms: maxInSecond,
    bind_pending_ms: bindPending, bind_max_ms: bindMax }));
  maxInSecond = 0;
  bindMax = 0;
}, 1000);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    stopping = true;
    clearInterval(timer);
    clearInterval(status);
    const now = Date.now();
    for (const t of pending.values()) out.write(`${t}\t${now - t}\tpending\n`);
    if (bindStarted) bindOut.write(`${bindStarted}\t${now - bindStarted}\tpending\n`);
    bindOut.end(() => out.end(() => process.exit(0)));
  });
}
