import { describe, expect, it } from 'vitest';
import * as zlib from 'node:zlib';
import { once } from 'node:events';
import { Opcode } from '../../src/protocol/opcode.js';
import type { FrameSpec } from '../../src/protocol/frame-encoder.js';
import type { WindowBits } from '../../src/protocol/permessage-deflate.js';
import { MessageDeflater, PerMessageDeflateStream } from '../../src/streams/permessage-deflate-stream.js';
import { sharedZlibLimiter, ZlibLimiter, zlibLimiterFor } from '../../src/streams/zlib-limiter.js';
import { decodeAndInflate, deflateFrame, flatten, NEGOTIATED_DEFAULT, sampleText, serverFrames } from './helpers.js';

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const inflateOne = (payload: Buffer, windowBits = 15): Buffer =>
  zlib.inflateRawSync(Buffer.concat([payload, TRAILER]), { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });

describe('MessageDeflater', () => {
  it('removes the 00 00 ff ff trailer (RFC 7692 7.2.1), and appending it inflates back', async () => {
    const deflater = new MessageDeflater({ negotiated: NEGOTIATED_DEFAULT });
    const text = sampleText(5000);
    const frame = await deflateFrame(deflater, { opcode: Opcode.Text, payload: text });
    expect(frame.rsv1).toBe(true);
    expect(frame.fin).toBe(true);
    const payload = frame.payload as Buffer;
    expect(payload.length).toBeLessThan(Buffer.byteLength(text));
    expect(payload.subarray(-4).equals(TRAILER)).toBe(false);
    expect(inflateOne(payload).toString()).toBe(text);
    deflater.close();
  });

  it('compresses an empty message to the single byte 00 (RFC 7692 7.2.3.6)', async () => {
    const deflater = new MessageDeflater({ negotiated: NEGOTIATED_DEFAULT });
    const frame = await deflateFrame(deflater, { opcode: Opcode.Binary, payload: Buffer.alloc(0), compress: true });
    expect(Buffer.from(frame.payload as Buffer).toString('hex')).toBe('00');
    deflater.close();
  });

  it('sends messages under thresholdBytes uncompressed, unless told otherwise per message', async () => {
    const deflater = new MessageDeflater({ negotiated: NEGOTIATED_DEFAULT, thresholdBytes: 100 });
    const small = 'x'.repeat(99);
    const large = 'x'.repeat(100);
    expect((await deflateFrame(deflater, { opcode: Opcode.Text, payload: small })).rsv1).toBeFalsy();
    expect((await deflateFrame(deflater, { opcode: Opcode.Text, payload: large })).rsv1).toBe(true);
    expect((await deflateFrame(deflater, { opcode: Opcode.Text, payload: small, compress: true })).rsv1).toBe(true);
    expect((await deflateFrame(deflater, { opcode: Opcode.Text, payload: large, compress: false })).rsv1).toBeFalsy();
    // Never control frames, never fragments.
    expect((await deflateFrame(deflater, { opcode: Opcode.Ping, payload: 'p', compress: true })).rsv1).toBeFalsy();
    expect((await deflateFrame(deflater, { opcode: Opcode.Text, payload: large, fin: false, compress: true })).rsv1).toBeFalsy();
    deflater.close();
  });

  it('the threshold counts UTF-8 bytes, not characters', async () => {
    const deflater = new MessageDeflater({ negotiated: NEGOTIATED_DEFAULT, thresholdBytes: 10 });
    expect((await deflateFrame(deflater, { opcode: Opcode.Text, payload: 'ééééé' })).rsv1).toBe(true);
    deflater.close();
  });

  it('keeps call order: small frames and a close wait behind a message still in zlib', async () => {
    const deflater = new MessageDeflater({ negotiated: NEGOTIATED_DEFAULT });
    const order: string[] = [];
    const record = (name: string) => (error: Error | undefined, frame: FrameSpec) => {
      expect(error).toBeUndefined();
      order.push(`${name}${frame.rsv1 ? '*' : ''}`);
    };
    deflater.frame({ opcode: Opcode.Text, payload: 'tiny' }, record('a')); // synchronous: nothing waits
    expect(order).toEqual(['a']);
    deflater.frame({ opcode: Opcode.Binary, payload: Buffer.from(sampleText(200_000)) }, record('big'));
    deflater.frame({ opcode: Opcode.Text, payload: 'tiny' }, record('b'));
    deflater.frame({ opcode: Opcode.Pong, payload: '' }, record('pong'));
    deflater.frame({ opcode: Opcode.Text, payload: sampleText(3000) }, record('c'));
    deflater.frame({ opcode: Opcode.Close, payload: Buffer.from([0x03, 0xe8]) }, record('close'));
    expect(order).toEqual(['a']);
    expect(deflater.pendingCount).toBe(5);
    expect(deflater.pendingBytes).toBeGreaterThan(200_000);
    await new Promise<void>((resolve) => deflater.frame({ opcode: Opcode.Ping, payload: '' }, () => resolve()));
    expect(order).toEqual(['a', 'big*', 'b', 'pong', 'c*', 'close']);
    expect(deflater.pendingBytes).toBe(0);
    deflater.close();
  });

  it('flush() calls back after everything given before it', async () => {
    const deflater = new MessageDeflater({ negotiated: NEGOTIATED_DEFAULT });
    const order: string[] = [];
    deflater.flush(() => order.push('idle flush'));
    expect(order).toEqual(['idle flush']);
    deflater.frame({ opcode: Opcode.Text, payload: sampleText(50_000) }, () => order.push('big'));
    deflater.flush(() => order.push('flush'));
    deflater.frame({ opcode: Opcode.Text, payload: 'x' }, () => order.push('small'));
    await new Promise<void>((resolve) => deflater.flush(() => resolve()));
    expect(order).toEqual(['idle flush', 'big', 'flush', 'small']);
    expect(deflater.pendingCount).toBe(0);
    deflater.close();
  });

  it('copyPayloads: the caller may reuse its buffer as soon as frame() returns', async () => {
    const deflater = new MessageDeflater({ negotiated: NEGOTIATED_DEFAULT, copyPayloads: true });
    const original = Buffer.from(sampleText(100_000, 9));
    const reused = Buffer.from(original);
    const pending = [deflateFrame(deflater, { opcode: Opcode.Binary, payload: reused })];
    reused.fill(0);
    // Also a small one queued behind it.
    const small = Buffer.from('small');
    pending.push(deflateFrame(deflater, { opcode: Opcode.Binary, payload: small }));
    small.fill(0x21);
    const [big, tiny] = await Promise.all(pending);
    expect(inflateOne(big!.payload as Buffer).equals(original)).toBe(true);
    expect(Buffer.from(tiny!.payload as Buffer).toString()).toBe('small');
    deflater.close();
  });

  it('deflate() gives the compressed bytes', async () => {
    const deflater = new MessageDeflater({ negotiated: NEGOTIATED_DEFAULT });
    const compressed = await new Promise<Buffer>((resolve, reject) =>
      deflater.deflate(new Uint8Array(Buffer.from('abcabcabcabc')), (error, out) => (error ? reject(error) : resolve(out))),
    );
    expect(inflateOne(compressed).toString()).toBe('abcabcabcabc');
    deflater.close();
  });

  it('close() fails what is waiting, exactly once each', async () => {
    const deflater = new MessageDeflater({ negotiated: NEGOTIATED_DEFAULT });
    const results: Array<string> = [];
    deflater.frame({ opcode: Opcode.Text, payload: sampleText(100_000) }, (e) => results.push(e ? 'error' : 'ok'));
    deflater.frame({ opcode: Opcode.Text, payload: 'x' }, (e) => results.push(e ? 'error' : 'ok'));
    deflater.close();
    expect(results).toEqual(['error', 'error']);
    await new Promise((r) => setTimeout(r, 50));
    expect(results).toEqual(['error', 'error']);
    deflater.frame({ opcode: Opcode.Text, payload: 'x', compress: true }, (e) => results.push(e ? 'error' : 'ok'));
    expect(results).toEqual(['error', 'error', 'error']);
  });

  describe('context takeover (RFC 7692 7.1.1.2)', () => {
    const text = sampleText(4000, 7);

    it('with takeover, a repeated message refers back to the first and shrinks', async () => {
      const deflater = new MessageDeflater({ negotiated: NEGOTIATED_DEFAULT });
      const first = (await deflateFrame(deflater, { opcode: Opcode.Text, payload: text })).payload as Buffer;
      const second = (await deflateFrame(deflater, { opcode: Opcode.Text, payload: text })).payload as Buffer;
      expect(second.length).toBeLessThan(first.length / 4);
      // Alone, the second message cannot be inflated: it needs the first one's window.
      expect(() => inflateOne(second)).toThrow();
      deflater.close();
    });

    it('with client_no_context_takeover, every message stands alone', async () => {
      const deflater = new MessageDeflater({ negotiated: { ...NEGOTIATED_DEFAULT, clientNoContextTakeover: true } });
      const first = Buffer.from((await deflateFrame(deflater, { opcode: Opcode.Text, payload: text })).payload as Buffer);
      const second = Buffer.from((await deflateFrame(deflater, { opcode: Opcode.Text, payload: text })).payload as Buffer);
      expect(second.equals(first)).toBe(true);
      expect(inflateOne(second).toString()).toBe(text);
      deflater.close();
    });
  });

  describe('window bits', () => {
    // Varied data over 64 KiB so that long matches exist at every distance.
    const data = Buffer.from(sampleText(70_000, 3) + sampleText(70_000, 3));

    it.each([8, 9, 10, 11, 12, 13, 14, 15] as WindowBits[])('client_max_window_bits=%i: a peer with that window inflates it', async (bits) => {
      const deflater = new MessageDeflater({ negotiated: { ...NEGOTIATED_DEFAULT, clientMaxWindowBits: bits, clientNoContextTakeover: true } });
      const payload = (await deflateFrame(deflater, { opcode: Opcode.Binary, payload: data })).payload as Buffer;
      // zlib's inflate refuses a distance beyond its window: this proves the limit was kept.
      expect(inflateOne(payload, bits).equals(data)).toBe(true);
      if (bits < 15) expect(() => inflateOne(zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4), bits)).toThrow(/distance/);
      deflater.close();
    });
  });
});

describe('round trips through MessageDeflater, frames, FrameDecoderStream and PerMessageInflateStream', () => {
  const cases: Array<[string, boolean, WindowBits]> = [];
  for (const takeover of [true, false]) for (const bits of [9, 12, 15] as WindowBits[]) cases.push([`takeover ${takeover}, window ${bits}`, takeover, bits]);

  it.each(cases)('%s', async (_name, takeover, bits) => {
    const negotiated = {
      serverNoContextTakeover: !takeover,
      clientNoContextTakeover: !takeover,
      serverMaxWindowBits: bits,
      clientMaxWindowBits: bits,
    };
    const deflater = new MessageDeflater({ negotiated, thresholdBytes: 64 });
    const messages: Array<[number, Buffer | string]> = [];
    for (let i = 0; i < 30; i++) {
      messages.push([Opcode.Text, sampleText(i * 97, i)]);
      messages.push([Opcode.Binary, Buffer.from(sampleText(i * 501, i + 100))]);
    }
    const frames: FrameSpec[] = [];
    for (const [opcode, payload] of messages) frames.push(await deflateFrame(deflater, { opcode, payload }));
    deflater.close();
    expect(frames.some((f) => f.rsv1)).toBe(true);
    expect(frames.some((f) => !f.rsv1)).toBe(true);
    const bytes = serverFrames(frames);
    // Fed in uneven chunks, so messages span chunks and chunks hold several messages.
    const chunks: Buffer[] = [];
    for (let at = 0, step = 1; at < bytes.length; at += step, step = (step * 7 + 3) % 4093) chunks.push(bytes.subarray(at, at + step));
    const events = flatten(await decodeAndInflate(chunks, { negotiated, batch: true }));
    const rebuilt: Buffer[] = [];
    let current: Buffer[] = [];
    for (const event of events) {
      expect(event.type).toBe('data');
      if (event.type !== 'data') continue;
      current.push(event.payload);
      if (event.messageEnd) {
        rebuilt.push(Buffer.concat(current));
        current = [];
      }
    }
    expect(rebuilt.length).toBe(messages.length);
    rebuilt.forEach((payload, i) => expect(payload.equals(Buffer.from(messages[i]![1]))).toBe(true));
  });
});

describe('PerMessageDeflateStream', () => {
  it('turns OutgoingFrames into FrameSpecs in order', async () => {
    const stream = new PerMessageDeflateStream({ negotiated: NEGOTIATED_DEFAULT });
    const out: FrameSpec[] = [];
    stream.on('data', (f: FrameSpec) => out.push(f));
    stream.write({ opcode: Opcode.Text, payload: sampleText(10_000) });
    stream.write({ opcode: Opcode.Ping, payload: 'p' });
    stream.write({ opcode: Opcode.Text, payload: 'small' });
    stream.end();
    await once(stream, 'end');
    expect(out.map((f) => [f.opcode, f.rsv1 ?? false])).toEqual([
      [Opcode.Text, true],
      [Opcode.Ping, false],
      [Opcode.Text, false],
    ]);
  });

  it('destroy frees zlib and does not error', async () => {
    const stream = new PerMessageDeflateStream({ negotiated: NEGOTIATED_DEFAULT });
    const errors: unknown[] = [];
    stream.on('error', (e) => errors.push(e));
    stream.write({ opcode: Opcode.Binary, payload: Buffer.from(sampleText(500_000)) });
    stream.destroy();
    await once(stream, 'close');
    expect(errors).toEqual([]);
  });
});

describe('ZlibLimiter', () => {
  it('runs at most `concurrency` jobs, first come first served', async () => {
    const limiter = new ZlibLimiter(2);
    const started: number[] = [];
    const releases: Array<() => void> = [];
    for (let i = 0; i < 5; i++) {
      limiter.run((release) => {
        started.push(i);
        releases.push(release);
      });
    }
    expect(started).toEqual([0, 1]);
    expect(limiter.active).toBe(2);
    expect(limiter.queued).toBe(3);
    releases[0]!();
    releases[0]!(); // twice: no effect
    await Promise.resolve();
    expect(started).toEqual([0, 1, 2]);
    limiter.setConcurrency(4);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(() => limiter.setConcurrency(0)).toThrow(RangeError);
  });

  it('zlibLimiterFor applies maxConcurrentZlib to the shared limiter', () => {
    const before = sharedZlibLimiter.concurrency;
    expect(zlibLimiterFor({})).toBe(sharedZlibLimiter);
    expect(sharedZlibLimiter.concurrency).toBe(before);
    expect(zlibLimiterFor({ maxConcurrentZlib: 3 }).concurrency).toBe(3);
    sharedZlibLimiter.setConcurrency(before);
  });

  it('many deflaters sharing a limit of one all finish, each in order', async () => {
    const limiter = new ZlibLimiter(1);
    const deflaters = Array.from({ length: 8 }, () => new MessageDeflater({ negotiated: NEGOTIATED_DEFAULT, limiter }));
    let peak = 0;
    const jobs: Array<Promise<string>> = [];
    for (const [d, deflater] of deflaters.entries()) {
      for (let m = 0; m < 5; m++) {
        const text = sampleText(5000, d * 10 + m);
        jobs.push(
          deflateFrame(deflater, { opcode: Opcode.Text, payload: text }).then((f) => {
            peak = Math.max(peak, limiter.active);
            return f.payload.length > 0 ? text : '';
          }),
        );
      }
    }
    const results = await Promise.all(jobs);
    expect(results.every((r) => r.length > 0)).toBe(true);
    expect(peak).toBeLessThanOrEqual(1);
    expect(limiter.active).toBe(0);
    for (const d of deflaters) d.close();
  });
});
