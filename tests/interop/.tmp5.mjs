import http from 'node:http';
import { startServer } from './server.mjs';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function req(server, method, qs, body) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port: server.port, path: `/socket.io/?EIO=4&transport=polling${qs}`, method, agent,
      headers: body ? { 'content-type': 'text/plain;charset=UTF-8' } : {} }, (res) => {
      let d = ''; res.setEncoding('utf8'); res.on('data', c => d += c); res.on('end', () => resolve([res.statusCode, d]));
    });
    r.on('error', reject);
    r.end(body);
  });
}
const mode = process.argv[2];
const server = await startServer(['--log-level', 'debug', '--shutdown-grace', '4000']);
const [, hs] = await req(server, 'GET', '');
const sid = JSON.parse(hs.slice(1)).sid;
console.log(await req(server, 'POST', `&sid=${sid}`, '40/devices,{"token":"x"}'));
console.log(await req(server, 'GET', `&sid=${sid}`));
server.proc.kill('SIGTERM');
await server.waitForLog(l => l.event === 'shutdown_started');
const t = Date.now();
if (mode === 'post1') console.log('post1', await req(server, 'POST', `&sid=${sid}`, '1').catch(e => e.message));
if (mode === 'get') console.log('get', await req(server, 'GET', `&sid=${sid}`).catch(e => e.message));
if (mode === 'get2') { console.log('get', await req(server, 'GET', `&sid=${sid}`).catch(e => e.message)); console.log('get', await req(server, 'GET', `&sid=${sid}`).catch(e => e.message)); }
agent.destroy();
await server.exited;
console.log(mode, Date.now() - t, JSON.stringify(server.logs.find(l => l.event === 'shutdown_complete')));
