import { createHash } from 'node:crypto';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Relay } from '../../src/relay/index.js';
import { WebSocketClient } from '../../src/index.js';
import {
  createHandshakeResponse,
  FrameDecoder,
  FrameEncoder,
  HandshakeRequestParser,
} from '../../src/protocol/index.js';
import { startEchoServer } from '../../src/server/echo-server.js';
import { delay, waitUntil, withTimeout } from '../helpers/wait.js';
import { Harness, pattern } from './helpers.js';

// Backpressure and many connections through wspipe/relay.

const harness = new Harness();
afterEach(() => harness.cleanup());

const MIB = 1024 * 1024;
const TOTAL_MESSAGES = 256; // of 1 MiB each: 256 MiB
const HOLD_MS = 1_000;

/** A server that answers the upgrade, then hands the socket to `serve`. */
async function startServer(serve: (socket: net.Socket, leftover: Buffer) => void): Promise<string> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => socket.destroy());
    const parser = new HandshakeRequestParser();
    const onData = (chunk: Buffer): void => {
      const parsed = parser.push(chunk);
      if (!parsed) return;
      socket.off('data', onData);
      socket.write(createHandshakeResponse(parsed.request));
      serve(socket, parsed.leftover);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  harness.cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
}

/**
 * Holds the reader for HOLD_MS (then `check` what got through), lets it go
 * with `release`, waits until `done`; meanwhile samples what the relay holds.
 * Asserts it stayed under 1 MiB, sampled and after each read.
 */
async function heldBack(
  relay: Relay,
  what: string,
  steps: { check(): void; release(): void; done(): boolean },
): Promise<void> {
  let maxSampled = 0;
  const sampler = setInterval(() => (maxSampled = Math.max(maxSampled, relay.metrics.bufferedBytes)), 2);
  try {
    await delay(HOLD_MS);
    steps.check();
    steps.release();
    await waitUntil(steps.done, 60_000, 'every message', 20);
  } finally {
    clearInterval(sampler);
  }
  expect(maxSampled).toBeLessThan(MIB);
  expect(relay.metrics.peakBufferedBytes).toBeLessThan(MIB);
  console.log(`relay (${what}): at most ${maxSampled} B sampled, ${relay.metrics.peakBufferedBytes} B after a read`);
}

/** The message `i` of a run: 1 MiB, its index in its first four bytes. */
function message(base: Buffer, i: number): Buffer {
  const copy = Buffer.from(base);
  copy.writeUInt32BE(i, 0);
  return copy;
}

describe('relay backpressure and load', () => {
  it('holds under 1 MiB per connection while the client reads nothing and 256 MiB come from the upstream', async () => {
    const base = pattern(MIB, 1);
    const sentHash = createHash('sha256');
    const upstream = await startServer((socket) => {
      const encoder = new FrameEncoder({ role: 'server' });
      let i = 0;
      const pump = (): void => {
        while (i < TOTAL_MESSAGES) {
          const payload = message(base, i++);
          sentHash.update(payload);
          let ok = true;
          for (const b of encoder.encode({ opcode: 2, payload })) ok = socket.write(b) && ok;
          if (!ok) return void socket.once('drain', pump);
        }
      };
      pump();
    });
    const { relay, url } = await harness.mount('listen', { upstream });
    const ws = new WebSocketClient(url('/'), { perMessageDeflate: false });
    harness.clients.push(ws);
    const receivedHash = createHash('sha256');
    let received = 0;
    ws.on('message', (data: Buffer) => {
      receivedHash.update(data);
      received += 1;
    });
    ws.pause();
    ws.connect();
    await waitUntil(() => relay.metrics.open === 1, 5_000, 'the relayed connection');
    await heldBack(relay, 'upstream to paused client', {
      check: () => expect(relay.metrics.upstreamToClient.bytes, 'the relay stopped reading the upstream').toBeLessThan(64 * MIB),
      release: () => ws.resume(),
      done: () => received === TOTAL_MESSAGES,
    });
    expect(receivedHash.digest('hex')).toBe(sentHash.digest('hex'));
  }, 90_000);

  it('holds under 1 MiB per connection while the upstream reads nothing and the client sends 256 MiB', async () => {
    const receivedHash = createHash('sha256');
    let receivedMessages = 0;
    let upstreamSocket: net.Socket | undefined;
    const upstream = await startServer((socket, leftover) => {
      upstreamSocket = socket;
      const decoder = new FrameDecoder({ role: 'server', maxMessageBytes: 2 * MIB });
      const sink = {
        data: (_o: number, chunk: Buffer, start: number, end: number, _s: boolean, messageEnd: boolean) => {
          receivedHash.update(chunk.subarray(start, end));
          if (messageEnd) receivedMessages += 1;
        },
        control: () => {},
        close: () => {},
        error: (error: Error) => {
          throw error;
        },
      };
      socket.pause(); // reads nothing for now
      if (leftover.length > 0) decoder.decode(leftover, sink);
      socket.on('data', (chunk: Buffer) => decoder.decode(chunk, sink));
      socket.pause();
    });
    const { relay, url } = await harness.mount('listen', { upstream });
    const ws = new WebSocketClient(url('/'), { perMessageDeflate: false });
    harness.clients.push(ws);
    const sentHash = createHash('sha256');
    const base = pattern(MIB, 2);
    let sent = 0;
    const send = (): void => {
      while (sent < TOTAL_MESSAGES) {
        const payload = message(base, sent++);
        sentHash.update(payload);
        if (!ws.send(payload, { binary: true })) return; // waits for 'drain'
      }
    };
    ws.on('drain', send);
    ws.on('open', send);
    ws.connect();
    await waitUntil(() => upstreamSocket !== undefined && relay.metrics.open === 1, 5_000, 'the relayed connection');
    await heldBack(relay, 'client to paused upstream', {
      check: () => expect(sent, 'the client was held back').toBeLessThan(64),
      release: () => upstreamSocket!.resume(),
      done: () => receivedMessages === TOTAL_MESSAGES,
    });
    expect(receivedHash.digest('hex')).toBe(sentHash.digest('hex'));
  }, 90_000);

  it('opens and closes 1,000 concurrent relayed connections and leaks no socket, timer or listener', async () => {
    const echo = await startEchoServer();
    harness.cleanups.push(() => echo.close());
    const baseline = process.getActiveResourcesInfo().length;
    const { relay, url } = await harness.mount('listen', { upstream: echo.url });
    const listenersBefore = relay.eventNames().length;
    const count = 1_000;
    const clients: WebSocketClient[] = [];
    let echoed = 0;
    let closed = 0;
    for (let i = 0; i < count; i++) {
      const ws = new WebSocketClient(url(`/c${i}`), { perMessageDeflate: false, handshakeTimeoutMs: 20_000 });
      ws.on('open', () => ws.send(`hello ${i}`));
      ws.on('message', (data: string) => {
        if (data === `hello ${i}`) echoed += 1;
        if (echoed === count) for (const c of clients) c.close(1000, 'done');
      });
      ws.on('close', () => (closed += 1));
      ws.on('error', () => {});
      clients.push(ws);
      ws.connect();
    }
    harness.clients.push(...clients);
    await waitUntil(() => relay.metrics.open === count || echoed === count, 30_000, 'all connections open', 20);
    await waitUntil(() => closed === count, 30_000, `every client closed (${closed} of ${count})`, 20);
    await waitUntil(() => relay.metrics.open === 0 && echo.connections.size === 0, 10_000, 'the relay to end every connection', 20);
    expect(echoed).toBe(count);
    expect(relay.metrics.accepted).toBe(count);
    expect(relay.metrics.clientToUpstream.messages).toBe(count);
    expect(relay.connections.size).toBe(0);
    expect(relay.eventNames().length).toBe(listenersBefore);
    // Sockets and timers: back to what there was before, but the relay's listener.
    const sockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    await waitUntil(() => sockets() === 0, 10_000, 'every socket to be released', 20);
    const left = process.getActiveResourcesInfo();
    expect(left.length, left.join(',')).toBeLessThanOrEqual(baseline + 1);
  }, 90_000);
});
