// A WebSocket-aware relay built from wspipe's stages.
//
//   npm run build && node examples/relay.mjs --listen 127.0.0.1:9000 --upstream ws://127.0.0.1:8765/ [--inspect]
//   npm run build && node examples/relay.mjs        # demo: embedded echo upstream, relay, one client
//
// A client connects to the relay; the relay reads its opening handshake, opens
// its own WebSocket connection to the upstream (a new handshake, a new key, the
// client's subprotocol offer and end-to-end headers, no extensions), and only
// when the upstream has answered 101 answers the client with a 101 of its own
// (with the subprotocol the upstream chose). An upstream that cannot be reached
// or refuses gives the client a 502 (a 504 when it does not answer in time).
// The client's request path is appended to the upstream URL's path.
//
// Then frames are relayed both ways, each direction a decoder and an encoder:
//
//   client -> FrameDecoder (server role: unmasks) -> FrameEncoder (client role: masks, fresh keys) -> upstream
//   upstream -> FrameDecoder (client role) -> FrameEncoder (server role: no mask) -> client
//
// - Data passes piece by piece as it arrives: each decoded range becomes a
//   frame (the message's opcode on its first piece, continuation after, FIN on
//   its last piece). No reassembly and no copy on the way to the client (the
//   encoder borrows the range); towards the upstream the masking writes the
//   one new buffer masking needs. No extension is negotiated on either side,
//   so frames never need to be decompressed.
// - With `onMessage` or `inspect`, messages are assembled first so that they
//   can be shown whole (and dropped when `onMessage` returns false); they then
//   leave as one frame each, and a message is held in memory until complete
//   (up to `maxMessageBytes`, 64 MiB by default in that mode).
// - Control frames (RFC 6455 5.5): pings and pongs are forwarded, so a ping is
//   answered by the far end. A close is forwarded, its answer forwarded back,
//   then both TCP connections end. A protocol error from one side closes that
//   side with the error's close code and the other with 1014 (the upstream
//   broke) or 1011 (the client broke). A side that vanishes without a close
//   frame gets the other side a 1014 (upstream gone) or 1001 (client gone).
// - Backpressure end to end: when a destination socket's write() returns
//   false, decoding of the source stops mid-chunk (the sink's `paused` flag)
//   until 'drain'; the decoder stage then holds its write callback, so the
//   source socket is paused too and TCP flow control slows the sender. What a
//   connection buffers stays within a few socket reads (see `stats`).
//
// Views pin the socket chunk they point into until they are written.
import * as net from 'node:net';
import * as tls from 'node:tls';
import { CloseCode, FrameDecoderStream, HandshakeStream, MessageAssembler, Opcode } from 'wspipe';
import { FrameEncoder, HandshakeRequestParser, createHandshakeRequest, createHandshakeResponse, encodeClosePayload } from 'wspipe/protocol';

/** Pending encoded bytes that are written at once instead of at the end of the turn. */
const FLUSH_BYTES = 64 * 1024;

/** Request headers that belong to one hop, or to the handshake the relay makes itself (RFC 7230 6.1). */
const NOT_FORWARDED = new Set([
  'host',
  'connection',
  'upgrade',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'content-length',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-accept',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
]);

/**
 * Starts a relay listening on `host:port` (port 0 picks one).
 *
 * @param {object} options
 * @param {string} [options.host] default 127.0.0.1
 * @param {number} [options.port] default 0
 * @param {string} options.upstream `ws://` or `wss://` URL; its path is a prefix of the client's path
 * @param {(direction: 'client-to-upstream' | 'upstream-to-client', opcode: number, payload: Buffer) => void | false} [options.onMessage]
 *   called with each whole data message (a view: copy it to keep it); returning false drops it
 * @param {boolean} [options.inspect] print a line for each message
 * @param {number} [options.maxMessageBytes] a larger message fails its sender with 1009; default no limit, 64 MiB when inspecting
 * @param {number} [options.handshakeTimeoutMs] default 10000
 * @param {number} [options.closeTimeoutMs] default 5000
 * @param {import('node:tls').ConnectionOptions} [options.tls] for a wss:// upstream
 * @returns {Promise<{ port: number, stats: RelayStats, close(): Promise<void> }>}
 */
export async function startRelay(options) {
  const upstream = new URL(options.upstream);
  if (upstream.protocol !== 'ws:' && upstream.protocol !== 'wss:') throw new TypeError('upstream must be a ws:// or wss:// URL');
  if (upstream.search || upstream.hash) throw new TypeError('the upstream URL is a path prefix: no query or fragment');
  const inspecting = options.onMessage !== undefined || options.inspect === true;
  const config = {
    upstream,
    onMessage: options.onMessage,
    inspect: options.inspect === true,
    inspecting,
    maxMessageBytes: options.maxMessageBytes ?? (inspecting ? 64 * 1024 * 1024 : Number.MAX_SAFE_INTEGER),
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
    closeTimeoutMs: options.closeTimeoutMs ?? 5_000,
    tls: options.tls,
  };
  const stats = new RelayStats();
  const pending = new Set(); // sockets still in the opening handshake
  const server = net.createServer((socket) => acceptClient(socket, config, stats, pending));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    stats,
    close: () => {
      const closed = new Promise((resolve) => server.close(() => resolve()));
      for (const socket of pending) socket.destroy();
      // RFC 6455 7.4.1: 1001, the relay is going away; each side still gets its closing handshake.
      for (const connection of stats.live) connection.shutdown(CloseCode.GoingAway, 'relay shutting down');
      return closed.then(() => stats.idle());
    },
  };
}

/** Counters, and the bytes the relay holds right now (`bufferedBytes`) and at most (`peakBufferedBytes`, per connection). */
class RelayStats {
  accepted = 0;
  refused = 0;
  /** Payload bytes, frames and dropped messages per direction. */
  clientToUpstream = { frames: 0, bytes: 0, dropped: 0 };
  upstreamToClient = { frames: 0, bytes: 0, dropped: 0 };
  /** The most one connection held at once: socket buffers both ways, unflushed frames, undecoded input. */
  peakBufferedBytes = 0;
  /** @internal */
  live = new Set();
  #idleWaiters = [];

  get connections() {
    return this.live.size;
  }

  get bufferedBytes() {
    let sum = 0;
    for (const connection of this.live) sum += connection.bufferedBytes;
    return sum;
  }

  /** @internal */
  removed(connection) {
    this.live.delete(connection);
    if (this.live.size === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /** @internal */
  idle() {
    return this.live.size === 0 ? Promise.resolve() : new Promise((resolve) => this.#idleWaiters.push(resolve));
  }
}

function acceptClient(client, config, stats, pending) {
  stats.accepted += 1;
  pending.add(client);
  client.setNoDelay(true);
  client.on('error', () => client.destroy());
  client.once('close', () => pending.delete(client));
  const timer = setTimeout(() => client.destroy(), config.handshakeTimeoutMs).unref();
  client.once('close', () => clearTimeout(timer));
  const parser = new HandshakeRequestParser();
  const onData = (chunk) => {
    let parsed;
    try {
      parsed = parser.push(chunk);
    } catch (error) {
      return refuse(client, stats, 400, error.message);
    }
    if (parsed === undefined) return;
    client.off('data', onData);
    client.pause();
    try {
      createHandshakeResponse(parsed.request); // only to check the request before going upstream
    } catch (error) {
      return refuse(client, stats, 400, error.message);
    }
    openUpstream(client, parsed.request, parsed.leftover, config, stats, pending, timer);
  };
  client.on('data', onData);
}

function openUpstream(client, request, clientLeftover, config, stats, pending, timer) {
  const { upstream } = config;
  const secure = upstream.protocol === 'wss:';
  const port = Number(upstream.port) || (secure ? 443 : 80);
  const host = upstream.hostname.replace(/^\[|\]$/g, '');
  let handshakeRequest;
  try {
    handshakeRequest = createHandshakeRequest({
      host: upstream.host,
      path: upstream.pathname.replace(/\/$/, '') + request.path,
      headers: forwardedHeaders(request, client.remoteAddress),
      protocols: (request.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p !== ''),
    });
  } catch (error) {
    return refuse(client, stats, 400, error.message);
  }
  const socket = secure
    ? tls.connect({ servername: net.isIP(host) ? undefined : host, ...config.tls, host, port })
    : net.connect({ host, port });
  socket.setNoDelay(true);
  socket.write(handshakeRequest.bytes);
  const handshake = new HandshakeStream({ key: handshakeRequest.key, protocols: handshakeRequest.protocols });
  socket.pipe(handshake);

  let settled = false;
  const fail = (status, message) => {
    if (settled) return;
    settled = true;
    socket.destroy();
    handshake.destroy();
    refuse(client, stats, status, message);
  };
  clearTimeout(timer);
  const upstreamTimer = setTimeout(() => fail(504, 'the upstream did not answer in time'), config.handshakeTimeoutMs).unref();
  const onUpstreamError = (error) => fail(502, `upstream: ${error.code ?? error.message}`);
  const onUpstreamClose = () => fail(502, 'the upstream closed the connection');
  const onClientClose = () => fail(499, '');
  socket.on('error', onUpstreamError);
  socket.once('close', onUpstreamClose);
  handshake.once('error', (error) => fail(502, `upstream: ${error.message}`));
  client.once('close', onClientClose);

  handshake.once('response', (response) => {
    // The 101 is verified; frames may follow it in the same read. Stop feeding the
    // handshake stage, collect what it passes through, then read the socket directly.
    socket.unpipe(handshake);
    socket.pause();
    const upstreamLeftover = [];
    handshake.on('data', (chunk) => upstreamLeftover.push(chunk));
    handshake.once('end', () => {
      if (settled) return;
      settled = true;
      clearTimeout(upstreamTimer);
      socket.off('error', onUpstreamError);
      socket.off('close', onUpstreamClose);
      client.off('close', onClientClose);
      pending.delete(client);
      client.write(createHandshakeResponse(request, { protocol: response.protocol }));
      const connection = new RelayConnection(client, socket, config, stats);
      connection.start(clientLeftover, Buffer.concat(upstreamLeftover));
    });
    handshake.end();
  });
}

/** The client's end-to-end headers, by the client's spelling, plus X-Forwarded-For. */
function forwardedHeaders(request, remoteAddress) {
  const named = new Set(
    (request.headers['connection'] ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== ''),
  );
  const headers = {};
  const spelling = new Map();
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i];
    const lower = name.toLowerCase();
    if (NOT_FORWARDED.has(lower) || named.has(lower) || lower === 'x-forwarded-for') continue;
    if (!spelling.has(lower)) spelling.set(lower, name);
    (headers[spelling.get(lower)] ??= []).push(request.rawHeaders[i + 1]);
  }
  if (remoteAddress !== undefined) {
    const before = request.headers['x-forwarded-for'];
    headers['X-Forwarded-For'] = before ? `${before}, ${remoteAddress}` : remoteAddress;
  }
  return headers;
}

const STATUS_TEXT = { 400: 'Bad Request', 499: 'Client Closed Request', 502: 'Bad Gateway', 504: 'Gateway Timeout' };

function refuse(client, stats, status, message) {
  stats.refused += 1;
  if (client.destroyed) return;
  const body = `${message}\n`;
  client.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  setTimeout(() => client.destroy(), 1_000).unref();
}

/**
 * One destination: an encoder writing straight to a socket. Frames added in one
 * turn leave in one corked write; `full` says the socket asked us to wait.
 */
class Outbound {
  constructor(socket, role, onFlush) {
    this.socket = socket;
    this.encoder = new FrameEncoder({ role });
    this.onFlush = onFlush;
    this.scheduled = false;
    this.waiter = undefined;
    this.flushTask = () => this.flush();
    socket.on('drain', () => this.wake());
    socket.once('close', () => this.wake());
  }

  frame(opcode, payload, fin) {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.encoder.addFrame(opcode, payload, fin, false);
    if (this.encoder.pendingBytes >= FLUSH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flushTask);
    }
  }

  flush() {
    this.scheduled = false;
    const buffers = this.encoder.take();
    if (buffers.length === 0 || this.socket.destroyed || this.socket.writableEnded) return;
    if (buffers.length === 1) {
      this.socket.write(buffers[0]);
    } else {
      this.socket.cork();
      for (const buffer of buffers) this.socket.write(buffer);
      this.socket.uncork();
    }
    this.onFlush();
  }

  /** The socket's write() returned false: stop feeding it until 'drain'. */
  get full() {
    return this.socket.writableNeedDrain;
  }

  get bufferedBytes() {
    return this.socket.writableLength + this.encoder.pendingBytes;
  }

  whenDrained(wake) {
    this.waiter = wake;
  }

  wake() {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  end() {
    this.flush();
    if (!this.socket.destroyed) this.socket.end();
  }
}

/** One side of a relayed connection. */
class Peer {
  constructor(name, socket, decoderRole, encoderRole, maxMessageBytes, onFlush) {
    this.name = name;
    this.socket = socket;
    this.out = new Outbound(socket, encoderRole, onFlush);
    this.decoderRole = decoderRole;
    this.maxMessageBytes = maxMessageBytes;
    this.decoder = undefined;
    this.sink = undefined;
    this.closeSent = false;
    this.closeReceived = false;
    this.gone = false;
    this.closeTimer = undefined;
  }
}

class RelayConnection {
  constructor(clientSocket, upstreamSocket, config, stats) {
    this.config = config;
    this.stats = stats;
    const onFlush = () => {
      const buffered = this.bufferedBytes;
      if (buffered > stats.peakBufferedBytes) stats.peakBufferedBytes = buffered;
    };
    this.client = new Peer('client', clientSocket, 'server', 'server', config.maxMessageBytes, onFlush);
    this.upstream = new Peer('upstream', upstreamSocket, 'client', 'client', config.maxMessageBytes, onFlush);
    stats.live.add(this);
  }

  /** Bytes held for this connection: unwritten output, unflushed frames, read but undecoded input. */
  get bufferedBytes() {
    let sum = 0;
    for (const peer of [this.client, this.upstream]) {
      sum += peer.out.bufferedBytes + peer.socket.readableLength + (peer.decoder?.writableLength ?? 0);
    }
    return sum;
  }

  start(clientLeftover, upstreamLeftover) {
    this.wire(this.client, this.upstream, 'client-to-upstream', this.stats.clientToUpstream, clientLeftover);
    this.wire(this.upstream, this.client, 'upstream-to-client', this.stats.upstreamToClient, upstreamLeftover);
  }

  /** Decodes `src` and relays what it sends to `dst`. */
  wire(src, dst, direction, counters, leftover) {
    const assembler = this.config.inspecting ? new MessageAssembler() : undefined;
    const hold = () => {
      sink.paused = true;
      dst.out.whenDrained(() => {
        sink.paused = false;
        src.decoder.resumeSink();
      });
    };
    const sink = {
      paused: false,
      data: (opcode, chunk, start, end, messageStart, messageEnd) => {
        if (dst.closeSent) return; // RFC 6455 5.5.1: nothing more after a close
        if (assembler !== undefined) {
          const message = assembler.add(opcode, chunk.subarray(start, end), messageStart, messageEnd);
          if (message === undefined) return;
          if (!this.inspect(direction, message)) {
            counters.dropped += 1;
            return;
          }
          dst.out.frame(opcode, message.data, true);
          counters.bytes += message.length;
        } else {
          dst.out.frame(messageStart ? opcode : Opcode.Continuation, chunk.subarray(start, end), messageEnd);
          counters.bytes += end - start;
        }
        counters.frames += 1;
        if (dst.out.full) hold();
      },
      // RFC 6455 5.5.2/5.5.3: pings and pongs are forwarded; the far end answers its own pings.
      control: (opcode, payload) => {
        if (dst.closeSent) return;
        dst.out.frame(opcode, payload, true);
        counters.frames += 1;
        if (dst.out.full) hold();
      },
      close: (_code, _reason, payload) => this.closeFrom(src, dst, payload),
      error: (error) => this.failFrom(src, dst, error),
    };
    src.sink = sink;
    src.decoder = new FrameDecoderStream({ role: src.decoderRole, maxMessageBytes: src.maxMessageBytes, sink });
    src.socket.on('error', () => src.socket.destroy());
    src.socket.once('close', () => this.gone(src, dst));
    if (leftover.length > 0) src.decoder.write(leftover);
    src.socket.pipe(src.decoder);
  }

  /** Returns false to drop the message. */
  inspect(direction, message) {
    const data = Array.isArray(message.data) ? Buffer.concat(message.data) : message.data;
    if (this.config.inspect) {
      const shown = message.opcode === Opcode.Text ? JSON.stringify(data.toString('utf8', 0, 60)) : `<${data.length} bytes>`;
      console.log(`[relay] ${direction} ${message.opcode === Opcode.Text ? 'text' : 'binary'} ${data.length} ${shown}`);
    }
    return this.config.onMessage?.(direction, message.opcode, data) !== false;
  }

  /** `src` sent a close frame: forward it; a closing handshake that is complete ends its TCP connection. */
  closeFrom(src, dst, payload) {
    src.closeReceived = true;
    if (!dst.closeSent) this.sendClose(dst, payload);
    this.settle(src);
    this.settle(dst);
  }

  /** RFC 6455 7.1.7: fail `src` with the error's code, and close `dst` as a gateway would. */
  failFrom(src, dst, error) {
    src.closeReceived = true; // nothing more is read from it
    if (!src.closeSent) this.sendClose(src, encodeClosePayload(error.closeCode));
    this.finish(src);
    if (!dst.closeSent) {
      const code = src === this.upstream ? CloseCode.BadGateway : CloseCode.InternalError;
      this.sendClose(dst, encodeClosePayload(code, `${src.name} protocol error`));
    }
    this.settle(dst);
  }

  /** `peer`'s socket is closed; the other side is told if no close frame came first. */
  gone(peer, other) {
    peer.gone = true;
    clearTimeout(peer.closeTimer);
    peer.decoder.destroy();
    // (Its Outbound already woke a source waiting for it to drain.)
    if (!peer.closeReceived && !other.closeSent) {
      const code = peer === this.upstream ? CloseCode.BadGateway : CloseCode.GoingAway;
      this.sendClose(other, encodeClosePayload(code, `${peer.name} connection lost`));
    }
    if (other.gone) this.stats.removed(this);
    else this.settle(other);
  }

  /** Closes both sides with `code` (the relay is going away). */
  shutdown(code, reason) {
    for (const peer of [this.client, this.upstream]) {
      if (!peer.closeSent && !peer.gone) this.sendClose(peer, encodeClosePayload(code, reason));
      this.settle(peer);
    }
  }

  sendClose(peer, payload) {
    peer.closeSent = true;
    if (peer.gone) return;
    peer.out.frame(Opcode.Close, payload, true);
    peer.out.flush();
    // The peer has closeTimeoutMs to answer and hang up.
    peer.closeTimer = setTimeout(() => peer.socket.destroy(), this.config.closeTimeoutMs).unref();
  }

  settle(peer) {
    if (peer.closeSent && peer.closeReceived) this.finish(peer);
  }

  /** The closing handshake with `peer` is over (or failed): end its TCP connection. */
  finish(peer) {
    if (peer.gone || peer.socket.writableEnded) return;
    peer.out.end();
    clearTimeout(peer.closeTimer);
    peer.closeTimer = setTimeout(() => peer.socket.destroy(), this.config.closeTimeoutMs).unref();
  }
}

// ---------------------------------------------------------------------------
// The command line.

function parseArgs(argv) {
  const args = { listen: undefined, upstream: undefined, inspect: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--listen') args.listen = argv[++i];
    else if (arg === '--upstream') args.upstream = argv[++i];
    else if (arg === '--inspect') args.inspect = true;
    else throw new TypeError(`unknown argument ${arg}; usage: relay.mjs [--listen HOST:PORT --upstream ws://HOST:PORT/ [--inspect]]`);
  }
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.upstream !== undefined) {
    const [host, port] = (args.listen ?? '127.0.0.1:9000').split(/:(?=\d+$)/);
    const relay = await startRelay({ host, port: Number(port), upstream: args.upstream, inspect: args.inspect });
    console.log(`relay listening on ${host}:${relay.port}, upstream ${args.upstream}`);
    process.once('SIGINT', () => {
      console.log('closing', relay.stats);
      relay.close().then(() => process.exit(0));
    });
    return;
  }

  // The demo: an echo server upstream, the relay in front of it, one client through it.
  const { startEchoServer } = await import('../dist/server/echo-server.js');
  const { WebSocketClient } = await import('wspipe');
  const echo = await startEchoServer();
  const relay = await startRelay({ upstream: echo.url, inspect: true });
  console.log(`echo server on ${echo.port}, relay on ${relay.port}`);
  const ws = new WebSocketClient(`ws://127.0.0.1:${relay.port}/demo`);
  let echoes = 0;
  ws.on('open', () => {
    ws.send('hello through the relay');
    ws.send(Buffer.alloc(300_000, 7), { binary: true });
    ws.ping('are you there');
  });
  ws.on('pong', (payload) => console.log(`client: pong ${JSON.stringify(payload.toString())}`));
  ws.on('message', (data, isBinary) => {
    console.log(`client: echo ${isBinary ? `<${data.length} bytes>` : JSON.stringify(data)}`);
    if (++echoes === 2) ws.close(4000, 'demo over');
  });
  ws.on('close', async (code, reason) => {
    console.log(`client: closed ${code} ${JSON.stringify(reason)}`);
    await relay.close();
    await echo.close();
    const { clientToUpstream, upstreamToClient, peakBufferedBytes } = relay.stats;
    console.log('relay stats:', { clientToUpstream, upstreamToClient, peakBufferedBytes });
  });
  ws.connect();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
