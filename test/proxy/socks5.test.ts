import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openProxyTunnel } from '../../src/client/proxy.js';
import {
  encodeConnectRequest,
  encodeUserPass,
  Socks5Negotiation,
  socks5ReplyName,
  type Socks5Step,
} from '../../src/client/socks5.js';
import { ErrorCode, UsageError } from '../../src/protocol/errors.js';
import {
  freePort,
  readBytes,
  startEchoServer,
  startMicrosocks,
  startScriptedProxy,
  type EchoServer,
  type RunningProxy,
  type ScriptedProxy,
} from './helpers.js';
import { expectNoSecrets } from './secrets.js';
import { closeTunnels, expectEcho, failure, tunnelTo } from './tunnel-helpers.js';

const USER = 'socksUser9';
const PASSWORD = 'S0cksPa55word';
const WRONG_PASSWORD = 'Wr0ngSocksPa55';
const SECRETS = [PASSWORD, WRONG_PASSWORD, `${USER}:`];

afterEach(closeTunnels);

describe('SOCKS5 through microsocks', () => {
  let echo: EchoServer;
  let open: RunningProxy;
  let authenticated: RunningProxy;

  beforeAll(async () => {
    echo = await startEchoServer();
    open = await startMicrosocks();
    authenticated = await startMicrosocks({ user: USER, password: PASSWORD });
  });
  afterAll(async () => {
    await open?.stop();
    await authenticated?.stop();
    await echo?.close();
  });

  it('tunnels bytes both ways to an IPv4 target', async () => {
    const socket = await tunnelTo({ proxy: `socks5://127.0.0.1:${open.port}`, host: '127.0.0.1', port: echo.port });
    await expectEcho(socket, 13);
  });

  it('socks5: resolves localhost here and sends the address', async () => {
    const looked: string[] = [];
    const socket = await tunnelTo({
      proxy: `socks5://127.0.0.1:${open.port}`,
      host: 'localhost',
      port: echo.port,
      lookup: async (name) => {
        looked.push(name);
        return { address: '127.0.0.1', family: 4 };
      },
    });
    expect(looked).toEqual(['localhost']);
    await expectEcho(socket, 13);
  });

  it('socks5: uses dns.lookup by default', async () => {
    const socket = await tunnelTo({ proxy: `socks5://127.0.0.1:${open.port}`, host: 'localhost', port: echo.port });
    await expectEcho(socket, 13);
  });

  it('socks5h: sends the name localhost for microsocks to resolve', async () => {
    const before = echo.accepted();
    const socket = await tunnelTo({
      proxy: `socks5h://127.0.0.1:${open.port}`,
      host: 'localhost',
      port: echo.port,
      lookup: () => Promise.reject(new Error('socks5h must not resolve locally')),
    });
    await expectEcho(socket, 13);
    expect(echo.accepted()).toBe(before + 1);
  });

  it('authenticates with username and password (RFC 1929)', async () => {
    const socket = await tunnelTo({
      proxy: `socks5h://${USER}:${PASSWORD}@127.0.0.1:${authenticated.port}`,
      host: '127.0.0.1',
      port: echo.port,
    });
    await expectEcho(socket, 13);
  });

  it('reports a wrong password as ProxyAuthFailed, without the credentials', async () => {
    const error = await failure(
      openProxyTunnel({
        proxy: `socks5://${USER}:${WRONG_PASSWORD}@127.0.0.1:${authenticated.port}`,
        host: '127.0.0.1',
        port: echo.port,
      }),
    );
    expect(error.code).toBe(ErrorCode.ProxyAuthFailed);
    expect(error.message).toBe(`socks5://127.0.0.1:${authenticated.port}: the SOCKS5 proxy rejected the username/password`);
    expectNoSecrets(error, SECRETS);
  });

  it('reports missing credentials as ProxyAuthFailed', async () => {
    const error = await failure(
      openProxyTunnel({ proxy: `socks5://127.0.0.1:${authenticated.port}`, host: '127.0.0.1', port: echo.port }),
    );
    expect(error.code).toBe(ErrorCode.ProxyAuthFailed);
    expect(error.message).toMatch(/requires authentication and no credentials were given/);
  });

  it("reports a refused target as ProxyTargetUnreachable, by the reply's name", async () => {
    const closedPort = await freePort();
    const error = await failure(
      openProxyTunnel({
        proxy: `socks5://${USER}:${PASSWORD}@127.0.0.1:${authenticated.port}`,
        host: '127.0.0.1',
        port: closedPort,
      }),
    );
    expect(error.code).toBe(ErrorCode.ProxyTargetUnreachable);
    expect(error.socksReply).toBe(0x05);
    expect(error.message).toContain("replied 'connection refused' (0x05)");
    expect(error.message).toContain(`127.0.0.1:${closedPort}`);
    expectNoSecrets(error, SECRETS);
  });

  it('reports a dead proxy as ConnectFailed', async () => {
    const deadPort = await freePort();
    const error = await failure(
      openProxyTunnel({ proxy: `socks5h://${USER}:${PASSWORD}@127.0.0.1:${deadPort}`, host: 'localhost', port: 80 }),
    );
    expect(error.code).toBe(ErrorCode.ConnectFailed);
    expect(error.message).toBe(`could not connect to socks5h://127.0.0.1:${deadPort} (ECONNREFUSED)`);
    expectNoSecrets(error, SECRETS);
  });

  it('reports a name that does not resolve locally (socks5) as ConnectFailed, before contacting the proxy', async () => {
    const error = await failure(
      openProxyTunnel({
        proxy: `socks5://127.0.0.1:${open.port}`,
        host: 'nowhere.invalid',
        port: 80,
        lookup: () => Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), { code: 'ENOTFOUND' })),
      }),
    );
    expect(error.code).toBe(ErrorCode.ConnectFailed);
    expect(error.message).toMatch(/could not resolve nowhere\.invalid \(ENOTFOUND\); with socks5h:\/\//);
  });
});

/** A scripted SOCKS5 server: no-auth, then `reply` to the CONNECT. */
function socksServer(reply: (request: Buffer) => Buffer | Buffer[]): Promise<ScriptedProxy> {
  return startScriptedProxy((received) => {
    if (received.length === 3) return Buffer.from([0x05, 0x00]);
    if (received.length > 3 + 5) return reply(received.subarray(3));
    return undefined;
  });
}

describe('SOCKS5 against a scripted proxy', () => {
  let proxy: ScriptedProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  it.each([
    [0x01, 'general SOCKS server failure', ErrorCode.ProxyFailed],
    [0x02, 'connection not allowed by ruleset', ErrorCode.ProxyFailed],
    [0x03, 'network unreachable', ErrorCode.ProxyTargetUnreachable],
    [0x04, 'host unreachable', ErrorCode.ProxyTargetUnreachable],
    [0x05, 'connection refused', ErrorCode.ProxyTargetUnreachable],
    [0x06, 'TTL expired', ErrorCode.ProxyFailed],
    [0x07, 'command not supported', ErrorCode.ProxyFailed],
    [0x08, 'address type not supported', ErrorCode.ProxyFailed],
    [0x2a, 'unassigned reply 0x2a', ErrorCode.ProxyFailed],
  ])('reply %i is reported as %s, %s', async (rep, name, code) => {
    proxy = await socksServer(() => Buffer.from([0x05, rep, 0x00, 0x01, 0, 0, 0, 0, 0, 0]));
    const error = await failure(
      openProxyTunnel({ proxy: `socks5h://127.0.0.1:${proxy.port}`, host: 'example.test', port: 443 }),
    );
    expect(error.code).toBe(code);
    expect(error.socksReply).toBe(rep);
    expect(error.message).toContain(`'${name}'`);
    expect(socks5ReplyName(rep)).toBe(name);
  });

  it.each([
    ['socks5h', 'localhost', Buffer.from([0x03, 9, ...Buffer.from('localhost'), 0x1f, 0x90])],
    ['socks5', 'localhost', Buffer.from([0x01, 127, 0, 0, 1, 0x1f, 0x90])],
    ['socks5h', '10.1.2.3', Buffer.from([0x01, 10, 1, 2, 3, 0x1f, 0x90])],
    ['socks5', '[2001:db8::7]', Buffer.from([0x04, 0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 7, 0x1f, 0x90])],
  ])('%s sends %s as the expected address', async (scheme, host, address) => {
    proxy = await socksServer(() => Buffer.from([0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0x30, 0x39]));
    await tunnelTo({
      proxy: `${scheme}://127.0.0.1:${proxy.port}`,
      host,
      port: 8080,
      lookup: async () => ({ address: '127.0.0.1', family: 4 }),
    });
    expect(proxy.received().subarray(3).equals(Buffer.concat([Buffer.from([0x05, 0x01, 0x00]), address]))).toBe(true);
  });

  it('keeps target bytes that arrive in the same write as the reply, after a domain BND.ADDR', async () => {
    const bound = Buffer.from('proxy.local');
    proxy = await socksServer(() =>
      Buffer.concat([Buffer.from([0x05, 0x00, 0x00, 0x03, bound.length]), bound, Buffer.from([0x04, 0x38]), Buffer.from('first bytes')]),
    );
    const socket = await tunnelTo({ proxy: `socks5h://127.0.0.1:${proxy.port}`, host: 'example.test', port: 80 });
    expect((await readBytes(socket, 11)).toString()).toBe('first bytes');
  });

  it('reports a server that is not SOCKS5 as ProxyFailed', async () => {
    proxy = await startScriptedProxy(() => Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const error = await failure(openProxyTunnel({ proxy: `socks5h://127.0.0.1:${proxy.port}`, host: 'a.test', port: 1 }));
    expect(error.code).toBe(ErrorCode.ProxyFailed);
    expect(error.message).toMatch(/does not speak SOCKS5 \(version byte 0x48\)/);
  });

  it('reports a method that was not offered as ProxyFailed', async () => {
    proxy = await startScriptedProxy(() => Buffer.from([0x05, 0x02]));
    const error = await failure(openProxyTunnel({ proxy: `socks5h://127.0.0.1:${proxy.port}`, host: 'a.test', port: 1 }));
    expect(error.code).toBe(ErrorCode.ProxyFailed);
    expect(error.message).toMatch(/selected a method that was not offered \(0x02\)/);
  });

  it('rejects a name longer than 255 bytes before connecting', async () => {
    const error = await openProxyTunnel({ proxy: 'socks5h://127.0.0.1:1', host: `${'a'.repeat(260)}.test`, port: 1 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).code).toBe(ErrorCode.InvalidOption);
  });
});

describe('Socks5Negotiation (Sans-I/O)', () => {
  const methodChoice = Buffer.from([0x05, 0x02]);
  const authStatus = Buffer.from([0x01, 0x00]);
  const reply = Buffer.from([0x05, 0x00, 0x00, 0x04, ...new Array(15).fill(0), 1, 0x01, 0xbb]);
  const early = Buffer.from('tail');
  const credentials = { username: 'u', password: 'p' };

  /** Feeds the server's bytes in pieces, the way a socket would hand them over. */
  function run(pieces: Buffer[]): { sent: Buffer[]; last: Socks5Step } {
    const negotiation = new Socks5Negotiation({ host: 'example.test', port: 443 }, credentials);
    const sent = [negotiation.greeting()];
    let last: Socks5Step = { kind: 'need-more' };
    // Replies come only after the client has spoken; in this exchange the
    // pieces of one reply may be cut anywhere, but never span two replies.
    for (const piece of pieces) {
      last = negotiation.push(piece);
      if (last.kind === 'send') sent.push(last.bytes);
    }
    return { sent, last };
  }

  it('speaks greeting, RFC 1929 auth, CONNECT', () => {
    const { sent, last } = run([methodChoice, authStatus, Buffer.concat([reply, early])]);
    expect(sent.map((b) => b.toString('hex'))).toEqual([
      '05020002',
      encodeUserPass(credentials).toString('hex'),
      encodeConnectRequest({ host: 'example.test', port: 443 }).toString('hex'),
    ]);
    expect(encodeUserPass(credentials).toString('hex')).toBe('0101750170');
    expect(last).toMatchObject({ kind: 'established', result: { boundHost: '0:0:0:0:0:0:0:1', boundPort: 443 } });
  });

  // Cut each reply at every point (the method choice, the auth status, and
  // the CONNECT reply with its trailing bytes).
  const replyWithTail = Buffer.concat([reply, early]);
  it.each(Array.from({ length: replyWithTail.length - 1 }, (_, i) => i + 1))('CONNECT reply split at %i', (cut) => {
    const { last } = run([
      methodChoice.subarray(0, 1),
      methodChoice.subarray(1),
      authStatus.subarray(0, 1),
      authStatus.subarray(1),
      replyWithTail.subarray(0, cut),
      ...(cut < reply.length ? [replyWithTail.subarray(cut)] : []),
    ]);
    expect(last.kind).toBe('established');
    const leftover = last.kind === 'established' ? last.result.leftover : Buffer.alloc(0);
    // When the cut falls inside the tail, the rest of the tail would be read
    // by the next consumer directly from the socket.
    expect(Buffer.concat([leftover, cut >= reply.length ? replyWithTail.subarray(cut) : Buffer.alloc(0)]).equals(early)).toBe(
      true,
    );
  });

  it('reports a failed auth status with any non-zero status', () => {
    const negotiation = new Socks5Negotiation({ host: 'a.test', port: 1 }, credentials);
    negotiation.greeting();
    expect(negotiation.push(methodChoice).kind).toBe('send');
    expect(negotiation.push(Buffer.from([0x01, 0x01]))).toMatchObject({
      kind: 'failed',
      failure: { code: ErrorCode.ProxyAuthFailed },
    });
  });

  it('refuses to be fed after it finished', () => {
    const negotiation = new Socks5Negotiation({ host: 'a.test', port: 1 });
    negotiation.push(Buffer.from([0x05, 0xff]));
    expect(() => negotiation.push(Buffer.from([0x05]))).toThrow(/state Failed/);
  });
});
