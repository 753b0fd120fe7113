// A WebSocket relay on its own port, from wspipe/relay.
//
//   npm run build && node examples/relay.mjs --listen 127.0.0.1:9000 --upstream ws://127.0.0.1:8765/ [--inspect]
//   npm run build && node examples/relay.mjs        # demo: an echo upstream, the relay, one client through it
//
// Without --inspect frames pass through untouched (compressed ones too, when
// the client and the upstream agree on permessage-deflate); with it every
// message is shown whole, which makes the relay assemble (and inflate) them.
// The client's path is appended to the upstream URL's path.
import { createRelay } from 'wspipe/relay';

/** Starts a relay on `host:port` (port 0 picks one); resolves with it and its port. */
export async function startRelay({ host = '127.0.0.1', port = 0, upstream, inspect = false }) {
  const relay = createRelay({
    upstream,
    onMessage: inspect
      ? (message, direction) => {
          const shown = message.type === 'text' ? JSON.stringify(message.text().slice(0, 60)) : `<${message.data.length} bytes>`;
          console.log(`[relay] ${direction} ${message.type} ${shown}`);
        }
      : undefined,
  });
  relay.on('close', (connection, { client, upstream: up }) =>
    console.log(`[relay] ${connection.request.path} closed: client ${client.received?.code ?? '-'}/${client.sent?.code ?? '-'}, upstream ${up.received?.code ?? '-'}/${up.sent?.code ?? '-'}`),
  );
  relay.on('refused', (request, status, reason) => console.log(`[relay] ${request.path} refused ${status}: ${reason}`));
  const listening = await relay.listen({ host, port });
  return { relay, port: listening.port };
}

async function main() {
  const args = process.argv.slice(2);
  const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const upstream = option('--upstream');
  if (upstream !== undefined) {
    const [host, port] = (option('--listen') ?? '127.0.0.1:9000').split(/:(?=\d+$)/);
    const { relay, port: bound } = await startRelay({ host, port: Number(port), upstream, inspect: args.includes('--inspect') });
    console.log(`relay listening on ${host}:${bound}, upstream ${upstream}`);
    process.once('SIGINT', () => relay.close().then(() => console.log('closed', relay.metrics)));
    return;
  }
  // The demo.
  const { startEchoServer } = await import('../dist/server/echo-server.js');
  const { WebSocketClient } = await import('wspipe');
  const echo = await startEchoServer();
  const { relay, port } = await startRelay({ upstream: echo.url, inspect: true });
  const ws = new WebSocketClient(`ws://127.0.0.1:${port}/demo`);
  let echoes = 0;
  ws.on('open', () => {
    ws.send('hello through the relay');
    ws.send(Buffer.alloc(300_000, 7), { binary: true });
  });
  ws.on('message', (data, isBinary) => {
    console.log(`client: echo ${isBinary ? `<${data.length} bytes>` : JSON.stringify(data)}`);
    if (++echoes === 2) ws.close(4000, 'demo over');
  });
  ws.on('close', async (code) => {
    console.log(`client: closed ${code}`);
    await relay.close();
    await echo.close();
    console.log('relay metrics:', relay.metrics);
  });
  ws.connect();
}

if (import.meta.url === `file://${process.argv[1]}`) main().catch((error) => ((process.exitCode = 1), console.error(error)));
