// The wspipe command as a script uses it: binary stdin through --binary, and
// -w N printing exactly N messages. Spawned as a real process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoServer, type EchoServer } from '../../src/server/echo-server.js';
import { TestServer } from '../helpers/test-server.js';
import { buildPackage, runCli, type BuiltPackage, type CliResult } from './package-build.js';

let pkg: BuiltPackage;
let echo: EchoServer;

beforeAll(async () => {
  [pkg, echo] = await Promise.all([buildPackage(), startEchoServer()]);
}, 120_000);

afterAll(async () => {
  await echo?.close();
  pkg?.remove();
});

const cli = (args: string[], options: Parameters<typeof runCli>[2] = {}): Promise<CliResult> => runCli(pkg.bin, args, options);

describe('wspipe --binary reads stdin as bytes', () => {
  it('splits at \\n bytes only and sends the bytes between as they are (no UTF-8 decoding, no cut at \\r)', async () => {
    // Invalid UTF-8 (ff, 80, fe), a NUL, lone and paired \r, and a last line without a newline.
    const input = Buffer.from([0xff, 0x0d, 0x00, 0x80, 0x0a, 0x41, 0x0d, 0x0a, 0x0a, 0xfe, 0x0d, 0x42]);
    const result = await cli(['--binary', `${echo.url}/`], { stdin: input });
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.stdout).toBe('ff0d0080\n410d\n\nfe0d42\n');
  });

  it('a 256 KiB binary file arrives intact, line by line', async () => {
    const input = Buffer.alloc(256 * 1024);
    for (let i = 0; i < input.length; i++) input[i] = (i * 7919) & 0xff;
    const result = await cli(['--binary', '--binary-output', 'base64', `${echo.url}/`], { stdin: input, timeoutMs: 30_000 });
    expect(result.status).toBe(0);
    const expected = [];
    let start = 0;
    for (let at = input.indexOf(0x0a); at !== -1; at = input.indexOf(0x0a, start)) {
      expected.push(input.subarray(start, at).toString('base64'));
      start = at + 1;
    }
    if (start < input.length) expected.push(input.subarray(start).toString('base64'));
    expect(result.stdout).toBe(expected.map((line) => `${line}\n`).join(''));
  });
});

describe('wspipe -w N', () => {
  it('prints exactly N messages when the server sends more at once', async () => {
    const server = await TestServer.start();
    server.on('connection', (conn: { send(data: string): void }) => {
      for (let i = 0; i < 5; i++) conn.send(`m${i}`);
    });
    try {
      const one = await cli(['-w', '1', server.url('/')]);
      expect(one).toMatchObject({ status: 0, stdout: 'm0\n', stderr: '' });
      const two = await cli(['-w', '2', server.url('/')]);
      expect(two).toMatchObject({ status: 0, stdout: 'm0\nm1\n', stderr: '' });
    } finally {
      await server.close();
    }
  });
});
