import { afterAll, afterEach, beforeAll } from 'vitest';
import type { WebSocketClient } from '../../src/index.js';
import { TestServer } from './test-server.js';

/**
 * A test server for the file's tests (started before them, closed after), and
 * the clients they open, terminated after each test.
 */
export function useTestServer(): { readonly server: TestServer; readonly clients: WebSocketClient[] } {
  let server: TestServer | undefined;
  const clients: WebSocketClient[] = [];
  beforeAll(async () => {
    server = await TestServer.start();
  });
  afterAll(async () => {
    await server?.close();
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.terminate();
    if (server) {
      server.handshake = 'accept';
      server.answerPings = true;
    }
  });
  return {
    get server(): TestServer {
      return server!;
    },
    clients,
  };
}
