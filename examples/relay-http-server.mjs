// wspipe/relay mounted on an ordinary node:http server: one port, plain HTTP
// routes beside the WebSocket relay, a token check before any upstream
// connection, routing by path, and a message hook that redacts text.
//
//   npm run build && node examples/relay-http-server.mjs     # demo with an echo upstream
import * as http from 'node:http';
import { createRelay } from 'wspipe/relay';

export async function startServer({ upstreams, token }) {
  const relay = createRelay({
    // Refuse before anything is opened upstream.
    authorize: (request) =>
      request.headers['authorization'] === `Bearer ${token}` || { status: 401, headers: { 'WWW-Authenticate': 'Bearer' }, body: 'token please\n' },
    // /chat/... goes to one upstream, everything else to the other.
    upstream: (request) => (request.path.startsWith('/chat') ? upstreams.chat : upstreams.default) + request.path.replace(/^\/chat/, ''),
    headers: { drop: ['authorization'], set: { 'X-Relayed-By': 'wspipe' } },
    onMessage: (message) => (message.type === 'text' && message.text().includes('secret') ? message.text().replaceAll('secret', '******') : undefined),
  });
  const server = http.createServer((req, res) => {
    if (req.url === '/health') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ ok: true, open: relay.metrics.open }));
    }
    res.writeHead(404).end();
  });
  server.on('upgrade', (req, socket, head) => relay.handleUpgrade(req, socket, head));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    relay,
    close: () => Promise.all([relay.close(), new Promise((resolve) => server.close(resolve))]),
  };
}

async function main() {
  const { startEchoServer } = await import('../dist/server/echo-server.js');
  const { WebSocketClient } = await import('wspipe');
  const echo = await startEchoServer();
  const app = await startServer({ upstreams: { chat: `${echo.url}/chat`, default: echo.url }, token: 'demo' });
  console.log('health:', await fetch(`http://127.0.0.1:${app.port}/health`).then((r) => r.text()));
  const ws = new WebSocketClient(`ws://127.0.0.1:${app.port}/chat/room1`, { headers: { Authorization: 'Bearer demo' } });
  ws.on('open', () => ws.send('my secret is safe'));
  ws.on('message', (data) => {
    console.log('client got:', data);
    ws.close();
  });
  ws.on('close', async () => {
    await app.close();
    await echo.close();
  });
  ws.connect();
}

if (import.meta.url === `file://${process.argv[1]}`) main().catch((error) => ((process.exitCode = 1), console.error(error)));
