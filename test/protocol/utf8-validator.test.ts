import { describe, expect, it } from 'vitest';
import { isValidUtf8, Utf8Validator } from '../../src/protocol/utf8-validator.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Feeds one byte at a time; returns the index of the byte that made it fail, or -1 (and -2 if incomplete). */
function failIndex(bytes: Buffer): number {
  const v = new Utf8Validator();
  for (let i = 0; i < bytes.length; i++) if (!v.write(bytes, i, i + 1)) return i;
  return v.end() ? -1 : -2;
}

// [name, hex, index of the first byte at which the text can no longer be valid (-1 valid, -2 truncated)]
const table: Array<[string, string, number]> = [
  ['ASCII', '48656c6c6f', -1],
  ['2-byte', 'c2a9', -1],
  ['3-byte euro', 'e282ac', -1],
  ['4-byte U+10FFFF', 'f48fbfbf', -1],
  ['U+FFFF (a noncharacter, still valid)', 'efbfbf', -1],
  ['Greek kosme', 'cebae1bdb9cf83cebcceb5', -1],
  ['stray continuation byte', '80', 0],
  ['C0 overlong lead', 'c0af', 0],
  ['C1 overlong lead', 'c1bf', 0],
  ['overlong 3-byte (E0 80)', 'e080af', 1],
  ['overlong 4-byte (F0 80)', 'f08080af', 1],
  ['surrogate U+D800 (ED A0)', 'eda080', 1],
  ['surrogate U+DFFF (ED BF)', 'edbfbf', 1],
  ['above U+10FFFF (F4 90)', 'f4908080', 1],
  ['F5 lead', 'f5808080', 0],
  ['FF byte', 'ff', 0],
  ['truncated 2-byte at the end', 'c2', -2],
  ['truncated 4-byte at the end', 'f09f98', -2],
  ['ASCII where a continuation is due', 'e282 41', 2],
  ['valid then invalid', '48656c6c6f edbfbf', 6],
];

describe('Utf8Validator', () => {
  for (const [name, bytes, expected] of table) {
    it(`${name}: ${expected === -1 ? 'valid' : expected === -2 ? 'incomplete' : `fails at byte ${expected}`}`, () => {
      const b = hex(bytes);
      expect(failIndex(b)).toBe(expected);
      expect(isValidUtf8(b)).toBe(expected === -1);
      // Every two-piece split agrees with the whole.
      for (let cut = 0; cut <= b.length; cut++) {
        const v = new Utf8Validator();
        const ok = v.write(b, 0, cut) && v.write(b, cut) && v.end();
        expect(ok).toBe(expected === -1);
      }
    });
  }

  it('agrees with Node on long random texts, split at random points (native fast path)', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const samples = ['a', 'é', '€', '😀', '\u{10ffff}', 'z'];
    for (let round = 0; round < 300; round++) {
      let text = '';
      for (let i = 0; i < 200; i++) text += samples[rand(samples.length)];
      const bytes = Buffer.from(text);
      if (round % 2 === 1) bytes[rand(bytes.length)] = [0x80, 0xc0, 0xed, 0xf5, 0xff][rand(5)]!;
      const expected = Buffer.from(bytes.toString('utf8')).equals(bytes);
      const v = new Utf8Validator();
      const cut1 = rand(bytes.length);
      const cut2 = cut1 + rand(bytes.length - cut1);
      const ok = v.write(bytes, 0, cut1) && v.write(bytes, cut1, cut2) && v.write(bytes, cut2) && v.end();
      expect(ok).toBe(expected);
    }
  });
});
