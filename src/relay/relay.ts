import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { parseWebSocketUrl, redactUrl, type ParsedUrl } from '../client/options.js';
import { CloseCode } from '../protocol/close-codes.js';
import { ConnectionError, ErrorCode, HandshakeError, UsageError } from '../protocol/errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocol/frame-decoder.js';
import {
  createHandshakeRequest,
  HandshakeResponseParser,
  parseExtensions,
  verifyHandshakeResponse,
  type HandshakeResponse,
} from '../protocol/handshake.js';
import { createHandshakeResponse, type HandshakeRequestHead } from '../protocol/handshake-server.js';
import { PerMessageDeflateNegotiator, PERMESSAGE_DEFLATE, type PerMessageDeflateOptions } from '../protocol/permessage-deflate.js';
import {
  RelayConnection,
  type DirectionMetrics,
  type PumpConfig,
  type RelayCloseReport,
  type RelayFrame,
  type RelayMessage,
  type MessageVerdict,
  type Direction,
  type SideCompression,
} from './connection.js';
import {
  acceptDeflateOffer,
  formatExtension,
  forwardedHeaders,
  offeredProtocols,
  readDeflateOffer,
  writeRefusal,
  type HeaderRewrite,
  type RelayRefusal,
  type RelayRequest,
} from './request.js';
import { checkListenOptions, checkRelayOptions, readAuthorizeVerdict } from './options.js';
import { openUpstreamTransport, type UpstreamTransportOptions } from './upstream.js';

/** Where to relay a request: a URL, or what a function of the request returns. */
export type UpstreamTarget = string | URL;

/** Options of `createRelay`. Durations in milliseconds, sizes in bytes. */
export interface RelayOptions extends UpstreamTransportOptions {
  /**
   * The upstream. A URL is a prefix: the client's path (and query) is
   * appended to its path. A function (maybe async) of the request returns
   * the whole upstream URL for that request: routing by path, header, tenant.
   */
  upstream: UpstreamTarget | ((request: RelayRequest) => UpstreamTarget | Promise<UpstreamTarget>);
  /**
   * Called before any upstream connection. Return (or resolve) `true` or
   * nothing to go on; `false` to refuse with 403; a `{ status, headers,
   * body }` to refuse with that. A hook that throws refuses with 500.
   */
  authorize?: (request: RelayRequest) => boolean | void | RelayRefusal | Promise<boolean | void | RelayRefusal>;
  /** Rewrites the request headers sent upstream (hop-by-hop headers are never forwarded). */
  headers?: HeaderRewrite;
  /**
   * Sees each whole data message and decides its fate (see `MessageVerdict`).
   * Setting it makes the relay assemble messages (and inflate compressed
   * ones, compressing again per side); without it frames are passed on as
   * they are. A returned promise holds that direction until it settles.
   */
  onMessage?: (message: RelayMessage, direction: Direction, connection: RelayConnection) => MessageVerdict | Promise<MessageVerdict>;
  /** Sees each frame (header facts only, no payload), at no cost to the pump. */
  onFrame?: (frame: RelayFrame, direction: Direction, connection: RelayConnection) => void;
  /**
   * permessage-deflate (RFC 7692). Without `onMessage` the client's offer is
   * passed upstream and the answer back: compressed frames pass through.
   * With `onMessage` the relay accepts the client's offer itself and makes
   * this offer upstream (`true`: default options). `false`: never compress.
   * Default true.
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** A larger message fails its sender with 1009. Default: 64 MiB with `onMessage`, else no limit. */
  maxMessageBytes?: number;
  /** Connecting to the upstream and its opening handshake must finish within this (then 504). Default 10,000. */
  handshakeTimeoutMs?: number;
  /** How long a side may take to answer a close frame and hang up. Default 5,000. */
  closeTimeoutMs?: number;
}

/** Totals over the relay's life, and what its open connections hold now. */
export interface RelayMetrics {
  /** Upgrade requests received. */
  readonly accepted: number;
  /** Requests answered with an HTTP error (refused, bad, upstream unreachable). */
  readonly refused: number;
  /** Relayed connections open now. */
  readonly open: number;
  readonly clientToUpstream: DirectionMetrics;
  readonly upstreamToClient: DirectionMetrics;
  /** Bytes all open connections hold now. */
  readonly bufferedBytes: number;
  /** The most one connection held at once. */
  readonly peakBufferedBytes: number;
}

/** Events of a `Relay`. `'error'` is only emitted when it has a listener. */
export interface RelayEvents {
  open: [connection: RelayConnection];
  close: [connection: RelayConnection, report: RelayCloseReport];
  error: [error: Error, connection: RelayConnection | undefined, side: 'client' | 'upstream' | 'hook'];
  refused: [request: RelayRequest, status: number, reason: string];
}

function addMetrics(into: DirectionMetrics, from: DirectionMetrics): void {
  into.messages += from.messages;
  into.frames += from.frames;
  into.bytes += from.bytes;
  into.dropped += from.dropped;
  into.replaced += from.replaced;
  into.inflated += from.inflated;
  into.deflated += from.deflated;
}

const zero = (): DirectionMetrics => ({ messages: 0, frames: 0, bytes: 0, dropped: 0, replaced: 0, inflated: 0, deflated: 0 });

/** What a client may send before its 101 is kept, up to this; then it is not read until the 101. */
const MAX_EARLY_BYTES = 64 * 1024;

/** An upgrade being answered, before it becomes a RelayConnection. */
interface Pending {
  socket: Duplex;
  abort: AbortController;
}

class RefusedError extends Error {
  constructor(
    readonly refusal: RelayRefusal,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A WebSocket relay: accepts clients' upgrades, opens an upstream WebSocket
 * connection for each, and pumps frames both ways (see `createRelay`).
 */
export class Relay extends EventEmitter<RelayEvents> {
  private readonly options: RelayOptions;
  private readonly pumpConfig: PumpConfig;
  private readonly live = new Set<RelayConnection>();
  private readonly pending = new Set<Pending>();
  private readonly servers = new Set<http.Server>();
  private readonly idleWaiters: Array<() => void> = [];
  private readonly closedTotals = { c2u: zero(), u2c: zero() };
  private acceptedCount = 0;
  private refusedCount = 0;
  private peak = 0;
  private closing = false;
  private readonly staticUpstream: ParsedUrl | undefined;
  private readonly handshakeTimeoutMs: number;

  constructor(options: RelayOptions) {
    super();
    // Plain JavaScript callers get no help from the types: every option is checked here.
    const checked = checkRelayOptions(options);
    this.options = options;
    this.handshakeTimeoutMs = checked.handshakeTimeoutMs;
    const { upstream } = options;
    if (typeof upstream === 'string' || upstream instanceof URL) {
      this.staticUpstream = parseWebSocketUrl(upstream);
      if (this.staticUpstream.url.search !== '') throw new UsageError(ErrorCode.InvalidUrl, 'the upstream URL is a path prefix: no query');
    } else if (typeof upstream !== 'function') {
      throw new UsageError(ErrorCode.InvalidOption, 'upstream must be a ws:// or wss:// URL, or a function of the request');
    }
    this.pumpConfig = {
      onMessage: options.onMessage,
      onFrame: options.onFrame,
      maxMessageBytes: checked.maxMessageBytes ?? (options.onMessage ? DEFAULT_MAX_MESSAGE_BYTES : Number.MAX_SAFE_INTEGER),
      closeTimeoutMs: checked.closeTimeoutMs,
      ended: (connection, report) => this.ended(connection, report),
      error: (connection, error, side) => this.report(error, connection, side),
    };
  }

  /** Totals, open connections included. */
  get metrics(): RelayMetrics {
    const c2u = { ...this.closedTotals.c2u };
    const u2c = { ...this.closedTotals.u2c };
    let buffered = 0;
    let peak = this.peak;
    for (const connection of this.live) {
      addMetrics(c2u, connection.metrics.clientToUpstream);
      addMetrics(u2c, connection.metrics.upstreamToClient);
      buffered += connection.bufferedBytes;
      peak = Math.max(peak, connection.metrics.peakBufferedBytes);
    }
    return { accepted: this.acceptedCount, refused: this.refusedCount, open: this.live.size, clientToUpstream: c2u, upstreamToClient: u2c, bufferedBytes: buffered, peakBufferedBytes: peak };
  }

  /** The relayed connections open now. */
  get connections(): ReadonlySet<RelayConnection> {
    return this.live;
  }

  /**
   * Takes over a `node:http` / `node:https` server's `'upgrade'`:
   * `server.on('upgrade', (req, socket, head) => relay.handleUpgrade(req, socket, head))`.
   */
  handleUpgrade(request: http.IncomingMessage, socket: Duplex, head: Buffer = Buffer.alloc(0)): void {
    if (request === null || typeof request !== 'object' || !Array.isArray(request.rawHeaders)) {
      throw new UsageError(ErrorCode.InvalidOption, "handleUpgrade needs the request of an http server's 'upgrade' event");
    }
    if (socket === null || typeof socket !== 'object' || typeof socket.write !== 'function') {
      throw new UsageError(ErrorCode.InvalidOption, "handleUpgrade needs the socket of an http server's 'upgrade' event");
    }
    if (!Buffer.isBuffer(head)) throw new UsageError(ErrorCode.InvalidOption, 'handleUpgrade: head must be a Buffer');
    const rawHeaders = request.rawHeaders;
    const headers: Record<string, string> = {};
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const lower = rawHeaders[i]!.toLowerCase();
      const value = rawHeaders[i + 1]!;
      headers[lower] = lower in headers ? `${headers[lower]}, ${value}` : value;
    }
    const head101: HandshakeRequestHead = { method: request.method ?? 'GET', path: request.url ?? '/', headers, rawHeaders };
    const relayRequest: RelayRequest = {
      ...head101,
      protocols: offeredProtocols(headers),
      remoteAddress: (socket as { remoteAddress?: string }).remoteAddress,
    };
    this.accept(relayRequest, head101, socket, head);
  }

  /**
   * Listens on its own `http.Server` (plain HTTP requests get 426).
   * Resolves with the port once listening.
   */
  async listen(options: { port?: number; host?: string } = {}): Promise<{ port: number; host: string; server: http.Server }> {
    checkListenOptions(options);
    if (this.closing) throw new UsageError(ErrorCode.NotOpen, 'this relay is closed: listen() needs a new one (createRelay)');
    const server = http.createServer((_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket', Connection: 'close' });
      res.end('This is a WebSocket relay: ask for an upgrade.\n');
    });
    server.on('upgrade', (req, socket, head) => this.handleUpgrade(req, socket, head));
    server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      // Answer what can be answered (as node:http does without a listener), then hang up.
      if (socket.writable) {
        const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
        socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      }
      socket.destroy();
    });
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.servers.add(server);
    return { port: (server.address() as AddressInfo).port, host, server };
  }

  /**
   * Stops listening, refuses upgrades still in their handshake, and closes
   * every relayed connection with 1001 on both sides. Resolves when every
   * socket is closed.
   */
  async close(): Promise<void> {
    this.closing = true;
    const stopped = [...this.servers].map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    this.servers.clear();
    // Each upgrade still in its handshake is given up and answered 503 (see accept).
    for (const pending of this.pending) pending.abort.abort();
    for (const connection of this.live) connection.close(CloseCode.GoingAway, 'relay shutting down');
    const idle = this.live.size === 0 && this.pending.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await Promise.all([...stopped, idle]);
  }

  private accept(request: RelayRequest, head: HandshakeRequestHead, socket: Duplex, leftover: Buffer): void {
    this.acceptedCount += 1;
    if (this.closing) return this.refusedPending(request, socket, { status: 503 }, 'the relay is closing');
    const pending: Pending = { socket, abort: new AbortController() };
    this.pending.add(pending);
    socket.on('error', () => socket.destroy());
    let clientLeft = false;
    const onClose = (): void => {
      clientLeft = true;
      pending.abort.abort();
    };
    socket.once('close', onClose);
    const handshakeTimeoutMs = this.handshakeTimeoutMs;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      pending.abort.abort();
    }, handshakeTimeoutMs).unref();
    // The socket keeps being read while the upstream is opened, so that a client that hangs up (FIN) is
    // seen at once and its upstream attempt aborted; a paused socket would not notice until the timeout.
    // RFC 6455 4.1: a client sends no frames before the 101, so what comes early is kept, up to a bound.
    const early: Buffer[] = leftover.length > 0 ? [leftover] : [];
    let earlyBytes = leftover.length;
    const onEarlyData = (chunk: Buffer): void => {
      early.push(chunk);
      earlyBytes += chunk.length;
      if (earlyBytes > MAX_EARLY_BYTES) socket.pause();
    };
    const onEnd = onClose;
    socket.on('data', onEarlyData);
    socket.once('end', onEnd);
    const stopReading = (): void => {
      socket.pause();
      socket.off('data', onEarlyData);
      socket.off('end', onEnd);
      socket.off('close', onClose);
    };
    this.openOrAbort(request, head, pending).then(
      (opened) => {
        clearTimeout(timer);
        stopReading();
        leftover = early.length === 1 ? early[0]! : Buffer.concat(early);
        this.pending.delete(pending);
        if (socket.destroyed || this.closing) {
          opened.upstream.destroy();
          return this.refusedPending(request, socket, { status: 503 }, 'the client went away or the relay is closing');
        }
        socket.write(opened.response);
        const connection = new RelayConnection(
          {
            request,
            upstreamUrl: opened.upstreamUrl,
            protocol: opened.protocol,
            clientSocket: socket,
            upstreamSocket: opened.upstream,
            clientCompression: opened.clientCompression,
            upstreamCompression: opened.upstreamCompression,
          },
          this.pumpConfig,
        );
        if ('setNoDelay' in socket) (socket as { setNoDelay(on: boolean): void }).setNoDelay(true);
        this.live.add(connection);
        connection.start(leftover, opened.leftover);
        this.emit('open', connection);
      },
      (error: unknown) => {
        clearTimeout(timer);
        stopReading();
        this.pending.delete(pending);
        let refusal: RelayRefusal;
        let reason: string;
        if (error instanceof RefusedError) {
          refusal = error.refusal;
          reason = error.message;
        } else if (timedOut) {
          refusal = { status: 504, body: 'The upstream did not answer in time.\n' };
          reason = 'the upstream did not answer in time';
        } else if (this.closing) {
          // RFC 9110 15.6.4: 503, the service is going away (a client with a retry policy comes back later).
          refusal = { status: 503, body: 'The relay is shutting down.\n' };
          reason = 'the relay is closing';
        } else if (clientLeft) {
          refusal = { status: 499 };
          reason = 'the client went away';
        } else {
          reason = error instanceof Error ? error.message : String(error);
          refusal = { status: 502, body: 'The upstream cannot be reached or refused the connection.\n' };
          if (error instanceof Error) this.report(error, undefined, 'upstream');
        }
        this.refusedPending(request, socket, refusal, reason);
      },
    );
  }

  private refusedPending(request: RelayRequest, socket: Duplex, refusal: RelayRefusal, reason: string): void {
    this.refusedCount += 1;
    writeRefusal(socket, refusal);
    this.emit('refused', request, refusal.status, reason);
    this.checkIdle();
  }

  /**
   * `open()`, given up when the attempt is aborted (the time ran out, the
   * client left, the relay closes) even if a hook never settles; an upstream
   * it opens after that is destroyed.
   */
  private openOrAbort(request: RelayRequest, head: HandshakeRequestHead, pending: Pending): ReturnType<Relay['open']> {
    const opening = this.open(request, head, pending);
    const signal = pending.abort.signal;
    let onAbort: () => void = () => {};
    const aborted = new Promise<never>((_resolve, reject) => {
      onAbort = () => reject(new ConnectionError(ErrorCode.Aborted, 'the client went away, the time ran out or the relay closed'));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    opening.then(
      (opened) => {
        if (signal.aborted) opened.upstream.destroy();
      },
      () => {},
    );
    return Promise.race([opening, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
  }

  /** Checks the request, asks `authorize`, opens the upstream and does its handshake. */
  private async open(request: RelayRequest, head: HandshakeRequestHead, pending: Pending) {
    try {
      createHandshakeResponse(head); // RFC 6455 4.2.1: a valid upgrade request, or 400
    } catch (error) {
      throw new RefusedError({ status: 400, body: `${(error as Error).message}\n` }, (error as Error).message);
    }
    const { options } = this;
    if (options.authorize) {
      let verdict: Awaited<ReturnType<NonNullable<RelayOptions['authorize']>>>;
      try {
        verdict = await options.authorize(request);
      } catch (error) {
        this.report(error instanceof Error ? error : new Error(String(error)), undefined, 'hook');
        throw new RefusedError({ status: 500 }, 'authorize threw');
      }
      const read = readAuthorizeVerdict(verdict);
      if ('bad' in read) {
        // Fail closed: a hook that answers something unexpected (0, '', null, a bad refusal) lets nobody in.
        this.report(new UsageError(ErrorCode.InvalidOption, read.bad), undefined, 'hook');
        throw new RefusedError({ status: 500 }, read.bad);
      }
      if (!read.go) throw new RefusedError({ status: read.status, headers: read.headers, body: read.body }, 'refused by authorize');
    }
    const signal = pending.abort.signal;
    if (signal.aborted) throw new ConnectionError(ErrorCode.Aborted, 'the client went away');
    const target = await this.target(request);
    if (signal.aborted) throw new ConnectionError(ErrorCode.Aborted, 'the client went away or the time ran out');
    const hooked = options.onMessage !== undefined;
    const pmdAllowed = options.perMessageDeflate !== false;
    const clientOffer = pmdAllowed ? readDeflateOffer(request.headers['sec-websocket-extensions']) : undefined;
    // Without a hook the client's own offer goes upstream (the answer then suits both); with one, ours.
    const upstreamOffer = !pmdAllowed
      ? undefined
      : hooked
        ? typeof options.perMessageDeflate === 'object'
          ? options.perMessageDeflate
          : {}
        : clientOffer;
    const negotiator = upstreamOffer ? new PerMessageDeflateNegotiator(upstreamOffer) : undefined;
    let headers: Record<string, string[]>;
    try {
      headers = forwardedHeaders(request, options.headers);
    } catch (error) {
      // The rewrite function threw or returned something else than headers: the relay's fault, not the client's.
      this.report(error instanceof Error ? error : new Error(String(error)), undefined, 'hook');
      throw new RefusedError({ status: 500 }, 'the headers rewrite failed');
    }
    let handshake: ReturnType<typeof createHandshakeRequest>;
    try {
      handshake = createHandshakeRequest({
        host: target.hostHeader,
        path: target.path,
        headers,
        protocols: request.protocols,
        extensions: negotiator?.offer(),
      });
    } catch (error) {
      // A path, header or subprotocol that cannot go into a request (or a rewrite that made one).
      throw new RefusedError({ status: 400, body: `${(error as Error).message}\n` }, (error as Error).message);
    }
    const timeoutMs = this.handshakeTimeoutMs;
    const upstream = await openUpstreamTransport(target, options, signal, timeoutMs);
    // Until the pump listens, an error is seen by the handshake reader (or by nobody, once the 101 is in).
    upstream.on('error', () => {});
    const onAbort = (): void => {
      upstream.destroy();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if ('setNoDelay' in upstream) (upstream as { setNoDelay(on: boolean): void }).setNoDelay(true);
      upstream.write(handshake.bytes);
      const { response, leftover } = await readResponse(upstream, signal);
      verifyHandshakeResponse(response, { key: handshake.key, protocols: handshake.protocols, extensions: negotiator ? [negotiator] : [] });
      const accepted = negotiator?.accepted === true;
      let extensions: string | undefined;
      let clientCompression: SideCompression = { negotiated: false };
      let upstreamCompression: SideCompression = { negotiated: accepted };
      if (!hooked) {
        // Same parameters both ways: the upstream's answer is an answer to the client's own offer.
        if (accepted) {
          const element = parseExtensions(response.extensions!).find((e) => e.name === PERMESSAGE_DEFLATE)!;
          extensions = formatExtension(element);
          clientCompression = { negotiated: true };
        }
      } else {
        if (accepted) upstreamCompression = { negotiated: true, relaySide: negotiator!.negotiated! };
        if (clientOffer) {
          const answer = acceptDeflateOffer(clientOffer);
          extensions = answer.response;
          clientCompression = { negotiated: true, relaySide: answer.relaySide };
        }
      }
      return {
        upstream,
        leftover,
        response: createHandshakeResponse(head, { protocol: response.protocol, extensions }),
        protocol: response.protocol,
        upstreamUrl: redactUrl(target.url),
        clientCompression,
        upstreamCompression,
      };
    } catch (error) {
      upstream.destroy();
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async target(request: RelayRequest): Promise<ParsedUrl> {
    const { upstream } = this.options;
    if (this.staticUpstream !== undefined) {
      const base = this.staticUpstream;
      // ws+unix: the request path follows the socket path in the URL; only `path` changes.
      if (base.socketPath !== undefined) return { ...base, path: base.path.replace(/\/$/, '') + request.path };
      const url = new URL(base.url.href);
      const query = request.path.indexOf('?');
      url.pathname = base.url.pathname.replace(/\/$/, '') + (query === -1 ? request.path : request.path.slice(0, query));
      if (query !== -1) url.search = request.path.slice(query);
      return parseWebSocketUrl(url);
    }
    let chosen: UpstreamTarget;
    try {
      chosen = await (upstream as (request: RelayRequest) => UpstreamTarget | Promise<UpstreamTarget>)(request);
    } catch (error) {
      this.report(error instanceof Error ? error : new Error(String(error)), undefined, 'hook');
      throw new RefusedError({ status: 502 }, 'the upstream function threw');
    }
    return parseWebSocketUrl(chosen);
  }

  private ended(connection: RelayConnection, report: RelayCloseReport): void {
    this.live.delete(connection);
    addMetrics(this.closedTotals.c2u, connection.metrics.clientToUpstream);
    addMetrics(this.closedTotals.u2c, connection.metrics.upstreamToClient);
    this.peak = Math.max(this.peak, connection.metrics.peakBufferedBytes);
    this.emit('close', connection, report);
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.live.size > 0 || this.pending.size > 0) return;
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private report(error: Error, connection: RelayConnection | undefined, side: 'client' | 'upstream' | 'hook'): void {
    if (this.listenerCount('error') > 0) this.emit('error', error, connection, side);
  }
}

/** Reads the upstream's answer to the opening handshake; resolves with it and the bytes after it. */
function readResponse(socket: Duplex, signal: AbortSignal): Promise<{ response: HandshakeResponse; leftover: Buffer }> {
  return new Promise((resolve, reject) => {
    const parser = new HandshakeResponseParser();
    const done = (error: unknown, result?: { response: HandshakeResponse; leftover: Buffer }): void => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      socket.pause();
      if (result) resolve(result);
      else reject(error);
    };
    const onData = (chunk: Buffer): void => {
      let parsed;
      try {
        parsed = parser.push(chunk);
      } catch (error) {
        return done(error);
      }
      if (parsed !== undefined) done(undefined, parsed);
    };
    const onError = (error: Error): void => done(new ConnectionError(ErrorCode.ConnectionLost, `upstream: ${error.message}`, { cause: error }));
    const onClose = (): void => done(new HandshakeError(ErrorCode.HandshakeMalformed, 'the upstream closed the connection during the opening handshake'));
    const onAbort = (): void => done(new ConnectionError(ErrorCode.Aborted, 'aborted'));
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Creates a relay. Mount it on an HTTP server's `'upgrade'` with
 * `handleUpgrade()`, or give it its own port with `listen()`.
 */
export function createRelay(options: RelayOptions): Relay {
  return new Relay(options);
}
