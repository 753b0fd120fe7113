import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Direction, RelayCloseReport, RelayConnection } from '../../src/relay/index.js';
import { HandshakeError, Opcode } from '../../src/index.js';
import type { DecoderEvent } from '../../src/protocol/index.js';
import { startPythonServer, SYSTEM_PYTHON, type PythonServer } from '../helpers/python-server.js';
import { delay, waitUntil, withTimeout } from '../helpers/wait.js';
import { clientFrame, closeOf, Harness, MOUNTS, pattern, rawClient, serverFrame, startRawUpstream } from './helpers.js';

// wspipe/relay between our client, python-websockets (as client and as
// server) and raw peers of our own where a test must see or send exact frames;
// mounted on its own listener and on an http.Server beside an ordinary route.

const PY_CLIENT = fileURLToPath(new URL('./py_client.py', import.meta.url));
let python: PythonServer;
const harness = new Harness();

beforeAll(async () => {
  python = await startPythonServer();
});
afterAll(async () => {
  await python?.stop();
});
afterEach(() => harness.cleanup());

const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** Runs py_client.py to the end; resolves with its output lines. */
function runPythonClient(url: string, sizes: number[], compression: 'deflate' | 'none', closeCode = 1000): Promise<string[]> {
  return withTimeout(
    new Promise((resolve) => {
      const child = spawn(SYSTEM_PYTHON, [PY_CLIENT, url, sizes.join(','), '--compression', compression, '--close', String(closeCode)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
      child.once('exit', () => resolve(out.trim().split('\n')));
    }),
    30_000,
    'py_client.py to finish',
  );
}

describe.each(MOUNTS)('relay mounted on %s, between our client and python-websockets', (mount) => {
  it('relays messages from 0 B to 16 MiB intact (SHA-256), in order, without reassembling them', async () => {
    const { relay, url } = await harness.mount(mount, { upstream: python.url('/') });
    const { ws, events } = harness.open(url('/echo'), { maxMessageBytes: 32 * 1024 * 1024 });
    await events.first('open', 5_000);
    const sizes = [0, 1, 125, 126, 65_535, 65_536, 1024 * 1024, 16 * 1024 * 1024];
    const sent: Array<string | Buffer> = [];
    for (const [i, size] of sizes.entries()) {
      if (size <= 1024 * 1024) sent.push('é'.repeat(Math.floor(size / 2)) + 'x'.repeat(size % 2));
      sent.push(pattern(size, i));
    }
    for (const message of sent) ws.send(message, { binary: typeof message !== 'string' });
    await events.nth('message', sent.length, 30_000);
    const received = events.of('message').map((e) => e.args as [Buffer | string, boolean]);
    expect(received.map(([data]) => sha(data))).toEqual(sent.map(sha));
    expect(received.map(([, binary]) => binary)).toEqual(sent.map((m) => typeof m !== 'string'));
    const bytes = sent.reduce((sum, m) => sum + Buffer.byteLength(m), 0);
    const { clientToUpstream, upstreamToClient } = relay.metrics;
    expect(clientToUpstream.bytes).toBe(bytes);
    expect(upstreamToClient.bytes).toBe(bytes);
    expect(clientToUpstream.messages).toBe(sent.length);
    expect(upstreamToClient.messages).toBe(sent.length);
    expect(clientToUpstream.inflated + upstreamToClient.inflated).toBe(0);
    expect(ws.response?.extensions).toBeUndefined(); // python declined compression; so does the relay
  }, 40_000);

  it('relays python-websockets as the client too, with and without compression', async () => {
    const { url } = await harness.mount(mount, { upstream: python.url('/') });
    const sizes = [0, 1, 200, 70_000, 1024 * 1024];
    const expected = sizes.flatMap((size, i) => [`echo binary ${size} ${sha(pattern(size, i))}`, `echo text ${size} ${sha('t'.repeat(size))}`]);
    const plain = await runPythonClient(url('/echo'), sizes, 'none', 4003);
    expect(plain).toEqual(['extensions -', ...expected, 'closed 4003 python says bye']);
    // python asks for compression; ws_server.py declines: the answer is passed back, none.
    const offered = await runPythonClient(url('/echo'), sizes, 'deflate');
    expect(offered).toEqual(['extensions -', ...expected, 'closed 1000 python says bye']);
  }, 40_000);

  it('forwards end-to-end headers and X-Forwarded-For, never hop-by-hop ones, and applies the rewrite', async () => {
    const { url } = await harness.mount(mount, {
      upstream: python.url('/'),
      headers: { drop: ['x-secret'], rename: { 'X-Old': 'X-New' }, set: { 'X-Added': 'yes', Connection: 'keep-alive, x-smuggle' } },
    });
    const { events } = harness.open(url('/headers?q=1'), {
      headers: { Cookie: 'a=b', 'X-Many': ['one', 'two'], 'X-Secret': 's', 'X-Old': 'old', 'Keep-Alive': 'timeout=5' },
      origin: 'http://example.test',
    });
    const [message] = (await events.first('message', 5_000)).args;
    const report = JSON.parse(message as string) as { path: string; headers: Array<[string, string]> };
    const value = (name: string): string[] => report.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
    expect(report.path).toBe('/headers?q=1');
    expect(value('cookie')).toEqual(['a=b']);
    expect(value('x-many')).toEqual(['one', 'two']);
    expect(value('origin')).toEqual(['http://example.test']);
    expect(value('x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(value('host')).toEqual([`127.0.0.1:${python.port}`]);
    expect(value('x-secret')).toEqual([]);
    expect(value('x-new')).toEqual(['old']);
    expect(value('x-old')).toEqual([]);
    expect(value('x-added')).toEqual(['yes']);
    expect(value('keep-alive')).toEqual([]);
    expect(value('connection')).toEqual(['Upgrade']); // the relay's own, not the rewrite's
    expect(value('sec-websocket-extensions')).toEqual(['permessage-deflate; client_max_window_bits']); // our client's offer, passed on
  });

  it('forwards pings both ways, and the pongs back', async () => {
    const { url } = await harness.mount(mount, { upstream: python.url('/') });
    const { ws, events } = harness.open(url('/pings'));
    await events.first('open', 5_000);
    ws.ping('one');
    ws.ping('two');
    await events.nth('pong', 2, 5_000);
    expect(events.of('pong').map((e) => String(e.args[0]))).toEqual(['one', 'two']);
    await waitUntil(() => events.of('message').some((e) => JSON.parse(e.args[0] as string).pings === 2), 5_000, 'python to count 2 pings');

    const raw = await startRawUpstream(harness);
    const second = await harness.mount(mount, { upstream: raw.url });
    const client = harness.open(second.url('/'));
    await client.events.first('open', 5_000);
    raw.sockets[0]!.write(serverFrame(Opcode.Ping, 'from upstream'));
    expect(String((await client.events.first('ping', 5_000)).args[0])).toBe('from upstream');
    await waitUntil(() => raw.events.some((e) => e.type === 'pong'), 5_000, 'the pong to reach the upstream');
    expect((raw.events.find((e) => e.type === 'pong') as { payload: Buffer }).payload.toString()).toBe('from upstream');
  });

  it('carries close codes both ways and reports both sides', async () => {
    const { relay, url } = await harness.mount(mount, { upstream: python.url('/') });
    const reports: RelayCloseReport[] = [];
    relay.on('close', (_connection, report) => reports.push(report));
    const fromClient = harness.open(url('/echo'));
    await fromClient.events.first('open', 5_000);
    fromClient.ws.close(4001, 'client says bye');
    expect((await fromClient.events.first('close', 5_000)).args[0]).toBe(4001);

    const fromUpstream = harness.open(url('/close?code=4002&reason=upstream%20says%20bye'));
    expect((await fromUpstream.events.first('close', 5_000)).args.slice(0, 2)).toEqual([4002, 'upstream says bye']);
    await waitUntil(() => reports.length === 2, 5_000, 'both close reports');
    expect(reports[0]!.client.received).toEqual({ code: 4001, reason: 'client says bye' });
    expect(reports[0]!.upstream.sent).toEqual({ code: 4001, reason: 'client says bye' });
    expect(reports[0]!.upstream.received?.code).toBe(4001);
    expect(reports[1]!.upstream.received).toEqual({ code: 4002, reason: 'upstream says bye' });
    expect(reports[1]!.client.sent).toEqual({ code: 4002, reason: 'upstream says bye' });
    expect(relay.metrics.open).toBe(0);
  });

  it('forwards the subprotocol offer, and the upstream choice back', async () => {
    const raw = await startRawUpstream(harness, { protocol: (offered) => offered[1] });
    const { url } = await harness.mount(mount, { upstream: raw.url });
    const { ws, events } = harness.open(url('/'), { protocols: ['a.v1', 'b.v2'] });
    await events.first('open', 5_000);
    expect(ws.protocol).toBe('b.v2');
    expect(raw.requests[0]!.headers['sec-websocket-protocol']).toBe('a.v1, b.v2');
  });

  it('passes fragmented messages on fragment by fragment, with a ping between fragments', async () => {
    const raw = await startRawUpstream(harness);
    const { url, port } = await harness.mount(mount, { upstream: raw.url });
    const client = await rawClient(harness, port, '/');
    client.socket.write(
      Buffer.concat([
        clientFrame(Opcode.Text, 'one ', false),
        clientFrame(Opcode.Ping, 'between'),
        clientFrame(Opcode.Continuation, 'two ', false),
        clientFrame(Opcode.Continuation, 'three', true),
      ]),
    );
    await waitUntil(() => raw.events.filter((e) => e.type === 'data').length === 3, 5_000, 'three fragments upstream');
    const data = raw.events.filter((e): e is Extract<DecoderEvent, { type: 'data' }> => e.type === 'data');
    expect(data.map((e) => [e.payload.toString(), e.messageStart, e.messageEnd])).toEqual([
      ['one ', true, false],
      ['two ', false, false],
      ['three', false, true],
    ]);
    expect(raw.events.map((e) => e.type)).toEqual(['data', 'ping', 'data', 'data']);
    raw.sockets[0]!.write(
      Buffer.concat([serverFrame(Opcode.Binary, Buffer.from([1, 2]), false, false), serverFrame(Opcode.Continuation, Buffer.from([3]), false, true)]),
    );
    await waitUntil(() => client.events.filter((e) => e.type === 'data').length === 2, 5_000, 'two fragments to the client');
    // Our client, through the same relay, gets the fragments as one message.
    const ours = harness.open(url('/'));
    await ours.events.first('open', 5_000);
    raw.sockets[1]!.write(Buffer.concat([serverFrame(Opcode.Text, 'a', false, false), serverFrame(Opcode.Continuation, 'b', false, true)]));
    expect((await ours.events.first('message', 5_000)).args[0]).toBe('ab');
    void url;
  });

  it('keeps frames the upstream sent in the same read as its 101, and frames a client sent before the 101', async () => {
    const raw = await startRawUpstream(harness, { after101: serverFrame(Opcode.Text, 'right after the 101') });
    const { url } = await harness.mount(mount, { upstream: raw.url });
    const { events, ws } = harness.open(url('/'));
    ws.send('queued before open');
    expect((await events.first('message', 5_000)).args[0]).toBe('right after the 101');
    await waitUntil(() => raw.events.some((e) => e.type === 'data'), 5_000, 'the queued message upstream');
  });
});

describe('relay routes and refuses', () => {
  it('serves an ordinary HTTP route beside the upgrade, and 426 on its own listener', async () => {
    const routed = await harness.mount('http.Server', { upstream: python.url('/') });
    const body = await fetch(`http://127.0.0.1:${routed.port}/health`).then((r) => r.text());
    expect(body).toBe('ordinary route /health\n');
    const own = await harness.mount('listen', { upstream: python.url('/') });
    expect((await fetch(`http://127.0.0.1:${own.port}/`)).status).toBe(426);
  });

  it('chooses the upstream per request with an async function (routing by path)', async () => {
    const a = await startRawUpstream(harness);
    const b = await startRawUpstream(harness);
    const { url } = await harness.mount('listen', {
      upstream: async (request) => {
        await delay(1);
        return request.path.startsWith('/b/') ? `${b.url}tenant-b${request.path.slice(2)}` : `${a.url}tenant-a`;
      },
    });
    for (const path of ['/a/x', '/b/y?z=1']) await harness.open(url(path)).events.first('open', 5_000);
    expect(a.requests.map((r) => r.path)).toEqual(['/tenant-a']);
    expect(b.requests.map((r) => r.path)).toEqual(['/tenant-b/y?z=1']);
  });

  it('refuses with authorize before connecting upstream: its status, headers and body', async () => {
    const raw = await startRawUpstream(harness);
    const seen: string[] = [];
    const { relay, url, port } = await harness.mount('listen', {
      upstream: raw.url,
      authorize: async (request) => {
        seen.push(request.headers['authorization'] ?? '-');
        if (request.headers['authorization'] === 'Bearer good') return true;
        if (request.path === '/forbidden') return false;
        return { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="relay"' }, body: 'who are you?' };
      },
    });
    const refused: number[] = [];
    relay.on('refused', (_request, status) => refused.push(status));
    const denied = harness.open(url('/'));
    const [error] = (await denied.events.first('error', 5_000)).args as [HandshakeError];
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error.status).toBe(401);
    expect(error.headers?.['www-authenticate']).toBe('Bearer realm="relay"');
    expect(error.bodyStart).toBe('who are you?');
    const forbidden = harness.open(url('/forbidden'));
    expect(((await forbidden.events.first('error', 5_000)).args[0] as HandshakeError).status).toBe(403);
    await harness.open(url('/'), { headers: { Authorization: 'Bearer good' } }).events.first('open', 5_000);
    expect(raw.requests.length).toBe(1); // only the authorized request reached the upstream
    expect(raw.requests[0]!.headers['authorization']).toBe('Bearer good');
    expect(refused).toEqual([401, 403]);
    expect(relay.metrics.refused).toBe(2);
    // A request that is not a WebSocket upgrade at all: 400.
    const socket = net.connect(port, '127.0.0.1');
    harness.cleanups.push(() => socket.destroy());
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    const answer = await withTimeout(new Promise<string>((resolve) => socket.once('data', (chunk) => resolve(chunk.toString()))), 5_000, 'a 400');
    expect(answer.startsWith('HTTP/1.1 400 ')).toBe(true);
    expect(seen).toEqual(['-', '-', 'Bearer good']);
  });

  it('gives up on an authorize that never settles: 504 after the handshake timeout, and close() still resolves', async () => {
    const raw = await startRawUpstream(harness);
    const { relay, url } = await harness.mount('listen', { upstream: raw.url, handshakeTimeoutMs: 200, authorize: () => new Promise<never>(() => {}) });
    const first = harness.open(url('/'));
    expect(((await first.events.first('error', 5_000)).args[0] as HandshakeError).status).toBe(504);
    const { relay: second, url: url2 } = await harness.mount('listen', { upstream: raw.url, authorize: () => new Promise<never>(() => {}) });
    const waiting = harness.open(url2('/'));
    await waitUntil(() => second.metrics.accepted === 1, 5_000, 'the upgrade to arrive');
    await withTimeout(second.close(), 5_000, 'close() with an authorize pending');
    await waiting.events.first('close', 5_000);
    expect(raw.requests.length).toBe(0);
    expect(relay.metrics.refused).toBe(1);
  });

  it('answers 502 when the upstream refuses or cannot be reached, 504 when it does not answer in time', async () => {
    const refusing = http.createServer((_request, response) => response.writeHead(403).end('no'));
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    harness.cleanups.push(() => new Promise((resolve) => refusing.close(resolve)));
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const silent = net.createServer((socket) => socket.on('error', () => {})); // accepts, never answers
    const silentSockets: net.Socket[] = [];
    silent.on('connection', (s) => silentSockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    harness.cleanups.push(() => {
      for (const s of silentSockets) s.destroy();
      return new Promise((resolve) => silent.close(resolve));
    });
    const cases: Array<[string, number]> = [
      [`ws://127.0.0.1:${(refusing.address() as net.AddressInfo).port}/`, 502],
      [`ws://127.0.0.1:${deadPort}/`, 502],
      [`ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`, 504],
    ];
    for (const [upstream, status] of cases) {
      const { relay, url } = await harness.mount('listen', { upstream, handshakeTimeoutMs: 300 });
      const { events } = harness.open(url('/'));
      const [error] = (await events.first('error', 5_000)).args;
      expect(error, upstream).toBeInstanceOf(HandshakeError);
      expect((error as HandshakeError).status, upstream).toBe(status);
      expect(relay.metrics.refused).toBe(1);
    }
  });
});

describe('relay misuse', () => {
  it('answers bad options and arguments from plain JavaScript with a UsageError', async () => {
    const { createRelay } = await import('../../src/relay/index.js');
    const { UsageError } = await import('../../src/index.js');
    const bad: unknown[] = [
      undefined,
      {},
      { upstream: 'http:' },
      { upstream: 'ftp://x/' },
      { upstream: 'ws://x/?q=1' },
      { upstream: 'ws://x/', onMessage: 'no' },
      { upstream: 'ws://x/', closeTimeoutMs: -1 },
      { upstream: 'ws://x/', maxMessageBytes: 'big' },
    ];
    for (const options of bad) expect(() => createRelay(options as never), JSON.stringify(options)).toThrow(UsageError);
    const relay = createRelay({ upstream: 'ws://127.0.0.1:9/' });
    expect(() => relay.handleUpgrade({} as never, {} as never)).toThrow(UsageError);
    expect(() => relay.handleUpgrade({ rawHeaders: [] } as never, null as never)).toThrow(UsageError);
  });
});

describe('relay failures', () => {
  it('closes an upstream that breaks the protocol with its code, and the client with 1014', async () => {
    const raw = await startRawUpstream(harness);
    const { relay, url } = await harness.mount('listen', { upstream: raw.url });
    const errors: Array<[string, string]> = [];
    relay.on('error', (error, _connection, side) => errors.push([side, (error as { code?: string }).code ?? '']));
    const { events } = harness.open(url('/'));
    await events.first('open', 5_000);
    raw.sockets[0]!.write(serverFrame(Opcode.Text, 'masked by a server', true)); // RFC 6455 5.1
    expect((await events.first('close', 5_000)).args[0]).toBe(1014);
    await waitUntil(() => closeOf(raw.events) !== undefined, 5_000, 'the upstream to get a close frame');
    expect(closeOf(raw.events)!.code).toBe(1002);
    expect(errors).toEqual([['upstream', 'WSP_ERR_MASKED_FRAME']]);
  });

  it('closes a client that breaks the protocol with its code, and the upstream with 1011', async () => {
    const raw = await startRawUpstream(harness);
    const { port } = await harness.mount('listen', { upstream: raw.url });
    const client = await rawClient(harness, port);
    client.socket.write(serverFrame(Opcode.Text, 'unmasked from a client')); // RFC 6455 5.1
    await waitUntil(() => closeOf(client.events) !== undefined, 5_000, 'the client to get a close frame');
    expect(closeOf(client.events)!.code).toBe(1002);
    await waitUntil(() => closeOf(raw.events) !== undefined, 5_000, 'the upstream to get a close frame');
    expect(closeOf(raw.events)!.code).toBe(1011);
  });

  it('leaves invalid UTF-8 to the far end when passing frames on; checks it itself when a hook sees messages', async () => {
    const bad = clientFrame(Opcode.Text, Buffer.from([0xc3, 0x28]));
    // Passing on: python gets the bytes and fails the message with 1007, which comes back to the client.
    const passing = await harness.mount('listen', { upstream: python.url('/') });
    const one = await rawClient(harness, passing.port, '/echo');
    one.socket.write(bad);
    await waitUntil(() => closeOf(one.events) !== undefined, 5_000, 'a close frame');
    expect(closeOf(one.events)!.code).toBe(1007);
    // With a hook the relay decodes the text and fails the client itself (1007); the upstream gets 1011.
    const raw = await startRawUpstream(harness);
    const hooked = await harness.mount('listen', { upstream: raw.url, onMessage: () => undefined });
    const two = await rawClient(harness, hooked.port);
    two.socket.write(bad);
    await waitUntil(() => closeOf(two.events) !== undefined && closeOf(raw.events) !== undefined, 5_000, 'close frames');
    expect(closeOf(two.events)!.code).toBe(1007);
    expect(closeOf(raw.events)!.code).toBe(1011);
  });

  it('closes both sides with 1001 when the relay closes, and tells the client 1014 when the upstream vanishes', async () => {
    const raw = await startRawUpstream(harness);
    const { relay, url } = await harness.mount('listen', { upstream: raw.url, closeTimeoutMs: 1_000 });
    const { events } = harness.open(url('/'));
    await events.first('open', 5_000);
    const vanishing = harness.open(url('/'));
    await vanishing.events.first('open', 5_000);
    raw.sockets[1]!.destroy();
    expect((await vanishing.events.first('close', 5_000)).args[0]).toBe(1014);
    const closed = relay.close();
    expect((await events.first('close', 5_000)).args[0]).toBe(1001);
    await waitUntil(() => closeOf(raw.events) !== undefined, 5_000, 'the upstream to get a close frame');
    expect(closeOf(raw.events)!.code).toBe(1001);
    await withTimeout(closed, 5_000, 'close() to resolve'); // the raw upstream never answers: the close timeout ends it
    expect(relay.metrics.open).toBe(0);
  });
});

describe('relay hooks', () => {
  it('lets onMessage drop, replace and enlarge messages both ways, synchronously or not', async () => {
    const log: Array<[Direction, string, number]> = [];
    const { relay, url } = await harness.mount('listen', {
      upstream: python.url('/'),
      onMessage: (message, direction) => {
        log.push([direction, message.type, message.data.length]);
        const text = message.type === 'text' ? message.text() : '';
        if (direction === 'client-to-upstream') {
          if (text === 'drop me') return false;
          if (text === 'replace me') return 'replaced upstream';
          if (text === 'enlarge me') return Promise.resolve(Buffer.alloc(3 * 1024 * 1024, 7));
        } else {
          if (text === 'replaced upstream') return { data: 'and again on the way back', binary: false };
          if (text === 'drop on the way back') return Promise.resolve(false);
          if (message.type === 'binary' && message.data.length === 3 * 1024 * 1024) return 'was 3 MiB';
        }
        return undefined;
      },
    });
    const { ws, events } = harness.open(url('/echo'));
    await events.first('open', 5_000);
    for (const m of ['keep 1', 'drop me', 'replace me', 'drop on the way back', 'enlarge me', 'keep 2']) ws.send(m);
    ws.send(pattern(1024 * 1024, 3), { binary: true }); // spans many reads: shown whole
    await events.nth('message', 5, 10_000);
    await delay(100);
    expect(events.of('message').map((e) => (typeof e.args[0] === 'string' ? e.args[0] : sha(e.args[0] as Buffer)))).toEqual([
      'keep 1',
      'and again on the way back',
      'was 3 MiB',
      'keep 2',
      sha(pattern(1024 * 1024, 3)),
    ]);
    expect(log.filter(([d]) => d === 'client-to-upstream').length).toBe(7);
    expect(log.filter(([d]) => d === 'upstream-to-client').map(([, type, size]) => `${type} ${size}`)).toEqual([
      'text 6',
      'text 17',
      'text 20',
      `binary ${3 * 1024 * 1024}`,
      'text 6',
      `binary ${1024 * 1024}`,
    ]);
    const { clientToUpstream, upstreamToClient } = relay.metrics;
    expect([clientToUpstream.dropped, clientToUpstream.replaced, upstreamToClient.dropped, upstreamToClient.replaced]).toEqual([1, 2, 1, 2]);
  });

  it('closes both sides with 1011 when onMessage throws, rejects or returns something that is not a verdict', async () => {
    const raw = await startRawUpstream(harness);
    const hooks: Array<() => unknown> = [
      () => {
        throw new Error('hook bug');
      },
      () => Promise.reject(new Error('async hook bug')),
      () => ({ data: 42 }),
      () => 7,
    ];
    for (const [i, hook] of hooks.entries()) {
      const { relay, url } = await harness.mount('listen', { upstream: raw.url, onMessage: hook as never });
      const errors: string[] = [];
      relay.on('error', (_error, _connection, side) => errors.push(side));
      const { ws, events } = harness.open(url('/'));
      await events.first('open', 5_000);
      ws.send('boom');
      expect((await events.first('close', 5_000)).args[0], `hook ${i}`).toBe(1011);
      await waitUntil(() => raw.events.filter((e) => e.type === 'close').length === i + 1, 5_000, 'the upstream close');
      expect((raw.events.filter((e) => e.type === 'close')[i] as { code: number }).code).toBe(1011);
      expect(errors).toEqual(['hook']);
    }
  });

  it('shows every frame to onFrame without reassembly, and emits open and close with the connection', async () => {
    const frames: string[] = [];
    const raw = await startRawUpstream(harness);
    const { relay, port } = await harness.mount('listen', {
      upstream: raw.url,
      onFrame: (frame, direction) => frames.push(`${direction} ${frame.opcode} ${frame.fin} ${frame.bytes}`),
    });
    const opened: RelayConnection[] = [];
    relay.on('open', (connection) => opened.push(connection));
    const client = await rawClient(harness, port, '/path?x=1');
    client.socket.write(Buffer.concat([clientFrame(Opcode.Binary, pattern(100_000, 1), false), clientFrame(Opcode.Continuation, 'end', true)]));
    await waitUntil(() => frames.length === 2, 5_000, 'two frames');
    raw.sockets[0]!.write(serverFrame(Opcode.Ping, 'p'));
    await waitUntil(() => frames.length === 3, 5_000, 'a ping');
    expect(frames).toEqual(['client-to-upstream 2 false 100000', 'client-to-upstream 0 true 3', 'upstream-to-client 9 true 1']);
    expect(opened.length).toBe(1);
    expect(opened[0]!.request.path).toBe('/path?x=1');
    expect(opened[0]!.upstreamUrl).toBe(`${raw.url}path?x=1`);
  });
});
