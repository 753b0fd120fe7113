// The two ends of the compressed relay row (relay-pmd16k), each run in its own
// process by relay-throughput.js:
//
//   node bench/relay-pmd.js sink          a WebSocket server that accepts
//       permessage-deflate (no context takeover both ways), counts the
//       compressed messages it gets without inflating them, and answers an
//       empty text message with its count; prints its port
//   node bench/relay-pmd.js send '<job>'  offers permessage-deflate to
//       job.port, then sends one 16 KiB JSON message, deflated once (no
//       context takeover makes every copy valid), masked with a fixed key,
//       as fast as the connection takes it; reports msg/s counted by the sink
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
import { setImmediate as immediate } from 'node:timers/promises';

const DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'protocol', 'index.js');
const { FrameDecoder, FrameEncoder, HandshakeRequestParser, createHandshakeResponse, createHandshakeRequest } = await import(pathToFileURL(DIST).href);
const EXTENSION = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
const HIGH_WATER_BYTES = 1 << 20;
const now = () => performance.now();

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

async function send(job) {
  const socket = net.connect({ host: '127.0.0.1', port: job.port, noDelay: true });
  const request = createHandshakeRequest({ host: `127.0.0.1:${job.port}`, path: '/sink', extensions: EXTENSION });
  socket.write(request.bytes);
  let head = Buffer.alloc(0);
  const decoder = new FrameDecoder({ role: 'client', maxMessageBytes: 1 << 20 });
  let answer = null;
  await new Promise((resolve, reject) => {
    socket.once('error', reject);
    const onHead = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const at = head.indexOf('\r\n\r\n');
      if (at < 0) return;
      socket.off('data', onHead);
      const text = head.toString('latin1', 0, at);
      if (!text.startsWith('HTTP/1.1 101') || !/permessage-deflate/i.test(text)) return reject(new Error(`no compressed connection: ${text.split('\r\n')[0]}`));
      socket.on('data', (c) => {
        for (const e of decoder.push(c)) if (e.type === 'data') answer?.(Number(e.payload.toString()));
      });
      resolve();
    };
    socket.on('data', onHead);
  });
  const json = JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'], ok: i % 2 === 0 })));
  const message = Buffer.from(json.padEnd(16 * 1024, ' ').slice(0, 16 * 1024));
  const deflated = zlib.deflateRawSync(message, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const frame = Buffer.concat(new FrameEncoder({ role: 'client', maskKey: (t, o) => key.copy(t, o) }).encode({ opcode: 1, payload: deflated.subarray(0, deflated.length - 4), rsv1: true }));
  const empty = Buffer.concat(new FrameEncoder({ role: 'client' }).encode({ opcode: 1, payload: '' }));
  const batch = Math.max(1, Math.floor((64 * 1024) / frame.length));
  const burst = Buffer.concat(Array.from({ length: batch }, () => frame));
  const askCount = () => new Promise((resolve) => ((answer = resolve), socket.write(empty)));
  const sendFor = async (ms) => {
    let sent = 0;
    const end = now() + ms;
    while (now() < end) {
      socket.write(burst);
      sent += batch;
      if (socket.writableLength >= HIGH_WATER_BYTES) await once(socket, 'drain');
      else await immediate();
    }
    return sent;
  };
  let sent = await sendFor(job.warmupMs);
  const c0 = await askCount();
  const t0 = now();
  sent += await sendFor(job.durationMs);
  const c1 = await askCount();
  const t1 = now();
  socket.destroy();
  if (c1 !== sent) throw new Error(`sent ${sent} compressed messages, the sink counted ${c1}`);
  return { ok: true, value: ((c1 - c0) * 1000) / (t1 - t0), extra: { messages: c1 - c0, ms: t1 - t0, compressedBytes: deflated.length - 4 } };
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
else if (process.argv[2] === 'send') {
  const report = (message) => process.send(message, () => process.exit(0));
  send(JSON.parse(process.argv[3])).then(report, (error) => report({ error: error?.stack ?? String(error) }));
}
