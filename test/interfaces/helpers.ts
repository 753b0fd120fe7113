export { useTestServer } from '../helpers/use-test-server.js';
import { WebSocketClient, type WebSocketClientOptions } from '../../src/index.js';
import { TestServer, type TestConnection } from '../helpers/test-server.js';
import { delay, nextEvent } from '../helpers/wait.js';

/** A client of `server`, connected and open, with the server's side of the connection. */
export async function openClient(
  server: TestServer,
  clients: WebSocketClient[],
  options: WebSocketClientOptions = {},
): Promise<{ client: WebSocketClient; conn: TestConnection }> {
  const client = new WebSocketClient(server.url(), options);
  clients.push(client);
  const connection = nextEvent<[TestConnection]>(server, 'connection', 5_000);
  const opened = nextEvent(client, 'open', 5_000);
  client.connect();
  const [conn] = await connection;
  await opened;
  return { client, conn };
}

/**
 * Has the server send `totalBytes` in binary messages of `messageBytes` as
 * fast as its socket takes them, holding at most about 1 MiB itself: when
 * the client stops reading, the server's writes stop being taken and it
 * waits. Then it closes with 1000. `sentBytes()` says how far it got.
 */
export function pumpBinary(conn: TestConnection, totalBytes: number, messageBytes = 64 * 1024): { done: Promise<void>; sentBytes: () => number } {
  const message = Buffer.alloc(messageBytes, 0x5a);
  let sent = 0;
  const done = (async () => {
    const deadline = Date.now() + 60_000;
    while (sent < totalBytes && !conn.closed && Date.now() < deadline) {
      if (conn.unsentBytes > 1024 * 1024) {
        await delay(2);
        continue;
      }
      conn.send(message);
      sent += messageBytes;
      if (sent % (4 * 1024 * 1024) === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    conn.close(1000);
  })();
  return { done, sentBytes: () => sent };
}

export const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
