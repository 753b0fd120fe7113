import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseProxyUrl } from '../../src/client/proxy.js';
import { ErrorCode, UsageError } from '../../src/protocol/errors.js';
import { expectNoSecrets } from './secrets.js';

describe('parseProxyUrl', () => {
  it.each([
    ['http://proxy.example:3128', 'http', 'proxy.example', 3128, 'http://proxy.example:3128'],
    ['http://proxy.example', 'http', 'proxy.example', 80, 'http://proxy.example:80'],
    ['HTTP://Proxy.Example:8080/', 'http', 'proxy.example', 8080, 'http://proxy.example:8080'],
    ['proxy.example:3128', 'http', 'proxy.example', 3128, 'http://proxy.example:3128'],
    ['  http://10.0.0.1:3128  ', 'http', '10.0.0.1', 3128, 'http://10.0.0.1:3128'],
    ['http://[::1]:3128', 'http', '::1', 3128, 'http://[::1]:3128'],
    ['socks5://127.0.0.1', 'socks5', '127.0.0.1', 1080, 'socks5://127.0.0.1:1080'],
    ['socks5://127.0.0.1:9050', 'socks5', '127.0.0.1', 9050, 'socks5://127.0.0.1:9050'],
    ['socks5h://tor.local:9050', 'socks5h', 'tor.local', 9050, 'socks5h://tor.local:9050'],
  ])('%s', (url, protocol, host, port, label) => {
    const config = parseProxyUrl(url);
    expect(config).toMatchObject({ protocol, host, port, label });
    expect(config.credentials).toBeUndefined();
  });

  it('accepts a URL object', () => {
    expect(parseProxyUrl(new URL('socks5h://h:1')).label).toBe('socks5h://h:1');
  });

  it.each([
    ['http://alice:wonder@p:1', 'alice', 'wonder'],
    ['http://al%40ice:p%3Ass%2Fw@p:1', 'al@ice', 'p:ss/w'],
    ['socks5://bob@p:1', 'bob', ''],
    ['socks5h://%C3%A9l%C3%A8ve:mot%20de%20passe@p:1', 'élève', 'mot de passe'],
  ])('decodes the credentials of %s', (url, username, password) => {
    expect(parseProxyUrl(url).credentials).toEqual({ username, password });
  });

  it('keeps the credentials out of the label, of inspect and of JSON', () => {
    const config = parseProxyUrl('http://alice:wonderland@proxy.example:3128');
    expect(config.label).toBe('http://proxy.example:3128');
    expect(inspect(config)).not.toContain('wonderland');
    expect(JSON.stringify(config)).not.toContain('wonderland');
    expect(Object.keys(config)).not.toContain('credentials');
  });

  it.each([
    ['https://proxy.example:443', /https:\/\/ proxies \(TLS to the proxy\) are not supported/],
    ['socks4://proxy.example:1080', /unsupported proxy scheme 'socks4:'/],
    ['ftp://proxy.example', /unsupported proxy scheme 'ftp:'/],
    ['http://:3128', /not a valid URL/],
    ['http://proxy.example:0', /port 0/],
    ['http://proxy.example:99999', /not a valid URL/],
    ['http://:secret@proxy.example:1', /password but no user name/],
    ['http://a%ZZ:b@proxy.example:1', /malformed percent-encoding/],
  ])('rejects %s', (url, message) => {
    let error: unknown;
    try {
      parseProxyUrl(url);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).code).toBe(ErrorCode.InvalidUrl);
    expect((error as UsageError).message).toMatch(message);
  });

  it('never repeats a rejected URL, which may hold a password', () => {
    for (const url of ['http://user:hunter2@[bad', 'https://user:hunter2@p:1', 'gopher://user:hunter2@p']) {
      let error: unknown;
      try {
        parseProxyUrl(url);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UsageError);
      expectNoSecrets(error, ['hunter2']);
    }
  });
});
