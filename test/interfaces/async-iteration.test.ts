import { describe, expect, it } from 'vitest';
import { WebSocketClient, ProtocolError, type WebSocketClientOptions } from '../../src/index.js';
import type { TestConnection } from '../helpers/test-server.js';
import { nextEvent, waitUntil, withTimeout } from '../helpers/wait.js';
import { openClient, pumpBinary, useTestServer } from './helpers.js';

const env = useTestServer();

const connected = (options: WebSocketClientOptions = {}) => openClient(env.server, env.clients, options);

describe('async iteration over a client', () => {
  it('for await with break: the connection closes cleanly (1000)', async () => {
    const { client, conn } = await connected();
    for (let i = 0; i < 5; i++) conn.send(`m${i}`);
    const closeFrame = nextEvent<[{ code: number }]>(conn, 'closeFrame', 5_000);
    const closed = nextEvent<[number, string]>(client, 'close', 5_000);
    const seen: unknown[] = [];
    for await (const message of client) {
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
    for await (const message of client.messages()) seen.push(message);
    expect(seen).toEqual(['a', Buffer.from([1])]);
  });

  it('a protocol error by the server is thrown from the loop, after the messages before it', async () => {
    const { client, conn } = await connected();
    conn.send('before');
    conn.sendRaw(Buffer.from([0x83, 0x00])); // reserved opcode
    const seen: unknown[] = [];
    let thrown: unknown;
    try {
      for await (const message of client.messages()) seen.push(message);
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
        for await (const message of client.messages()) throw new Error(`failed on ${String(message)}`);
      })(),
    ).rejects.toThrow('failed on boom');
    expect((await closeFrame)[0].code).toBe(1000);
  });

  it('with a reconnecting client the loop goes on across connections and ends with the last', async () => {
    const { client, conn } = await connected({ reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    const seen: unknown[] = [];
    const loop = (async () => {
      for await (const message of client.messages()) seen.push(message);
    })();
    conn.send('first');
    await waitUntil(() => seen.length === 1, 5_000, 'the first message');
    const second = nextEvent<[TestConnection]>(env.server, 'connection', 5_000);
    conn.destroy(); // 1006: retried
    const [conn2] = await second;
    conn2.send('second');
    conn2.close(1000); // a normal closure is not retried: the loop ends
    await withTimeout(loop, 5_000, 'the loop to end');
    expect(seen).toEqual(['first', 'second']);
  });

  it('a loop over a client that already closed ends at once', async () => {
    const { client, conn } = await connected();
    conn.close(1000);
    await nextEvent(client, 'close', 5_000);
    const seen: unknown[] = [];
    await withTimeout(
      (async () => {
        for await (const message of client) seen.push(message);
      })(),
      5_000,
      'the loop to end',
    );
    expect(seen).toEqual([]);
  });

  it('a loop that stops taking messages pauses the socket: the server blocks', async () => {
    const { client, conn } = await connected();
    const totalBytes = 32 * 1024 * 1024;
    const pump = pumpBinary(conn, totalBytes);
    const iterator = client.messages({ highWaterMark: 4 });
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

describe('client.opened and client.closed', () => {
  it('opened resolves with the 101, closed with { code, reason }; connect() still chains', async () => {
    const client = new WebSocketClient(env.server.url());
    env.clients.push(client);
    const connection = nextEvent<[TestConnection]>(env.server, 'connection', 5_000);
    const pending = client.opened; // before connect(): waits for it
    const response = await withTimeout(client.connect().opened, 5_000, 'opened');
    expect(await pending).toBe(response);
    expect(response.status).toBe(101);
    const [conn] = await connection;
    conn.close(4000, 'bye');
    expect(await withTimeout(client.closed, 5_000, 'closed')).toEqual({ code: 4000, reason: 'bye', error: undefined });
    // With nothing under way, both speak of the last connection.
    expect((await client.closed).code).toBe(4000);
    await expect(client.opened).rejects.toMatchObject({ code: 'WSP_ERR_NOT_OPEN' });
  });

  it('a refused connection: opened rejects with its error, closed resolves with 1006 and the error', async () => {
    env.server.handshake = { status: 503, body: 'busy' };
    try {
      const client = new WebSocketClient(env.server.url());
      env.clients.push(client);
      client.connect();
      const opened = client.opened;
      const closed = await withTimeout(client.closed, 5_000, 'closed');
      expect(closed.code).toBe(1006);
      expect(closed.error?.code).toBe('WSP_ERR_HANDSHAKE_STATUS');
      await expect(opened).rejects.toBe(closed.error);
    } finally {
      env.server.handshake = 'accept';
    }
  });

  it('per connection across reconnects: each closed is one connection, opened waits for the next', async () => {
    const { client, conn } = await connected({ reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    const first = client.closed;
    const second = nextEvent<[TestConnection]>(env.server, 'connection', 5_000);
    conn.destroy();
    expect((await withTimeout(first, 5_000, 'the first close')).code).toBe(1006);
    const reopened = client.opened; // between the two: the next connection's
    const [conn2] = await second;
    expect((await withTimeout(reopened, 5_000, 'reopened')).status).toBe(101);
    const last = client.closed;
    expect(last).not.toBe(first);
    conn2.close(1000);
    expect((await withTimeout(last, 5_000, 'the last close')).code).toBe(1000);
  });

  it('await using: Symbol.asyncDispose closes cleanly and waits for the end', async () => {
    const { client, conn } = await connected();
    const frame = nextEvent<[{ code: number }]>(conn, 'closeFrame', 5_000);
    {
      await using scoped = client;
      expect(scoped.readyState).toBe('open');
    }
    expect(client.readyState).toBe('closed');
    expect((await frame)[0].code).toBe(1000);
    await withTimeout(client[Symbol.asyncDispose](), 5_000, 'a second dispose, with nothing left to close');
  });
});

