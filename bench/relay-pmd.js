// The two ends of the compressed relay row (relay-pmd16k), each run in its own
// process by relay-throughput.js:
//
//   node bench/relay-pmd.js sink          a WebSocket server that accepts
//       permessage-deflate (no context takeover both ways), counts the
//       compressed messages it gets without inflating them, and answers an
//       empty text message with its count; prints its port
//   node bench/relay-pmd.js '<job>'  offers permessage-deflate to job.port,
//       then runs lib/driver.js's send measurement with one 16 KiB JSON
//       message, deflated once (no context takeover makes every copy valid)
//       and masked with a fixed key
//
//   node bench/relay-pmd.js hold '<job>'  opens job.idleConnections
//       WebSocket connections to job.port's /idle and holds them (for
//       relay-rss), reports when all are open, exits when told
//
// Both relays in the row see the same compressed bytes: the plain TCP relay
// copies them; wspipe/relay passes the frames on without inflating them.
import net from 'node:net';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { runPeer, immediate } from './lib/driver.js';

const DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'protocol', 'index.js');
const { FrameDecoder, FrameEncoder, HandshakeRequestParser, createHandshakeResponse, createHandshakeRequest } = await import(pathToFileURL(DIST).href);
const EXTENSION = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
const HIGH_WATER_BYTES = 1 << 20;

function sink() {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    const parser = new HandshakeRequestParser();
    const encoder = new FrameEncoder({ role: 'server' });
    const decoder = new FrameDecoder({ role: 'server', perMessageCompression: true, unmask: false, maxMessageBytes: 1 << 30 });
    let count = 0;
    const events = {
      data(opcode, _chunk, start, end, messageStart, messageEnd, _frameEnd, compressed) {
        if (!messageEnd) return;
        if (compressed) count++;
        else if (opcode === 1 && messageStart && end === start) for (const b of encoder.encode({ opcode: 1, payload: String(count) })) socket.write(b);
      },
      control() {},
      close() {
        socket.end();
      },
      error() {
        socket.destroy();
      },
    };
    const onData = (chunk) => {
      const parsed = parser.push(chunk);
      if (!parsed) return;
      socket.off('data', onData);
      socket.write(createHandshakeResponse(parsed.request, { extensions: EXTENSION }));
      socket.on('data', (c) => decoder.decode(c, events));
      if (parsed.leftover.length > 0) decoder.decode(parsed.leftover, events);
    };
    socket.on('data', onData);
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('disconnect', () => process.exit(0));
}

/**
 * The sender, as a peer of lib/driver.js (its send measurement, counted by
 * the sink): every data message it is asked to send goes out as the one
 * deflated 16 KiB JSON message; the empty text that asks the count, as it is.
 */
function open(url, onMessage) {
  const { port } = new URL(url);
  const socket = net.connect({ host: '127.0.0.1', port: Number(port), noDelay: true });
  socket.write(createHandshakeRequest({ host: `127.0.0.1:${port}`, path: '/sink', extensions: EXTENSION }).bytes);
  const decoder = new FrameDecoder({ role: 'client', maxMessageBytes: 1 << 20 });
  const json = JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'], ok: i % 2 === 0 })));
  const deflated = zlib.deflateRawSync(Buffer.from(json.padEnd(16 * 1024, ' ').slice(0, 16 * 1024)), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const encoder = new FrameEncoder({ role: 'client', maskKey: (t, o) => key.copy(t, o) });
  const frame = Buffer.concat(encoder.encode({ opcode: 1, payload: deflated.subarray(0, deflated.length - 4), rsv1: true }));
  const empty = Buffer.concat(encoder.encode({ opcode: 1, payload: '' }));
  let pending = [];
  let pendingBytes = 0;
  const flush = () => {
    if (pending.length === 0) return;
    socket.write(pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes));
    pending = [];
    pendingBytes = 0;
  };
  const connection = {
    send(data) {
      const bytes = typeof data === 'string' && data === '' ? empty : frame;
      if (pending.length === 0) process.nextTick(flush);
      pending.push(bytes);
      pendingBytes += bytes.length;
      return socket.writableLength + pendingBytes < HIGH_WATER_BYTES;
    },
    async pace() {
      flush();
      if (socket.writableLength >= HIGH_WATER_BYTES) await once(socket, 'drain');
      else await immediate();
    },
    close() {
      flush();
      socket.destroy();
    },
  };
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    socket.once('error', reject);
    const onHead = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const at = head.indexOf('\r\n\r\n');
      if (at < 0) return;
      socket.off('data', onHead);
      const text = head.toString('latin1', 0, at);
      if (!text.startsWith('HTTP/1.1 101') || !/permessage-deflate/i.test(text)) return reject(new Error(`no compressed connection: ${text.split('\r\n')[0]}`));
      socket.on('data', (c) => {
        for (const e of decoder.push(c)) if (e.type === 'data') onMessage(e.payload.toString());
      });
      resolve(connection);
    };
    socket.on('data', onHead);
  });
}

/** Opens `job.idleConnections` connections to /idle one batch at a time and holds them until told. */
async function hold(job) {
  const sockets = [];
  const open = () =>
    new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port: job.port });
      sockets.push(socket);
      socket.on('error', reject);
      socket.write(createHandshakeRequest({ host: `127.0.0.1:${job.port}`, path: '/idle' }).bytes);
      socket.once('data', (chunk) => (chunk.toString('latin1', 0, 12) === 'HTTP/1.1 101' ? resolve() : reject(new Error('refused'))));
    });
  for (let i = 0; i < job.idleConnections; i += 50) await Promise.all(Array.from({ length: Math.min(50, job.idleConnections - i) }, open));
  process.send({ held: sockets.length });
  process.on('message', () => {
    for (const socket of sockets) socket.destroy();
    process.exit(0);
  });
}

if (process.argv[2] === 'sink') sink();
else if (process.argv[2] === 'hold') hold(JSON.parse(process.argv[3])).catch((error) => process.send({ error: String(error) }, () => process.exit(1)));
else await runPeer({ name: 'relay-pmd', load: async () => ({ version: process.version }), open });
