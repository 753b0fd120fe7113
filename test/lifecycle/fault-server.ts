// A raw TCP server that plays one phase of the opening (or closing) handshake,
// then one fault: the fault table's other half. Plus a tracker of what the
// client left behind.
import { createHook } from 'node:async_hooks';
import * as http from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { acceptValue } from '../../src/protocol/handshake.js';
import { makeCertificate } from '../helpers/certificate.js';

/** How far the server goes before the fault. */
export type ServerPhase =
  | 'accepted'
  | 'request read'
  | 'half a 101'
  | 'bad 101'
  | 'refusal without length'
  | 'open'
  | 'closing';

export type Fault = 'FIN' | 'RST' | 'silence' | 'garbage' | 'endless header';

export interface FaultServer {
  port: number;
  /** Sockets the server still holds: the client's end is not closed yet. */
  openSockets(): number;
  close(): Promise<void>;
}

const VALID_101 = (key: string): string =>
  `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptValue(key)}\r\n\r\n`;

/** What the server writes, by phase, once it has read the request (`accepted` writes before reading). */
function script(phase: ServerPhase, key: string): string {
  switch (phase) {
    case 'half a 101':
      return 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n';
    case 'bad 101':
      return 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n';
    case 'refusal without length':
      return 'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nnot here';
    case 'open':
    case 'closing':
      return VALID_101(key);
    default:
      return '';
  }
}

function inflict(socket: net.Socket, phase: ServerPhase, fault: Fault): void {
  switch (fault) {
    case 'FIN':
      return void socket.end();
    case 'RST':
      return void socket.resetAndDestroy();
    case 'silence':
      return;
    case 'garbage':
      // Once open: FIN, RSV1-3 and the reserved opcode 0xF (RFC 6455 5.2). Before: a head that is no HTTP.
      return void socket.write(phase === 'open' || phase === 'closing' ? Buffer.from([0xff, 0x00]) : '\x00\xff\x01 garbage\r\n\r\n');
    case 'endless header': {
      // A header line that never ends, written as fast as the client reads.
      if (phase === 'accepted' || phase === 'request read') socket.write('HTTP/1.1 101 Switching Protocols\r\n');
      socket.write('X-Filler: ');
      const filler = Buffer.alloc(1024, 'a');
      const more = (): void => {
        while (!socket.destroyed && socket.write(filler));
        if (!socket.destroyed) socket.once('drain', more);
      };
      return more();
    }
  }
}

/** A server that plays `phase`, then `fault`. */
export function startFaultServer(phase: ServerPhase, fault: Fault): Promise<FaultServer> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    if (phase === 'accepted') {
      socket.resume(); // reads (and drops) the request, so it sees the client's FIN
      return inflict(socket, phase, fault);
    }
    let head = '';
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      if (answered) {
        // 'closing': the client's close frame has come.
        if (phase === 'closing') inflict(socket, phase, fault);
        return;
      }
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      answered = true;
      const key = /sec-websocket-key: (\S+)/i.exec(head)?.[1] ?? '';
      const answer = script(phase, key);
      if (answer !== '') socket.write(answer);
      if (phase !== 'closing') inflict(socket, phase, fault);
    });
  });
  return listen(server);
}

/** Listens on 127.0.0.1, keeping count of the accepted sockets still open. */
async function listen(server: net.Server): Promise<FaultServer> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    openSockets: () => sockets.size,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** node:http with a header limit the client's request exceeds: it answers 431 with Connection: close and closes. */
export function start431Server(): Promise<FaultServer> {
  return listen(http.createServer({ maxHeaderSize: 64 }, () => {}));
}

/** A TLS server, for `ws://` pointed at a TLS port. */
export function startTlsPortServer(): Promise<FaultServer> {
  const { key, cert } = makeCertificate();
  const server = tls.createServer({ key, cert }, () => {});
  server.on('tlsClientError', () => {});
  return listen(server);
}

/** A port nothing listens on. */
export async function refusedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const TRACKED = new Set(['Timeout', 'Immediate', 'TCPWRAP', 'TLSWRAP', 'TCPCONNECTWRAP']);

/**
 * Sockets and timers that wspipe's own code (src/) created and that are not
 * destroyed yet; unref()ed timers included, which getActiveResourcesInfo()
 * does not list.
 */
export class LeftBehind {
  private readonly live = new Map<number, string>();
  private readonly hook = createHook({
    init: (asyncId, type) => {
      if (!TRACKED.has(type)) return;
      const stack = new Error().stack ?? '';
      if (/\/src\/(client|streams|protocol)\//.test(stack)) this.live.set(asyncId, `${type} ${stack.split('\n').slice(3, 6).join(' | ')}`);
    },
    destroy: (asyncId) => void this.live.delete(asyncId),
  });

  start(): this {
    this.hook.enable();
    return this;
  }

  /** Stops tracking and lists what is still alive. */
  stop(): string[] {
    this.hook.disable();
    return [...this.live.values()];
  }
}
