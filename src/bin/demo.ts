// `wspipe` with no URL: the reference program (Workerman's ws client example)
// against an embedded echo server, every callback printed as it fires.
// The server refuses the first attempt (onError), restarts once (onClose,
// reconnect), and the client closes the third connection itself.
import { HandshakeError, WebSocketClient } from '../index.js';
import { startEchoServer } from '../server/echo-server.js';

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
}

/** Runs the demo; resolves once the embedded server is closed. */
export async function runDemo(): Promise<void> {
  let attempts = 0;
  const server = await startEchoServer({
    refuse: () =>
      ++attempts === 1 ? { status: 503, statusText: 'Service Unavailable', body: 'warming up, try again in a second' } : undefined,
  });
  log(`embedded echo server listening on ${server.url} (it refuses the first attempt)`);
  let opens = 0;
  const finished = new Promise<void>((resolve) => {
    const ws = new WebSocketClient(`${server.url}/demo?from=wspipe`, {
      pingIntervalMs: 300,
      headers: { Cookie: 'PHPSID=demo; token=demo', OtherKey: 'values' },
      messageType: 'text',
    });
    ws.onConnect = () => log('onConnect: TCP connected');
    ws.onWebSocketConnect = (conn, response) => {
      opens++;
      log(`onWebSocketConnect: ${response.status} ${response.statusText} (accept ${response.headers['sec-websocket-accept']})`);
      conn.send('hello');
    };
    ws.on('pong', () => log('pong received (ping interval 300 ms)'));
    ws.onMessage = (conn, data) => {
      log(`onMessage: recv ${String(data)}`);
      setTimeout(() => {
        if (opens === 1) {
          log('the server closes the connection (1012, service restart)');
          for (const c of server.connections) c.close(1012, 'restart');
        } else {
          log('client closes (1000)');
          conn.close(1000, 'done');
        }
      }, 700);
    };
    ws.onError = (_conn, code, message, error) =>
      log(`onError: ${code}: ${message}${error instanceof HandshakeError && error.bodyStart ? ` (body: "${error.bodyStart}")` : ''}`);
    ws.onClose = (conn, code, reason) => {
      log(`onClose: code ${code}${reason ? ` reason "${reason}"` : ''}`);
      if (opens < 2) {
        log('reconnecting in 1 s: conn.reconnect(1_000)');
        conn.reconnect(1_000);
      } else {
        resolve();
      }
    };
    ws.connect();
  });
  await finished;
  await server.close();
  log('demo finished');
  process.stdout.write(
    '\nNow point it at a real server:\n' +
      '  npx wspipe ws://HOST:PORT/PATH     (from a clone of the project: npm start -s -- ws://HOST:PORT/PATH)\n' +
      '  npx wspipe --help                  (options and exit statuses)\n',
  );
}
