import * as net from 'node:net';
import { encodeClosePayload } from '../protocol/close.js';
import type { DecoderEvent } from '../protocol/frame-decoder.js';
import { createHandshakeResponse, type HandshakeRequestHead } from '../protocol/handshake-server.js';
import { MessageAssembler } from '../protocol/message-assembler.js';
import { Opcode } from '../protocol/opcode.js';
import { FrameDecoderStream } from '../streams/frame-decoder-stream.js';
import { FrameEncoderStream } from '../streams/frame-encoder-stream.js';
import { readHandshakeRequest, refuseBadRequest } from './read-request.js';

/** A connection accepted by `startEchoServer`. */
export interface EchoConnection {
  request: HandshakeRequestHead;
  socket: net.Socket;
  /** Sends a close frame and ends the connection. */
  close(code?: number, reason?: string): void;
}

/** An HTTP answer that refuses a handshake (see `startEchoServer`'s `refuse`). */
export interface EchoRefusal {
  status: number;
  statusText: string;
  /** Sent as text/plain. */
  body?: string;
}

export interface EchoServer {
  port: number;
  url: string;
  connections: Set<EchoConnection>;
  close(): Promise<void>;
}

/**
 * A small WebSocket echo server built from wspipe's own stages in the server
 * role (it unmasks what clients send and never masks what it sends). For
 * demos and tests on loopback; not a production server.
 */
export function startEchoServer(
  options: {
    port?: number;
    host?: string;
    /** Listen on a unix domain socket instead of TCP. */
    path?: string;
    /** Wrap accepted sockets (e.g. in TLS) before the handshake; defaults to plain TCP. */
    createServer?: (onSocket: (socket: net.Socket) => void) => net.Server;
    onConnection?: (conn: EchoConnection) => void;
    /** Answer this request with an HTTP refusal instead of 101 (a demo of onError, a test of refusals). */
    refuse?: (request: HandshakeRequestHead) => EchoRefusal | undefined;
  } = {},
): Promise<EchoServer> {
  const connections = new Set<EchoConnection>();
  const onSocket = (socket: net.Socket): void => {
    socket.on('error', () => socket.destroy());
    readHandshakeRequest(socket, (request, leftover) => {
      const refusal = options.refuse?.(request);
      if (refusal) {
        const body = Buffer.from(refusal.body ?? '');
        socket.end(
          `HTTP/1.1 ${refusal.status} ${refusal.statusText}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
            `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.toString('latin1')}`,
          'latin1',
        );
        return;
      }
      let head: Buffer;
      try {
        head = createHandshakeResponse(request);
      } catch {
        refuseBadRequest(socket);
        return;
      }
      socket.write(head);
      serve(socket, request, leftover, connections, options.onConnection);
    });
  };
  const server = options.createServer ? options.createServer(onSocket) : net.createServer(onSocket);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const listening = (): void => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      resolve({
        port,
        url: options.path !== undefined ? `ws+unix://${options.path}` : `ws://${urlHost(options.host ?? '127.0.0.1')}:${port}`,
        connections,
        close: () =>
          new Promise<void>((done) => {
            for (const conn of connections) conn.socket.destroy();
            server.close(() => done());
          }),
      });
    };
    if (options.path !== undefined) server.listen(options.path, listening);
    else server.listen(options.port ?? 0, options.host ?? '127.0.0.1', listening);
  });
}

function serve(
  socket: net.Socket,
  request: HandshakeRequestHead,
  leftover: Buffer,
  connections: Set<EchoConnection>,
  onConnection: ((conn: EchoConnection) => void) | undefined,
): void {
  const decoder = new FrameDecoderStream({ role: 'server', batch: true });
  const encoder = new FrameEncoderStream({ role: 'server' });
  const assembler = new MessageAssembler();
  let closeSent = false;
  const sendClose = (payload: Buffer): void => {
    if (closeSent) return;
    closeSent = true;
    encoder.enqueue({ opcode: Opcode.Close, payload });
    encoder.end();
  };
  const conn: EchoConnection = { request, socket, close: (code = 1000, reason = '') => sendClose(encodeClosePayload(code, reason)) };
  connections.add(conn);
  socket.on('close', () => {
    connections.delete(conn);
    decoder.destroy();
    encoder.destroy();
  });
  encoder.pipe(socket);
  decoder.on('data', (events: DecoderEvent[]) => {
    for (const event of events) {
      switch (event.type) {
        case 'data': {
          const message = assembler.add(event.opcode, event.payload, event.messageStart, event.messageEnd);
          if (message && !closeSent) encoder.enqueue({ opcode: message.opcode, payload: message.data as Buffer });
          break;
        }
        case 'ping':
          if (!closeSent) encoder.enqueue({ opcode: Opcode.Pong, payload: event.payload });
          break;
        case 'close':
          // RFC 6455 5.5.1: echo the code; then the server closes TCP first (7.1.1).
          sendClose(event.code === undefined ? Buffer.alloc(0) : encodeClosePayload(event.code));
          break;
        case 'error':
          sendClose(encodeClosePayload(event.error.closeCode));
          break;
        case 'pong':
          break;
      }
    }
  });
  socket.pipe(decoder);
  if (leftover.length > 0) decoder.write(leftover);
  onConnection?.(conn);
}

/** An IPv6 address goes in brackets in a URL. */
function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
