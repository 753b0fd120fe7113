import { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectResponseReader, encodeConnectRequest } from '../../src/client/http-connect.js';
import { openProxyTunnel } from '../../src/client/proxy.js';
import { ConnectionError, ErrorCode } from '../../src/protocol/errors.js';
import {
  freePort,
  readBytes,
  startEchoServer,
  startScriptedProxy,
  startTinyproxy,
  type EchoServer,
  type RunningProxy,
} from './helpers.js';
import { basicToken, expectNoSecrets } from './secrets.js';
import { closeTunnels, expectEcho, failure, tunnelTo } from './tunnel-helpers.js';

const USER = 'tunnelUser7';
const PASSWORD = 's3cr3tPa55word';
const WRONG_PASSWORD = 'wr0ngPa55word';
const SECRETS = [PASSWORD, WRONG_PASSWORD, basicToken(USER, PASSWORD), basicToken(USER, WRONG_PASSWORD), `${USER}:`];

afterEach(closeTunnels);

describe('HTTP CONNECT through tinyproxy', () => {
  let echo: EchoServer;
  let closedPort: number;
  let deniedPort: number;
  let open: RunningProxy;
  let authenticated: RunningProxy;

  beforeAll(async () => {
    echo = await startEchoServer();
    closedPort = await freePort();
    deniedPort = await freePort();
    const connectPorts = [echo.port, closedPort];
    open = await startTinyproxy({ connectPorts });
    authenticated = await startTinyproxy({ connectPorts, basicAuth: { user: USER, password: PASSWORD } });
  });
  afterAll(async () => {
    await open?.stop();
    await authenticated?.stop();
    await echo?.close();
  });

  it('tunnels bytes both ways, keeping what the target sent first', async () => {
    const socket = await tunnelTo({ proxy: `http://127.0.0.1:${open.port}`, host: '127.0.0.1', port: echo.port });
    await expectEcho(socket);
  });

  it('hands back a socket without listeners of its own, in its initial flow state', async () => {
    const socket = await tunnelTo({ proxy: `http://127.0.0.1:${open.port}`, host: 'localhost', port: echo.port });
    await new Promise((resolve) => setImmediate(resolve));
    // A fresh socket has listeners of Node's own (e.g. on 'end'); compare with one.
    const fresh = new Socket();
    for (const event of ['data', 'readable', 'error', 'end', 'close', 'connect']) {
      expect(socket.listenerCount(event), event).toBe(fresh.listenerCount(event));
    }
    fresh.destroy();
    expect(socket.readableFlowing).toBe(null);
    await expectEcho(socket);
  });

  it('authenticates with the credentials of the proxy URL', async () => {
    const socket = await tunnelTo({
      proxy: `http://${USER}:${PASSWORD}@127.0.0.1:${authenticated.port}`,
      host: '127.0.0.1',
      port: echo.port,
    });
    await expectEcho(socket);
  });

  it('reports a wrong password as ProxyAuthFailed, without the credentials', async () => {
    const error = await failure(
      openProxyTunnel({
        proxy: `http://${USER}:${WRONG_PASSWORD}@127.0.0.1:${authenticated.port}`,
        host: '127.0.0.1',
        port: echo.port,
      }),
    );
    expect(error.code).toBe(ErrorCode.ProxyAuthFailed);
    // tinyproxy answers a wrong password with 401, a missing one with 407.
    expect(error.status).toBe(401);
    expect(error.proxy).toBe(`http://127.0.0.1:${authenticated.port}`);
    expect(error.message).toMatch(/rejected the proxy credentials \(401/);
    expectNoSecrets(error, SECRETS);
  });

  it('reports missing credentials as ProxyAuthFailed', async () => {
    const error = await failure(
      openProxyTunnel({ proxy: `http://127.0.0.1:${authenticated.port}`, host: '127.0.0.1', port: echo.port }),
    );
    expect(error.code).toBe(ErrorCode.ProxyAuthFailed);
    expect(error.status).toBe(407);
    expect(error.message).toMatch(/requires authentication/);
  });

  it("reports a refused target with the proxy's status (tinyproxy answers 500)", async () => {
    const error = await failure(
      openProxyTunnel({
        proxy: `http://${USER}:${PASSWORD}@127.0.0.1:${authenticated.port}`,
        host: '127.0.0.1',
        port: closedPort,
      }),
    );
    // tinyproxy says "500 Unable to connect"; only 502/503/504 are read as
    // "target unreachable" (see the scripted table below), so this is the
    // proxy's own refusal, with the status to tell it apart.
    expect(error.code).toBe(ErrorCode.ProxyFailed);
    expect(error.status).toBe(500);
    expect(error.message).toContain(`127.0.0.1:${closedPort}`);
    expectNoSecrets(error, SECRETS);
  });

  it('reports a port the proxy does not allow as ProxyFailed 403', async () => {
    const error = await failure(
      openProxyTunnel({ proxy: `http://127.0.0.1:${open.port}`, host: '127.0.0.1', port: deniedPort }),
    );
    expect(error.code).toBe(ErrorCode.ProxyFailed);
    expect(error.status).toBe(403);
  });

  it('reports a dead proxy as ConnectFailed, naming the proxy but not the credentials', async () => {
    const deadPort = await freePort();
    const error = await failure(
      openProxyTunnel({ proxy: `http://${USER}:${PASSWORD}@127.0.0.1:${deadPort}`, host: '127.0.0.1', port: echo.port }),
    );
    expect(error.code).toBe(ErrorCode.ConnectFailed);
    expect(error.message).toBe(`could not connect to http://127.0.0.1:${deadPort} (ECONNREFUSED)`);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expectNoSecrets(error, SECRETS);
  });
});

describe('HTTP CONNECT against a scripted proxy', () => {
  let proxy: Awaited<ReturnType<typeof startScriptedProxy>> | undefined;
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  it.each([
    [502, ErrorCode.ProxyTargetUnreachable],
    [503, ErrorCode.ProxyTargetUnreachable],
    [504, ErrorCode.ProxyTargetUnreachable],
    [407, ErrorCode.ProxyAuthFailed],
    [401, ErrorCode.ProxyAuthFailed],
    [400, ErrorCode.ProxyFailed],
    [403, ErrorCode.ProxyFailed],
    [405, ErrorCode.ProxyFailed],
    [500, ErrorCode.ProxyFailed],
    [301, ErrorCode.ProxyFailed],
  ])('status %i gives %s', async (status, code) => {
    proxy = await startScriptedProxy((received) =>
      received.includes('\r\n\r\n') ? Buffer.from(`HTTP/1.1 ${status} Some Reason\r\nContent-Length: 0\r\n\r\n`) : undefined,
    );
    const error = await failure(
      openProxyTunnel({ proxy: `http://127.0.0.1:${proxy.port}`, host: 'example.test', port: 443 }),
    );
    expect(error.code).toBe(code);
    expect(error.status).toBe(status);
    expect(error.message).toContain(`${status} Some Reason`);
  });

  it('sends an authority-form request with Basic credentials', async () => {
    proxy = await startScriptedProxy((received) =>
      received.includes('\r\n\r\n') ? Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n') : undefined,
    );
    await tunnelTo({
      proxy: `http://us%40er:p%3Ass@127.0.0.1:${proxy.port}`,
      host: '[::1]',
      port: 8443,
    });
    expect(proxy.received().toString('latin1')).toBe(
      'CONNECT [::1]:8443 HTTP/1.1\r\n' +
        'Host: [::1]:8443\r\n' +
        `Proxy-Authorization: Basic ${basicToken('us@er', 'p:ss')}\r\n\r\n`,
    );
  });

  it('keeps target bytes that arrive in the same write as the 200', async () => {
    proxy = await startScriptedProxy((received) =>
      received.includes('\r\n\r\n')
        ? Buffer.from('HTTP/1.0 200 OK\r\nX-Note: ignored\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n')
        : undefined,
    );
    const socket = await tunnelTo({ proxy: `http://127.0.0.1:${proxy.port}`, host: 'example.test', port: 80 });
    expect((await readBytes(socket, 34)).toString()).toBe('HTTP/1.1 101 Switching Protocols\r\n');
  });

  it('reads an answer that arrives one byte at a time', async () => {
    const answer = Buffer.from('HTTP/1.1 200 Connection established\r\nProxy-Agent: test\r\n\r\nearly');
    proxy = await startScriptedProxy((received, socket) => {
      if (!received.includes('\r\n\r\n')) return undefined;
      socket.setNoDelay(true);
      let i = 0;
      const next = (): void => {
        if (i < answer.length && !socket.destroyed) socket.write(answer.subarray(i, ++i), () => setTimeout(next, 1));
      };
      next();
      return undefined;
    });
    const socket = await tunnelTo({ proxy: `http://127.0.0.1:${proxy.port}`, host: 'example.test', port: 80 });
    expect((await readBytes(socket, 5)).toString()).toBe('early');
  });

  it('times out a proxy that never answers, as ProxyFailed', async () => {
    proxy = await startScriptedProxy(() => undefined);
    const started = Date.now();
    const error = await failure(
      openProxyTunnel({ proxy: `http://127.0.0.1:${proxy.port}`, host: 'example.test', port: 80, timeoutMs: 200 }),
    );
    expect(error.code).toBe(ErrorCode.ProxyFailed);
    expect(error.message).toMatch(/timed out after 200 ms/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('reports a proxy that hangs up mid-answer as ProxyFailed', async () => {
    proxy = await startScriptedProxy((received, socket) => {
      if (received.includes('\r\n\r\n')) socket.end('HTTP/1.1 200 Conn');
      return undefined;
    });
    const error = await failure(
      openProxyTunnel({ proxy: `http://127.0.0.1:${proxy.port}`, host: 'example.test', port: 80 }),
    );
    expect(error.code).toBe(ErrorCode.ProxyFailed);
    expect(error.message).toMatch(/closed the connection during the HTTP CONNECT/);
  });

  it('reports a malformed answer as ProxyFailed with the parse error as cause', async () => {
    proxy = await startScriptedProxy((received) =>
      received.includes('\r\n\r\n') ? Buffer.from('SSH-2.0-OpenSSH\r\n\r\n') : undefined,
    );
    const error = await failure(
      openProxyTunnel({ proxy: `http://127.0.0.1:${proxy.port}`, host: 'example.test', port: 80 }),
    );
    expect(error.code).toBe(ErrorCode.ProxyFailed);
    expect(error.cause).toMatchObject({ code: ErrorCode.HandshakeMalformed });
  });

  it('stops when the signal aborts, with Aborted and the reason as cause', async () => {
    proxy = await startScriptedProxy(() => undefined);
    const controller = new AbortController();
    const pending = openProxyTunnel({
      proxy: `http://127.0.0.1:${proxy.port}`,
      host: 'example.test',
      port: 80,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(new Error('user gave up')), 50);
    const error = await pending.then(
      () => undefined,
      (e: unknown) => e as ConnectionError,
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error?.code).toBe(ErrorCode.Aborted);
    expect((error?.cause as Error).message).toBe('user gave up');
  });
});

describe('ConnectResponseReader, fed at every split point', () => {
  const answer = Buffer.from('HTTP/1.1 200 Connection established\r\nVia: 1.1 p\r\n\r\n\x81\x05hello');
  it.each(Array.from({ length: answer.length - 1 }, (_, i) => i + 1))('split at %i', (cut) => {
    const reader = new ConnectResponseReader();
    const first = reader.push(answer.subarray(0, cut));
    const outcome = first ?? reader.push(answer.subarray(cut));
    expect(outcome?.kind).toBe('established');
    const leftover = outcome?.kind === 'established' ? outcome.leftover : Buffer.alloc(0);
    // Whatever was cut off the head must come back whole, whichever push completed it.
    const expected = answer.subarray(answer.indexOf('\r\n\r\n') + 4);
    const rest = first === undefined ? leftover : Buffer.concat([leftover, answer.subarray(cut)]);
    expect(rest.equals(expected)).toBe(true);
  });

  it('encodes a request for a host name', () => {
    expect(encodeConnectRequest({ host: 'example.com', port: 443 }).toString('latin1')).toBe(
      'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
    );
  });
});
