// Server-side frame builder for the test peer. Written independently of
// src/protocol/frame-encoder.ts on purpose: the peer must be able to send
// frames our encoder refuses to build (reserved bits, reserved opcodes,
// fragmented control frames, lengths that lie, masked server frames).

export const Op = { Cont: 0x0, Text: 0x1, Binary: 0x2, Close: 0x8, Ping: 0x9, Pong: 0xa } as const;

export interface RawFrame {
  opcode: number;
  payload?: Buffer | string;
  /** Default true. */
  fin?: boolean;
  /** RSV1..3 as a 3-bit number (4 = RSV1, 2 = RSV2, 1 = RSV3). */
  rsv?: number;
  /** Mask the payload with this key (a server MUST NOT; used to test that the client refuses). */
  maskKey?: Buffer;
  /** Force the length encoding: 7-bit, 16-bit or 64-bit field. Default: minimal. */
  lengthForm?: 7 | 16 | 64;
  /** Announce this length (as a bigint for the 64-bit field) instead of the payload's. */
  announce?: bigint;
}

/** Encodes one frame exactly as described, however wrong that is. */
export function frame(spec: RawFrame): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'utf8') : (spec.payload ?? Buffer.alloc(0));
  const announced = spec.announce ?? BigInt(payload.length);
  const form = spec.lengthForm ?? (announced < 126n ? 7 : announced < 0x10000n ? 16 : 64);
  const head: number[] = [((spec.fin ?? true) ? 0x80 : 0) | (((spec.rsv ?? 0) & 7) << 4) | (spec.opcode & 0x0f)];
  const maskBit = spec.maskKey ? 0x80 : 0;
  if (form === 7) {
    head.push(maskBit | Number(announced));
  } else if (form === 16) {
    head.push(maskBit | 126, Number(announced >> 8n) & 0xff, Number(announced) & 0xff);
  } else {
    head.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) head.push(Number((announced >> shift) & 0xffn));
  }
  let body = payload;
  if (spec.maskKey) {
    head.push(...spec.maskKey);
    body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i]! ^= spec.maskKey[i & 3]!;
  }
  return Buffer.concat([Buffer.from(head), body]);
}

export const text = (payload: string | Buffer, fin = true): Buffer => frame({ opcode: Op.Text, payload, fin });
export const binary = (payload: Buffer, fin = true): Buffer => frame({ opcode: Op.Binary, payload, fin });
export const cont = (payload: string | Buffer, fin = true): Buffer => frame({ opcode: Op.Cont, payload, fin });
export const ping = (payload: string | Buffer = ''): Buffer => frame({ opcode: Op.Ping, payload });
export const pong = (payload: string | Buffer = ''): Buffer => frame({ opcode: Op.Pong, payload });

/** A close frame: no payload when `code` is undefined; `reason` may be raw bytes (to send invalid UTF-8). */
export function close(code?: number, reason: string | Buffer = ''): Buffer {
  if (code === undefined) return frame({ opcode: Op.Close });
  const r = typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason;
  const payload = Buffer.alloc(2 + r.length);
  payload.writeUInt16BE(code, 0);
  r.copy(payload, 2);
  return frame({ opcode: Op.Close, payload });
}

/** Splits `payload` into `count` data frames (first carries `opcode`, the rest are continuations). */
export function fragments(opcode: number, payload: Buffer, pieceBytes: number): Buffer[] {
  const frames: Buffer[] = [];
  let at = 0;
  do {
    const piece = payload.subarray(at, at + pieceBytes);
    at += piece.length;
    frames.push(frame({ opcode: frames.length === 0 ? opcode : Op.Cont, payload: piece, fin: at >= payload.length }));
  } while (at < payload.length);
  return frames;
}

/** A deterministic payload of `n` bytes: printable ASCII for text, every byte value for binary. */
export function payloadOf(n: number, kind: 'text' | 'binary', seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  if (kind === 'text') {
    for (let i = 0; i < n; i++) b[i] = 0x21 + ((i * 7 + seed) % 94);
  } else {
    for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >>> 8)) & 0xff;
  }
  return b;
}
