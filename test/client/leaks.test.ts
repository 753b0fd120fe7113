import { createHook } from 'node:async_hooks';
import { getEventListeners } from 'node:events';
import * as net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketClient, type WebSocketClientOptions } from '../../src/index.js';
import { TestServer, type TestConnection } from '../helpers/test-server.js';
import { ClientRecorder, delay, waitUntil, withTimeout } from '../helpers/wait.js';

// After many connections come and go, nothing may be left behind: no socket,
// no timer (unref()ed ones included, which getActiveResourcesInfo() does not
// list), no listener.

const CYCLES = 20;
const TRACKED = new Set(['Timeout', 'TCPWRAP', 'TLSWRAP', 'TCPCONNECTWRAP']);

/** Resources created while enabled and not destroyed yet; timers only when wspipe's src/ made them. */
class ResourceTracker {
  readonly live = new Map<number, { type: string; stack: string }>();
  private readonly hook = createHook({
    init: (asyncId, type) => {
      if (!TRACKED.has(type)) return;
      const stack = new Error().stack ?? '';
      // Timers of the test itself and of vitest come and go; a socket is ours either way.
      if (type === 'Timeout' && !/\/src\/(client|streams|protocol)\//.test(stack)) return;
      this.live.set(asyncId, { type, stack });
    },
    destroy: (asyncId) => {
      this.live.delete(asyncId);
    },
  });

  start(): this {
    this.hook.enable();
    return this;
  }

  stop(): void {
    this.hook.disable();
  }

  describe(): string {
    return [...this.live.values()].map((r) => `${r.type}\n${r.stack.split('\n').slice(2, 8).join('\n')}`).join('\n\n');
  }
}

/** What `process.getActiveResourcesInfo()` lists, counted by kind. */
function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

function processListeners(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.eventNames()) counts[String(name)] = process.listenerCount(name);
  return counts;
}

function clientListeners(ws: WebSocketClient): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of ws.eventNames()) counts[String(name)] = ws.listenerCount(name);
  return counts;
}

let server: TestServer;
let tracker: ResourceTracker;
let baseline: { resources: Record<string, number>; process: Record<string, number> };

beforeAll(async () => {
  server = await TestServer.start();
});
afterAll(async () => {
  await server?.close();
});

/** Starts tracking; call before the client is made. */
async function begin(): Promise<void> {
  await waitUntil(() => server.openSockets === 0, 3_000, 'no server sockets are left from earlier tests');
  baseline = { resources: activeResources(), process: processListeners() };
  tracker = new ResourceTracker().start();
}

/** Waits (bounded) for everything to go away, then asserts that it did. */
async function expectNothingLeft(): Promise<void> {
  try {
    await waitUntil(
      () => tracker.live.size === 0 && server.openSockets === 0,
      3_000,
      'every socket and timer is gone',
      10,
    ).catch(() => undefined);
    expect(tracker.describe()).toBe('');
    expect(server.openSockets).toBe(0);
    // Never more of a kind than before (vitest's own timers may have gone meanwhile).
    const grown = (): Record<string, number> => {
      const now = activeResources();
      return Object.fromEntries(Object.entries(now).filter(([kind, n]) => n > (baseline.resources[kind] ?? 0)));
    };
    await waitUntil(() => Object.keys(grown()).length === 0, 2_000, 'active resources back to the baseline').catch(() => undefined);
    expect(grown()).toEqual({});
    expect(processListeners()).toEqual(baseline.process);
  } finally {
    tracker.stop();
  }
}

afterEach(() => {
  tracker?.stop();
});

function waitForConnection(): Promise<TestConnection> {
  return withTimeout(new Promise<TestConnection>((resolve) => server.once('connection', resolve)), 5_000, 'a server connection');
}

describe('no leaks', () => {
  it('the tracker sees an open connection: its sockets and its (unref()ed) timers', async () => {
    await begin();
    const ws = new WebSocketClient(server.url(), { pingIntervalMs: 1_000, handshakeTimeoutMs: 5_000 });
    const events = new ClientRecorder(ws);
    ws.connect();
    await events.first('open', 5_000);
    await waitUntil(() => server.openSockets === 1, 2_000, 'the server socket');
    const types = [...tracker.live.values()].map((r) => r.type);
    expect(types.filter((t) => t === 'TCPWRAP').length).toBe(2); // the client's and the server's ends
    expect(types).toContain('Timeout'); // the ping timer, which getActiveResourcesInfo() does not list
    ws.terminate();
    await events.first('close', 5_000);
    events.detach();
    await expectNothingLeft();
  });

  it(`${CYCLES} connect / echo / close() cycles on one client`, async () => {
    await begin();
    const ws = new WebSocketClient(server.url(), { pingIntervalMs: 20, pongTimeoutMs: 2_000, handshakeTimeoutMs: 5_000 });
    const events = new ClientRecorder(ws);
    const listenersBefore = clientListeners(ws);
    const echoes = new Map<TestConnection, void>();
    const echo = (conn: TestConnection): void => {
      echoes.set(conn);
      conn.on('message', (m: { data: Buffer; binary: boolean }) => conn.send(m.data, m.binary));
    };
    server.on('connection', echo);
    try {
      for (let i = 1; i <= CYCLES; i++) {
        ws.connect();
        await events.nth('open', i, 5_000);
        ws.send(`ping ${i}`);
        await events.nth('message', i, 5_000);
        ws.close(1000, `cycle ${i}`);
        await events.nth('close', i, 5_000);
      }
    } finally {
      server.off('connection', echo);
    }
    expect(events.of('close').every((e) => e.args[0] === 1000)).toBe(true);
    expect(events.count('error')).toBe(0);
    expect(echoes.size).toBe(CYCLES);
    expect(clientListeners(ws)).toEqual(listenersBefore);
    events.detach();
    expect(ws.eventNames()).toEqual([]);
    await expectNothingLeft();
  });

  it(`${CYCLES} connect / terminate() cycles, some while still connecting`, async () => {
    await begin();
    const ws = new WebSocketClient(server.url(), { pingIntervalMs: 20, pongTimeoutMs: 2_000 });
    const events = new ClientRecorder(ws);
    for (let i = 1; i <= CYCLES; i++) {
      ws.connect();
      if (i % 2 === 0) await events.nth('open', i / 2, 5_000); // odd cycles terminate before the handshake
      ws.terminate();
      await events.nth('close', i, 5_000);
    }
    expect(events.of('close').every((e) => e.args[0] === 1006)).toBe(true);
    expect(events.count('error')).toBe(0);
    events.detach();
    await expectNothingLeft();
  });

  it(`${CYCLES} server closes, each followed by reconnect() from onClose, then close()`, async () => {
    await begin();
    const closeAtOnce = (conn: TestConnection): void => conn.close(1001, 'going away');
    server.on('connection', closeAtOnce);
    const ws = new WebSocketClient(server.url(), { pingIntervalMs: 20, pongTimeoutMs: 2_000 });
    const events = new ClientRecorder(ws);
    const keys = new Set<string>();
    const collectKey = (conn: TestConnection): void => {
      keys.add(conn.key);
    };
    server.on('connection', collectKey);
    try {
      let closes = 0;
      ws.onClose = (conn) => {
        closes++;
        if (closes < CYCLES) conn.reconnect(5);
      };
      ws.connect();
      await events.nth('close', CYCLES, 10_000);
      await delay(30); // longer than the reconnect delay: no further attempt may start
      expect(events.count('connect')).toBe(CYCLES);
      ws.close();
    } finally {
      server.off('connection', closeAtOnce);
      server.off('connection', collectKey);
    }
    expect(keys.size).toBe(CYCLES);
    expect(events.count('error')).toBe(0);
    events.detach();
    await expectNothingLeft();
  });

  it('an automatic reconnect loop against a closed port, stopped by close(), leaves nothing', async () => {
    await begin();
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const ws = new WebSocketClient(`ws://127.0.0.1:${port}/`, {
      reconnect: { initialDelayMs: 5, maxDelayMs: 10, maxAttempts: 1_000 },
    });
    const events = new ClientRecorder(ws);
    ws.connect();
    await events.nth('close', CYCLES, 10_000);
    expect(events.of('error').every((e) => (e.args[0] as { code: string }).code === 'WSP_ERR_CONNECT_FAILED')).toBe(true);
    ws.close();
    const closes = events.count('close');
    await delay(50);
    expect(events.count('close')).toBe(closes); // the loop stopped
    expect(ws.readyState).toBe('closed');
    events.detach();
    await expectNothingLeft();
  });

  it('an automatic reconnect loop stopped by close() while connecting, and by an AbortSignal, leaves nothing', async () => {
    await begin();
    const closeAtOnce = (conn: TestConnection): void => conn.close(1011, 'try again');
    server.on('connection', closeAtOnce);
    const controller = new AbortController();
    const options: WebSocketClientOptions = {
      reconnect: { initialDelayMs: 5, maxDelayMs: 10 },
      pingIntervalMs: 20,
      pongTimeoutMs: 2_000,
    };
    const stoppedByClose = new WebSocketClient(server.url(), options);
    const stoppedByAbort = new WebSocketClient(server.url(), { ...options, signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort').length).toBe(1);
    const byClose = new ClientRecorder(stoppedByClose);
    const byAbort = new ClientRecorder(stoppedByAbort);
    try {
      stoppedByClose.connect();
      stoppedByAbort.connect();
      await byClose.nth('close', 5, 5_000);
      await byAbort.nth('close', 5, 5_000);
      // Stop the first one in the middle of an attempt: right after its TCP connect.
      await withTimeout(
        new Promise<void>((resolve) => stoppedByClose.once('connect', () => resolve())),
        5_000,
        'the next attempt',
      );
      stoppedByClose.close();
      controller.abort();
      const counts = [byClose.count('connect'), byAbort.count('connect')];
      await delay(50);
      expect([byClose.count('connect'), byAbort.count('connect')]).toEqual(counts);
      expect(stoppedByClose.readyState).toBe('closed');
      expect(stoppedByAbort.readyState).toBe('closed');
    } finally {
      server.off('connection', closeAtOnce);
    }
    expect(getEventListeners(controller.signal, 'abort').length).toBe(0);
    byClose.detach();
    byAbort.detach();
    await expectNothingLeft();
  });

  it(`${CYCLES} failed attempts (handshake timeout, 403, pong timeout, server dying mid-message) leave nothing`, async () => {
    await begin();
    const kinds = ['silent', 'refuse', 'deaf', 'die'] as const;
    // One client per kind: a short handshake timeout only where it is the point.
    const clients = new Map(
      kinds.map((kind) => {
        const ws = new WebSocketClient(server.url(), {
          handshakeTimeoutMs: kind === 'silent' ? 50 : 5_000,
          pingIntervalMs: kind === 'deaf' ? 20 : 0,
          pongTimeoutMs: 20,
        });
        return [kind, { ws, events: new ClientRecorder(ws), attempts: 0 }];
      }),
    );
    const expectedCodes = {
      silent: 'WSP_ERR_HANDSHAKE_TIMEOUT',
      refuse: 'WSP_ERR_HANDSHAKE_STATUS',
      deaf: 'WSP_ERR_PONG_TIMEOUT',
      die: 'WSP_ERR_CONNECTION_LOST',
    };
    const die = (conn: TestConnection): void => conn.dieMidMessage();
    try {
      for (let i = 1; i <= CYCLES; i++) {
        const kind = kinds[i % kinds.length]!;
        server.handshake = kind === 'silent' ? 'silent' : kind === 'refuse' ? { status: 403, body: 'no' } : 'accept';
        server.answerPings = kind !== 'deaf';
        if (kind === 'die') server.once('connection', die);
        const c = clients.get(kind)!;
        c.attempts++;
        c.ws.connect();
        const close = await c.events.nth('close', c.attempts, 5_000);
        expect(close.args[0]).toBe(1006);
        expect((c.events.of('error')[c.attempts - 1]!.args[0] as { code: string }).code).toBe(expectedCodes[kind]);
      }
    } finally {
      server.handshake = 'accept';
      server.answerPings = true;
      server.off('connection', die);
    }
    for (const { events } of clients.values()) events.detach();
    await expectNothingLeft();
  });

  it('pause() and a pending drain leave nothing after terminate()', async () => {
    await begin();
    const ws = new WebSocketClient(server.url(), { highWaterMarkBytes: 1024, pingIntervalMs: 20, pongTimeoutMs: 2_000 });
    const events = new ClientRecorder(ws);
    const connection = waitForConnection();
    ws.connect();
    const conn = await connection;
    await events.first('open', 5_000);
    conn.pause();
    ws.pause();
    for (let i = 0; i < 64; i++) conn.send(Buffer.alloc(64 * 1024));
    for (let i = 0; i < 64 && ws.send(Buffer.alloc(64 * 1024)); i++) await delay(1);
    expect(events.count('bufferFull')).toBe(1);
    ws.terminate();
    await events.first('close', 5_000);
    events.detach();
    await expectNothingLeft();
  });
});
