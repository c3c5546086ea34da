import { execSync } from 'node:child_process';
import { startServer, client, connectedClient, waitConnectError, closeAllClients } from './server.mjs';
for (let i = 0; i < 4; i++) {
  const server = await startServer(['--log-level', 'trace', '--shutdown-grace', '3000']);
  const s2 = await connectedClient(`${server.url}/devices`, { transports: ['polling'], auth: {token: 'x'} });
  s2.disconnect();
  server.proc.kill('SIGTERM');
  await new Promise(r => setTimeout(r, 1000));
  console.log(execSync(`ss -tan '( sport = :${server.port} or dport = :${server.port} )'`).toString().trim());
  const t = Date.now();
  const r = await server.stop('SIGTERM', 12000);
  const c = server.logs.find(l => l.event === 'shutdown_complete');
  console.log(i, r.code, JSON.stringify(c));
  if (c.remaining) console.log(server.logs.map(l => JSON.stringify(l)).join('\n'));
}
