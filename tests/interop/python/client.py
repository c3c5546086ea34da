#!/usr/bin/python3
"""A python-socketio client driven by the interop tests (python-client.test.mjs).

Runs Debian's python3-socketio 5.x (socketio.Client, threads) against kamea-wss. Commands
come as JSON lines on stdin; everything the client sees goes to stdout as JSON lines:

  {"cmd": "connect", "url", "transports"?, "headers"?, "auth"?, "namespace"?}
      -> {"reply": "connect", "ok": true, "transport", "opened_with", "sid"}
       | {"reply": "connect", "ok": false, "error", "data"?}
  {"cmd": "call", "event", "data" | "args", "namespace"?, "timeout"?}
      -> {"reply": "call", "name", "ack": <the ack's argument(s)>} | {..., "timeout": true}
  {"cmd": "emit", "event", "data" | "args", "namespace"?}  -> {"reply": "emit"}
  {"cmd": "transport"}                               -> {"reply": "transport", "transport"}
  {"cmd": "namespaces"}                              -> {"reply": "namespaces", "namespaces": [...]}
  {"cmd": "disconnect"}                              -> {"reply": "disconnect"}
  {"cmd": "exit"}                                    -> the process ends (code 0)

Events, in the order their handlers ran (each on a thread of its own: python-engineio 4
dispatches every message on a new thread, so this order is the library's, not the wire's):
  {"event": "<name>", "args": [...]}, {"event": "connect"}, {"event": "disconnect"},
  {"event": "connect_error", "args": [...]}
(bytes in arguments are written as {"bytes": [<byte values>]}; "data" of a command may hold
the same form to send bytes.)

What arrived on the wire, in order (recorded on the engine.io reader thread, before that
dispatch; decoded with the library's own packet classes):
  {"wire": "ping"} and {"wire": "message", "type": <Socket.IO type>, "nsp", "id", "data"}
  for every Engine.IO packet but pongs and noops.

Output is line-buffered and written under one lock, so lines never interleave. Stops on EOF
of stdin or after --deadline seconds (so a forgotten client cannot outlive its test).
"""

import argparse
import json
import os
import sys
import threading
from importlib.metadata import version

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

_out_lock = threading.Lock()


def plain(value):
    """JSON for what json.dumps cannot take: bytes become {"bytes": [..]}."""
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": list(value)}
    raise TypeError(type(value).__name__)


def from_plain(value):
    """The inverse of plain(), for the data of a command."""
    if isinstance(value, dict):
        if list(value) == ["bytes"] and isinstance(value["bytes"], list):
            return bytes(value["bytes"])
        return {k: from_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_plain(v) for v in value]
    return value


def command_data(cmd):
    """"args" (a list: several arguments) or "data" (one argument, or none)."""
    if "args" in cmd:
        return tuple(from_plain(a) for a in cmd["args"])
    return from_plain(cmd.get("data"))


def out(obj):
    line = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=plain)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def wire_hook(eio):
    """Records each received Engine.IO packet on the reader thread, then lets the library
    handle it as usual."""
    original = eio._receive_packet

    def receive(pkt):
        if pkt.packet_type == eio_packet.PING:
            out({"wire": "ping"})
        elif pkt.packet_type == eio_packet.MESSAGE:
            if isinstance(pkt.data, (bytes, bytearray)):
                out({"wire": "message", "binary": len(pkt.data)})
            else:
                p = sio_packet.Packet(encoded_packet=pkt.data)
                out({"wire": "message", "type": p.packet_type, "nsp": p.namespace, "id": p.id, "data": p.data})
        elif pkt.packet_type == eio_packet.CLOSE:
            out({"wire": "close"})
        original(pkt)

    eio._receive_packet = receive


class Driver:
    def __init__(self):
        self.sio = socketio.Client(reconnection=False, handle_sigint=False, request_timeout=10)
        wire_hook(self.sio.eio)
        self.namespace = "/devices"
        self.connect_done = threading.Event()
        self.connect_error = None

    def register(self, namespace):
        ns = namespace

        def on_connect():
            out({"event": "connect"})
            self.connect_done.set()

        def on_connect_error(*args):
            out({"event": "connect_error", "args": list(args)})
            self.connect_error = list(args)
            self.connect_done.set()

        def on_disconnect():
            out({"event": "disconnect"})

        def on_any(event, *args):
            out({"event": event, "args": list(args)})

        self.sio.on("connect", on_connect, namespace=ns)
        self.sio.on("connect_error", on_connect_error, namespace=ns)
        self.sio.on("disconnect", on_disconnect, namespace=ns)
        self.sio.on("*", on_any, namespace=ns)

    def connect(self, cmd):
        self.namespace = cmd.get("namespace", "/devices")
        self.register(self.namespace)
        kwargs = {"headers": cmd.get("headers", {}), "namespaces": [self.namespace], "wait": False}
        if "auth" in cmd:
            kwargs["auth"] = cmd["auth"]
        if "transports" in cmd:
            kwargs["transports"] = cmd["transports"]
        try:
            self.sio.connect(cmd["url"], **kwargs)
        except socketio.exceptions.ConnectionError as exc:
            out({"reply": "connect", "ok": False, "error": str(exc)})
            return
        # Our own wait rather than connect(wait=True): that one waits its whole timeout again
        # after a CONNECT_ERROR.
        if not self.connect_done.wait(cmd.get("timeout", 10)):
            out({"reply": "connect", "ok": False, "error": "timeout"})
            return
        if self.connect_error is not None:
            out({"reply": "connect", "ok": False, "error": "connect_error", "data": self.connect_error})
            return
        out({
            "reply": "connect",
            "ok": True,
            "transport": self.sio.transport(),
            # The URL of the first request: http for a polling handshake (then maybe upgraded).
            "opened_with": "polling" if self.sio.eio.base_url.startswith("http") else "websocket",
            "sid": self.sio.get_sid(self.namespace),
        })

    def call(self, cmd):
        try:
            ack = self.sio.call(
                cmd["event"], command_data(cmd), namespace=cmd.get("namespace", self.namespace),
                timeout=cmd.get("timeout", 10))
        except socketio.exceptions.TimeoutError:
            out({"reply": "call", "name": cmd["event"], "timeout": True})
            return
        except socketio.exceptions.BadNamespaceError as exc:
            out({"reply": "call", "name": cmd["event"], "error": str(exc)})
            return
        out({"reply": "call", "name": cmd["event"], "ack": ack})

    def emit(self, cmd):
        self.sio.emit(cmd["event"], command_data(cmd), namespace=cmd.get("namespace", self.namespace))
        out({"reply": "emit"})

    def run(self, line):
        cmd = json.loads(line)
        name = cmd["cmd"]
        if name == "connect":
            self.connect(cmd)
        elif name == "call":
            self.call(cmd)
        elif name == "emit":
            self.emit(cmd)
        elif name == "transport":
            out({"reply": "transport", "transport": self.sio.transport()})
        elif name == "namespaces":
            out({"reply": "namespaces", "namespaces": list(self.sio.namespaces)})
        elif name == "disconnect":
            self.sio.disconnect()
            out({"reply": "disconnect"})
        elif name == "exit":
            return False
        else:
            out({"reply": name, "error": "unknown command"})
        return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--deadline", type=float, default=120.0)
    args = parser.parse_args()
    # A bounded life, whatever the test does.
    def expire():
        out({"event": "deadline"})
        os._exit(3)

    timer = threading.Timer(args.deadline, expire)
    timer.daemon = True
    timer.start()
    out({"ready": True, "socketio": version("python-socketio"), "engineio": version("python-engineio")})
    driver = Driver()
    for line in sys.stdin:
        if not line.strip():
            continue
        if not driver.run(line):
            break
    try:
        driver.sio.disconnect()
    except Exception:  # noqa: BLE001 -- leaving anyway
        pass
    sys.stdout.flush()
    # The library's threads (reader, writer, one per message) must not keep us alive.
    os._exit(0)


if __name__ == "__main__":
    main()
