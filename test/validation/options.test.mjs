// Options as a plain JavaScript caller passes them: no TypeScript in the way,
// so every wrong name, type and range reaches resolveOptions as it is.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UsageError, WebSocketClient } from 'wspipe';
import { TestServer } from '../helpers/test-server.ts';
import { withTimeout } from '../helpers/wait.ts';

const URL = 'ws://127.0.0.1:1/';

function refusal(options) {
  try {
    new WebSocketClient(URL, options);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error;
  }
  throw new Error(`expected a UsageError for ${JSON.stringify(options)}`);
}

describe('a bad option is a UsageError at construction that names it', () => {
  // [what, options, code, words the message must contain]
  const cases = [
    // Unknown names, with a did-you-mean when one is close.
    ['a name without its unit', { pingInterval: 30 }, 'WSP_ERR_INVALID_OPTION', ['pingInterval', 'did you mean pingIntervalMs?']],
    ['a name in another case', { maxmessagebytes: 5 }, 'WSP_ERR_INVALID_OPTION', ['maxmessagebytes', 'did you mean maxMessageBytes?']],
    ['a typo', { handshakeTimoutMs: 5 }, 'WSP_ERR_INVALID_OPTION', ['did you mean handshakeTimeoutMs?']],
    ['a name from another library', { maxPayload: 5 }, 'WSP_ERR_INVALID_OPTION', ['unknown option maxPayload']],
    ['an unknown reconnect option', { reconnect: { maxDelay: 5 } }, 'WSP_ERR_INVALID_OPTION', ['reconnect.maxDelay', 'did you mean reconnect.maxDelayMs?']],
    ['an unknown perMessageDeflate option', { perMessageDeflate: { threshold: 5 } }, 'WSP_ERR_INVALID_OPTION', ['perMessageDeflate.threshold', 'did you mean perMessageDeflate.thresholdBytes?']],
    ['options that are not an object', 'pingIntervalMs=5', 'WSP_ERR_INVALID_OPTION', ['options must be an object']],
    ['null options', null, 'WSP_ERR_INVALID_OPTION', ['options must be an object']],
    // Durations: 0 to 2^31 - 1 ms, finite.
    ['a duration of 2^40', { pingIntervalMs: 2 ** 40 }, 'WSP_ERR_INVALID_OPTION', ['pingIntervalMs', '2147483647']],
    ['a duration of 2^31', { closeTimeoutMs: 2 ** 31 }, 'WSP_ERR_INVALID_OPTION', ['closeTimeoutMs']],
    ['an infinite duration', { handshakeTimeoutMs: Infinity }, 'WSP_ERR_INVALID_OPTION', ['handshakeTimeoutMs', 'Infinity']],
    ['a NaN duration', { pongTimeoutMs: Number.NaN }, 'WSP_ERR_INVALID_OPTION', ['pongTimeoutMs']],
    ['a negative duration', { pingIntervalMs: -1 }, 'WSP_ERR_INVALID_OPTION', ['pingIntervalMs']],
    ['a duration as a string', { pingIntervalMs: '30000' }, 'WSP_ERR_INVALID_OPTION', ['pingIntervalMs', 'string']],
    ['a reconnect delay of 2^31', { reconnect: { initialDelayMs: 2 ** 31 } }, 'WSP_ERR_INVALID_OPTION', ['reconnect.initialDelayMs']],
    ['an infinite reconnect.maxDelayMs', { reconnect: { maxDelayMs: Infinity } }, 'WSP_ERR_INVALID_OPTION', ['reconnect.maxDelayMs']],
    ['a negative reconnect.resetAfterMs', { reconnect: { resetAfterMs: -5 } }, 'WSP_ERR_INVALID_OPTION', ['reconnect.resetAfterMs']],
    // Sizes: non-negative safe integers.
    ['a fractional size', { maxMessageBytes: 1.5 }, 'WSP_ERR_INVALID_OPTION', ['maxMessageBytes', 'integer']],
    ['an unsafe size', { maxQueuedBytes: 2 ** 53 }, 'WSP_ERR_INVALID_OPTION', ['maxQueuedBytes']],
    ['an infinite size', { highWaterMarkBytes: Infinity }, 'WSP_ERR_INVALID_OPTION', ['highWaterMarkBytes']],
    ['a size as a string', { maxRedirects: '5' }, 'WSP_ERR_INVALID_OPTION', ['maxRedirects']],
    ['a negative maxAttempts', { reconnect: { maxAttempts: -1 } }, 'WSP_ERR_INVALID_OPTION', ['reconnect.maxAttempts']],
    ['a fractional maxAttempts', { reconnect: { maxAttempts: 2.5 } }, 'WSP_ERR_INVALID_OPTION', ['reconnect.maxAttempts']],
    ['a multiplier below 1', { reconnect: { multiplier: 0.5 } }, 'WSP_ERR_INVALID_OPTION', ['reconnect.multiplier', '>= 1']],
    ['an infinite multiplier', { reconnect: { multiplier: Infinity } }, 'WSP_ERR_INVALID_OPTION', ['reconnect.multiplier']],
    ['a fractional thresholdBytes', { perMessageDeflate: { thresholdBytes: 0.5 } }, 'WSP_ERR_INVALID_OPTION', ['perMessageDeflate.thresholdBytes']],
    // Booleans.
    ['followRedirects as a string', { followRedirects: 'yes' }, 'WSP_ERR_INVALID_OPTION', ['followRedirects', 'true or false']],
    ['proxyFromEnv as a number', { proxyFromEnv: 1 }, 'WSP_ERR_INVALID_OPTION', ['proxyFromEnv', 'true or false']],
    ['reconnect as a string', { reconnect: 'always' }, 'WSP_ERR_INVALID_OPTION', ['reconnect']],
    ['reconnect as a number', { reconnect: 1 }, 'WSP_ERR_INVALID_OPTION', ['reconnect']],
    ['perMessageDeflate as a string', { perMessageDeflate: 'on' }, 'WSP_ERR_INVALID_OPTION', ['perMessageDeflate']],
    ['clientNoContextTakeover as a string', { perMessageDeflate: { clientNoContextTakeover: 'true' } }, 'WSP_ERR_INVALID_OPTION', ['perMessageDeflate.clientNoContextTakeover']],
    ['serverNoContextTakeover as a number', { perMessageDeflate: { serverNoContextTakeover: 1 } }, 'WSP_ERR_INVALID_OPTION', ['perMessageDeflate.serverNoContextTakeover']],
    // Enums.
    ['an unknown messageType', { messageType: 'blob' }, 'WSP_ERR_INVALID_OPTION', ['messageType', "'text' or 'binary'"]],
    ['an unknown fragments', { fragments: 'array' }, 'WSP_ERR_INVALID_OPTION', ['fragments', "'concat' or 'list'"]],
    ['an unknown jitter', { reconnect: { jitter: 'half' } }, 'WSP_ERR_INVALID_OPTION', ['reconnect.jitter', "'full' or 'none'"]],
    // headers: a plain object, a Headers, a Map or pairs, nothing else.
    ['headers as a string', { headers: 'Cookie: a' }, 'WSP_ERR_INVALID_OPTION', ['headers must be a plain object, a Headers, a Map or an array of [name, value] pairs']],
    ['headers as a number', { headers: 5 }, 'WSP_ERR_INVALID_OPTION', ['headers']],
    ['headers as a Set', { headers: new Set(['a']) }, 'WSP_ERR_INVALID_OPTION', ['headers', 'Set']],
    ['headers as a list of strings', { headers: ['Cookie: a'] }, 'WSP_ERR_INVALID_OPTION', ['headers[0]', '[name, value] pair']],
    ['headers as a list of triples', { headers: [['a', 'b', 'c']] }, 'WSP_ERR_INVALID_OPTION', ['headers[0]']],
    ['a header value that is a number', { headers: { 'X-Count': 5 } }, 'WSP_ERR_INVALID_OPTION', ['headers["X-Count"]', 'a string or an array of strings']],
    ['a header value that is an object', { headers: new Map([['X-A', {}]]) }, 'WSP_ERR_INVALID_OPTION', ['headers["X-A"]']],
    ['a pair with a number name', { headers: [[5, 'v']] }, 'WSP_ERR_INVALID_OPTION', ['headers[0][0] must be a string (a header name)']],
    ['a Map with a number key', { headers: new Map([[5, 'v']]) }, 'WSP_ERR_INVALID_OPTION', ['a key of the headers Map']],
    ['a pair that injects a header', { headers: [['X-A', 'a\r\nX-Injected: 1']] }, 'WSP_ERR_INVALID_HEADER', ['X-A']],
    ['a Headers with a handshake header', { headers: new Headers({ 'Sec-WebSocket-Key': 'x' }) }, 'WSP_ERR_INVALID_HEADER', ['sec-websocket-key']],
    // protocols: a string or an array of unique tokens.
    ['protocols as a number', { protocols: 5 }, 'WSP_ERR_INVALID_OPTION', ['protocols', 'a string or an array of strings']],
    ['protocols as an object', { protocols: { chat: true } }, 'WSP_ERR_INVALID_OPTION', ['protocols']],
    ['a protocol that is not a string', { protocols: ['chat', 5] }, 'WSP_ERR_INVALID_OPTION', ['protocols[1]', 'string']],
    ['a protocol with a space', { protocols: 'chat v2' }, 'WSP_ERR_INVALID_OPTION', ['protocols[0]', 'RFC 6455 4.1']],
    ['a protocol with a separator', { protocols: ['a,b'] }, 'WSP_ERR_INVALID_OPTION', ['protocols[0]']],
    ['an empty protocol', { protocols: [''] }, 'WSP_ERR_INVALID_OPTION', ['protocols[0]']],
    ['a non-ASCII protocol', { protocols: ['chät'] }, 'WSP_ERR_INVALID_OPTION', ['protocols[0]']],
    ['a protocol offered twice', { protocols: ['chat', 'json', 'chat'] }, 'WSP_ERR_INVALID_OPTION', ['"chat" twice']],
    // Objects and functions.
    ['signal as a plain object', { signal: {} }, 'WSP_ERR_INVALID_OPTION', ['signal must be an AbortSignal']],
    ['signal as an AbortController', { signal: new AbortController() }, 'WSP_ERR_INVALID_OPTION', ['signal must be an AbortSignal']],
    ['createConnection as an object', { createConnection: {} }, 'WSP_ERR_INVALID_OPTION', ['createConnection', 'a function']],
    ['shouldReconnect as a boolean', { reconnect: { shouldReconnect: true } }, 'WSP_ERR_INVALID_OPTION', ['reconnect.shouldReconnect', 'a function']],
    ['tls as a string', { tls: 'insecure' }, 'WSP_ERR_INVALID_OPTION', ['tls']],
    ['origin as a number', { origin: 5 }, 'WSP_ERR_INVALID_OPTION', ['origin', 'a string']],
    ['proxy as a number', { proxy: 3128 }, 'WSP_ERR_INVALID_OPTION', ['proxy', 'a proxy URL']],
  ];

  it.each(cases)('%s', (_what, options, code, words) => {
    const error = refusal(options);
    expect(error.code).toBe(code);
    for (const word of words) expect(error.message).toContain(word);
  });

  it('never quotes a header value back', () => {
    const error = refusal({ headers: [['Authorization', 'Bearer secret-token\r\n']] });
    expect(error.message).not.toContain('secret-token');
  });

  it('leaves the keys of tls alone: they are Node\'s tls.connect options', () => {
    expect(() => new WebSocketClient('wss://127.0.0.1:1/', { tls: { someFutureNodeOption: 1, rejectUnauthorized: false } })).not.toThrow();
  });

  it('takes undefined as "not given" for every option', () => {
    expect(() => new WebSocketClient(URL, { pingIntervalMs: undefined, headers: undefined, reconnect: undefined, signal: undefined })).not.toThrow();
  });

  it('takes the edges of each range', () => {
    for (const options of [
      { pingIntervalMs: 2 ** 31 - 1, handshakeTimeoutMs: 0, closeTimeoutMs: 0.5 },
      { maxMessageBytes: 0, maxQueuedBytes: Number.MAX_SAFE_INTEGER, highWaterMarkBytes: 0, maxRedirects: 0 },
      { reconnect: { maxAttempts: Infinity, multiplier: 1, initialDelayMs: 0, maxDelayMs: 2 ** 31 - 1, jitter: 'none' } },
      { reconnect: false, perMessageDeflate: true, followRedirects: true, proxyFromEnv: false },
    ]) {
      expect(() => new WebSocketClient(URL, options)).not.toThrow();
    }
  });

  it('reconnect(delayMs) takes a duration a timer can hold', () => {
    const ws = new WebSocketClient(URL);
    for (const delayMs of [2 ** 31, -1, Number.NaN, '100']) {
      let error;
      try {
        ws.reconnect(delayMs);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UsageError);
      expect(error.code).toBe('WSP_ERR_INVALID_OPTION');
      expect(error.message).toContain('reconnect(delayMs)');
    }
    ws.terminate();
  });

  it('close(code) takes a number and says so', () => {
    const ws = new WebSocketClient(URL);
    expect(() => ws.close('1000')).toThrow(/number/);
    expect(() => ws.close(1000, 5)).toThrow(/close reason must be a string/);
    ws.terminate();
  });
});

describe('good options reach the wire as given', () => {
  let server;
  const clients = [];

  beforeAll(async () => {
    server = await TestServer.start();
  });
  afterAll(async () => {
    await server?.close();
  });
  afterEach(() => {
    for (const ws of clients.splice(0)) ws.terminate();
    server.handshake = 'accept';
  });

  /** Connects with `options` and resolves with the request head the server read. */
  async function requestWith(options) {
    const ws = new WebSocketClient(server.url(), options);
    clients.push(ws);
    const request = withTimeout(new Promise((resolve) => server.once('request', resolve)), 5_000, 'the request');
    const opened = withTimeout(new Promise((resolve) => ws.once('open', resolve)), 5_000, 'open');
    ws.connect();
    const [head] = await Promise.all([request, opened]);
    return { ws, head };
  }

  /** The values of header `name` in the order sent. */
  function sent(head, name) {
    const values = [];
    for (let i = 0; i < head.rawHeaders.length; i += 2) {
      if (head.rawHeaders[i].toLowerCase() === name) values.push(head.rawHeaders[i + 1]);
    }
    return values;
  }

  it('a plain object, with a list of values', async () => {
    const { head } = await requestWith({ headers: { 'X-One': 'a', 'X-Many': ['b', 'c'] } });
    expect(sent(head, 'x-one')).toEqual(['a']);
    expect(sent(head, 'x-many')).toEqual(['b', 'c']);
  });

  it('a WHATWG Headers', async () => {
    const { head } = await requestWith({ headers: new Headers({ Cookie: 'a=b', 'X-Token': 't' }) });
    expect(sent(head, 'cookie')).toEqual(['a=b']);
    expect(sent(head, 'x-token')).toEqual(['t']);
  });

  it('a Map', async () => {
    const { head } = await requestWith({ headers: new Map([['X-Map', 'm'], ['X-List', ['1', '2']]]) });
    expect(sent(head, 'x-map')).toEqual(['m']);
    expect(sent(head, 'x-list')).toEqual(['1', '2']);
  });

  it('a list of pairs, a name repeated', async () => {
    const { head } = await requestWith({ headers: [['X-Pair', '1'], ['X-Other', 'o'], ['X-Pair', '2']] });
    expect(sent(head, 'x-pair')).toEqual(['1', '2']);
    expect(sent(head, 'x-other')).toEqual(['o']);
  });

  it('a string protocol is offered as the one subprotocol, and accepted when chosen', async () => {
    server.handshake = {
      raw: (request, accept) =>
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: chat\r\n\r\n`,
    };
    const { ws, head } = await requestWith({ protocols: 'chat', perMessageDeflate: false });
    expect(sent(head, 'sec-websocket-protocol')).toEqual(['chat']);
    expect(ws.protocol).toBe('chat');
  });

  it('a list of protocols is offered in order', async () => {
    const { head } = await requestWith({ protocols: ['v2.chat', 'v1.chat'] });
    expect(sent(head, 'sec-websocket-protocol')).toEqual(['v2.chat, v1.chat']);
  });

  it('an AbortSignal is honoured', async () => {
    const controller = new AbortController();
    const { ws } = await requestWith({ signal: controller.signal });
    const closed = withTimeout(new Promise((resolve) => ws.once('close', resolve)), 5_000, 'close');
    controller.abort();
    await closed;
    expect(ws.readyState).toBe('closed');
  });
});
