import { describe, expect, it } from 'vitest';
import { matchesNoProxy } from '../../src/client/proxy-env.js';
import { proxyForUrl } from '../../src/client/proxy.js';

type Env = Record<string, string>;

describe('proxyForUrl: which variable applies', () => {
  it.each<[string, Env, string | undefined]>([
    // The scheme picks the variable.
    ['ws://a.example/', { http_proxy: 'http://h:1' }, 'http://h:1'],
    ['wss://a.example/', { http_proxy: 'http://h:1' }, undefined],
    ['wss://a.example/', { https_proxy: 'http://s:1' }, 'http://s:1'],
    ['ws://a.example/', { https_proxy: 'http://s:1' }, undefined],
    ['wss://a.example/', { HTTPS_PROXY: 'http://S:1' }, 'http://S:1'],
    ['ws://a.example/', { HTTP_PROXY: 'http://H:1' }, 'http://H:1'],
    // The lower-case name wins over the upper-case one.
    ['wss://a.example/', { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:1' }, 'http://lower:1'],
    ['ws://a.example/', { http_proxy: 'http://lower:1', HTTP_PROXY: 'http://upper:1' }, 'http://lower:1'],
    // all_proxy is the fallback for both.
    ['ws://a.example/', { all_proxy: 'socks5h://all:1' }, 'socks5h://all:1'],
    ['wss://a.example/', { ALL_PROXY: 'socks5://ALL:1' }, 'socks5://ALL:1'],
    ['wss://a.example/', { https_proxy: 'http://s:1', all_proxy: 'socks5h://all:1' }, 'http://s:1'],
    ['wss://a.example/', { all_proxy: 'socks5h://lower:1', ALL_PROXY: 'socks5h://upper:1' }, 'socks5h://lower:1'],
    // Empty values are unset.
    ['wss://a.example/', { https_proxy: '', HTTPS_PROXY: 'http://S:1' }, 'http://S:1'],
    ['wss://a.example/', { https_proxy: '  ' }, undefined],
    // A value without a scheme is an http proxy.
    ['ws://a.example/', { http_proxy: 'proxy.local:3128' }, 'http://proxy.local:3128'],
    // Nothing set, or a scheme that never uses a proxy.
    ['ws://a.example/', {}, undefined],
    ['ws+unix:///tmp/s.sock:/x', { all_proxy: 'http://h:1', http_proxy: 'http://h:1' }, undefined],
    // httpoxy: in a CGI program HTTP_PROXY comes from the request.
    ['ws://a.example/', { HTTP_PROXY: 'http://evil:1', REQUEST_METHOD: 'GET' }, undefined],
    ['ws://a.example/', { http_proxy: 'http://h:1', REQUEST_METHOD: 'GET' }, 'http://h:1'],
  ])('%s with %j -> %s', (target, env, expected) => {
    expect(proxyForUrl(new URL(target), env)).toBe(expected);
  });

  it('reads process.env when no env is given', () => {
    const saved = process.env['all_proxy'];
    process.env['all_proxy'] = 'socks5h://from-process-env:1';
    try {
      expect(proxyForUrl(new URL('ws://example.com/'))).toBe('socks5h://from-process-env:1');
    } finally {
      if (saved === undefined) delete process.env['all_proxy'];
      else process.env['all_proxy'] = saved;
    }
  });
});

describe('NO_PROXY matching', () => {
  it.each<[string, string, boolean]>([
    ['ws://example.com/', '*', true],
    ['ws://example.com/', 'other.org, *', true],
    ['ws://example.com/', '', false],
    // A domain matches itself and its subdomains, with or without the dot.
    ['ws://example.com/', 'example.com', true],
    ['ws://www.example.com/', 'example.com', true],
    ['ws://a.b.example.com/', 'example.com', true],
    ['ws://notexample.com/', 'example.com', false],
    ['ws://example.com.evil/', 'example.com', false],
    ['ws://example.com/', '.example.com', true],
    ['ws://www.example.com/', '.example.com', true],
    ['ws://www.example.com/', '*.example.com', true],
    ['ws://notexample.com/', '.example.com', false],
    // Case, spaces, empty entries, trailing dots.
    ['ws://WWW.Example.COM/', ' EXAMPLE.com ', true],
    ['ws://example.com/', 'a.org,,  ,example.com', true],
    ['ws://example.com/', 'a.org example.com', true],
    ['ws://example.com./', 'example.com', true],
    ['ws://example.com/', 'example.com.', true],
    // host:port entries limit the match to a port (default ports count).
    ['ws://example.com:8080/', 'example.com:8080', true],
    ['ws://example.com:8081/', 'example.com:8080', false],
    ['ws://example.com/', 'example.com:80', true],
    ['wss://example.com/', 'example.com:443', true],
    ['wss://example.com/', 'example.com:80', false],
    // IP literals: exact addresses and CIDR ranges, never name suffixes.
    ['ws://127.0.0.1:9000/', '127.0.0.1', true],
    ['ws://127.0.0.1:9000/', '127.0.0.1:9000', true],
    ['ws://127.0.0.1:9000/', '127.0.0.1:9001', false],
    ['ws://127.0.0.2/', '127.0.0.1', false],
    ['ws://10.1.2.3/', '10.0.0.0/8', true],
    ['ws://11.1.2.3/', '10.0.0.0/8', false],
    ['ws://10.1.2.3/', '0.1.2.3', false],
    ['ws://[::1]/', '::1', true],
    ['ws://[::1]:8080/', '[::1]:8080', true],
    ['ws://[::1]:8080/', '[::1]:8081', false],
    ['ws://[::1]/', '[::1]', true],
    ['ws://[2001:db8::5]/', '2001:db8::/32', true],
    ['ws://[2001:db9::5]/', '2001:db8::/32', false],
    ['ws://127.0.0.1/', '::1', false],
    ['ws://localhost/', '127.0.0.1', false],
    ['ws://localhost/', 'localhost', true],
  ])('%s against %j -> %s', (target, noProxy, expected) => {
    expect(matchesNoProxy(new URL(target), noProxy)).toBe(expected);
  });

  it.each<[string, Env, string | undefined]>([
    ['ws://internal.corp/', { http_proxy: 'http://h:1', no_proxy: '.corp' }, undefined],
    ['ws://internal.corp/', { http_proxy: 'http://h:1', NO_PROXY: 'corp' }, undefined],
    ['ws://internal.corp/', { http_proxy: 'http://h:1', no_proxy: 'other', NO_PROXY: 'corp' }, 'http://h:1'],
    ['wss://x.example/', { all_proxy: 'socks5h://h:1', no_proxy: '*' }, undefined],
    ['wss://x.example/', { all_proxy: 'socks5h://h:1', no_proxy: 'y.example' }, 'socks5h://h:1'],
  ])('proxyForUrl(%s, %j) -> %s', (target, env, expected) => {
    expect(proxyForUrl(new URL(target), env)).toBe(expected);
  });
});
