// The whole client over a tunnel: WebSocketClient's createConnection hook
// returns openProxyTunnel's socket, and the handshake and frames flow through
// a real proxy to the embedded echo server.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openProxyTunnel } from '../../src/client/proxy.js';
import { WebSocketClient } from '../../src/index.js';
import type { WebSocketError } from '../../src/protocol/errors.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { startEchoServer, type EchoServer } from '../../src/server/echo-server.js';
import { startMicrosocks, startTinyproxy, type RunningProxy } from './helpers.js';
import { expectNoSecrets } from './secrets.js';

const USER = 'e2eUser';
const PASSWORD = 'e2ePa55word';

let echo: EchoServer;
let tinyproxy: RunningProxy;
let microsocks: RunningProxy;

beforeAll(async () => {
  echo = await startEchoServer({ host: '127.0.0.1' });
  tinyproxy = await startTinyproxy({ connectPorts: [echo.port], basicAuth: { user: USER, password: PASSWORD } });
  microsocks = await startMicrosocks({ user: USER, password: PASSWORD });
});
afterAll(async () => {
  await tinyproxy?.stop();
  await microsocks?.stop();
  await echo?.close();
});

/** Connects through `proxy`, sends one message, and resolves with its echo and the close code; bounded. */
function roundTrip(proxy: string, host: string): Promise<{ echoed: unknown; closeCode: number; errors: WebSocketError[] }> {
  return new Promise((resolve, reject) => {
    const errors: WebSocketError[] = [];
    let echoed: unknown;
    const ws = new WebSocketClient(`ws://${host}:${echo.port}/through?proxy=1`, {
      handshakeTimeoutMs: 5_000,
      createConnection: ({ host: targetHost, port, signal }) =>
        openProxyTunnel({ proxy, host: targetHost, port, signal, timeoutMs: 5_000 }),
    });
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
