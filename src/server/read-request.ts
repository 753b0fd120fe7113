import type { Socket } from 'node:net';
import { HandshakeRequestParser, type HandshakeRequestHead } from '../protocol/handshake-server.js';

const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/**
 * Reads a client's opening handshake from `socket` and calls `onRequest`
 * with it and the bytes that followed it; a malformed request is answered
 * with 400 and the socket ended. Stops reading for itself once it has the head.
 */
export function readHandshakeRequest(socket: Socket, onRequest: (request: HandshakeRequestHead, leftover: Buffer) => void): void {
  const parser = new HandshakeRequestParser();
  const onData = (chunk: Buffer): void => {
    let parsed;
    try {
      parsed = parser.push(chunk);
    } catch {
      socket.off('data', onData);
      socket.end(BAD_REQUEST);
      return;
    }
    if (!parsed) return;
    socket.off('data', onData);
    onRequest(parsed.request, parsed.leftover);
  };
  socket.on('data', onData);
}

/** Ends `socket` with a 400 answer. */
export function refuseBadRequest(socket: Socket): void {
  socket.end(BAD_REQUEST);
}
