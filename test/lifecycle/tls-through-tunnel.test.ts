// wss:// through a proxy checks the certificate against the target, exactly as
// without a proxy: for an IP target, against that IP address; never against
// 'localhost' or the proxy's own name (issue 9, defect 3: a man-in-the-middle
// opening before).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketClient } from '../../src/index.js';
import { makeCertificate } from '../helpers/certificate.js';
import { TestServer } from '../helpers/test-server.js';
import { waitUntil } from '../helpers/wait.js';
import { startMicrosocks, startTinyproxy, type RunningProxy } from '../proxy/helpers.js';

let ipOnly: { key: Buffer; cert: Buffer };
let localhostOnly: { key: Buffer; cert: Buffer };
let ipTarget: TestServer;
let localhostTarget: TestServer;
let tinyproxy: RunningProxy;
let microsocks: RunningProxy;

beforeAll(async () => {
  ipOnly = makeCertificate('IP:127.0.0.1');
  localhostOnly = makeCertificate('DNS:localhost');
  ipTarget = await TestServer.start({ tls: ipOnly });
  localhostTarget = await TestServer.start({ tls: localhostOnly });
  tinyproxy = await startTinyproxy({ connectPorts: [ipTarget.port, localhostTarget.port] });
  microsocks = await startMicrosocks();
});
afterAll(async () => {
  await tinyproxy?.stop();
  await microsocks?.stop();
  await ipTarget?.close();
  await localhostTarget?.close();
});

/** Opens wss://127.0.0.1 (the target's IP) through `proxy`; resolves with the outcome. */
async function attempt(target: TestServer, ca: Buffer, proxy: string | undefined): Promise<{ opened: boolean; errors: string[]; closes: number }> {
  const ws = new WebSocketClient(`wss://127.0.0.1:${target.port}/`, { proxy, tls: { ca }, handshakeTimeoutMs: 5_000 });
  const outcome = { opened: false, errors: [] as string[], closes: 0 };
  ws.onWebSocketConnect = () => {
    outcome.opened = true;
    ws.close();
  };
  ws.onError = (_c, code) => outcome.errors.push(code);
  ws.onClose = () => outcome.closes++;
  ws.connect();
  await waitUntil(() => outcome.closes > 0, 8_000, 'onClose');
  return outcome;
}

const proxies: Array<[string, () => string]> = [
  ['no proxy', () => ''],
  ['tinyproxy (HTTP CONNECT)', () => `http://127.0.0.1:${tinyproxy.port}`],
  ['microsocks (SOCKS5)', () => `socks5://127.0.0.1:${microsocks.port}`],
];

describe('wss:// through a proxy: the certificate is checked against the target', () => {
  it.each(proxies)('%s: a certificate valid only for the target IP 127.0.0.1 connects', async (_name, proxy) => {
    const outcome = await attempt(ipTarget, ipOnly.cert, proxy() || undefined);
    expect(outcome).toEqual({ opened: true, errors: [], closes: 1 });
  });

  it.each(proxies)("%s: a certificate valid only for 'localhost' fails with WSP_ERR_TLS_FAILED", async (_name, proxy) => {
    const outcome = await attempt(localhostTarget, localhostOnly.cert, proxy() || undefined);
    expect(outcome).toEqual({ opened: false, errors: ['WSP_ERR_TLS_FAILED'], closes: 1 });
  });

  it.each([
    ['tinyproxy named localhost', () => `http://localhost:${tinyproxy.port}`],
    ['microsocks named localhost', () => `socks5://localhost:${microsocks.port}`],
  ])('%s, which the certificate covers: still checked against the target IP, so it fails', async (_name, proxy) => {
    const outcome = await attempt(localhostTarget, localhostOnly.cert, proxy());
    expect(outcome).toEqual({ opened: false, errors: ['WSP_ERR_TLS_FAILED'], closes: 1 });
  });
});
