import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: plain-JavaScript examples, checked by running them.
import { startRelay } from '../../examples/relay.mjs';
// @ts-expect-error: see above.
import { startServer } from '../../examples/relay-http-server.mjs';
import { HandshakeError } from '../../src/index.js';
import { startEchoServer } from '../../src/server/echo-server.js';
import { Harness } from './helpers.js';

const harness = new Harness();
afterEach(() => harness.cleanup());

describe('the relay examples', () => {
  it('examples/relay.mjs relays to its upstream', async () => {
    const echo = await startEchoServer();
    harness.cleanups.push(() => echo.close());
    const { relay, port } = (await startRelay({ upstream: echo.url })) as { relay: { close(): Promise<void> }; port: number };
    harness.cleanups.push(() => relay.close());
    const { ws, events } = harness.open(`ws://127.0.0.1:${port}/x`);
    await events.first('open', 5_000);
    ws.send('through');
    expect((await events.first('message', 5_000)).args[0]).toBe('through');
  });

  it('examples/relay-http-server.mjs: a route beside the relay, a token check, routing and a redacting hook', async () => {
    const echo = await startEchoServer();
    harness.cleanups.push(() => echo.close());
    const app = (await startServer({ upstreams: { chat: `${echo.url}/chat`, default: echo.url }, token: 't0k' })) as {
      port: number;
      close(): Promise<void>;
    };
    harness.cleanups.push(() => app.close());
    expect(await fetch(`http://127.0.0.1:${app.port}/health`).then((r) => r.json())).toEqual({ ok: true, open: 0 });
    const denied = harness.open(`ws://127.0.0.1:${app.port}/chat/a`);
    expect(((await denied.events.first('error', 5_000)).args[0] as HandshakeError).status).toBe(401);
    const { ws, events } = harness.open(`ws://127.0.0.1:${app.port}/chat/a`, { headers: { Authorization: 'Bearer t0k' } });
    await events.first('open', 5_000);
    ws.send('the secret word');
    expect((await events.first('message', 5_000)).args[0]).toBe('the ****** word');
    const [connection] = [...echo.connections];
    expect(connection!.request.path).toBe('/chat/a');
    expect(connection!.request.headers['authorization']).toBeUndefined();
    expect(connection!.request.headers['x-relayed-by']).toBe('wspipe');
  });
});
