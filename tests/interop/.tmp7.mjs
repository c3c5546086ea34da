import { startServer } from './server.mjs';
let killed = 0;
for (let i = 0; i < 30; i++) {
  const s = await startServer([]);
  const r = await s.stop('SIGTERM');
  if (r.signal) killed++;
}
console.log('killed by signal', killed, '/ 30');
