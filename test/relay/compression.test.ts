import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Opcode } from '../../src/index.js';
import type { DecoderEvent } from '../../src/protocol/index.js';
import { SYSTEM_PYTHON } from '../helpers/python-server.js';
import { waitUntil, withTimeout } from '../helpers/wait.js';
import { Harness, MOUNTS, pattern, serverFrame, startRawUpstream } from './helpers.js';

// permessage-deflate through wspipe/relay: passed through untouched (the
// relay never inflates) when no hook needs the messages; inflated and
// compressed again per side when one does.

const PMD_SERVER = fileURLToPath(new URL('../deflate/pmd_echo_server.py', import.meta.url));
const PY_CLIENT = fileURLToPath(new URL('./py_client.py', import.meta.url));
let server: ChildProcess | undefined;
let pmdUrl = '';
const harness = new Harness();

beforeAll(async () => {
  server = spawn(SYSTEM_PYTHON, [PMD_SERVER, '--lifetime', '90'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: server.stdout! });
  const [first] = (await withTimeout(once(lines, 'line'), 15_000, 'pmd_echo_server.py to listen')) as [string];
  pmdUrl = `ws://127.0.0.1:${Number(first.trim())}/`;
});
afterAll(() => {
  server?.kill();
});
afterEach(() => harness.cleanup());

const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** Compressible and incompressible messages, text and binary, 0 B to 4 MiB. */
function messages(): Array<string | Buffer> {
  const out: Array<string | Buffer> = [];
  for (const size of [0, 10, 2_000, 70_000, 1024 * 1024, 4 * 1024 * 1024]) {
    out.push(JSON.stringify({ size, filler: 'abc'.repeat(size / 3) }).slice(0, Math.max(size, 2)));
    out.push(pattern(size, size & 0xff));
    if (size <= 1024 * 1024) out.push(randomBytes(size));
  }
  return out;
}

describe.each(MOUNTS)('compression through the relay mounted on %s', (mount) => {
  it('passes compressed frames through untouched between our client and python-websockets: nothing inflated', async () => {
    const { relay, url } = await harness.mount(mount, { upstream: pmdUrl });
    const { ws, events } = harness.open(url('/'), { maxMessageBytes: 32 * 1024 * 1024 });
    await events.first('open', 5_000);
    expect(ws.response?.extensions).toMatch(/^permessage-deflate/);
    const sent = messages();
    for (const m of sent) ws.send(m, { binary: typeof m !== 'string' });
    await events.nth('message', sent.length, 30_000);
    expect(events.of('message').map((e) => sha(e.args[0] as Buffer | string))).toEqual(sent.map(sha));
    const [connection] = relay.connections;
    expect(connection!.compressionPassThrough).toBe(true);
    const { clientToUpstream, upstreamToClient } = relay.metrics;
    expect(clientToUpstream.messages).toBe(sent.length);
    expect(clientToUpstream.inflated + upstreamToClient.inflated + clientToUpstream.deflated + upstreamToClient.deflated).toBe(0);
    // Compressed on the wire: far fewer payload bytes went through than the messages hold.
    const plainBytes = sent.reduce((sum, m) => sum + Buffer.byteLength(m), 0);
    expect(clientToUpstream.bytes).toBeLessThan(plainBytes * 0.6);
    expect(upstreamToClient.bytes).toBeLessThan(plainBytes * 0.6);
  }, 40_000);

  it('passes python-websockets compression through end to end, both peers python', async () => {
    const { relay, url } = await harness.mount(mount, { upstream: pmdUrl });
    const sizes = [0, 5, 3_000, 200_000];
    const out = await withTimeout(
      new Promise<string[]>((resolve) => {
        const child = spawn(SYSTEM_PYTHON, [PY_CLIENT, url('/'), sizes.join(','), '--compression', 'deflate'], { stdio: ['ignore', 'pipe', 'inherit'] });
        let text = '';
        child.stdout.setEncoding('utf8').on('data', (t: string) => (text += t));
        child.once('exit', () => resolve(text.trim().split('\n')));
      }),
      30_000,
      'py_client.py',
    );
    expect(out[0]).toMatch(/^extensions permessage-deflate/);
    expect(out.slice(1, -1)).toEqual(sizes.flatMap((size, i) => [`echo binary ${size} ${sha(pattern(size, i))}`, `echo text ${size} ${sha('t'.repeat(size))}`]));
    expect(out.at(-1)).toBe('closed 1000 python says bye');
    const { clientToUpstream, upstreamToClient } = relay.metrics;
    expect(clientToUpstream.inflated + upstreamToClient.inflated).toBe(0);
  }, 40_000);
});

describe('compression through the relay', () => {
  it('lets both ends see the compressed frames as they were sent (RSV1 and bytes unchanged)', async () => {
    const raw = await startRawUpstream(harness, { perMessageCompression: true, extensions: () => 'permessage-deflate' });
    const { relay, url } = await harness.mount('listen', { upstream: raw.url });
    const { ws, events } = harness.open(url('/'));
    await events.first('open', 5_000);
    expect(raw.requests[0]!.headers['sec-websocket-extensions']).toBe('permessage-deflate; client_max_window_bits');
    expect(ws.response?.extensions).toBe('permessage-deflate');
    const text = 'compress me '.repeat(1_000);
    ws.send(text);
    await waitUntil(() => raw.events.some((e) => e.type === 'data' && e.messageEnd), 5_000, 'the message upstream');
    const data = raw.events.filter((e): e is Extract<DecoderEvent, { type: 'data' }> => e.type === 'data');
    expect(data[0]!.compressed).toBe(true);
    const compressed = Buffer.concat(data.map((e) => e.payload));
    expect(compressed.length).toBeLessThan(200);
    expect(zlib.inflateRawSync(Buffer.concat([compressed, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString()).toBe(text);
    // The other way: a compressed frame from the upstream reaches our client, which inflates it.
    const back = zlib.deflateRawSync(Buffer.from('from the upstream, compressed'), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    raw.sockets[0]!.write(serverFrame(Opcode.Text, back.subarray(0, back.length - 4), false, true, true));
    expect((await events.first('message', 5_000)).args[0]).toBe('from the upstream, compressed');
    expect(relay.metrics.upstreamToClient.bytes).toBe(back.length - 4);
    expect(relay.metrics.clientToUpstream.inflated + relay.metrics.upstreamToClient.inflated).toBe(0);
  });

  it('passes the client parameters on (no context takeover, a small window) and python honours them', async () => {
    const { url } = await harness.mount('listen', { upstream: pmdUrl });
    const { ws, events } = harness.open(url('/'), {
      perMessageDeflate: { clientNoContextTakeover: true, serverNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 9 },
    });
    await events.first('open', 5_000);
    expect(ws.response?.extensions).toContain('server_max_window_bits=10');
    expect(ws.response?.extensions).toContain('server_no_context_takeover');
    const sent = messages().slice(0, 10);
    for (const m of sent) ws.send(m, { binary: typeof m !== 'string' });
    await events.nth('message', sent.length, 20_000);
    expect(events.of('message').map((e) => sha(e.args[0] as Buffer | string))).toEqual(sent.map(sha));
  });

  it('with a hook, inflates and compresses again with each side own context, also when only one side compresses', async () => {
    const seen: string[] = [];
    const { relay, url } = await harness.mount('listen', {
      upstream: pmdUrl,
      onMessage: (message, direction) => {
        seen.push(`${direction} ${message.data.length}`);
        if (message.type === 'text' && message.text() === 'swap') return 'swapped '.repeat(500);
        return undefined;
      },
    });
    const sent = [...messages().slice(0, 9), 'swap'];
    const expected = [...sent.slice(0, -1).map(sha), sha('swapped '.repeat(500))];
    for (const perMessageDeflate of [true, false]) {
      const { ws, events } = harness.open(url('/'), { perMessageDeflate, maxMessageBytes: 32 * 1024 * 1024 });
      await events.first('open', 5_000);
      expect(ws.response?.extensions, `client offers: ${perMessageDeflate}`).toBe(perMessageDeflate ? 'permessage-deflate' : undefined);
      for (const m of sent) ws.send(m, { binary: typeof m !== 'string' });
      await events.nth('message', sent.length, 20_000);
      expect(events.of('message').map((e) => sha(e.args[0] as Buffer | string))).toEqual(expected);
      ws.close();
      await events.first('close', 5_000);
    }
    const { clientToUpstream, upstreamToClient } = relay.metrics;
    // The upstream compresses everything it can; the relay inflated what the hook had to see.
    expect(upstreamToClient.inflated).toBeGreaterThan(0);
    expect(clientToUpstream.inflated).toBeGreaterThan(0);
    expect(clientToUpstream.deflated).toBeGreaterThan(0);
    expect(upstreamToClient.deflated).toBeGreaterThan(0);
    expect(seen.length).toBe(4 * sent.length);
  }, 40_000);
});
