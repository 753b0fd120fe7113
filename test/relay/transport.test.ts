import * as net from 'node:net';
import * as tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionError } from '../../src/index.js';
import { startEchoServer, type EchoServer } from '../../src/server/echo-server.js';
import { createTestCertificate, type TestCertificate } from '../helpers/certificate.js';
import { startMicrosocks } from '../proxy/helpers.js';
import { Harness } from './helpers.js';

// The relay reaches its upstreams with the client's transports: TLS with the
// relay's own options, a proxy tunnel (then TLS to the target inside it), and
// createConnection.

const harness = new Harness();
let certificate: TestCertificate;
let secure: EchoServer;

beforeAll(async () => {
  certificate = createTestCertificate();
  secure = await startEchoServer({
    createServer: (onSocket) => tls.createServer({ key: certificate.key, cert: certificate.cert }, onSocket) as unknown as net.Server,
  });
});
afterAll(async () => {
  await secure?.close();
  certificate?.remove();
});
afterEach(() => harness.cleanup());

const wssUrl = (): string => `wss://localhost:${secure.port}/`;

describe('relay transports to the upstream', () => {
  it('relays to a wss:// upstream with its TLS options, and refuses with 502 when the certificate is not trusted', async () => {
    const trusted = await harness.mount('listen', { upstream: wssUrl(), tls: { ca: certificate.cert } });
    const { ws, events } = harness.open(trusted.url('/tls'));
    await events.first('open', 5_000);
    ws.send('over TLS');
    expect((await events.first('message', 5_000)).args[0]).toBe('over TLS');

    const untrusted = await harness.mount('listen', { upstream: wssUrl() });
    const errors: string[] = [];
    untrusted.relay.on('error', (error) => errors.push((error as ConnectionError).code));
    const refused = harness.open(untrusted.url('/tls'));
    expect(((await refused.events.first('error', 5_000)).args[0] as { status?: number }).status).toBe(502);
    expect(errors).toEqual(['WSP_ERR_TLS_FAILED']);
  });

  it('goes through a SOCKS5 proxy, with TLS to the target inside the tunnel', async () => {
    const proxy = await startMicrosocks();
    harness.cleanups.push(() => proxy.stop());
    const { url } = await harness.mount('listen', { upstream: wssUrl(), tls: { ca: certificate.cert }, proxy: `socks5h://127.0.0.1:${proxy.port}` });
    const { ws, events } = harness.open(url('/proxied'));
    await events.first('open', 5_000);
    ws.send('through the tunnel');
    expect((await events.first('message', 5_000)).args[0]).toBe('through the tunnel');
    expect([...secure.connections].some((c) => c.request.path === '/proxied')).toBe(true);
  });

  it('uses createConnection when given one', async () => {
    const plain = await startEchoServer();
    harness.cleanups.push(() => plain.close());
    const targets: string[] = [];
    const { url } = await harness.mount('listen', {
      upstream: 'ws://upstream.invalid:1234/',
      createConnection: (target) => {
        targets.push(`${target.host}:${target.port}`);
        return net.connect(plain.port, '127.0.0.1');
      },
    });
    const { ws, events } = harness.open(url('/own'));
    await events.first('open', 5_000);
    ws.send('own transport');
    expect((await events.first('message', 5_000)).args[0]).toBe('own transport');
    expect(targets).toEqual(['upstream.invalid:1234']);
    expect([...plain.connections][0]!.request.headers['host']).toBe('upstream.invalid:1234');
  });
});

describe('relay to a unix socket upstream', () => {
  it('appends the client path to a ws+unix: upstream', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'wspipe-relay-'));
    const socketPath = join(dir, 'upstream.sock');
    const unix = await startEchoServer({ path: socketPath });
    harness.cleanups.push(async () => {
      await unix.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const { url } = await harness.mount('listen', { upstream: `ws+unix://${socketPath}:/base` });
    const { ws, events } = harness.open(url('/room?x=1'));
    await events.first('open', 5_000);
    ws.send('over a unix socket');
    expect((await events.first('message', 5_000)).args[0]).toBe('over a unix socket');
    expect([...unix.connections][0]!.request.path).toBe('/base/room?x=1');
  });
});
