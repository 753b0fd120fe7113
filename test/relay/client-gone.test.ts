import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { HandshakeError } from '../../src/index.js';
import { nextEvent, waitUntil, withTimeout } from '../helpers/wait.js';
import { clientFrame, Harness, MOUNTS, startRawUpstream } from './helpers.js';

// A client that hangs up while the relay is still opening its upstream: the
// upstream attempt is aborted and its socket destroyed at once, not when the
// handshake timeout runs out (set far away here so the two cannot be confused).

const harness = new Harness();
afterEach(() => harness.cleanup());

const UPGRADE =
  'GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/** An upstream that accepts TCP and never answers the handshake; `connection` resolves with the relay's socket. */
async function startSilentUpstream(): Promise<{ url: string; connection: Promise<net.Socket> }> {
  const silent = net.createServer((socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  harness.cleanups.push(() => new Promise((resolve) => silent.close(resolve)));
  const connection = nextEvent<[net.Socket]>(silent, 'connection', 5_000).then(([socket]) => socket);
  return { url: `ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`, connection };
}

describe.each(MOUNTS)('a client gone during the upstream handshake (%s)', (mount) => {
  it('destroys the upstream socket and settles the relay', async () => {
    const silent = await startSilentUpstream();
    const { relay, port } = await harness.mount(mount, { upstream: silent.url, handshakeTimeoutMs: 120_000 });
    const refused: number[] = [];
    relay.on('refused', (_request, status) => refused.push(status));
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => {});
    client.write(UPGRADE);
    const upstreamSocket = await silent.connection;
    // The relay wrote its own upgrade request upstream; now the client leaves (FIN).
    upstreamSocket.resume();
    client.end();
    await withTimeout(new Promise((resolve) => upstreamSocket.once('close', resolve)), 5_000, 'the upstream socket to be closed by the relay');
    await withTimeout(relay.close(), 5_000, 'the relay to settle');
    expect(refused).toEqual([499]); // 499: the client went away
    expect(relay.metrics.open).toBe(0);
  });

  it('frames a client sends before its 101, in later reads, still reach the upstream, in order', async () => {
    const upstream = await startRawUpstream(harness);
    const { port } = await harness.mount(mount, { upstream: upstream.url });
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => {});
    harness.cleanups.push(() => client.destroy());
    client.write(UPGRADE);
    // Not waiting for the 101 (RFC 6455 4.1 says a client should): two frames in reads of their own.
    await new Promise((resolve) => setImmediate(resolve));
    client.write(clientFrame(0x1, 'early one'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    client.write(clientFrame(0x1, 'early two'));
    const text = (): string =>
      Buffer.concat(upstream.events.flatMap((e) => (e.type === 'data' ? [Buffer.from(e.payload)] : []))).toString();
    await waitUntil(() => text().length >= 18, 5_000, 'both early frames upstream');
    expect(text()).toBe('early oneearly two');
  });

  it('relay.close() during the upstream handshake answers the client 503 and settles at once', async () => {
    const silent = await startSilentUpstream();
    const { relay, url } = await harness.mount(mount, { upstream: silent.url, handshakeTimeoutMs: 120_000 });
    const refused: Array<[number, string]> = [];
    relay.on('refused', (_request, status, reason) => refused.push([status, reason]));
    const { events } = harness.open(url('/'));
    const upstreamSocket = await silent.connection;
    upstreamSocket.resume();
    const upstreamClosed = new Promise((resolve) => upstreamSocket.once('close', resolve));
    await withTimeout(relay.close(), 5_000, 'relay.close()');
    const [error] = (await events.first('error', 5_000)).args as [HandshakeError];
    expect(error.status).toBe(503);
    await events.first('close', 5_000);
    expect(events.count('close')).toBe(1);
    expect(refused).toEqual([[503, 'the relay is closing']]);
    await withTimeout(upstreamClosed, 5_000, 'the upstream socket to be closed');
  });
});
