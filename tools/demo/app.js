// kamea-wss demo page: connects to the service's /devices namespace with the stock
// socket.io-client (global `io` from vendor/socket.io.min.js), subscribes to a few devices and
// plots their telemetry live. Demo only, not part of the service.
//
// Settings come from /config.json (written by tools/demo/serve.mjs from its flags), and the
// page's query string overrides them:
//   ?token=allow-demo         the bearer token, sent in the CONNECT auth payload ({auth: {token}}),
//                             the way a browser must (it cannot set headers on a WebSocket)
//   &transport=upgrade        upgrade (default): polling first, then upgrade to WebSocket
//                             websocket: WebSocket only; polling: long-polling only
//   &tenant=demo&devices=demo-1,demo-2,demo-3
//   &service=http://127.0.0.1:3000   the kamea-wss public listener
//   &autoconnect=0            wait for the Connect button
//
// Everything shown comes from the live socket: the connection state, the engine's transport
// name (socket.io.engine.transport.name, updated on upgrade), the subscription acks, and the
// errors the service reports (connect_error, access_denied, internal_server_error, bad_request).
'use strict';

(() => {
    const MAX_POINTS = 180;
    const TRANSPORTS = {
        upgrade: ['polling', 'websocket'],
        websocket: ['websocket'],
        polling: ['polling'],
    };
    const $ = (selector, root = document) => root.querySelector(selector);

    let settings; // {service, token, transport, tenant, devices}
    let socket = null;
    let generation = 0; // bumps on every (re)connection, so stale acks are ignored
    const devices = new Map(); // deviceId -> {card, canvas, points, state, received}
    const colors = {};

    // ------------------------------------------------------------------ settings

    async function loadSettings() {
        let config = {};
        try {
            const res = await fetch('config.json', { cache: 'no-store' });
            if (res.ok) {
                config = await res.json();
            }
        } catch {
            // served some other way: built-in defaults and the query string
        }
        const q = new URLSearchParams(location.search);
        const list = (text) => text.split(',').map((d) => d.trim()).filter(Boolean);
        return {
            service: (q.get('service') || config.service || 'http://127.0.0.1:3000').replace(/\/+$/, ''),
            token: q.get('token') ?? config.token ?? 'allow-demo',
            transport: q.get('transport') || 'upgrade',
            tenant: q.get('tenant') || config.tenant || 'demo',
            devices: q.get('devices') ? list(q.get('devices')) : (config.devices || ['demo-1', 'demo-2', 'demo-3']),
            autoconnect: q.get('autoconnect') !== '0',
        };
    }

    function fillForm() {
        $('#token').value = settings.token;
        $('#transport-mode').value = TRANSPORTS[settings.transport] ? settings.transport : 'upgrade';
        $('#tenant').value = settings.tenant;
        $('#devices').value = settings.devices.join(',');
        $('#page-origin').textContent = location.origin;
        $('#service-url').textContent = settings.service;
        let serviceOrigin = '';
        try {
            serviceOrigin = new URL(settings.service).origin;
        } catch {
            // reported by connect()
        }
        $('#cross-origin').textContent = serviceOrigin === location.origin
            ? 'same origin.'
            : 'another origin, so polling needs CORS (kamea-wss --cors-origins must list this page\'s origin).';
    }

    function readForm() {
        const list = $('#devices').value.split(',').map((d) => d.trim()).filter(Boolean);
        settings = {
            ...settings,
            token: $('#token').value.trim(),
            transport: $('#transport-mode').value,
            tenant: $('#tenant').value.trim(),
            devices: list,
        };
        const q = new URLSearchParams(location.search);
        q.set('transport', settings.transport);
        q.set('tenant', settings.tenant);
        q.set('devices', settings.devices.join(','));
        if (q.has('token') || settings.token !== 'allow-demo') {
            q.set('token', settings.token);
        }
        history.replaceState(null, '', `?${q}`);
    }

    // ------------------------------------------------------------------ status and errors

    function setState(state) {
        const el = $('#connection-state');
        el.textContent = state;
        el.dataset.state = state;
    }

    function setTransport(name, history) {
        $('#transport').textContent = name || '-';
        $('#transport-history').textContent = history && history.length > 1 ? `(${history.join(' \u2192 ')})` : '';
    }

    function clearEvents() {
        $('#errors').replaceChildren();
        $('#no-errors').hidden = false;
    }

    // An entry of the "Errors and events" list; the same entry repeated (a reconnect loop)
    // only bumps a counter.
    function report(kind, message) {
        const list = $('#errors');
        const first = list.firstElementChild;
        if (first && first.dataset.kind === kind && first.dataset.message === message) {
            first.dataset.count = String(Number(first.dataset.count) + 1);
            $('.count', first).textContent = ` (\u00d7${first.dataset.count})`;
            $('time', first).textContent = new Date().toLocaleTimeString();
            return;
        }
        const li = document.createElement('li');
        li.dataset.kind = kind;
        li.dataset.message = message;
        li.dataset.count = '1';
        const time = document.createElement('time');
        time.textContent = new Date().toLocaleTimeString();
        const k = document.createElement('span');
        k.className = 'kind';
        k.textContent = kind;
        const text = document.createElement('span');
        text.className = 'message';
        text.textContent = `: ${message}`;
        const count = document.createElement('span');
        count.className = 'count';
        li.append(time, k, text, count);
        list.prepend(li);
        while (list.children.length > 50) {
            list.lastElementChild.remove();
        }
        $('#no-errors').hidden = true;
    }

    // ------------------------------------------------------------------ devices

    function buildDevices() {
        devices.clear();
        const grid = $('#devices-grid');
        grid.replaceChildren();
        for (const deviceId of settings.devices) {
            const card = $('#device-template').content.firstElementChild.cloneNode(true);
            card.dataset.device = deviceId;
            card.id = `device-${deviceId}`;
            $('.device-id', card).textContent = deviceId;
            grid.append(card);
            const device = { card, canvas: $('canvas', card), points: [], received: 0 };
            devices.set(deviceId, device);
            setSubscription(device, 'idle');
            draw(device);
        }
        summarize();
    }

    function setSubscription(device, state, detail = '') {
        device.state = state;
        device.card.dataset.subscription = state;
        $('.sub-state', device.card).textContent = detail ? `${state}: ${detail}` : state;
        summarize();
    }

    function summarize() {
        const all = [...devices.values()];
        const subscribed = all.filter((d) => d.state === 'subscribed').length;
        $('#subscription-summary').textContent = `${subscribed}/${all.length} subscribed`;
    }

    function subscribeAll() {
        const mine = generation;
        for (const [deviceId, device] of devices) {
            setSubscription(device, 'subscribing');
            socket.timeout(15000).emit('telemetries', { deviceId, tenantId: settings.tenant }, (err, ack) => {
                if (mine !== generation) {
                    return;
                }
                if (err) {
                    setSubscription(device, 'error', 'no answer');
                } else if (ack && ack.status === 'ok') {
                    setSubscription(device, 'subscribed');
                } else if (ack && ack.error === 'access_denied') {
                    setSubscription(device, 'denied');
                } else {
                    setSubscription(device, 'error', (ack && (ack.error || ack.message)) || 'unexpected answer');
                }
            });
        }
    }

    const show = (value) => (value === undefined || value === null ? '-' : String(value));

    function onTelemetry(telemetry) {
        if (!telemetry || typeof telemetry !== 'object') {
            return;
        }
        const device = devices.get(telemetry.deviceId);
        if (!device) {
            return;
        }
        device.received += 1;
        const field = (name) => $(`[data-field="${name}"]`, device.card);
        field('temperature').textContent = show(telemetry.temperature);
        field('humidity').textContent = show(telemetry.humidity);
        field('seq').textContent = show(telemetry.seq);
        field('ts').textContent = show(telemetry.ts);
        field('received').textContent = String(device.received);
        field('raw').textContent = JSON.stringify(telemetry, null, 1);

        const parsed = Date.parse(telemetry.ts);
        const point = {
            t: Number.isFinite(parsed) ? parsed : Date.now(),
            temperature: typeof telemetry.temperature === 'number' ? telemetry.temperature : NaN,
            humidity: typeof telemetry.humidity === 'number' ? telemetry.humidity : NaN,
        };
        const points = device.points;
        points.push(point);
        if (points.length > 1 && points[points.length - 2].t > point.t) {
            points.sort((a, b) => a.t - b.t);
        }
        if (points.length > MAX_POINTS) {
            points.splice(0, points.length - MAX_POINTS);
        }
        scheduleDraw(device);
    }

    // ------------------------------------------------------------------ connection

    function disconnect() {
        generation += 1;
        if (socket) {
            socket.removeAllListeners();
            socket.io.removeAllListeners();
            socket.disconnect();
            socket = null;
        }
        for (const device of devices.values()) {
            setSubscription(device, 'idle');
        }
    }

    function connect() {
        disconnect();
        clearEvents();
        buildDevices();
        fillForm();
        if (!window.io) {
            setState('error');
            report('error', 'the socket.io-client bundle did not load (vendor/socket.io.min.js)');
            return;
        }
        const transports = TRANSPORTS[settings.transport];
        if (!transports) {
            report('error', `unknown transport "${settings.transport}" (upgrade, websocket or polling); using upgrade`);
            settings.transport = 'upgrade';
        }
        setState('connecting');
        setTransport('-');
        $('#socket-id').textContent = '-';
        let history = [];

        socket = window.io(`${settings.service}/devices`, {
            forceNew: true,
            transports: TRANSPORTS[settings.transport],
            // The token travels in the Socket.IO CONNECT packet: a browser cannot set an
            // Authorization header on a WebSocket.
            auth: { token: settings.token },
            reconnectionDelayMax: 5000,
            timeout: 10000,
        });
        const manager = socket.io;

        // A new Engine.IO session (first connection or reconnection): follow its transport.
        manager.on('open', () => {
            const engine = manager.engine;
            history = [engine.transport.name];
            setTransport(engine.transport.name, history);
            engine.on('upgrade', (transport) => {
                history.push(transport.name);
                setTransport(transport.name, history);
            });
        });
        manager.on('reconnect_attempt', (attempt) => {
            setState('reconnecting');
            report('reconnect', `attempt ${attempt}`);
        });

        socket.on('connect', () => {
            generation += 1;
            setState('connected');
            setTransport(manager.engine.transport.name, history);
            $('#socket-id').textContent = socket.id;
            subscribeAll();
        });
        socket.on('connect_error', (err) => {
            let message = err.message;
            if (message === 'xhr poll error' && new URL(settings.service).origin !== location.origin) {
                message += ' (is the service up, and is this page\'s origin in kamea-wss --cors-origins?)';
            } else if (message === 'websocket error') {
                message += ' (is the service up?)';
            }
            report('connect_error', message);
            // socket.active: the manager retries by itself (a transport error); otherwise the
            // server refused the CONNECT (e.g. a missing token) and nothing more will happen.
            setState(socket.active ? 'reconnecting' : 'error');
        });
        socket.on('disconnect', (reason) => {
            generation += 1;
            setState('disconnected');
            setTransport('-');
            $('#socket-id').textContent = '-';
            for (const device of devices.values()) {
                if (device.state !== 'denied') {
                    setSubscription(device, 'idle');
                }
            }
            report('disconnect', reason === 'io server disconnect'
                ? 'io server disconnect (the server closed the session; press Connect to try again)'
                : reason);
        });
        socket.on('telemetries', onTelemetry);
        socket.on('access_denied', (body) => {
            const device = devices.get(body && body.deviceId);
            if (device) {
                setSubscription(device, 'denied');
            }
            report('access_denied', `${body && body.deviceId}: ${body && body.message}`);
        });
        socket.on('internal_server_error', (body) => {
            report('internal_server_error', (body && body.message) || 'internal server error');
        });
        socket.on('bad_request', (body) => {
            report('bad_request', `${body && body.event}: ${body && body.message}`);
        });
    }

    // ------------------------------------------------------------------ chart

    const dirty = new Set();
    let frame = 0;

    function scheduleDraw(device) {
        dirty.add(device);
        if (!frame) {
            frame = requestAnimationFrame(() => {
                frame = 0;
                for (const d of dirty) {
                    draw(d);
                }
                dirty.clear();
            });
        }
    }

    function range(points, key, minSpan) {
        let min = Infinity;
        let max = -Infinity;
        for (const p of points) {
            if (Number.isFinite(p[key])) {
                min = Math.min(min, p[key]);
                max = Math.max(max, p[key]);
            }
        }
        if (min === Infinity) {
            return null;
        }
        if (max - min < minSpan) {
            const mid = (max + min) / 2;
            min = mid - minSpan / 2;
            max = mid + minSpan / 2;
        }
        const pad = (max - min) * 0.1;
        return { min: min - pad, max: max + pad };
    }

    const clock = (t) => new Date(t).toLocaleTimeString([], { hour12: false });

    // A two-axis line chart: temperature on the left axis, humidity on the right one.
    function draw(device) {
        const canvas = device.canvas;
        const ctx = canvas.getContext('2d');
        const dpr = window.devicePixelRatio || 1;
        const width = canvas.clientWidth || 360;
        const height = canvas.clientHeight || 180;
        if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
            canvas.width = Math.round(width * dpr);
            canvas.height = Math.round(height * dpr);
        }
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        ctx.clearRect(0, 0, width, height);
        ctx.font = '11px "Liberation Sans", Arial, sans-serif';

        const points = device.points;
        const box = { left: 46, right: width - 40, top: 8, bottom: height - 20 };
        ctx.strokeStyle = '#d9dee8';
        ctx.lineWidth = 1;
        ctx.strokeRect(box.left + 0.5, box.top + 0.5, box.right - box.left, box.bottom - box.top);
        if (points.length < 2) {
            ctx.fillStyle = colors.muted;
            ctx.textAlign = 'center';
            ctx.fillText(points.length ? 'one value so far\u2026' : 'waiting for telemetry\u2026',
                (box.left + box.right) / 2, (box.top + box.bottom) / 2);
            canvas.dataset.points = String(points.length);
            return;
        }
        const t0 = points[0].t;
        const span = Math.max(points[points.length - 1].t - t0, 1);
        const x = (t) => box.left + ((t - t0) / span) * (box.right - box.left);
        const series = [
            { key: 'temperature', color: colors.temperature, minSpan: 1, digits: 1, side: 'left' },
            { key: 'humidity', color: colors.humidity, minSpan: 2, digits: 0, side: 'right' },
        ];
        const ticks = 4;
        for (let i = 1; i < ticks; i += 1) {
            const y = Math.round(box.top + ((box.bottom - box.top) * i) / ticks) + 0.5;
            ctx.beginPath();
            ctx.moveTo(box.left, y);
            ctx.lineTo(box.right, y);
            ctx.stroke();
        }
        for (const s of series) {
            const r = range(points, s.key, s.minSpan);
            if (!r) {
                continue;
            }
            const y = (v) => box.bottom - ((v - r.min) / (r.max - r.min)) * (box.bottom - box.top);
            ctx.fillStyle = s.color;
            ctx.textAlign = s.side === 'left' ? 'right' : 'left';
            ctx.textBaseline = 'middle';
            for (let i = 0; i <= ticks; i += 1) {
                const v = r.min + ((r.max - r.min) * i) / ticks;
                ctx.fillText(v.toFixed(s.digits), s.side === 'left' ? box.left - 4 : box.right + 4, y(v));
            }
            ctx.strokeStyle = s.color;
            ctx.lineWidth = 2;
            ctx.beginPath();
            let pen = false;
            let last = null;
            for (const p of points) {
                if (!Number.isFinite(p[s.key])) {
                    pen = false;
                    continue;
                }
                if (pen) {
                    ctx.lineTo(x(p.t), y(p[s.key]));
                } else {
                    ctx.moveTo(x(p.t), y(p[s.key]));
                    pen = true;
                }
                last = p;
            }
            ctx.stroke();
            if (last) {
                ctx.beginPath();
                ctx.arc(x(last.t), y(last[s.key]), 3, 0, 2 * Math.PI);
                ctx.fill();
            }
        }
        ctx.fillStyle = colors.muted;
        ctx.textBaseline = 'top';
        ctx.textAlign = 'left';
        ctx.fillText(clock(t0), box.left, box.bottom + 5);
        ctx.textAlign = 'right';
        ctx.fillText(clock(t0 + span), box.right, box.bottom + 5);
        canvas.dataset.points = String(points.length);
    }

    // ------------------------------------------------------------------ start

    async function start() {
        const css = getComputedStyle(document.documentElement);
        colors.temperature = css.getPropertyValue('--temperature').trim() || '#e4572e';
        colors.humidity = css.getPropertyValue('--humidity').trim() || '#2e86de';
        colors.muted = css.getPropertyValue('--muted').trim() || '#667085';

        settings = await loadSettings();
        fillForm();
        buildDevices();
        $('#settings').addEventListener('submit', (event) => {
            event.preventDefault();
            readForm();
            connect();
        });
        $('#disconnect').addEventListener('click', () => {
            disconnect();
            setState('idle');
            setTransport('-');
            $('#socket-id').textContent = '-';
        });
        window.addEventListener('resize', () => devices.forEach(scheduleDraw));
        // For a look from the browser console: kameaDemo.socket.io.engine.transport.name
        window.kameaDemo = { get socket() { return socket; }, get settings() { return settings; } };
        if (settings.autoconnect) {
            connect();
        }
    }

    start();
})();
