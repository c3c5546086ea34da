// Reference server for the benchmarks: the kamea-wss job (contract.md) done the way a Node.js team
// would do it with socket.io 4.8 — default `ws` engine, default options, no tuning.
//
//   node server.mjs [--port N] [--host ADDR]      (or PORT / HOST in the environment)
//
// Prints one JSON line {"event":"listening","port":N} once it accepts connections.
// Telemetry subscriptions (contract section 4) come with the fan-out benchmark (issue 5).

import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const { values: args } = parseArgs({
  options: {
    port: { type: "string" },
    host: { type: "string" },
  },
});

const port = Number(args.port ?? process.env.PORT ?? 3000);
const host = args.host ?? process.env.HOST ?? "0.0.0.0";
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid port: ${args.port ?? process.env.PORT}`);
  process.exit(2);
}

const log = (event, fields = {}) =>
  console.log(JSON.stringify({ time: new Date().toISOString(), event, ...fields }));

// The bearer token: the CONNECT auth payload first (with or without "Bearer "), then the
// Authorization header of the handshake request. Never logged.
function bearerToken(handshake) {
  const fromAuth = handshake.auth?.token;
  if (typeof fromAuth === "string" && fromAuth.length > 0) {
    const token = fromAuth.startsWith("Bearer ") ? fromAuth.slice(7) : fromAuth;
    if (token.length > 0) return token;
  }
  const header = handshake.headers.authorization;
  if (typeof header === "string" && header.startsWith("Bearer ") && header.length > 7) {
    return header.slice(7);
  }
  return null;
}

const httpServer = createServer();
const io = new Server(httpServer);

// Only /devices exists; the main namespace always exists in socket.io, so refuse it explicitly.
io.use((_socket, next) => next(new Error("Invalid namespace")));

const devices = io.of("/devices");

devices.use((socket, next) => {
  const token = bearerToken(socket.handshake);
  if (!token) {
    return next(new Error("Unauthorized: missing bearer token"));
  }
  socket.data.token = token;
  next();
});

devices.on("connection", (_socket) => {
  // Subscriptions (`telemetries`, `telemetries:unsubscribe`) are added with the fan-out scenario.
});

httpServer.listen(port, host, () => {
  log("listening", { port: httpServer.address().port });
});

// Contract section 10: tell every client, then exit.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    log("shutdown_started", { signal });
    io.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 10_000).unref();
  });
}
