// A callback or listener that throws must not stop the connection half-way:
// the exception surfaces as an uncaught exception (as EventTarget reports a
// throwing listener) and the connection goes on (or ends) as it would have.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketClient } from '../../src/index.js';
import { TestServer } from '../helpers/test-server.js';
import { waitUntil, withTimeout } from '../helpers/wait.js';

let server: TestServer;
beforeAll(async () => {
  server = await TestServer.start();
});
afterAll(async () => {
  await server?.close();
});

/** Runs `body` with uncaught exceptions collected here instead of by vitest. */
async function catchingUncaught(body: (uncaught: unknown[]) => Promise<void>): Promise<void> {
  const theirs = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  const uncaught: unknown[] = [];
  process.on('uncaughtException', (error) => uncaught.push(error));
  try {
    await body(uncaught);
  } finally {
    process.removeAllListeners('uncaughtException');
    for (const listener of theirs) process.on('uncaughtException', listener);
  }
}

const thrown = (message: string) => (error: unknown) => (error as Error).message === message;

describe('user code that throws', () => {
  it.each([
    ['an onMessage callback', (ws: WebSocketClient, throwOnce: () => void) => (ws.onMessage = throwOnce)],
    ["a 'message' listener", (ws: WebSocketClient, throwOnce: () => void) => ws.on('message', throwOnce)],
  ])('%s: the next message still comes, the error is uncaught', async (_name, install) => {
    await catchingUncaught(async (uncaught) => {
      const ws = new WebSocketClient(server.url());
      const got: unknown[] = [];
      ws.on('message', (data) => got.push(data));
      let calls = 0;
      install(ws, () => {
        if (++calls === 1) throw new Error('from user code');
      });
      const closes: number[] = [];
      ws.on('close', (code) => closes.push(code));
      ws.connect();
      await withTimeout(ws.opened, 5_000, 'open');
      const conn = server.connections.at(-1)!;
      conn.send('one');
      conn.send('two');
      await waitUntil(() => got.length === 2 && uncaught.length === 1, 5_000, 'both messages and the uncaught error');
      expect(got).toEqual(['one', 'two']);
      expect(uncaught.every(thrown('from user code'))).toBe(true);
      expect(ws.readyState).toBe('open');
      ws.close();
      await waitUntil(() => closes.length === 1, 5_000, 'the close');
      expect(closes).toEqual([1000]);
    });
  });

  it("an 'open' listener and onWebSocketConnect: messages queued before open are still sent, then messages flow", async () => {
    await catchingUncaught(async (uncaught) => {
      const ws = new WebSocketClient(server.url());
      ws.onWebSocketConnect = () => {
        throw new Error('from onWebSocketConnect');
      };
      ws.on('open', () => {
        throw new Error('from open');
      });
      const got: unknown[] = [];
      ws.on('message', (data) => got.push(data));
      ws.connect();
      ws.send('queued');
      await waitUntil(() => server.connections.length > 0 && uncaught.length === 2, 5_000, 'open and both errors');
      const conn = server.connections.at(-1)!;
      await waitUntil(() => conn.messages.length === 1, 5_000, 'the queued message at the server');
      conn.send('after');
      await waitUntil(() => got.length === 1, 5_000, 'a message after the open');
      expect(got).toEqual(['after']);
      ws.terminate();
    });
  });

  it('onClose and onError that throw: the close is still reported once, reconnecting still happens', async () => {
    await catchingUncaught(async (uncaught) => {
      const ws = new WebSocketClient(server.url(), { reconnect: { initialDelayMs: 10, jitter: 'none' } });
      let opens = 0;
      ws.on('open', () => {
        opens++;
        if (opens === 1) server.connections.at(-1)!.close(1012, 'restart');
      });
      ws.onClose = () => {
        throw new Error('from onClose');
      };
      ws.onError = () => {
        throw new Error('from onError');
      };
      const closes: number[] = [];
      ws.on('close', (code) => closes.push(code));
      ws.connect();
      await waitUntil(() => opens === 2, 5_000, 'the reconnection');
      expect(closes).toEqual([1012]);
      expect(uncaught.some(thrown('from onClose'))).toBe(true);
      ws.terminate();
      await waitUntil(() => closes.length === 2, 5_000, 'the second close');
    });
  });
});
