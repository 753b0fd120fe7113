// Autobahn-style compression cases (its client sections 12 and 13): many message
// sizes, and the parameter combinations of RFC 7692 section 7, echoed byte for
// byte by a permessage-deflate implementation we did not write
// (Debian's python3-websockets, run with /usr/bin/python3).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketClient } from '../../src/index.js';
import type { PerMessageDeflateOptions } from '../../src/protocol/permessage-deflate.js';

const SCRIPT = fileURLToPath(new URL('../deflate/pmd_echo_server.py', import.meta.url));
let server: ChildProcess | undefined;
let url = '';

beforeAll(async () => {
  server = spawn('/usr/bin/python3', [SCRIPT, '--lifetime', '120'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [port] = (await once(createInterface({ input: server.stdout! }), 'line')) as [string];
  url = `ws://127.0.0.1:${Number(port)}/`;
});
afterAll(() => {
  server?.kill();
});

/** Compressible payloads: words from a small vocabulary, seeded, exactly `bytes` long. */
function payload(bytes: number, seed: number): string {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'échappé', 'zeta', '{"k":1}', '0123456789'];
  let out = '';
  let x = seed;
  while (out.length < bytes) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out += words[x % words.length] + ' ';
  }
  return Buffer.from(out).subarray(0, bytes).toString('latin1');
}

/** Sends `count` messages of each size (text and binary alternating), checks every echo, closes. */
function echoAll(options: PerMessageDeflateOptions, sizes: number[], count: number): Promise<{ extensions: string | undefined; mismatches: number; received: number; errors: string[] }> {
  return new Promise((resolve, reject) => {
    const sent: Array<Buffer | string> = [];
    for (const size of sizes) {
      for (let i = 0; i < count; i++) {
        const text = payload(size, size + i);
        sent.push(i % 2 === 0 ? text : Buffer.from(text, 'latin1'));
      }
    }
    let received = 0;
    let mismatches = 0;
    const errors: string[] = [];
    let extensions: string | undefined;
    const ws = new WebSocketClient(url, { perMessageDeflate: { thresholdBytes: 0, ...options } });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`only ${received} of ${sent.length} echoes within 30 s`));
    }, 30_000);
    ws.onWebSocketConnect = (conn, response) => {
      extensions = response.extensions;
      for (const m of sent) conn.send(m, { binary: typeof m !== 'string' });
    };
    ws.onMessage = (conn, data, isBinary) => {
      const expected = sent[received++]!;
      const same = typeof expected === 'string' ? !isBinary && data === expected : isBinary && (data as Buffer).equals(expected);
      if (!same) mismatches++;
      if (received === sent.length) conn.close(1000);
    };
    ws.onError = (_c, code) => errors.push(code);
    ws.onClose = () => {
      clearTimeout(timer);
      resolve({ extensions, mismatches, received, errors });
    };
    ws.connect();
  });
}

describe('compression, Autobahn sections 12 and 13 (against python3-websockets)', () => {
  it('12: message sizes from 16 B to 128 KiB, 10 of each, default parameters', async () => {
    const sizes = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072];
    const result = await echoAll({}, sizes, 10);
    expect(result).toMatchObject({ mismatches: 0, received: 100, errors: [] });
    expect(result.extensions).toMatch(/^permessage-deflate/);
  });

  const combinations: Array<[string, PerMessageDeflateOptions, RegExp]> = [
    ['13.1 defaults', {}, /^permessage-deflate/],
    ['13.2 client_no_context_takeover', { clientNoContextTakeover: true }, /client_no_context_takeover/],
    ['13.3 server_no_context_takeover', { serverNoContextTakeover: true }, /server_no_context_takeover/],
    ['13.4 both no_context_takeover', { clientNoContextTakeover: true, serverNoContextTakeover: true }, /server_no_context_takeover/],
    ['13.5 client_max_window_bits=9', { clientMaxWindowBits: 9 }, /client_max_window_bits=9/],
    ['13.6 server_max_window_bits=9', { serverMaxWindowBits: 9 }, /server_max_window_bits=9/],
    ['13.7 both window bits 9, no takeover', { clientMaxWindowBits: 9, serverMaxWindowBits: 9, clientNoContextTakeover: true, serverNoContextTakeover: true }, /server_max_window_bits=9/],
    ['13.8 both window bits 15 offered (the server may answer with less)', { clientMaxWindowBits: 15, serverMaxWindowBits: 15 }, /server_max_window_bits=(9|1[0-5])/],
  ];
  it.each(combinations)('%s: 64 messages of 64 B to 64 KiB echoed byte for byte', async (_name, options, agreed) => {
    const result = await echoAll(options, [64, 1024, 16384, 65536], 16);
    expect(result).toMatchObject({ mismatches: 0, received: 64, errors: [] });
    expect(result.extensions).toMatch(agreed);
  });

  it.each([9, 10, 11, 12, 13, 14, 15] as const)('window bits %i both ways: 32 messages echoed byte for byte', async (bits) => {
    const result = await echoAll({ clientMaxWindowBits: bits, serverMaxWindowBits: bits }, [1024, 65536], 16);
    expect(result).toMatchObject({ mismatches: 0, received: 32, errors: [] });
    // The server may answer with a smaller window than offered (RFC 7692 7.1.2.1): python caps its own at 12.
    const agreed = Number(/server_max_window_bits=(\d+)/.exec(result.extensions ?? '')?.[1]);
    expect(agreed).toBe(Math.min(bits, 12));
  });
});
