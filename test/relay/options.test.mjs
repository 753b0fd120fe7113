// createRelay's options from plain JavaScript (no TypeScript in the way): a
// typo or a wrong type is a UsageError with WSP_ERR_INVALID_OPTION naming the
// option, as for the client.
import { describe, expect, it } from 'vitest';
import { createRelay } from 'wspipe/relay';

const upstream = 'ws://127.0.0.1:9/';

/** Each bad options object, and a piece of the message that names the option. */
const BAD = [
  [{ upstream, handshakeTimeout: 5 }, 'unknown option handshakeTimeout; did you mean handshakeTimeoutMs?'],
  [{ upstream, onMesage: () => {} }, 'did you mean onMessage?'],
  [{ upstream, handshakeTimeoutMs: '100' }, 'handshakeTimeoutMs must be'],
  [{ upstream, handshakeTimeoutMs: 2 ** 40 }, 'handshakeTimeoutMs must be'],
  [{ upstream, handshakeTimeoutMs: 0 }, 'handshakeTimeoutMs must be'],
  [{ upstream, closeTimeoutMs: Number.NaN }, 'closeTimeoutMs must be'],
  [{ upstream, maxMessageBytes: 1.5 }, 'maxMessageBytes must be'],
  [{ upstream, headers: 'X-A: b' }, 'headers must be'],
  [{ upstream, headers: { drop: 'authorization' } }, 'headers.drop must be'],
  [{ upstream, headers: { add: { a: 'b' } } }, 'unknown option headers.add'],
  [{ upstream, headers: { set: { 'X-A': 5 } } }, 'headers.set["X-A"]'],
  [{ upstream, headers: { rename: { a: 5 } } }, 'headers.rename["a"]'],
  [{ upstream, perMessageDeflate: 'yes' }, 'perMessageDeflate must be'],
  [{ upstream, perMessageDeflate: { serverMaxWindowBits: 99 } }, 'perMessageDeflate.serverMaxWindowBits'],
  [{ upstream, tls: 'x' }, 'tls must be'],
  [{ upstream, proxy: 5 }, 'proxy must be'],
  [{ upstream, proxyFromEnv: 'yes' }, 'proxyFromEnv must be'],
  [{ upstream, createConnection: 1 }, 'createConnection must be'],
  [{ upstream, authorize: true }, 'authorize must be'],
  [{ upstream, onFrame: {} }, 'onFrame must be'],
  [undefined, 'createRelay options must be'],
  [[], 'createRelay options must be'],
];

describe('createRelay options from plain JavaScript', () => {
  it.each(BAD)('%j is refused with a UsageError naming the option', (options, message) => {
    let thrown;
    try {
      createRelay(options);
    } catch (error) {
      thrown = error;
    }
    expect(thrown?.name).toBe('UsageError');
    expect(thrown?.code).toBe('WSP_ERR_INVALID_OPTION');
    expect(thrown?.message).toContain(message);
  });

  it('accepts every documented option with a value of the right type', () => {
    const relay = createRelay({
      upstream,
      authorize: () => true,
      headers: { drop: ['authorization'], rename: { 'X-A': 'X-B' }, set: { 'X-C': 'd', 'X-E': ['f', 'g'] } },
      onMessage: () => undefined,
      onFrame: () => {},
      perMessageDeflate: { serverNoContextTakeover: true },
      maxMessageBytes: 1024,
      handshakeTimeoutMs: 1_000,
      closeTimeoutMs: 1_000,
      tls: { rejectUnauthorized: true },
      proxy: 'http://127.0.0.1:3128',
      proxyFromEnv: false,
      createConnection: undefined,
    });
    expect(relay.metrics.accepted).toBe(0);
  });
});

describe('relay.listen() options and state', () => {
  it.each([
    [{ prot: 9000 }, 'unknown option listen.prot; did you mean listen.port?'],
    [{ port: '9000' }, 'listen.port must be'],
    [{ port: 70_000 }, 'listen.port must be'],
    [{ host: 1 }, 'listen.host must be'],
    ['127.0.0.1', 'listen options must be'],
  ])('%j is refused with a UsageError naming the option', async (options, message) => {
    const relay = createRelay({ upstream });
    await expect(relay.listen(options)).rejects.toMatchObject({ name: 'UsageError', code: 'WSP_ERR_INVALID_OPTION', message: expect.stringContaining(message) });
    await relay.close();
  });

  it('listen() after close() is refused instead of listening with every upgrade answered 503', async () => {
    const relay = createRelay({ upstream });
    await relay.listen({ host: '127.0.0.1', port: 0 });
    await relay.close();
    await relay.close(); // twice is fine
    await expect(relay.listen({ host: '127.0.0.1', port: 0 })).rejects.toMatchObject({ name: 'UsageError', code: 'WSP_ERR_NOT_OPEN' });
  });
});

describe('options that are instances of a class of yours', () => {
  it('are read like object literals (own properties only)', () => {
    class RelayConfig {
      constructor() {
        this.upstream = upstream;
        this.handshakeTimeoutMs = 1_000;
      }
    }
    expect(() => createRelay(new RelayConfig())).not.toThrow();
    const typo = new RelayConfig();
    typo.closeTimeout = 5;
    expect(() => createRelay(typo)).toThrow(/unknown option closeTimeout; did you mean closeTimeoutMs\?/);
  });
});
