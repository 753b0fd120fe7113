import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketClient, ProtocolError, type WebSocketClientOptions } from '../../src/index.js';
import { iterateMessages } from '../../src/interfaces/message-iterator.js';
import { TestServer, type TestConnection } from '../helpers/test-server.js';
import { nextEvent, waitUntil, withTimeout } from '../helpers/wait.js';
import { openClient, pumpBinary } from './helpers.js';

let server: TestServer;
const clients: WebSocketClient[] = [];

beforeAll(async () => {
  server = await TestServer.start();
});
afterAll(async () => {
  await server?.close();
});
afterEach(() => {
  for (const client of clients.splice(0)) client.terminate();
});

const connected = (options: WebSocketClientOptions = {}) => openClient(server, clients, options);

describe('async iteration over a client', () => {
  it('for await with break: the connection closes cleanly (1000)', async () => {
    const { client, conn } = await connected();
    for (let i = 0; i < 5; i++) conn.send(`m${i}`);
    const closeFrame = nextEvent<[{ code: number }]>(conn, 'closeFrame', 5_000);
    const closed = nextEvent<[number, string]>(client, 'close', 5_000);
    const seen: unknown[] = [];
    for await (const message of iterateMessages(client)) {
      seen.push(message);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual(['m0', 'm1', 'm2']);
    expect((await closeFrame)[0].code).toBe(1000);
    expect((await closed)[0]).toBe(1000);
  });

  it('ends when the server closes cleanly, after every message', async () => {
    const { client, conn } = await connected();
    conn.send('a');
    conn.send(Buffer.from([1]));
    conn.close(1000);
    const seen: unknown[] = [];
    for await (const message of iterateMessages(client)) seen.push(message);
    expect(seen).toEqual(['a', Buffer.from([1])]);
  });

  it('a protocol error by the server is thrown from the loop, after the messages before it', async () => {
    const { client, conn } = await connected();
    conn.send('before');
    conn.sendRaw(Buffer.from([0x83, 0x00])); // reserved opcode
    const seen: unknown[] = [];
    let thrown: unknown;
    try {
      for await (const message of iterateMessages(client)) seen.push(message);
    } catch (error) {
      thrown = error;
    }
    expect(seen).toEqual(['before']);
    expect(thrown).toBeInstanceOf(ProtocolError);
    expect((thrown as ProtocolError).code).toBe('WSP_ERR_RESERVED_OPCODE');
  });

  it('an error thrown in the loop closes the connection and propagates', async () => {
    const { client, conn } = await connected();
    conn.send('boom');
    const closeFrame = nextEvent<[{ code: number }]>(conn, 'closeFrame', 5_000);
    await expect(
      (async () => {
        for await (const message of iterateMessages(client)) throw new Error(`failed on ${String(message)}`);
      })(),
    ).rejects.toThrow('failed on boom');
    expect((await closeFrame)[0].code).toBe(1000);
  });

  it('with a reconnecting client the loop goes on across connections and ends with the last', async () => {
    const { client, conn } = await connected({ reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    const seen: unknown[] = [];
    const loop = (async () => {
      for await (const message of iterateMessages(client)) seen.push(message);
    })();
    conn.send('first');
    await waitUntil(() => seen.length === 1, 5_000, 'the first message');
    const second = nextEvent<[TestConnection]>(server, 'connection', 5_000);
    conn.destroy(); // 1006: retried
    const [conn2] = await second;
    conn2.send('second');
    conn2.close(1000); // a normal closure is not retried: the loop ends
    await withTimeout(loop, 5_000, 'the loop to end');
    expect(seen).toEqual(['first', 'second']);
  });

  it('a loop that stops taking messages pauses the socket: the server blocks', async () => {
    const { client, conn } = await connected();
    const totalBytes = 32 * 1024 * 1024;
    const pump = pumpBinary(conn, totalBytes);
    const iterator = iterateMessages(client, { highWaterMark: 4 });
    await iterator.next();
    await waitUntil(() => conn.unsentBytes > 1024 * 1024, 10_000, 'the server to be blocked');
    const stalledAt = pump.sentBytes();
    expect(stalledAt).toBeLessThan(totalBytes / 2);
    let received = 64 * 1024;
    for await (const m of iterator) received += (m as Buffer).length;
    await pump.done;
    expect(received).toBe(totalBytes);
  }, 40_000);
});
