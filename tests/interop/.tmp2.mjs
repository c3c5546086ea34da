import { startServer, client, connectedClient, waitConnectError, closeAllClients } from './server.mjs';
for (let i = 0; i < 15; i++) {
  const server = await startServer(['--log-level', 'debug', '--shutdown-grace', '3000']);
  for (let j = 0; j < 5; j++) {
    const s = client(`${server.url}/devices`, { transports: ['polling'] });
    await waitConnectError(s).catch(e => e);
    s.disconnect();
    const s2 = await connectedClient(`${server.url}/devices`, { transports: ['polling'], auth: {token: 'x'} });
    s2.disconnect();
  }
  closeAllClients();
  const t = Date.now();
  const r = await server.stop('SIGTERM', 12000);
  const c = server.logs.find(l => l.event === 'shutdown_complete');
  console.log(i, r.code, Date.now() - t, JSON.stringify(c));
}
