// Bus of the Node.js reference (bench/reference/server.mjs --bus amqp.mjs): RabbitMQ through
// amqplib, the way kamea-wss uses it (docs/bus.md) but written as a Node.js team would:
//
// - one connection; a channel that consumes from a server-named exclusive queue (x-max-length
//   100,000, drop-head) with manual acks, one basic.ack per message, prefetch AMQP_PREFETCH;
// - per-device bindings on the direct exchange, routing key <tenantId>.<deviceId>: bound when
//   the room telemetries:<deviceId> gets its first local socket (the subscription is acked once
//   the broker answered queue.bind-ok), unbound when socket.io deletes the room (its last
//   socket left or disconnected). amqplib runs a channel's RPCs one at a time, in call order,
//   so an unbind and a later bind of the same key reach the broker in that order;
// - ingestion publishes each telemetry (JSON.stringify of the parsed body) on a confirm
//   channel and answers 202 once every one of the request's messages is confirmed;
// - a delivery is parsed and emitted to the local room (the default in-memory adapter).
//
//   AMQP_URL=amqp://guest:guest@127.0.0.1:5672/  AMQP_EXCHANGE=telemetries  AMQP_PREFETCH=200
// Routing keys over 255 bytes (kamea-wss hashes them) do not occur in the benchmark.

import amqp from "amqplib";

export default async function setup({ devices, log }) {
  const url = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672/";
  const exchange = process.env.AMQP_EXCHANGE ?? "telemetries";
  const prefetch = Number(process.env.AMQP_PREFETCH ?? 200);

  // noDelay: amqplib leaves Nagle on by default, which with delayed ACKs held a delivery ~40 ms
  // (p50 48 ms at 500 telemetries/s in a first try): the one setting a team changes on sight.
  const connection = await amqp.connect(url, { noDelay: true });
  connection.on("error", (e) => log("amqp_error", { message: e.message }));
  connection.on("close", () => {
    log("amqp_closed");
    process.exit(1); // no reconnection logic: the benchmark's broker does not go away
  });

  const consumer = await connection.createChannel();
  await consumer.assertExchange(exchange, "direct", { durable: true });
  const { queue } = await consumer.assertQueue("", {
    exclusive: true,
    arguments: { "x-max-length": 100000, "x-overflow": "drop-head" },
  });
  await consumer.prefetch(prefetch);
  await consumer.consume(queue, (msg) => {
    if (msg === null) return; // cancelled by the broker
    try {
      const t = JSON.parse(msg.content.toString("utf8"));
      if (typeof t?.deviceId === "string") devices.to(`telemetries:${t.deviceId}`).emit("telemetries", t);
    } catch {
      // not JSON: dropped
    }
    consumer.ack(msg);
  });

  const publisher = await connection.createConfirmChannel();

  // room -> { key, bound: Promise } for the rooms this node has bound
  const bindings = new Map();
  devices.adapter.on("delete-room", (room) => {
    const b = bindings.get(room);
    if (!b) return;
    bindings.delete(room);
    consumer.unbindQueue(queue, exchange, b.key).catch((e) => log("unbind_failed", { key: b.key, message: e.message }));
  });

  log("bus", { kind: "amqp", exchange, queue, prefetch });
  return {
    // After socket.join(room): the room's first subscriber on this node waits for the binding.
    subscribed(_socket, tenantId, deviceId) {
      const room = `telemetries:${deviceId}`;
      let b = bindings.get(room);
      if (!b) {
        b = { key: `${tenantId}.${deviceId}` };
        b.bound = consumer.bindQueue(queue, exchange, b.key);
        b.bound.catch(() => bindings.get(room) === b && bindings.delete(room));
        bindings.set(room, b);
      }
      return b.bound;
    },
    publish(items) {
      return Promise.all(
        items.map(
          (t) =>
            new Promise((resolve, reject) => {
              publisher.publish(exchange, `${t.tenantId}.${t.deviceId}`, Buffer.from(JSON.stringify(t)),
                { contentType: "application/json" }, (err) => (err ? reject(err) : resolve()));
            }),
        ),
      );
    },
  };
}
