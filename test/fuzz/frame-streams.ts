// Seeded generators of frame streams for the fuzz tests: valid streams as a
// peer would send them, mutations of them, and garbage.

import type { Role } from '../../src/protocol/frame-encoder.js';
import { frame, Op } from '../conformance/wire.js';
import { Prng } from './prng.js';

export interface FuzzInput {
  seed: number;
  role: Role;
  maxMessageBytes: number;
  compression: boolean;
  bytes: Buffer;
  /** For unmutated valid streams: what they must decode to. */
  expected: string[] | undefined;
  kind: string;
}

/** A valid stream of frames as its peer would send it, with its expected summary and frame offsets. */
export function validStream(rng: Prng, role: Role): { bytes: Buffer; expected: string[]; offsets: number[] } {
  // The decoder in `role` reads frames from the other side: a client reads unmasked frames.
  const mask = (): Buffer | undefined => (role === 'server' ? rng.bytes(4) : undefined);
  const frames: Buffer[] = [];
  const expected: string[] = [];
  const control = (): void => {
    const op = rng.pick([Op.Ping, Op.Pong]);
    const payload = rng.bytes(rng.chance(0.1) ? 125 : rng.int(20));
    frames.push(frame({ opcode: op, payload, maskKey: mask() }));
    expected.push(`${op === Op.Ping ? 'ping' : 'pong'}:${payload.toString('hex')}`);
  };
  const items = rng.range(1, 6);
  for (let i = 0; i < items; i++) {
    if (rng.chance(0.3)) {
      control();
      continue;
    }
    const isText = rng.chance(0.5);
    const size = rng.chance(0.01) ? rng.range(65_536, 66_000) : rng.chance(0.04) ? rng.range(126, 3000) : rng.chance(0.3) ? 0 : rng.range(1, 300);
    const payload = isText ? rng.utf8(size) : rng.bytes(size);
    const pieces = rng.range(1, 4);
    let at = 0;
    for (let p = 0; p < pieces; p++) {
      const last = p === pieces - 1;
      const end = last ? payload.length : Math.min(payload.length, at + rng.int(payload.length - at + 1));
      frames.push(frame({ opcode: p === 0 ? (isText ? Op.Text : Op.Binary) : Op.Cont, payload: payload.subarray(at, end), fin: last, maskKey: mask() }));
      at = end;
      if (!last && rng.chance(0.3)) control();
    }
    expected.push(`${isText ? 'text' : 'binary'}:${payload.toString('hex')}`);
  }
  if (rng.chance(0.25)) {
    const code = rng.pick([1000, 1001, 1011, 3000, 4999]);
    const reason = rng.utf8(rng.int(30));
    const payload = Buffer.alloc(2 + reason.length);
    payload.writeUInt16BE(code);
    reason.copy(payload, 2);
    frames.push(frame({ opcode: Op.Close, payload, maskKey: mask() }));
    expected.push(`close:${code}:${reason.toString('utf8')}`);
  }
  const offsets: number[] = [];
  let at = 0;
  for (const f of frames) {
    offsets.push(at);
    at += f.length;
  }
  return { bytes: Buffer.concat(frames), expected, offsets };
}

export const ABSURD_LENGTHS = [0x7fffffffffffffffn, 0xffffffffffffffffn, 0x8000000000000000n, 2n ** 53n, 2n ** 53n - 1n, 2n ** 32n, 2n ** 31n, 0x10000n, 0n];

/** One random mutation of `bytes`. */
export function mutate(rng: Prng, bytes: Buffer, offsets: number[]): { bytes: Buffer; kind: string } {
  const b = Buffer.from(bytes);
  const op = rng.int(7);
  switch (op) {
    case 0: {
      const flips = rng.range(1, 8);
      for (let i = 0; i < flips && b.length > 0; i++) b[rng.int(b.length)]! ^= 1 << rng.int(8);
      return { bytes: b, kind: 'bit flips' };
    }
    case 1: {
      // Flip bits in frame headers, where they matter most.
      const at = rng.pick(offsets) + rng.int(2);
      if (at < b.length) b[at]! ^= 1 << rng.int(8);
      return { bytes: b, kind: 'header bit flip' };
    }
    case 2:
      return { bytes: b.subarray(0, rng.int(b.length + 1)), kind: 'truncation' };
    case 3: {
      const at = rng.int(b.length + 1);
      return { bytes: Buffer.concat([b.subarray(0, at), rng.bytes(rng.range(1, 16)), b.subarray(at)]), kind: 'insertion' };
    }
    case 4: {
      const from = rng.int(b.length + 1);
      return { bytes: Buffer.concat([b.subarray(0, from), b.subarray(Math.min(b.length, from + rng.range(1, 32)))]), kind: 'deletion' };
    }
    case 5: {
      // Frames out of order: duplicate or drop whole frames.
      const i = rng.int(offsets.length);
      const start = offsets[i]!;
      const end = offsets[i + 1] ?? b.length;
      const f = b.subarray(start, end);
      return rng.chance(0.5)
        ? { bytes: Buffer.concat([b.subarray(0, end), f, b.subarray(end)]), kind: 'duplicated frame' }
        : { bytes: Buffer.concat([b.subarray(0, start), b.subarray(end)]), kind: 'dropped frame' };
    }
    default: {
      // Rewrite a frame's length as a 64-bit field announcing something absurd.
      const start = rng.pick(offsets);
      const b1 = b[start + 1] ?? 0;
      const len7 = b1 & 0x7f;
      const fieldBytes = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
      const announce = rng.chance(0.7) ? rng.pick(ABSURD_LENGTHS) : BigInt(rng.u32()) * BigInt(rng.u32());
      const field = Buffer.alloc(8);
      field.writeBigUInt64BE(announce & 0xffffffffffffffffn);
      const head = Buffer.from([b[start] ?? 0x82, (b1 & 0x80) | 127]);
      return {
        bytes: Buffer.concat([b.subarray(0, start), head, field, b.subarray(Math.min(b.length, start + 2 + fieldBytes))]),
        kind: 'absurd length',
      };
    }
  }
}

export function makeInput(seed: number, force: { role?: Role; compression?: boolean } = {}): FuzzInput {
  const rng = new Prng(seed);
  const randomRole: Role = rng.chance(0.5) ? 'client' : 'server';
  const role = force.role ?? randomRole;
  const maxMessageBytes = rng.pick([64, 1000, 65_536, 64 * 1024 * 1024]);
  const randomCompression = rng.chance(0.15);
  const compression = force.compression ?? randomCompression;
  const kind = rng.int(10);
  if (kind === 0) {
    return { seed, role, maxMessageBytes, compression, bytes: rng.bytes(rng.range(1, 400)), expected: undefined, kind: 'garbage' };
  }
  const valid = validStream(rng, role);
  if (kind <= 2) {
    return { seed, role, maxMessageBytes: 64 * 1024 * 1024, compression, bytes: valid.bytes, expected: valid.expected, kind: 'valid' };
  }
  let m = mutate(rng, valid.bytes, valid.offsets);
  if (rng.chance(0.3)) m = { bytes: mutate(rng, m.bytes, valid.offsets).bytes, kind: `${m.kind} + more` };
  return { seed, role, maxMessageBytes, compression, bytes: m.bytes, expected: undefined, kind: m.kind };
}
