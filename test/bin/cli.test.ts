// The wspipe command, spawned as a real process (built into a temporary
// folder first), against our echo server, the test server and python-websockets.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_RECONNECTS_AFTER_INPUT_END } from '../../src/bin/client-run.js';
import { startEchoServer, type EchoServer } from '../../src/server/echo-server.js';
import { makeCertificate } from '../helpers/certificate.js';
import { startPythonServer, type PythonServer } from '../helpers/python-server.js';
import { TestServer } from '../helpers/test-server.js';
import { freePort, requireBinary, startMicrosocks } from '../proxy/helpers.js';
import { buildPackage, runCli, type BuiltPackage, type CliResult } from './package-build.js';

let pkg: BuiltPackage;
let echo: EchoServer;
let python: PythonServer;
const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

beforeAll(async () => {
  [pkg, echo, python] = await Promise.all([
    buildPackage(),
    startEchoServer({
      refuse: (request) =>
        request.path === '/deny' ? { status: 403, statusText: 'Forbidden', body: 'forbidden: missing token cookie\n' } : undefined,
      onConnection: (conn) => {
        // /drop: the connection vanishes (no close frame) once the handshake is done.
        if (conn.request.path === '/drop') setTimeout(() => conn.socket.destroy(), 50);
      },
    }),
    startPythonServer(),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([echo?.close(), python?.stop()]);
  pkg?.remove();
});

const cli = (args: string[], options: Parameters<typeof runCli>[2] = {}): Promise<CliResult> => runCli(pkg.bin, args, options);

function expectEndedByItself(result: CliResult): void {
  expect(result.killed, `the command did not end by itself; stderr:\n${result.stderr}`).toBe(false);
  expect(result.signal).toBeNull();
}

describe('wspipe --version and --help', () => {
  it('--version and -V print the version from package.json on stdout', async () => {
    for (const flag of ['--version', '-V']) {
      const result = await cli([flag]);
      expect(result).toMatchObject({ status: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it('--help lists the options and the exit statuses', async () => {
    const result = await cli(['--help']);
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    for (const flag of ['--origin', '--protocol', '--proxy', '--handshake-timeout', '--close-code', '--close-reason', '--no-compression', '--wait', '--binary-output', '--reconnect', '--ca', '--insecure']) {
      expect(result.stdout).toContain(flag);
    }
    expect(result.stdout).toMatch(/exit status:\n +0 +.*\n +1 +.*\n +2 +usage.*\n +3 +could not connect.*\n +4 +handshake refused.*\n +5 +connection failed/);
    expect(result.stdout).toMatch(/examples:\n {2}wspipe ws:\/\/.*\n {2}printf 'a\\nb\\n' \| wspipe /);
  });
});

describe('wspipe with no URL: the demo', () => {
  it('runs the reference program with one onError and two reconnects, then says how to use a real server', async () => {
    const result = await cli([], { timeoutMs: 30_000 });
    expectEndedByItself(result);
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout.match(/onError: /g)).toEqual(['onError: ']);
    expect(result.stdout).toContain('onError: WSP_ERR_HANDSHAKE_STATUS: server answered 503');
    expect(result.stdout.match(/onWebSocketConnect: 101/g)).toHaveLength(2);
    expect(result.stdout.match(/onMessage: recv hello/g)).toHaveLength(2);
    expect(result.stdout).toMatch(/onClose: code 1000\n.*demo finished\n/);
    expect(result.stdout).toMatch(/Now point it at a real server:\n {2}npx wspipe ws:\/\/HOST:PORT\/PATH/);
  });
});

describe('wspipe: usage errors exit 2 with one line on stderr', () => {
  // A path nobody created (no folder to clean up, even when these tests are filtered out).
  const missing = join(tmpdir(), `wspipe-missing-${process.pid}-${Date.now()}.pem`);
  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown option', ['--nope', 'ws://127.0.0.1:1/'], /unknown option --nope/],
    ['an unknown short option', ['-X', 'ws://127.0.0.1:1/'], /unknown option -X/],
    ['an option without a URL', ['-k'], /options need a URL/],
    ['a second URL', ['ws://127.0.0.1:1/', 'ws://127.0.0.1:2/'], /one URL only/],
    ['an unreadable --ca', ['--ca', missing, 'wss://127.0.0.1:1/'], /--ca .*\.pem: cannot read it \(no such file\)/],
    ['a flag without its value', ['ws://127.0.0.1:1/', '-w'], /-w needs a value/],
    ['--wait 0', ['-w', '0', 'ws://127.0.0.1:1/'], /--wait needs a whole number of at least 1/],
    ['a negative --handshake-timeout', ['--handshake-timeout', '-1', 'ws://127.0.0.1:1/'], /--handshake-timeout needs a whole number of at least 0, not "-1"/],
    ['a close code that may not be sent', ['--close-code', '1005', 'ws://127.0.0.1:1/'], /close code 1005 may not be sent/],
    ['an unknown --binary-output', ['--binary-output', 'octal', 'ws://127.0.0.1:1/'], /hex or base64/],
    ['a value for a boolean flag', ['--binary=yes', 'ws://127.0.0.1:1/'], /--binary takes no value/],
    ['a bad header', ['-H', 'no colon', 'ws://127.0.0.1:1/'], /expected "Name: value"/],
    ['a URL that is not one', ['not a url'], /WSP_ERR_INVALID_URL/],
  ];
  it.each(cases)('%s', async (_name, args, message) => {
    const result = await cli(args);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/^wspipe: [^\n]*\n$/); // one line, no stack
  });
});

describe('wspipe URL: piped stdin', () => {
  it('delivers every line in order, prints exactly the echoes on stdout, closes and exits 0', async () => {
    const lines = Array.from({ length: 300 }, (_, i) => `line ${i} ${'é'.repeat(i % 7)}`);
    const result = await cli([`${echo.url}/`], { stdin: `${lines.join('\n')}\n` });
    expectEndedByItself(result);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`${lines.join('\n')}\n`);
  });

  it('sends a last line without a newline, and the same against python-websockets', async () => {
    const result = await cli([python.url('/echo')], { stdin: 'a\nb\nlast' });
    expectEndedByItself(result);
    expect(result).toMatchObject({ status: 0, stdout: 'a\nb\nlast\n', stderr: '' });
  });

  it('with stdin already at its end: connects, closes with 1000, exits 0', async () => {
    const server = await TestServer.start();
    try {
      const result = await cli([server.url('/')]);
      expectEndedByItself(result);
      expect(result).toMatchObject({ status: 0, stdout: '', stderr: '' });
      expect(server.connections[0]?.closeFrame).toEqual({ code: 1000, reason: '' });
    } finally {
      await server.close();
    }
  });

  it('--close-code and --close-reason are the close frame sent at the end', async () => {
    const server = await TestServer.start();
    try {
      const result = await cli(['--close-code', '4001', '--close-reason', 'bye now', server.url('/')], { stdin: 'x\n' });
      expect(result.status).toBe(0);
      expect(server.connections[0]?.messages.map((m) => m.data.toString())).toEqual(['x']);
      expect(server.connections[0]?.closeFrame).toEqual({ code: 4001, reason: 'bye now' });
    } finally {
      await server.close();
    }
  });

  it('-w N exits after N messages even though stdin has more', async () => {
    const result = await cli(['-w', '2', `${echo.url}/`], { stdin: 'one\ntwo\nthree\nfour\n' });
    expectEndedByItself(result);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('one\ntwo\n'); // exactly N, even when more echoes arrive while closing
  });

  it('-w 1 with stdin at its end waits for the server to speak', async () => {
    const server = await TestServer.start();
    server.on('connection', (conn: { send(data: string): void }) => setTimeout(() => conn.send('spoken first'), 100));
    try {
      const result = await cli(['-w', '1', server.url('/')]);
      expectEndedByItself(result);
      expect(result).toMatchObject({ status: 0, stdout: 'spoken first\n', stderr: '' });
    } finally {
      await server.close();
    }
  });

  it('--binary sends binary frames; --binary-output prints them as hex or base64', async () => {
    const hex = await cli(['--binary', `${echo.url}/`], { stdin: 'ab\nxyz\n' });
    expect(hex).toMatchObject({ status: 0, stdout: '6162\n78797a\n', stderr: '' });
    const base64 = await cli(['-b', '--binary-output', 'base64', python.url('/echo')], { stdin: 'ab\n' });
    expect(base64).toMatchObject({ status: 0, stdout: 'YWI=\n', stderr: '' });
  });
});

describe('wspipe URL: what the server saw', () => {
  it('-H, --origin and --protocol reach python-websockets as given', async () => {
    const result = await cli(
      ['-w', '1', '-H', 'X-Token: abc', '-H', 'Cookie: a=b', '--origin', 'http://app.test', '-p', 'chat', '-p', 'superchat', python.url('/headers')],
      { stdin: '' },
    );
    expectEndedByItself(result);
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout) as { headers: Array<[string, string]> };
    const seen = (name: string): string[] => report.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
    expect(seen('x-token')).toEqual(['abc']);
    expect(seen('cookie')).toEqual(['a=b']);
    expect(seen('origin')).toEqual(['http://app.test']);
    expect(seen('sec-websocket-protocol').join(', ')).toBe('chat, superchat');
  });

  it('--proxy goes through a real SOCKS5 proxy (microsocks)', async () => {
    const proxy = await startMicrosocks();
    try {
      const result = await cli(['--proxy', `socks5://127.0.0.1:${proxy.port}`, `${echo.url}/`], { stdin: 'via socks\n' });
      expectEndedByItself(result);
      expect(result).toMatchObject({ status: 0, stdout: 'via socks\n', stderr: '' });
    } finally {
      await proxy.stop();
    }
  });

  it('--no-compression offers no permessage-deflate', async () => {
    const server = await TestServer.start();
    try {
      await cli([server.url('/')]);
      await cli(['--no-compression', server.url('/')]);
      expect(server.requests.map((r) => r.headers['sec-websocket-extensions'] ?? '')).toEqual([expect.stringContaining('permessage-deflate'), '']);
    } finally {
      await server.close();
    }
  });
});

describe('wspipe URL: each failure class has its exit status', () => {
  it('3: nothing listens on the port', async () => {
    const port = await freePort();
    const result = await cli([`ws://127.0.0.1:${port}/`], { stdin: 'a\n' });
    expectEndedByItself(result);
    expect(result.status).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('WSP_ERR_CONNECT_FAILED');
  });

  it('3: no answer within --handshake-timeout', async () => {
    const server = await TestServer.start({ handshake: 'silent' });
    try {
      const result = await cli(['--handshake-timeout', '300', server.url('/')], { stdin: 'a\n' });
      expectEndedByItself(result);
      expect(result.status).toBe(3);
      expect(result.stderr).toContain('WSP_ERR_HANDSHAKE_TIMEOUT');
    } finally {
      await server.close();
    }
  });

  describe('over TLS', () => {
    let server: EchoServer;
    let dir: string;
    let caFile: string;
    beforeAll(async () => {
      const certificate = makeCertificate();
      dir = mkdtempSync(join(tmpdir(), 'wspipe-cli-tls-'));
      caFile = join(dir, 'ca.pem');
      writeFileSync(caFile, certificate.cert);
      server = await startEchoServer({ createServer: (onSocket) => tls.createServer(certificate, onSocket) });
    }, 60_000);
    afterAll(async () => {
      await server?.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const wssUrl = (): string => `wss://127.0.0.1:${server.port}/`;

    it('3: an untrusted certificate, with a hint about --ca and --insecure', async () => {
      const result = await cli([wssUrl()], { stdin: 'a\n' });
      expectEndedByItself(result);
      expect(result.status).toBe(3);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('WSP_ERR_TLS_FAILED');
      expect(result.stderr).toMatch(/--ca FILE.*--insecure/);
    });

    it('3: a trusted certificate for another name, with a hint about the name (not --ca)', async () => {
      const other = makeCertificate('DNS:example.test');
      const otherCa = join(dir, 'other-ca.pem');
      writeFileSync(otherCa, other.cert);
      const named = await startEchoServer({ createServer: (onSocket) => tls.createServer(other, onSocket) });
      try {
        const result = await cli(['--ca', otherCa, `wss://127.0.0.1:${named.port}/`], { stdin: 'a\n' });
        expectEndedByItself(result);
        expect(result.status).toBe(3);
        expect(result.stderr).toContain('WSP_ERR_TLS_FAILED');
        expect(result.stderr).toContain('hint: the certificate is not for this host name or address');
        expect(result.stderr).not.toContain('--ca FILE');
      } finally {
        await named.close();
      }
    });

    it('0: --ca trusts it; -k skips the check', async () => {
      expect(await cli(['--ca', caFile, wssUrl()], { stdin: 'secure\n' })).toMatchObject({ status: 0, stdout: 'secure\n', stderr: '' });
      expect(await cli(['-k', wssUrl()], { stdin: 'insecure\n' })).toMatchObject({ status: 0, stdout: 'insecure\n', stderr: '' });
    });
  });

  it('4: a refusal, with its status and the start of its body', async () => {
    const result = await cli([`${echo.url}/deny`], { stdin: 'a\n' });
    expectEndedByItself(result);
    expect(result.status).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('WSP_ERR_HANDSHAKE_STATUS');
    expect(result.stderr).toContain('403 Forbidden');
    expect(result.stderr).toContain('the server said: forbidden: missing token cookie');
  });

  it('5: a protocol error by the server (a reserved opcode)', async () => {
    const server = await TestServer.start();
    server.greeting = Buffer.from([0x83, 0x00]); // FIN + opcode 3: reserved (RFC 6455 5.2)
    try {
      const result = await cli([server.url('/')], { stdin: '' });
      expectEndedByItself(result);
      expect(result.status).toBe(5);
      expect(result.stderr).toContain('WSP_ERR_RESERVED_OPCODE');
    } finally {
      await server.close();
    }
  });

  it('5: the connection is lost after the handshake', async () => {
    // stdin stays open (an interactive user who has not typed yet) while the server drops the connection.
    const result = await cli([`${echo.url}/drop`], { holdStdin: true });
    expectEndedByItself(result);
    expect(result.status).toBe(5);
    expect(result.stderr).toContain('WSP_ERR_CONNECTION_LOST');
  });

  it('5: the server closes with a code other than 1000', async () => {
    // stdin stays open: the close is the server's alone.
    const result = await cli([python.url('/close?code=1011&reason=oops')], { holdStdin: true });
    expectEndedByItself(result);
    expect(result.status).toBe(5);
    expect(result.stderr).toContain('the server closed the connection (1011 "oops")');
  });

  it('0: the server closes with 1000', async () => {
    const result = await cli([python.url('/close?code=1000')], { holdStdin: true });
    expectEndedByItself(result);
    expect(result).toMatchObject({ status: 0, stdout: '' });
  });
});

describe('wspipe on a terminal', () => {
  it('shows "connected", a "> " prompt and "closed" on a terminal (a pty from script(1)); Ctrl-D closes with 1000', async () => {
    const script = requireBinary('script', 'bsdutils');
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(pkg.bin)} ${echo.url}/`;
    const child = spawn(script, ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.once('close', (status) => resolve(status)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      // Type a line once connected, then Ctrl-D once its echo is back: each step waits for the output before.
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        const before = output;
        output += text;
        if (!before.includes('connected to') && output.includes('connected to')) child.stdin.write('typed line\n');
        if ((output.match(/typed line/g) ?? []).length >= 2 && (before.match(/typed line/g) ?? []).length < 2) child.stdin.write('\x04');
      });
      const status = await exited;
      expect(status, output).toBe(0);
      expect(output).toContain('connected to ws://127.0.0.1:');
      expect(output).toContain('> ');
      expect(output).toContain('closed (1000)');
    } finally {
      clearTimeout(timer);
    }
  });
});

describe('wspipe: Ctrl-C', () => {
  it('SIGINT closes with the close code, then exits 130', async () => {
    const server = await TestServer.start();
    server.on('connection', (conn: { send(data: string): void }) => conn.send('open'));
    try {
      // A message on stdout says the connection is open: then Ctrl-C.
      const result = await cli(['--close-code', '1001', server.url('/')], {
        holdStdin: true,
        onSpawn: (child) => child.stdout!.once('data', () => child.kill('SIGINT')),
      });
      expectEndedByItself(result);
      expect(result).toMatchObject({ status: 130, stdout: 'open\n' });
      expect(server.connections[0]?.closeFrame).toEqual({ code: 1001, reason: '' });
    } finally {
      await server.close();
    }
  });
});

describe('wspipe --reconnect', () => {
  it('with stdin at its end and nothing to send, stops at the first failure', async () => {
    const port = await freePort();
    const result = await cli(['--reconnect', `ws://127.0.0.1:${port}/`], { stdin: '' });
    expectEndedByItself(result);
    expect(result.status).toBe(3);
    // The first failure may come before the end of stdin is read: then one reconnection is announced and cancelled.
    expect((result.stderr.match(/reconnecting in/g) ?? []).length).toBeLessThanOrEqual(1);
  });

  it('with input left to send and the server gone, gives up after a bounded number of attempts', async () => {
    const port = await freePort();
    // Default backoff: attempt n waits at most 500 * 2^(n-1) ms, so the bound is about 7.5 s.
    const result = await cli(['--reconnect', `ws://127.0.0.1:${port}/`], { stdin: 'never delivered\n', timeoutMs: 30_000 });
    expectEndedByItself(result);
    expect(result.status).toBe(3);
    const attempts = result.stderr.match(/reconnecting in \d+ ms/g) ?? [];
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts.length).toBeLessThanOrEqual(MAX_RECONNECTS_AFTER_INPUT_END + 1);
    expect(result.stderr).toMatch(/15 byte\(s\) of input were not sent/);
  });

  it('delivers what was queued once the server comes back, then exits 0', async () => {
    const port = await freePort();
    let late: Promise<EchoServer> | undefined;
    try {
      // The first failure is announced on stderr ("reconnecting in ..."): then the server starts.
      const result = await cli(['--reconnect', `ws://127.0.0.1:${port}/`], {
        stdin: 'queued 1\nqueued 2\n',
        timeoutMs: 30_000,
        onSpawn: (child) => child.stderr!.once('data', () => (late = startEchoServer({ port }))),
      });
      expectEndedByItself(result);
      expect(result).toMatchObject({ status: 0, stdout: 'queued 1\nqueued 2\n' });
      expect(result.stderr).toContain('WSP_ERR_CONNECT_FAILED');
    } finally {
      await (await late)?.close();
    }
  });
});
