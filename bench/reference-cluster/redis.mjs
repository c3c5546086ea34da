// Bus of the Node.js reference (bench/reference/server.mjs --bus redis.mjs): the official Redis
// adapter, as its README sets it up — two node-redis clients (publish, subscribe) and
// createAdapter(pub, sub) with default options. Every broadcast goes to every node (one Redis
// channel per namespace in the default, classic mode): an emit to a room on the node that
// ingested the telemetry is published once, and each node picks out its local sockets.
//
//   REDIS_URL=redis://127.0.0.1:6379   (default)

import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";

export default async function setup({ io, log }) {
  const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const pub = createClient({ url });
  const sub = pub.duplicate();
  for (const [name, client] of [["pub", pub], ["sub", sub]]) {
    client.on("error", (e) => log("redis_error", { client: name, message: e.message }));
  }
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
  log("bus", { kind: "redis", url });
  return {}; // the adapter does the rest: ingestion's emit is the broadcast
}
