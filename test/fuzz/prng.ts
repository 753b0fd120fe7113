// A small seeded PRNG (mulberry32) so every fuzz failure can be replayed from its seed.

export class Prng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }

  /** Valid UTF-8 of about `n` bytes, mixing 1- to 4-byte characters. */
  utf8(n: number): Buffer {
    let s = '';
    let bytes = 0;
    while (bytes < n) {
      const kind = this.int(4);
      const cp =
        kind === 0 ? this.range(0x20, 0x7e) : kind === 1 ? this.range(0x80, 0x7ff) : kind === 2 ? this.pick([this.range(0x800, 0xd7ff), this.range(0xe000, 0xffff)]) : this.range(0x10000, 0x10ffff);
      const ch = String.fromCodePoint(cp);
      s += ch;
      bytes += Buffer.byteLength(ch);
    }
    return Buffer.from(s, 'utf8');
  }

  /** Cut points that split `length` bytes into random pieces (often tiny ones). */
  cuts(length: number): number[] {
    const out: number[] = [];
    let at = 0;
    while (at < length) {
      at += this.chance(0.3) ? 1 : this.range(1, Math.max(1, Math.min(64, length)));
      if (at < length) out.push(at);
    }
    return out;
  }
}
