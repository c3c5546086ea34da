import { startServer, connectedClient, nextEvent } from './server.mjs';
const server = await startServer(['--shutdown-grace', '5000', '--log-level', 'debug']);
const s = await connectedClient(`${server.url}/devices`, { auth: { token: 'abc' }, transports: ['polling'] });
await new Promise(r => setTimeout(r, 300));
const r = nextEvent(s, 'disconnect');
server.proc.kill('SIGTERM');
console.log((await r)[0]);
await server.exited;
console.log(server.logs.map(l => JSON.stringify(l)).join('\n'));
