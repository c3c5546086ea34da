// Reference server for the benchmarks: the kamea-wss job (contract.md sections 2-4, 6, 7) done
// the way a Node.js team would do it with socket.io 4.8 — default `ws` engine, default options,
// no tuning.
//
//   node server.mjs [--port N] [--host ADDR] [--internal-port N] [--internal-host ADDR]
//                   [--management-api-url URL] [--management-api-timeout MS] [--bus MODULE]
//   (or PORT, HOST, INTERNAL_PORT, INTERNAL_HOST, MANAGEMENT_API_URL, MANAGEMENT_API_TIMEOUT, BUS)
//
// --bus MODULE (bench/reference-cluster/, for bench/bus.sh): several of these servers share
// telemetries through a bus. The module's default export is called once as
// `await setup({ io, devices, log })` and may set an adapter (io.adapter(...)) and return hooks:
// `subscribed(socket, tenantId, deviceId)` awaited after the join and before the ack, and
// `publish(items)` awaited instead of the local emit of ingestion. Without --bus nothing changes.
//
// Prints {"event":"listening","listener":"public"|"internal","port":N} once each listener
// accepts connections. The internal listener (ingestion) starts only with --internal-port.

import { createServer, Agent, request as httpRequest } from "node:http";
import { request as httpsRequest, Agent as HttpsAgent } from "node:https";
import { parseArgs } from "node:util";
import { resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import { Server } from "socket.io";

const { values: args } = parseArgs({
  options: {
    port: { type: "string" },
    host: { type: "string" },
    "internal-port": { type: "string" },
    "internal-host": { type: "string" },
    "management-api-url": { type: "string" },
    "management-api-timeout": { type: "string" },
    bus: { type: "string" },
  },
});

const port = Number(args.port ?? process.env.PORT ?? 3000);
const host = args.host ?? process.env.HOST ?? "0.0.0.0";
const internalPortArg = args["internal-port"] ?? process.env.INTERNAL_PORT;
const internalPort = internalPortArg === undefined ? null : Number(internalPortArg);
const internalHost = args["internal-host"] ?? process.env.INTERNAL_HOST ?? "127.0.0.1";
const apiUrl = args["management-api-url"] ?? process.env.MANAGEMENT_API_URL ?? "";
const apiTimeout = Number(args["management-api-timeout"] ?? process.env.MANAGEMENT_API_TIMEOUT ?? 5000);
for (const [name, p] of [["port", port], ["internal-port", internalPort ?? 0]]) {
  if (!Number.isInteger(p) || p < 0 || p > 65535) {
    console.error(`invalid ${name}`);
    process.exit(2);
  }
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

// --- Management API client (contract section 6): keep-alive, bounded concurrency ---------------
const api = apiUrl ? new URL("/authorization/check-authorized", apiUrl) : null;
const agent = api?.protocol === "https:"
  ? new HttpsAgent({ keepAlive: true, maxSockets: 64 })
  : new Agent({ keepAlive: true, maxSockets: 64 });
const doRequest = api?.protocol === "https:" ? httpsRequest : httpRequest;

class AuthzError extends Error {}

// Resolves true (allowed) or false (denied); rejects with AuthzError (error).
function checkAuthorized(token, tenantId, deviceId) {
  if (!api) return Promise.reject(new AuthzError("management API not configured"));
  const body = JSON.stringify({ tenantId, deviceId, permission: "telemetries:read" });
  return new Promise((resolve, reject) => {
    const req = doRequest(api, {
      method: "POST",
      agent,
      timeout: apiTimeout,
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
      },
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("error", () => reject(new AuthzError("management API unreachable")));
      res.on("end", () => {
        if (res.statusCode === 401 || res.statusCode === 403) return resolve(false);
        if (res.statusCode !== 200) return reject(new AuthzError(`management API answered ${res.statusCode}`));
        try {
          const answer = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          if (typeof answer?.authorized !== "boolean") throw new Error();
          resolve(answer.authorized);
        } catch {
          reject(new AuthzError("management API answer unreadable"));
        }
      });
    });
    req.on("timeout", () => req.destroy(new AuthzError("management API timeout")));
    req.on("error", (e) => reject(e instanceof AuthzError ? e : new AuthzError("management API unreachable")));
    req.end(body);
  });
}

// --- Socket.IO ---------------------------------------------------------------------------------
const httpServer = createServer();
const io = new Server(httpServer);

// Only /devices exists; the main namespace always exists in socket.io, so refuse it explicitly.
io.use((_socket, next) => next(new Error("Invalid namespace")));

const devices = io.of("/devices");

const busModule = args.bus ?? process.env.BUS;
const bus = busModule
  ? ((await (await import(pathToFileURL(resolvePath(busModule)).href)).default({ io, devices, log })) ?? {})
  : null;

devices.use((socket, next) => {
  const token = bearerToken(socket.handshake);
  if (!token) {
    return next(new Error("Unauthorized: missing bearer token"));
  }
  socket.data.token = token;
  next();
});

const ID = /^[A-Za-z0-9._:-]{1,128}$/;

function validateSubscription(payload) {
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) return "payload must be an object";
  for (const field of ["deviceId", "tenantId"]) {
    if (typeof payload[field] !== "string") return `${field} must be a string`;
    if (!ID.test(payload[field])) return `${field} must be 1-128 characters of [A-Za-z0-9._:-]`;
  }
  return null;
}

devices.on("connection", (socket) => {
  socket.on("telemetries", async (payload, ack) => {
    const reply = typeof ack === "function" ? ack : () => {};
    const problem = validateSubscription(payload);
    if (problem) {
      socket.emit("bad_request", { event: "telemetries", message: problem });
      return reply({ status: "error", error: "bad_request", message: problem });
    }
    const { deviceId, tenantId } = payload;
    let allowed;
    try {
      allowed = await checkAuthorized(socket.data.token, tenantId, deviceId);
    } catch (e) {
      const message = e instanceof AuthzError ? e.message : "authorization failed";
      socket.emit("internal_server_error", { message });
      return reply({ status: "error", error: "internal_server_error", message });
    }
    if (!socket.connected) return;
    if (!allowed) {
      const message = "not allowed to read this device's telemetries";
      socket.emit("access_denied", { deviceId, tenantId, message });
      reply({ status: "error", error: "access_denied", message });
      // Let the packets above reach the client before closing (socket.io flushes in order).
      return socket.disconnect(true);
    }
    socket.join(`telemetries:${deviceId}`);
    if (bus?.subscribed) {
      try {
        await bus.subscribed(socket, tenantId, deviceId);
      } catch {
        const message = "bus unavailable";
        socket.emit("internal_server_error", { message });
        return reply({ status: "error", error: "internal_server_error", message });
      }
    }
    reply({ status: "ok" });
  });

  socket.on("telemetries:unsubscribe", (payload, ack) => {
    if (typeof payload?.deviceId === "string") socket.leave(`telemetries:${payload.deviceId}`);
    if (typeof ack === "function") ack({ status: "ok" });
  });
});

httpServer.listen(port, host, () => {
  log("listening", { listener: "public", port: httpServer.address().port });
});

// --- Internal listener: ingestion (contract section 7, HTTP part) ------------------------------
const MAX_INGEST_BODY = 1024 * 1024;
const json = (res, status, body) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
};

const internal = createServer((req, res) => {
  if (req.url !== "/internal/v1/telemetries") return json(res, 404, { error: "not_found" });
  if (req.method !== "POST") {
    res.setHeader("allow", "POST");
    return json(res, 405, { error: "method_not_allowed" });
  }
  if (!/^application\/json\s*(;|$)/i.test(req.headers["content-type"] ?? "")) {
    return json(res, 415, { error: "unsupported_media_type" });
  }
  const chunks = [];
  let size = 0;
  let tooLarge = false;
  req.on("data", (c) => {
    size += c.length;
    if (size > MAX_INGEST_BODY) tooLarge = true;
    else chunks.push(c);
  });
  req.on("end", () => {
    if (tooLarge) return json(res, 413, { error: "payload_too_large" });
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return json(res, 400, { error: "bad_request", message: "body is not JSON" });
    }
    if (body === null || typeof body !== "object") {
      return json(res, 400, { error: "bad_request", message: "expected an object or an array of objects" });
    }
    const items = Array.isArray(body) ? body : [body];
    for (let i = 0; i < items.length; i++) {
      const t = items[i];
      if (t === null || typeof t !== "object" || Array.isArray(t)) {
        return json(res, 400, { error: "bad_request", message: "telemetry must be an object", index: i });
      }
      if (typeof t.deviceId !== "string" || !ID.test(t.deviceId) || typeof t.tenantId !== "string" || !ID.test(t.tenantId)) {
        return json(res, 400, { error: "bad_request", message: "deviceId and tenantId must be valid strings", index: i });
      }
    }
    if (bus?.publish) {
      return bus.publish(items).then(
        () => json(res, 202, { accepted: items.length }),
        () => json(res, 503, { error: "unavailable" }),
      );
    }
    for (const t of items) devices.to(`telemetries:${t.deviceId}`).emit("telemetries", t);
    json(res, 202, { accepted: items.length });
  });
});

if (internalPort !== null) {
  internal.listen(internalPort, internalHost, () => {
    log("listening", { listener: "internal", port: internal.address().port });
  });
}

// Contract section 10: tell every client, then exit.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    log("shutdown_started", { signal });
    internal.close();
    agent.destroy();
    io.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 10_000).unref();
  });
}
