// 20 server restarts in a row with automatic reconnection: every restart is
// followed by a reconnection, messages queued while disconnected arrive
// exactly once and in order, and nothing leaks afterwards.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Peer, type PeerConnection } from '../conformance/peer.js';
import { record } from './harness.js';

const RESTARTS = 20;
const BATCH = 3;

/** Counts of the handles and requests that keep the event loop alive, by type. */
function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/** Lets pending callbacks run, without leaving a timer of our own behind. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

async function until(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate() && Date.now() < deadline) await sleep(2);
  return predicate();
}

describe('server restarts with automatic reconnect', () => {
  it(`${RESTARTS} restarts: every one reconnects, queued messages arrive exactly once and in order, nothing leaks`, async () => {
    await settle();
    const baseline = activeResources();
    const processListeners = process.eventNames().reduce((n, e) => n + process.listenerCount(e), 0);

    const connections: PeerConnection[] = [];
    const script = async (conn: PeerConnection): Promise<void> => {
      connections.push(conn);
      await conn.accept();
      await conn.waitTcpClosed(30_000);
    };
    let peer = await Peer.start(script);
    const port = peer.port;

    let sent = 0;
    let stopping = false;
    const sendBatch = (): void => {
      for (let i = 0; i < BATCH; i++) r.ws.send(`m${sent++}`);
    };
    const r = record(`ws://127.0.0.1:${port}/restarts`, {
      reconnect: { initialDelayMs: 5, maxDelayMs: 40, multiplier: 2, jitter: 'none' },
      handshakeTimeoutMs: 2000,
      closeTimeoutMs: 1000,
    });
    let opens = 0;
    let reconnecting = 0;
    r.ws.on('open', () => opens++);
    r.ws.on('reconnecting', () => reconnecting++);
    const userOnClose = r.ws.onClose!;
    // While disconnected, every send() is queued for the next connection.
    r.ws.onClose = (conn, code, reason) => {
      userOnClose(conn, code, reason);
      if (!stopping) sendBatch();
    };
    sendBatch();
    r.ws.connect();

    const received = (): string[] => connections.flatMap((c) => c.messages.map((m) => m.payload.toString()));
    for (let k = 0; k <= RESTARTS; k++) {
      expect(await until(() => connections.length > k && connections[k]!.accepted, 5000), `connection ${k} arrived`).toBe(true);
      const conn = connections[k]!;
      expect(await until(() => received().length >= sent, 5000), `incarnation ${k} received the queue`).toBe(true);
      if (k === RESTARTS) break;
      // Kill the connection three different ways, then restart the server in place.
      if (k % 3 === 0) conn.reset();
      else if (k % 3 === 1) conn.end();
      else await conn.sendClose(1012, 'restarting');
      await conn.waitTcpClosed(3000);
      await peer.stop();
      if (k % 2 === 1) await sleep(25); // down for a while: attempts meet ECONNREFUSED
      peer = await Peer.start(script, port);
    }
    stopping = true;
    r.ws.close(1000, 'done');
    expect(await until(() => r.ws.readyState === 'closed', 3000)).toBe(true);
    await peer.stop();

    expect(opens).toBe(RESTARTS + 1);
    expect(reconnecting).toBeGreaterThanOrEqual(RESTARTS);
    expect(received()).toEqual(Array.from({ length: sent }, (_, i) => `m${i}`));
    expect(connections.flatMap((c) => c.violations)).toEqual([]);
    // Every key fresh (the peer also checks this across the whole process).
    expect(new Set(connections.map((c) => c.request?.key)).size).toBe(connections.length);

    // Nothing of ours may keep the event loop alive: no socket, no server, no
    // connect in flight, no timer. (The test runner may hold a short-lived timer
    // of its own, so sample until a clean moment, for a bounded time.)
    const ours = ['TCPSocketWrap', 'TCPServerWrap', 'ConnectWrap', 'Timeout'];
    let after = activeResources();
    for (let i = 0; i < 30 && ours.some((t) => after[t]); i++) {
      await sleep(10);
      await settle();
      after = activeResources();
    }
    expect(ours.filter((t) => after[t]), `left alive: ${JSON.stringify(after)} (before: ${JSON.stringify(baseline)})`).toEqual([]);
    expect(process.eventNames().reduce((n, e) => n + process.listenerCount(e), 0)).toBe(processListeners);
    expect(r.ws.eventNames().filter((e) => !['open', 'reconnecting'].includes(String(e)))).toEqual([]);
  }, 60_000);
});
