import { afterEach, expect, it } from 'vitest';
// @ts-expect-error: a plain-JavaScript example, checked by running it.
import { run } from '../../examples/compose-pipeline.mjs';
import { startEchoServer, type EchoServer } from '../../src/server/echo-server.js';

let server: EchoServer | undefined;
afterEach(async () => {
  await server?.close();
});

it('the compose-pipeline example talks to an echo server through its own pipeline()', async () => {
  server = await startEchoServer();
  expect(await (run as (url: string, texts: string[]) => Promise<string[]>)(server.url, ['a', 'bb', 'ccc'])).toEqual(['a', 'bb', 'ccc']);
});
