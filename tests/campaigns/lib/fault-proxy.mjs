// A Management API that fails on demand: an HTTP proxy in front of the stand-in whose `mode`
// decides what kamea-wss gets. Test only, loopback only.
//
//   pass     forwards to the stand-in
//   slow     waits `delayMs`, then forwards
//   down     not listening at all (connection refused)
//   garbage  200, application/json, a body that is not JSON
//   huge     200, application/json, a 64 MiB body
//   cut      200 with Content-Length 100, ten bytes, then the connection is closed
//   flap     every 250 ms, between forwarding and closing each connection at once

import http from 'node:http';

export async function startFaultProxy(upstreamUrl) {
    let mode = 'pass';
    let delayMs = 0;
    let flapDown = false;
    const sockets = new Set();
    const upstream = new URL(upstreamUrl);
    const forward = (req, res) => {
        const out = http.request({
            host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers,
        }, (answer) => {
            res.writeHead(answer.statusCode, answer.headers);
            answer.pipe(res);
        });
        out.on('error', () => res.destroy());
        req.pipe(out);
    };
    const server = http.createServer();
    server.on('request', (req, res) => {
        if (['garbage', 'huge', 'cut'].includes(mode) || (mode === 'flap' && flapDown)) {
            req.resume();
        }
        if (mode === 'garbage') {
            res.writeHead(200, { 'content-type': 'application/json' }).end('<html>not json</html>');
        } else if (mode === 'huge') {
            hugeAnswer(res);
        } else if (mode === 'cut') {
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': 100 });
            res.write('{"authoriz');
            setTimeout(() => res.destroy(), 20);
        } else if (mode === 'flap' && flapDown) {
            res.destroy();
        } else if (mode === 'slow') {
            setTimeout(() => forward(req, res), delayMs);
        } else {
            forward(req, res);
        }
    });
    server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = server.address().port;
    const flapper = setInterval(() => { flapDown = !flapDown; }, 250);
    flapper.unref();
    const listening = () => server.listening;
    return {
        url: `http://127.0.0.1:${port}`,
        async set(next, options = {}) {
            delayMs = options.delayMs ?? 0;
            if (next === 'down' && listening()) {
                server.close();
                for (const s of sockets) {
                    s.destroy();
                }
            } else if (next !== 'down' && !listening()) {
                await new Promise((resolve, reject) => {
                    server.once('error', reject);
                    server.listen(port, '127.0.0.1', resolve);
                });
            }
            mode = next;
        },
        async close() {
            clearInterval(flapper);
            for (const s of sockets) {
                s.destroy();
            }
            await new Promise((resolve) => (listening() ? server.close(resolve) : resolve()));
        },
    };
}

function hugeAnswer(res) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 64 << 20 });
    const chunk = Buffer.alloc(1 << 20, 0x20);
    let sent = 0;
    const pump = () => {
        while (sent < 64 && res.write(chunk)) {
            sent += 1;
        }
        if (sent >= 64) {
            res.end();
        }
    };
    res.on('drain', pump);
    res.on('close', () => { sent = 64; });
    pump();
}
