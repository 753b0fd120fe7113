import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import * as zlib from 'node:zlib';
import { ErrorCode } from '../../src/protocol/errors.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { PerMessageInflateStream } from '../../src/streams/permessage-inflate-stream.js';
import { ZlibLimiter } from '../../src/streams/zlib-limiter.js';
import { decodeAndInflate, flatten, NEGOTIATED_DEFAULT, sampleText, serverFrames } from './helpers.js';

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const DOCUMENTED = new Set<string>([
  ErrorCode.InvalidCompressedData,
  ErrorCode.InvalidUtf8,
  ErrorCode.MessageTooBig,
  ErrorCode.ReservedBits,
  ErrorCode.ReservedOpcode,
  ErrorCode.ControlFrameTooLong,
  ErrorCode.FragmentedControlFrame,
  ErrorCode.UnexpectedContinuation,
  ErrorCode.ExpectedContinuation,
  ErrorCode.InvalidLength,
  ErrorCode.InvalidClosePayload,
  ErrorCode.InvalidCloseCode,
  ErrorCode.MaskedFrame,
]);

describe('fuzz: mangled compressed messages', () => {
  it('are accepted or rejected with a documented error and close code, never a crash or a hang', async () => {
    const next = random(0x5eed);
    const sources = [sampleText(3000, 1), sampleText(200, 2), 'Hello', sampleText(40_000, 3)];
    const compressed = sources.map((s) => zlib.deflateRawSync(s, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4));
    const outcomes = new Map<string, number>();
    for (let round = 0; round < 300; round++) {
      const frames = compressed.map((payload, i) => {
        const copy = Buffer.from(payload);
        const flips = 1 + Math.floor(next() * 4);
        for (let f = 0; f < flips; f++) copy[Math.floor(next() * copy.length)] ^= 1 << Math.floor(next() * 8);
        const cut = next() < 0.2 ? Math.floor(next() * copy.length) : copy.length;
        return { opcode: i % 2 === 0 ? Opcode.Text : Opcode.Binary, payload: copy.subarray(0, cut), rsv1: true };
      });
      const bytes = serverFrames(frames);
      const events = flatten(await decodeAndInflate([bytes], { maxMessageBytes: 64 * 1024 }));
      for (const event of events) {
        if (event.type === 'error') {
          expect(DOCUMENTED.has(event.error.code), event.error.code).toBe(true);
          expect([1002, 1007, 1009]).toContain(event.error.closeCode);
          outcomes.set(event.error.code, (outcomes.get(event.error.code) ?? 0) + 1);
        } else {
          expect(event.type).toBe('data');
          outcomes.set('data', (outcomes.get('data') ?? 0) + 1);
        }
      }
      // An error is always the last event.
      const errorAt = events.findIndex((e) => e.type === 'error');
      if (errorAt !== -1) expect(errorAt).toBe(events.length - 1);
    }
    expect(outcomes.get(ErrorCode.InvalidCompressedData)).toBeGreaterThan(0);
  }, 60_000);
});

describe('zlib slots', () => {
  it('an inflater destroyed while waiting for a slot gives the slot back', async () => {
    const limiter = new ZlibLimiter(1);
    let releaseHeld: () => void = () => {};
    limiter.run((release) => (releaseHeld = release));
    const inflater = new PerMessageInflateStream({ negotiated: NEGOTIATED_DEFAULT, limiter });
    inflater.write({
      type: 'data',
      opcode: Opcode.Text,
      payload: Buffer.from('f248cdc9c90700', 'hex'),
      messageStart: true,
      messageEnd: true,
      frameEnd: true,
      compressed: true,
    });
    expect(limiter.queued).toBe(1);
    inflater.destroy();
    await once(inflater, 'close');
    releaseHeld();
    await new Promise((r) => setImmediate(r));
    expect(limiter.active).toBe(0);
    expect(limiter.queued).toBe(0);
  });

  it('an inflater destroyed in the middle of a bomb stops and frees its slot', async () => {
    const limiter = new ZlibLimiter(2);
    const inflater = new PerMessageInflateStream({ negotiated: NEGOTIATED_DEFAULT, limiter, maxMessageBytes: 2 ** 40 });
    const bomb = zlib.deflateRawSync(Buffer.alloc(64 * 1024 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    inflater.write({ type: 'data', opcode: Opcode.Binary, payload: bomb, messageStart: true, messageEnd: true, frameEnd: true, compressed: true });
    await new Promise((r) => setTimeout(r, 5));
    inflater.destroy();
    await once(inflater, 'close');
    expect(limiter.active).toBe(0);
  });
});
