// Typed events. This file is type-checked with the rest (`npm run typecheck`):
// each `@ts-expect-error` line must fail to compile, or the check fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketClient, ErrorCode, type MessageArgs, type WebSocketError } from '../../src/index.js';
import { TestServer, type TestConnection } from '../helpers/test-server.js';
import { nextEvent, waitUntil } from '../helpers/wait.js';

let server: TestServer;
beforeAll(async () => {
  server = await TestServer.start();
});
afterAll(async () => {
  await server?.close();
});

/** Compiles only when `T` is exactly `U`. */
function exactly<T, U>(_value: T, ..._proof: [T] extends [U] ? ([U] extends [T] ? [] : [never]) : [never]): void {}

describe('typed events', () => {
  it('listener arguments are typed per event; misspelt names and wrong arguments do not compile', () => {
    const client = new WebSocketClient('ws://127.0.0.1:1/');
    client.on('message', (data, isBinary) => {
      exactly<typeof data, string | Buffer | Buffer[]>(data);
      exactly<typeof isBinary, boolean>(isBinary);
    });
    client.on('message', (data) => void data); // fewer parameters, as usual
    client.on('message', (...[data, isBinary]: MessageArgs) => {
      if (!isBinary) exactly<typeof data, string>(data);
      else exactly<typeof data, Buffer | Buffer[]>(data);
    });
    client.on('close', (code, reason) => {
      exactly<typeof code, number>(code);
      exactly<typeof reason, string>(reason);
    });
    client.on('error', (error) => exactly<typeof error, WebSocketError>(error));
    client.once('reconnecting', ({ attempt, delayMs }) => void [attempt, delayMs]);
    // @ts-expect-error a misspelt event name
    client.on('mesage', () => {});
    // @ts-expect-error the close code is a number
    client.on('close', (code: string) => void code);
    // @ts-expect-error no such event to remove either
    client.off('opened', () => {});
    expect(client.listenerCount('message')).toBe(3);
    client.removeAllListeners();
  });

  it('onMessage narrows with MessageArgs; onError gets an ErrorCode', async () => {
    const client = new WebSocketClient(server.url());
    const texts: string[] = [];
    const binaries: Array<Buffer | Buffer[]> = [];
    const codes: ErrorCode[] = [];
    client.onMessage = (_conn, ...[data, isBinary]: MessageArgs) => {
      if (isBinary) binaries.push(data);
      else texts.push(data.toUpperCase());
    };
    client.onMessage = (_conn, data) => void data; // the wide form still compiles
    client.onMessage = (_conn, ...[data, isBinary]: MessageArgs) => {
      if (isBinary) binaries.push(data);
      else texts.push(data.toUpperCase());
    };
    client.onError = (_conn, code) => {
      exactly<typeof code, ErrorCode>(code);
      codes.push(code);
    };
    const connection = nextEvent<[TestConnection]>(server, 'connection', 5_000);
    client.connect();
    const [conn] = await connection;
    conn.send('text');
    conn.send(Buffer.from([1]));
    await waitUntil(() => texts.length + binaries.length === 2, 5_000, 'two messages');
    conn.destroy();
    await nextEvent(client, 'close', 5_000);
    expect(texts).toEqual(['TEXT']);
    expect(binaries).toEqual([Buffer.from([1])]);
    expect(codes).toEqual([ErrorCode.ConnectionLost]);
  });
});
