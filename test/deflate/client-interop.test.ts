import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { WebSocketClient } from '../../src/index.js';
import type { PerMessageDeflateOptions } from '../../src/protocol/permessage-deflate.js';
import { sampleText } from './helpers.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./pmd_echo_server.py', import.meta.url));

let server: ChildProcess | undefined;
let url = '';
/** What the server printed after its port (see /log in the script). */
const serverLines: string[] = [];

beforeAll(async () => {
  server = spawn(PYTHON, [SCRIPT, '--lifetime', '60'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: server.stdout! });
  const [first] = (await once(lines, 'line')) as [string];
  lines.on('line', (line: string) => serverLines.push(line));
  url = `ws://127.0.0.1:${Number(first.trim())}/`;
});

afterAll(() => {
  server?.kill();
});

interface Outcome {
  extensions: string | undefined;
  received: Array<[string | Buffer | Buffer[], boolean]>;
  close: [number, string];
  errors: string[];
}

/** Sends `messages` (the first ones before the connection is open), waits for every echo, closes. */
function echoThrough(perMessageDeflate: boolean | PerMessageDeflateOptions, messages: Array<string | Buffer>): Promise<Outcome> {
  return new Promise((resolve) => {
    const ws = new WebSocketClient(url, { perMessageDeflate, maxMessageBytes: 32 * 1024 * 1024 });
    const outcome: Outcome = { extensions: undefined, received: [], close: [0, ''], errors: [] };
    ws.onWebSocketConnect = (conn, response) => {
      outcome.extensions = response.extensions;
      for (const m of messages.slice(2)) conn.send(m, { binary: typeof m !== 'string' });
    };
    ws.onMessage = (conn, data, isBinary) => {
      outcome.received.push([data, isBinary]);
      if (outcome.received.length === messages.length) conn.close(1000, 'done');
    };
    ws.onError = (_c, code) => outcome.errors.push(code);
    ws.onClose = (_c, code, reason) => {
      outcome.close = [code, reason];
      resolve(outcome);
    };
    ws.connect();
    // Queued before the handshake: compressed once it is done, still first.
    for (const m of messages.slice(0, 2)) ws.send(m, { binary: typeof m !== 'string' });
  });
}

const pythonAvailable = existsSync(PYTHON);

describe.runIf(pythonAvailable)('WebSocketClient with perMessageDeflate against python3-websockets', () => {
  const messages: Array<string | Buffer> = [
    sampleText(5000, 1),
    Buffer.from(sampleText(30_000, 2)),
    'short',
    sampleText(5000, 1),
    randomBytes(10_000),
    Buffer.from(sampleText(3 * 1024 * 1024, 3)),
    '',
    'ünïcödé '.repeat(1000),
  ];

  it.each([
    ['true', true],
    ['no context takeover', { serverNoContextTakeover: true, clientNoContextTakeover: true }],
    ['small windows, threshold 0', { clientMaxWindowBits: 9, serverMaxWindowBits: 9, thresholdBytes: 0 }],
  ] as Array<[string, boolean | PerMessageDeflateOptions]>)('%s: every message echoes intact, in order', async (_name, options) => {
    const outcome = await echoThrough(options, messages);
    expect(outcome.errors).toEqual([]);
    expect(outcome.extensions).toMatch(/^permessage-deflate/);
    expect(outcome.close).toEqual([1000, 'done']);
    expect(outcome.received.length).toBe(messages.length);
    outcome.received.forEach(([data, isBinary], i) => {
      const sent = messages[i]!;
      expect(isBinary).toBe(typeof sent !== 'string');
      if (typeof sent === 'string') expect(data).toBe(sent);
      else expect(Buffer.compare(data as Buffer, sent)).toBe(0);
    });
  });

  it('off by default: no offer, no extension', async () => {
    const ws = new WebSocketClient(url);
    const response = await new Promise<{ extensions: string | undefined }>((resolve) => {
      ws.onWebSocketConnect = (_c, r) => resolve(r);
      ws.connect();
    });
    expect(response.extensions).toBeUndefined();
    const closed = new Promise((resolve) => (ws.onClose = resolve));
    ws.close();
    await closed;
  });

  it('close() waits for a large message still being compressed', async () => {
    const original = Buffer.from(sampleText(8 * 1024 * 1024, 4));
    const big = Buffer.from(original);
    const ws = new WebSocketClient(`${url}log`, { perMessageDeflate: true, maxMessageBytes: 32 * 1024 * 1024 });
    const result = await new Promise<{ echo: Buffer | undefined; close: number }>((resolve) => {
      let echo: Buffer | undefined;
      ws.onWebSocketConnect = (conn) => {
        conn.send(big, { binary: true });
        big.fill(0); // send() copied it: reuse is safe
        conn.close(1000);
      };
      ws.onMessage = (_c, data) => (echo = data as Buffer);
      ws.onClose = (_c, code) => resolve({ echo, close: code });
      ws.connect();
    });
    // The close frame went after the message: the server read the message whole before it.
    // (Its echo may lose the race with the server's own close reply, so it is not required.)
    expect(result.close).toBe(1000);
    const digest = createHash('sha256').update(original).digest('hex');
    // Its stdout is another pipe than the socket: give the line a moment to arrive.
    const line = `recv ${original.length} ${digest}`;
    for (let waitedMs = 0; !serverLines.includes(line) && waitedMs < 3000; waitedMs += 20) await new Promise((r) => setTimeout(r, 20));
    expect(serverLines).toContain(line);
    if (result.echo) expect(result.echo.equals(original)).toBe(true);
  });
});
