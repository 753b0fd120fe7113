import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/protocol/errors.js';
import { parseClosePayload } from '../../src/protocol/close.js';
import { decodeUtf8, isValidUtf8, Utf8Validator } from '../../src/protocol/utf8-validator.js';
import { Prng } from '../fuzz/prng.js';

const strict = new TextDecoder('utf-8', { fatal: true });

/** What the one strict decode says: the string, or the error code and close code. */
function outcome(bytes: Buffer): string | { code: string; closeCode: number } {
  try {
    return decodeUtf8(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return { code: (error as ProtocolError).code, closeCode: (error as ProtocolError).closeCode };
  }
}

function oracle(bytes: Buffer): string | { code: string; closeCode: number } {
  try {
    return strict.decode(bytes);
  } catch {
    return { code: 'WSP_ERR_INVALID_UTF8', closeCode: 1007 };
  }
}

describe('decodeUtf8: the one strict decode', () => {
  it.each([
    ['ASCII', '48656c6c6f'],
    ['U+FFFD sent on purpose', 'efbfbd'],
    ['U+FFFD next to an invalid byte', 'efbfbdff'],
    ['a surrogate', 'eda080'],
    ['an overlong', 'c0af'],
    ['above U+10FFFF', 'f4908080'],
    ['truncated', 'e282'],
    ['a long valid text with U+FFFD', '41'.repeat(100) + 'efbfbd'],
    ['a long text with an invalid byte at the end', '41'.repeat(100) + 'ff'],
  ])('%s agrees with a fatal TextDecoder', (_what, hex) => {
    const bytes = Buffer.from(hex, 'hex');
    expect(outcome(bytes)).toEqual(oracle(bytes));
  });

  it('agrees with a fatal TextDecoder and with Utf8Validator on random bytes', () => {
    const prng = new Prng(9);
    const alphabet = [0x41, 0x7f, 0x80, 0xbf, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x8f, 0x90, 0xbd];
    for (let round = 0; round < 3000; round++) {
      const bytes = Buffer.from(Array.from({ length: prng.range(0, 12) }, () => alphabet[prng.int(alphabet.length)]!));
      const expected = oracle(bytes);
      expect(outcome(bytes)).toEqual(expected);
      const v = new Utf8Validator();
      expect(v.write(bytes) && v.end()).toBe(typeof expected === 'string');
      expect(isValidUtf8(bytes)).toBe(typeof expected === 'string');
    }
  });

  it('decodes a range of a larger buffer', () => {
    const bytes = Buffer.from('ff68c3a96cff', 'hex');
    expect(decodeUtf8(bytes, 1, 5)).toBe('hél');
  });

  it('is what close reasons are decoded with: 1007, named as a close reason', () => {
    const payload = Buffer.from('03e8ff', 'hex');
    expect(() => parseClosePayload(payload)).toThrow(/close reason is not valid UTF-8/);
    expect(parseClosePayload(Buffer.from('03e8efbfbd', 'hex')).reason).toBe('\uFFFD');
  });
});
