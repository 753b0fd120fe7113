import { describe, expect, it } from 'vitest';
import { isUnixSocketUrl, parseUnixSocketUrl } from '../../src/client/unix-url.js';
import { ErrorCode, UsageError } from '../../src/protocol/errors.js';

describe('parseUnixSocketUrl', () => {
  it.each([
    ['ws+unix:///run/app.sock:/chat?room=1', '/run/app.sock', '/chat?room=1', false],
    ['ws+unix:///run/app.sock', '/run/app.sock', '/', false],
    ['ws+unix:///run/app.sock:', '/run/app.sock', '/', false],
    ['ws+unix:///run/app.sock:/', '/run/app.sock', '/', false],
    ['ws+unix:///run/app.sock?x=1', '/run/app.sock', '/?x=1', false],
    ['wss+unix:///var/run/tls.sock:/secure', '/var/run/tls.sock', '/secure', true],
    ['WS+UNIX:///tmp/s:/p', '/tmp/s', '/p', false],
    ['ws+unix:///tmp/my%20socket.sock:/p', '/tmp/my socket.sock', '/p', false],
    // Only the first ':' separates; later ones belong to the request path.
    ['ws+unix:///tmp/s.sock:/a:b/c', '/tmp/s.sock', '/a:b/c', false],
    // The request path is sent as written (still percent-encoded).
    ['ws+unix:///tmp/s.sock:/a%20b?q=%2F', '/tmp/s.sock', '/a%20b?q=%2F', false],
  ])('%s', (url, socketPath, path, secure) => {
    expect(parseUnixSocketUrl(url)).toEqual({ socketPath, path, secure });
    expect(parseUnixSocketUrl(new URL(url))).toEqual({ socketPath, path, secure });
    expect(isUnixSocketUrl(url)).toBe(true);
  });

  it.each([
    ['ws://example.com/', /expected a ws\+unix: or wss\+unix: URL, got 'ws:'/],
    ['ws+unix://host/tmp/s.sock:/p', /has no host: write ws\+unix:\/\/\/path/],
    ['ws+unix://user:pw@/tmp/s', /not a valid URL/],
    ['ws+unix:///run/app.sock:/a/b#frag', /cannot have a #fragment/],
    ['ws+unix:///:/p', /names no socket path/],
    ['ws+unix://', /names no socket path/],
    ['ws+unix:///tmp/s.sock:p', /must start with '\/'/],
    ['ws+unix:///tmp/%E0%A4%A.sock', /malformed percent-encoding/],
    ['not a url', /not a valid URL/],
  ])('rejects %s', (url, message) => {
    let error: unknown;
    try {
      parseUnixSocketUrl(url);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).code).toBe(ErrorCode.InvalidUrl);
    expect((error as UsageError).message).toMatch(message);
  });

  it.each([
    ['ws://a/', false],
    ['wss://a/', false],
    ['http+unix:///s', false],
    ['wss+unix:///s', true],
    [' ws+unix:///s', true],
  ])('isUnixSocketUrl(%j) is %s', (url, expected) => {
    expect(isUnixSocketUrl(url)).toBe(expected);
  });
});
