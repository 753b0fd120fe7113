// The whole client over a tunnel through a real proxy to the embedded echo
// server: with the `proxy` option, with `proxyFromEnv`, with createConnection
// and openProxyTunnel, and wss: with TLS to the target inside the tunnel.

import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocketClientOptions } from '../../src/client/options.js';
import { openProxyTunnel } from '../../src/client/proxy.js';
import { WebSocketClient } from '../../src/index.js';
import type { WebSocketError } from '../../src/protocol/errors.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { startEchoServer, type EchoServer } from '../../src/server/echo-server.js';
import { makeCertificate } from '../helpers/certificate.js';
import { startMicrosocks, startTinyproxy, type RunningProxy } from './helpers.js';
import { expectNoSecrets } from './secrets.js';

const USER = 'e2eUser';
const PASSWORD = 'e2ePa55word';

let echo: EchoServer;
let secureEcho: EchoServer;
let certificate: { key: Buffer; cert: Buffer };
let tinyproxy: RunningProxy;
let openTinyproxy: RunningProxy;
let microsocks: RunningProxy;

beforeAll(async () => {
  certificate = makeCertificate();
  echo = await startEchoServer({ host: '127.0.0.1' });
  secureEcho = await startEchoServer({
    host: '127.0.0.1',
    createServer: (onSocket) => tls.createServer({ key: certificate.key, cert: certificate.cert }, onSocket),
  });
  tinyproxy = await startTinyproxy({ connectPorts: [echo.port, secureEcho.port], basicAuth: { user: USER, password: PASSWORD } });
  openTinyproxy = await startTinyproxy({ connectPorts: [echo.port, secureEcho.port] });
  microsocks = await startMicrosocks({ user: USER, password: PASSWORD });
});
afterAll(async () => {
  await tinyproxy?.stop();
  await openTinyproxy?.stop();
  await microsocks?.stop();
  await echo?.close();
  await secureEcho?.close();
});

/** Connects through `proxy`, sends one message, and resolves with its echo and the close code; bounded. */
function roundTrip(
  proxy: string,
  host: string,
  how: 'option' | 'createConnection' | 'env' = 'option',
  secure = false,
): Promise<{ echoed: unknown; closeCode: number; errors: WebSocketError[] }> {
  return new Promise((resolve, reject) => {
    const errors: WebSocketError[] = [];
    let echoed: unknown;
    const options: WebSocketClientOptions = { handshakeTimeoutMs: 5_000 };
    if (how === 'option') options.proxy = proxy;
    if (how === 'createConnection') {
      options.createConnection = ({ host: targetHost, port, signal }) =>
        openProxyTunnel({ proxy, host: targetHost, port, signal, timeoutMs: 5_000 });
    }
    if (how === 'env') options.proxyFromEnv = true;
    if (secure) options.tls = { ca: certificate.cert };
    const url = secure ? `wss://${host}:${secureEcho.port}/through?proxy=1` : `ws://${host}:${echo.port}/through?proxy=1`;
    const ws = new WebSocketClient(url, options);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('no close within 8 s'));
    }, 8_000);
    ws.onWebSocketConnect = (conn) => conn.send('through the tunnel');
    ws.onMessage = (conn, data) => {
      echoed = data;
      conn.close(1000);
    };
    ws.onError = (_conn, _code, _message, error) => errors.push(error);
    ws.onClose = (_conn, closeCode) => {
      clearTimeout(timer);
      resolve({ echoed, closeCode, errors });
    };
    ws.connect();
  });
}

describe('WebSocketClient through a proxy tunnel', () => {
  it('HTTP CONNECT with Basic auth (tinyproxy)', async () => {
    const result = await roundTrip(`http://${USER}:${PASSWORD}@127.0.0.1:${tinyproxy.port}`, '127.0.0.1');
    expect(result).toEqual({ echoed: 'through the tunnel', closeCode: 1000, errors: [] });
  });

  it('HTTP CONNECT through createConnection and openProxyTunnel', async () => {
    const result = await roundTrip(`http://${USER}:${PASSWORD}@127.0.0.1:${tinyproxy.port}`, '127.0.0.1', 'createConnection');
    expect(result).toEqual({ echoed: 'through the tunnel', closeCode: 1000, errors: [] });
  });

  it('HTTP CONNECT without auth (tinyproxy), chosen from HTTP_PROXY with proxyFromEnv', async () => {
    const saved = { ...process.env };
    process.env['HTTP_PROXY'] = `http://127.0.0.1:${openTinyproxy.port}`;
    delete process.env['http_proxy'];
    delete process.env['NO_PROXY'];
    delete process.env['no_proxy'];
    try {
      const result = await roundTrip('', '127.0.0.1', 'env');
      expect(result).toEqual({ echoed: 'through the tunnel', closeCode: 1000, errors: [] });
    } finally {
      process.env = saved;
    }
  });

  it('wss through HTTP CONNECT: TLS to the target inside the tunnel, checked against the target', async () => {
    const result = await roundTrip(`http://${USER}:${PASSWORD}@127.0.0.1:${tinyproxy.port}`, 'localhost', 'option', true);
    expect(result).toEqual({ echoed: 'through the tunnel', closeCode: 1000, errors: [] });
  });

  it('wss through socks5 and socks5h (microsocks)', async () => {
    for (const scheme of ['socks5', 'socks5h']) {
      const result = await roundTrip(`${scheme}://${USER}:${PASSWORD}@127.0.0.1:${microsocks.port}`, 'localhost', 'option', true);
      expect(result).toEqual({ echoed: 'through the tunnel', closeCode: 1000, errors: [] });
    }
  });

  it('wss through a proxy still refuses a certificate the client does not trust', async () => {
    const errors: string[] = [];
    const closeCode = await new Promise<number>((resolve) => {
      const ws = new WebSocketClient(`wss://localhost:${secureEcho.port}/`, { proxy: `http://127.0.0.1:${openTinyproxy.port}`, handshakeTimeoutMs: 5_000 });
      ws.onError = (_c, code) => errors.push(code);
      ws.onClose = (_c, code) => resolve(code);
      ws.connect();
    });
    expect([errors, closeCode]).toEqual([[ErrorCode.TlsFailed], 1006]);
  });

  it('socks5h with RFC 1929 auth (microsocks), the proxy resolving localhost', async () => {
    const result = await roundTrip(`socks5h://${USER}:${PASSWORD}@127.0.0.1:${microsocks.port}`, 'localhost');
    expect(result).toEqual({ echoed: 'through the tunnel', closeCode: 1000, errors: [] });
  });

  it('surfaces a proxy refusal through onError with its code, and no credentials', async () => {
    const result = await roundTrip(`socks5://${USER}:wrongPa55@127.0.0.1:${microsocks.port}`, '127.0.0.1');
    expect(result.echoed).toBeUndefined();
    expect(result.closeCode).toBe(1006);
    expect(result.errors.map((e) => e.code)).toEqual([ErrorCode.ProxyAuthFailed]);
    expectNoSecrets(result.errors[0], ['wrongPa55', PASSWORD]);
  });
});
