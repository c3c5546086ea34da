import { execSync } from 'node:child_process';
import { startServer, client, connectedClient, waitConnectError, closeAllClients } from './server.mjs';
const wait = process.argv[2] | 0;
for (let i = 0; i < 4; i++) {
  const server = await startServer(['--log-level', 'debug', '--shutdown-grace', '3000']);
  for (let j = 0; j < 5; j++) {
    const s2 = await connectedClient(`${server.url}/devices`, { transports: ['polling'], auth: {token: 'x'} });
    s2.disconnect();
  }
  closeAllClients();
  await new Promise(r => setTimeout(r, wait));
  console.log(execSync(`ss -tn state established '( sport = :${server.port} )'`).toString().trim());
  const t = Date.now();
  const r = await server.stop('SIGTERM', 12000);
  const c = server.logs.find(l => l.event === 'shutdown_complete');
  console.log(i, r.code, Date.now() - t, JSON.stringify(c));
}
