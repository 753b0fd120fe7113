// hasToken and trimOws scan in place (issue 12: no garbage per handshake);
// these pin their answers to the obvious split / regex / toLowerCase forms.
import { describe, expect, it } from 'vitest';
import { hasToken, HttpHeadReader, trimOws } from '../../src/protocol/http-head.js';

const obviousTrim = (v: string): string => v.replace(/^[ \t]+|[ \t]+$/g, '');
const obviousHasToken = (v: string | undefined, token: string): boolean =>
  v !== undefined && v.split(',').some((t) => obviousTrim(t).toLowerCase() === token);

const values = [
  '',
  ',',
  ' , ,',
  'upgrade',
  'Upgrade',
  'UPGRADE',
  ' \tUpgrade\t ',
  'keep-alive, Upgrade',
  'keep-alive,upgrade,',
  'keep-alive , upgrade ,close',
  'upgrades',
  'xupgrade',
  'upgrade x',
  'up grade',
  'upgrade\xa0',
  '\xa0upgrade',
  'upgrade\r',
  'upgr\u212Ade', // no: the Kelvin sign is in place of the "a"
  'webso\u212Aet', // "k" written as U+212A KELVIN SIGN: lower-cases to "k", as before
  'WEBSOCKET',
  'websocket, upgrade',
  '\u0130upgrade',
];

describe('hasToken', () => {
  it('answers as split, trim and toLowerCase would, for every value and token', () => {
    for (const value of [...values, undefined]) {
      for (const token of ['upgrade', 'websocket', 'keep-alive', 'close', '']) {
        expect([value, token, hasToken(value, token)]).toEqual([value, token, obviousHasToken(value, token)]);
      }
    }
  });
});

describe('trimOws', () => {
  it('strips only spaces and tabs, and returns the same string when there is nothing to strip', () => {
    for (const value of [...values, ' ', '\t\t', ' a ', '\ta\tb\t', 'a\r\n', '\va', 'a\xa0']) {
      expect(trimOws(value)).toBe(obviousTrim(value));
    }
  });
});

describe('HttpHeadReader', () => {
  it('a head that ends its read leaves an empty leftover; bytes after it are kept', () => {
    const whole = new HttpHeadReader('response').push(Buffer.from('HTTP/1.1 101 x\r\nA: b\r\n\r\n'))!;
    expect(whole).toMatchObject({ startLine: 'HTTP/1.1 101 x', fieldLines: ['A: b'] });
    expect(whole.leftover.length).toBe(0);
    const more = new HttpHeadReader('response').push(Buffer.from('HTTP/1.1 101 x\r\n\r\n\x81\x00', 'latin1'))!;
    expect(more.fieldLines).toEqual([]);
    expect([...more.leftover]).toEqual([0x81, 0x00]);
  });
});
