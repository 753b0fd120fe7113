// Composing wspipe's stages in your own pipeline, without WebSocketClient.
//
//   npm run build && node examples/compose-pipeline.mjs [ws://127.0.0.1:PORT/path]
//
// With no URL it starts the embedded echo server. The inbound side is
// socket -> HandshakeStream -> FrameDecoderStream -> MessageStream -> your
// Writable; the outbound side is PingInjector -> FrameEncoderStream -> socket.
import * as net from 'node:net';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FrameDecoderStream, FrameEncoderStream, HandshakeStream, MessageStream, Opcode, PingInjector } from 'wspipe';
import { createHandshakeRequest, encodeClosePayload } from 'wspipe/protocol';

/** Sends `texts`, waits for their echoes, closes; returns what came back. */
export async function run(url, texts) {
  const { hostname, port, pathname, search } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));

  const request = createHandshakeRequest({ host: `${hostname}:${port}`, path: pathname + search });
  const handshake = new HandshakeStream({ key: request.key, protocols: request.protocols });
  const decoder = new FrameDecoderStream({ role: 'client' });
  const messages = new MessageStream();
  const encoder = new FrameEncoderStream({ role: 'client' });
  const pinger = new PingInjector({ pingIntervalMs: 1_000, autoStart: false });
  pinger.pipe(encoder).pipe(socket);

  handshake.once('response', () => {
    pinger.start();
    for (const text of texts) pinger.write({ opcode: Opcode.Text, payload: text });
  });

  const received = [];
  const consumer = new Writable({
    objectMode: true,
    write(event, _encoding, done) {
      if (event.type === 'message') {
        received.push(event.data.toString());
        if (received.length === texts.length) pinger.end({ opcode: Opcode.Close, payload: encodeClosePayload(1000) });
      } else if (event.type === 'ping') {
        encoder.write({ opcode: Opcode.Pong, payload: event.payload });
      } else if (event.type === 'pong') {
        pinger.pongReceived();
      } else if (event.type === 'error') {
        // A protocol error carries the close code to send before hanging up.
        pinger.end({ opcode: Opcode.Close, payload: encodeClosePayload(event.error.closeCode) });
      }
      done();
    },
  });

  socket.write(request.bytes);
  // The pipeline ends when the server's close frame ends the decoder.
  await pipeline(socket, handshake, decoder, messages, consumer);
  socket.destroy();
  return received;
}

async function main() {
  let url = process.argv[2];
  let server;
  if (!url) {
    const { startEchoServer } = await import('../dist/server/echo-server.js');
    server = await startEchoServer();
    url = server.url;
  }
  const echoes = await run(url, ['composed', 'by', 'hand']);
  console.log('echoed:', echoes.join(' '));
  await server?.close();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
