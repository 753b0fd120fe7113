import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HandshakeError } from '../../src/index.js';
import { startEchoServer, type EchoServer } from '../../src/server/echo-server.js';
import { createRelay } from '../../src/relay/index.js';
import { withTimeout } from '../helpers/wait.js';
import { Harness, MOUNTS } from './helpers.js';

// What a proxy author's hooks may return or throw, from plain JavaScript: the
// relay refuses (it fails closed) with a typed error on 'error', the client
// gets one HTTP answer, and nothing crashes or hangs.

const harness = new Harness();
let echo: EchoServer | undefined;
afterEach(async () => {
  await harness.cleanup();
  await echo?.close();
  echo = undefined;
});

const UPGRADE =
  'GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

/** Sends `request` raw; resolves with all the relay answered once it hangs up. */
function rawExchange(port: number, request: string): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let answer = '';
      socket.setEncoding('latin1').on('data', (text: string) => (answer += text));
      socket.on('error', () => {});
      socket.on('close', () => resolve(answer));
      socket.write(request);
    }),
    5_000,
    'the relay to answer and hang up',
  );
}

/** authorize's return value, and the status the client must get. */
const VERDICTS: Array<[string, unknown, number]> = [
  ['0', 0, 500],
  ["''", '', 500],
  ['null', null, 500],
  ['NaN', Number.NaN, 500],
  ["'yes'", 'yes', 500],
  ['a function', () => true, 500],
  ['{ status: 200 }', { status: 200 }, 500],
  ["{ status: '401' }", { status: '401' }, 500],
  ['{ status: 401, body: 42 }', { status: 401, body: 42 }, 500],
  ['{ status: 401, headers: { X: 5 } }', { status: 401, headers: { X: 5 } }, 500],
  ['{}', {}, 403],
  ['false', false, 403],
];

describe.each(MOUNTS)('relay hooks returning odd values (%s)', (mount) => {
  it.each(VERDICTS)('authorize returning %s is answered with %i, never let through', async (_label, verdict, status) => {
    echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
    const { relay, url } = await harness.mount(mount, { upstream: echo.url, authorize: () => verdict as boolean });
    const errors: unknown[] = [];
    relay.on('error', (error, _connection, side) => errors.push([side, (error as { code?: string }).code]));
    const { events } = harness.open(url('/'));
    const [error] = (await events.first('error', 5_000)).args as [HandshakeError];
    expect(error.status).toBe(status);
    await events.first('close', 5_000);
    expect(events.count('close')).toBe(1);
    expect(echo.connections.size).toBe(0);
    if (status === 500) expect(errors).toEqual([['hook', 'WSP_ERR_INVALID_OPTION']]);
  });

  it('a refusal may send a header several times (Set-Cookie)', async () => {
    echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
    const { port } = await harness.mount(mount, {
      upstream: echo.url,
      authorize: () => ({ status: 401, headers: { 'Set-Cookie': ['a=1', 'b=2'] }, body: 'no' }),
    });
    const answer = await rawExchange(port, `${UPGRADE}\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer).toContain('\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n');
  });

  it.each([
    ['returns a string', (): unknown => 'X-A: b'],
    ['returns an array', (): unknown => [['X-A', 'b']]],
    [
      'throws',
      (): unknown => {
        throw new Error('rewrite bug: secret detail');
      },
    ],
  ])('a headers function that %s is a 500 that does not show the hook error to the client', async (_label, rewrite) => {
    echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
    const { relay, port } = await harness.mount(mount, { upstream: echo.url, headers: rewrite as () => Record<string, string> });
    const sides: string[] = [];
    relay.on('error', (_error, _connection, side) => sides.push(side));
    const answer = await rawExchange(port, `${UPGRADE}\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 500 /);
    expect(answer).not.toContain('secret detail');
    expect(sides).toEqual(['hook']);
    expect(echo.connections.size).toBe(0);
  });

  it('an onFrame hook that throws closes both sides with 1011 and reports the error, without an uncaught exception', async () => {
    echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
    const { relay, url } = await harness.mount(mount, {
      upstream: echo.url,
      onFrame: () => {
        throw new Error('onFrame bug');
      },
    });
    const errors: string[] = [];
    relay.on('error', (error, _connection, side) => errors.push(`${side}: ${error.message}`));
    const closed = new Promise((resolve) => relay.once('close', (_connection, report) => resolve(report)));
    const { ws, events } = harness.open(url('/'));
    await events.first('open', 5_000);
    ws.send('hello');
    const [code] = (await events.first('close', 5_000)).args as [number];
    expect(code).toBe(1011);
    await withTimeout(closed, 5_000, "the relay's close report");
    expect(errors[0]).toBe('hook: onFrame bug');
    expect(events.count('close')).toBe(1);
    expect(relay.metrics.open).toBe(0);
  });
});

describe('relay listen(): requests node:http cannot parse', () => {
  it('a request head over the size limit is answered 431, not reset', async () => {
    echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
    const relay = createRelay({ upstream: echo.url });
    harness.relays.push(relay);
    const { port } = await relay.listen({ host: '127.0.0.1', port: 0 });
    const answer = await rawExchange(port, `${UPGRADE}X-Big: ${'a'.repeat(100_000)}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(echo.connections.size).toBe(0);
  });

  it('garbage is answered 400', async () => {
    echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
    const relay = createRelay({ upstream: echo.url });
    harness.relays.push(relay);
    const { port } = await relay.listen({ host: '127.0.0.1', port: 0 });
    expect(await rawExchange(port, 'NOT HTTP\0\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
  });
});
