import { describe, expect, it } from 'vitest';
import * as zlib from 'node:zlib';
import { ErrorCode } from '../../src/protocol/errors.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { decodeAndInflate, flatten, serverFrames, summarize } from './helpers.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function deflateStep(stream: zlib.DeflateRaw, input: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => chunks.push(c);
    stream.on('data', onData);
    stream.write(input);
    stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      stream.off('data', onData);
      resolve(Buffer.concat(chunks));
    });
  });
}

/**
 * A raw deflate stream of 1 GiB of zeros, built without ever holding 1 GiB:
 * after a sync flush the output is byte aligned and the window holds only
 * zeros, so the compressed form of "1 MiB more zeros" can be repeated.
 * DEFLATE cannot beat about 1032:1, so 1 GiB needs about 1 MiB.
 */
async function zeroBomb(inflatedBytes: number): Promise<Buffer> {
  const stream = zlib.createDeflateRaw({ level: 9, memLevel: 9 });
  const zeros = Buffer.alloc(MiB);
  const first = await deflateStep(stream, zeros);
  const next = await deflateStep(stream, zeros);
  stream.close();
  const parts = [first];
  for (let i = MiB; i < inflatedBytes; i += MiB) parts.push(next);
  const all = Buffer.concat(parts);
  return all.subarray(0, all.length - 4); // RFC 7692 7.2.1: without the trailer
}

/** Inflates without keeping the output; returns how many bytes came out. */
function inflatedSize(compressed: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const inflate = zlib.createInflateRaw();
    let bytes = 0;
    inflate.on('data', (c: Buffer) => (bytes += c.length));
    inflate.on('error', reject);
    inflate.write(compressed);
    inflate.write(Buffer.from([0, 0, 0xff, 0xff]));
    inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      inflate.close();
      resolve(bytes);
    });
  });
}

describe('decompression bomb', () => {
  it('1 MiB that inflates to 1 GiB stops with 1009 at maxMessageBytes, with little memory', async () => {
    const bomb = await zeroBomb(GiB);
    expect(bomb.length).toBeLessThan(1.1 * MiB);
    const frames = serverFrames([{ opcode: Opcode.Binary, payload: bomb, rsv1: true }]);

    const limit = 4 * MiB;
    const baseline = process.memoryUsage.rss();
    const baselineBuffers = process.memoryUsage().arrayBuffers;
    let peak = baseline;
    let peakBuffers = baselineBuffers;
    const sample = () => {
      const usage = process.memoryUsage();
      peak = Math.max(peak, usage.rss);
      peakBuffers = Math.max(peakBuffers, usage.arrayBuffers);
    };
    const sampler = setInterval(sample, 1);
    const started = performance.now();
    const events = flatten(await decodeAndInflate([frames], { maxMessageBytes: limit }));
    const elapsedMs = performance.now() - started;
    clearInterval(sampler);
    sample();

    expect(summarize(events)).toEqual([{ error: ErrorCode.MessageTooBig, closeCode: 1009 }]);
    const growthMiB = (peak - baseline) / MiB;
    console.log(
      `bomb: ${(bomb.length / MiB).toFixed(2)} MiB -> 1 GiB, limit 4 MiB: ` +
        `peak RSS ${(peak / MiB).toFixed(1)} MiB (+${growthMiB.toFixed(1)} MiB over ${(baseline / MiB).toFixed(1)} MiB), ` +
        `peak ArrayBuffers +${((peakBuffers - baselineBuffers) / MiB).toFixed(1)} MiB, ${elapsedMs.toFixed(0)} ms`,
    );
    expect(growthMiB).toBeLessThan(64);
    // Measured after, so its garbage does not hide in the baseline: the bomb is real.
    expect(await inflatedSize(bomb)).toBe(GiB);
  }, 60_000);
});
