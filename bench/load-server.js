// The load server for `npm run bench`: raw node:net in its own process, doing
// as little work as it can so that only the client's cost shows.
//
// Routes (the request path picks the workload):
//   /blast/<kind>?n=N  wait for the client's first data frame ("go"), then write
//                      N prebuilt unmasked messages (no n: until the client
//                      leaves) as fast as the socket drains.
//                      kinds: text16, text1k, bin64k, bin1m, frag16m (16 MiB in 1,024
//                      fragments).
//   /sink              read and discard; count data messages. An empty text
//                      message asks for the count: the answer is a text
//                      message holding the count so far on this connection.
//   /echo              unmask each frame and send it back, opcode and FIN kept.
//   /echo-deflate      accept the client's permessage-deflate offer (RFC 7692)
//                      and echo each whole message compressed, zlib contexts
//                      kept per connection (lib/deflate-echo.js). Without an
//                      offer it echoes uncompressed.
//   /idle              nothing but the closing handshake.
//
// Started with an IPC channel (fork), it reports {type:'listening', port};
// started alone, it prints {"port":N} on stdout. It ends by itself when the
// parent goes away or after --max-lifetime-ms (default 1 hour).
import net from 'node:net';
import { createHash } from 'node:crypto';
import { acceptDeflateOffer, DeflateEcho } from './lib/deflate-echo.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_REQUEST_HEAD_BYTES = 8192;
// 1 MiB per write. At 64 KiB (one 64 KiB message per write, a 'drain' between writes) the
// server was the ceiling of the 64 KiB row: the raw socket client got no more than ws
// (22k msg/s); with 1 MiB writes the raw client reaches about 2x that.
const BLAST_UNIT_TARGET_BYTES = 1024 * 1024;

function argValue(name, fallback) {
  const at = process.argv.indexOf(name);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

// ---- prebuilt server frames (unmasked) -------------------------------------

function frameHeader(fin, opcode, length) {
  if (length < 126) return Buffer.from([(fin ? 0x80 : 0) | opcode, length]);
  if (length < 0x10000) {
    const h = Buffer.alloc(4);
    h[0] = (fin ? 0x80 : 0) | opcode;
    h[1] = 126;
    h.writeUInt16BE(length, 2);
    return h;
  }
  const h = Buffer.alloc(10);
  h[0] = (fin ? 0x80 : 0) | opcode;
  h[1] = 127;
  h.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
  h.writeUInt32BE(length >>> 0, 6);
  return h;
}

/** ASCII text of `length` bytes that is not one repeated byte. */
function textPayload(length) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < length; i++) s += alphabet[i % alphabet.length];
  return Buffer.from(s, 'latin1');
}

function binaryPayload(length) {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

/**
 * A blast unit is one buffer holding `messagesPerUnit` whole messages, written
 * over and over. Messages smaller than the target are packed ~1 MiB to a unit so the server
 * spends one write per unit, not per message.
 */
function packedUnit(frame) {
  const messagesPerUnit = Math.max(1, Math.floor(BLAST_UNIT_TARGET_BYTES / frame.length));
  const unit = Buffer.allocUnsafe(frame.length * messagesPerUnit);
  for (let i = 0; i < messagesPerUnit; i++) frame.copy(unit, i * frame.length);
  return { unit, messagesPerUnit, frameBytes: frame.length };
}

function fragmentedUnit(totalBytes, fragments) {
  const payload = binaryPayload(totalBytes);
  const size = totalBytes / fragments;
  const parts = [];
  for (let i = 0; i < fragments; i++) {
    const fin = i === fragments - 1;
    const opcode = i === 0 ? 0x2 : 0x0;
    parts.push(frameHeader(fin, opcode, size), payload.subarray(i * size, (i + 1) * size));
  }
  const unit = Buffer.concat(parts);
  return { unit, messagesPerUnit: 1, frameBytes: unit.length };
}

// Built once, before the server reports its port, so no measurement pays for it.
const BLAST_UNITS = {
  text16: packedUnit(Buffer.concat([frameHeader(true, 0x1, 16), textPayload(16)])),
  text1k: packedUnit(Buffer.concat([frameHeader(true, 0x1, 1024), textPayload(1024)])),
  bin64k: packedUnit(Buffer.concat([frameHeader(true, 0x2, 64 * 1024), binaryPayload(64 * 1024)])),
  bin1m: packedUnit(Buffer.concat([frameHeader(true, 0x2, 1 << 20), binaryPayload(1 << 20)])),
  frag16m: fragmentedUnit(16 << 20, 1024),
};

const CLOSE_NORMAL = Buffer.from([0x88, 0x02, 0x03, 0xe8]);
/** RFC 7692 6: RSV1 on a message's first frame marks it compressed. */
const RSV1 = 0x40;

// ---- reading the client's (masked) frames ----------------------------------

function headerSize(secondByte) {
  const len7 = secondByte & 0x7f;
  const base = len7 < 126 ? 2 : len7 === 126 ? 4 : 10;
  return secondByte & 0x80 ? base + 4 : base;
}

/**
 * Walks masked client frames across chunk boundaries and calls
 * `onFrame(fin, opcode, length, payload, rsv1)`. The payload is unmasked and joined
 * only when `keepPayload` (echo); the sink skips payload bytes untouched.
 */
class ClientFrameReader {
  constructor(onFrame, keepPayload) {
    this.onFrame = onFrame;
    this.keepPayload = keepPayload;
    this.head = Buffer.alloc(14);
    this.headHave = 0;
    this.remaining = 0;
    this.fin = false;
    this.opcode = 0;
    this.rsv1 = false;
    this.length = 0;
    this.masked = false;
    this.key = Buffer.alloc(4);
    this.parts = [];
  }

  push(chunk) {
    let i = 0;
    const end = chunk.length;
    while (i < end) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, end - i);
        if (this.keepPayload) this.parts.push(chunk.subarray(i, i + take));
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.finishFrame();
        continue;
      }
      // Fast path: the whole header lies in this chunk.
      if (this.headHave === 0 && end - i >= 2) {
        const size = headerSize(chunk[i + 1]);
        if (end - i >= size) {
          this.beginFrame(chunk, i);
          i += size;
          continue;
        }
      }
      this.head[this.headHave++] = chunk[i++];
      if (this.headHave >= 2 && this.headHave === headerSize(this.head[1])) {
        this.headHave = 0;
        this.beginFrame(this.head, 0);
      }
    }
  }

  beginFrame(b, at) {
    this.fin = (b[at] & 0x80) !== 0;
    this.opcode = b[at] & 0x0f;
    this.rsv1 = (b[at] & RSV1) !== 0;
    this.masked = (b[at + 1] & 0x80) !== 0;
    const len7 = b[at + 1] & 0x7f;
    let p = at + 2;
    if (len7 === 126) {
      this.length = b.readUInt16BE(p);
      p += 2;
    } else if (len7 === 127) {
      this.length = b.readUInt32BE(p) * 2 ** 32 + b.readUInt32BE(p + 4);
      p += 8;
    } else {
      this.length = len7;
    }
    if (this.masked) b.copy(this.key, 0, p, p + 4);
    this.remaining = this.length;
    if (this.length === 0) this.finishFrame();
  }

  finishFrame() {
    let payload = null;
    if (this.keepPayload) {
      payload = this.parts.length === 1 ? Buffer.from(this.parts[0]) : Buffer.concat(this.parts);
      this.parts = [];
      if (this.masked) {
        const key = this.key;
        for (let j = 0; j < payload.length; j++) payload[j] ^= key[j & 3];
      }
    }
    this.onFrame(this.fin, this.opcode, this.length, payload, this.rsv1);
  }
}

// ---- connections -----------------------------------------------------------

const stats = { handshakes: 0, sinkMessages: 0, echoedFrames: 0, blastedMessages: 0, deflateEchoes: 0, deflateConnections: 0 };

/** RFC 6455 close handling for every route: answer a close, then end TCP. */
function closeFrom(socket) {
  if (socket.writable) socket.end(CLOSE_NORMAL);
}

function startBlast(socket, kind, limit) {
  const spec = BLAST_UNITS[kind];
  let left = limit; // messages still to send; Infinity when unbounded
  let stopped = false;
  const stop = () => {
    stopped = true;
  };
  socket.once('close', stop);
  socket.once('error', stop);
  const pump = () => {
    while (!stopped && left > 0) {
      let chunk = spec.unit;
      let messages = spec.messagesPerUnit;
      if (left < messages) {
        chunk = spec.unit.subarray(0, left * spec.frameBytes);
        messages = left;
      }
      left -= messages;
      stats.blastedMessages += messages;
      if (!socket.write(chunk)) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

function routeOf(path) {
  const q = path.indexOf('?');
  const pathname = q < 0 ? path : path.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : path.slice(q + 1));
  return { pathname, params };
}

/** /echo-deflate: whole messages, inflated if RSV1 says so, echoed compressed. */
function deflateEchoReader(socket, accepted) {
  const sendPlain = (opcode, payload) => socket.write(Buffer.concat([frameHeader(true, opcode, payload.length), payload]));
  let echo = null;
  if (accepted) {
    stats.deflateConnections++;
    const send = (opcode, payload) => {
      if (!socket.writable) return;
      stats.deflateEchoes++;
      // The RSV1 bit rides in frameHeader's first byte, with FIN and the opcode.
      socket.write(Buffer.concat([frameHeader(true, RSV1 | opcode, payload.length), payload]));
    };
    echo = new DeflateEcho(accepted, send, () => socket.destroy());
    socket.once('close', () => echo.close());
  }
  let parts = [];
  let opcode = 0;
  let compressed = false;
  return new ClientFrameReader((fin, frameOpcode, length, payload, rsv1) => {
    if (frameOpcode === 0x8) return closeFrom(socket);
    if (frameOpcode >= 0x8) return;
    if (frameOpcode !== 0x0) {
      opcode = frameOpcode;
      compressed = rsv1;
    }
    parts.push(payload);
    if (!fin) return;
    const message = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    parts = [];
    if (echo) echo.echo(compressed, opcode, message);
    else sendPlain(opcode, message);
  }, true);
}

function onUpgraded(socket, pathname, params, leftover, deflate) {
  let reader;
  if (pathname.startsWith('/blast/')) {
    const kind = pathname.slice('/blast/'.length);
    const n = params.has('n') ? Number(params.get('n')) : Infinity;
    let started = false;
    reader = new ClientFrameReader((fin, opcode) => {
      if (opcode === 0x8) return closeFrom(socket);
      if (!started && opcode < 0x8) {
        started = true;
        startBlast(socket, kind, n);
      }
    }, false);
  } else if (pathname === '/sink') {
    let count = 0;
    reader = new ClientFrameReader((fin, opcode, length) => {
      if (opcode === 0x8) return closeFrom(socket);
      if (opcode >= 0x8 || !fin) return;
      if (opcode === 0x1 && length === 0) {
        const answer = Buffer.from(String(count));
        socket.write(Buffer.concat([frameHeader(true, 0x1, answer.length), answer]));
        return;
      }
      count++;
      stats.sinkMessages++;
    }, false);
  } else if (pathname === '/echo') {
    reader = new ClientFrameReader((fin, opcode, length, payload) => {
      if (opcode === 0x8) return closeFrom(socket);
      if (opcode === 0x9 || opcode === 0xa) return; // pings are not part of any workload
      stats.echoedFrames++;
      socket.write(Buffer.concat([frameHeader(fin, opcode, length), payload]));
    }, true);
  } else if (pathname === '/echo-deflate') {
    reader = deflateEchoReader(socket, deflate);
  } else {
    reader = new ClientFrameReader((fin, opcode) => {
      if (opcode === 0x8) closeFrom(socket);
    }, false);
  }
  socket.on('data', (chunk) => reader.push(chunk));
  if (leftover.length > 0) reader.push(leftover);
}

const KNOWN_ROUTES = /^\/(blast\/(text16|text1k|bin64k|bin1m|frag16m)|sink|echo|echo-deflate|idle)$/;

function onConnection(socket) {
  socket.setNoDelay(true);
  socket.on('error', () => {}); // clients leave abruptly at the end of a measurement
  let head = Buffer.alloc(0);
  const onHead = (chunk) => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const endAt = head.indexOf('\r\n\r\n');
    if (endAt < 0) {
      if (head.length > MAX_REQUEST_HEAD_BYTES) socket.destroy();
      return;
    }
    socket.off('data', onHead);
    const lines = head.toString('latin1', 0, endAt).split('\r\n');
    const [, path = '/'] = lines[0].split(' ');
    let key = '';
    let extensions = '';
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i].indexOf(':');
      const name = lines[i].slice(0, colon).trim().toLowerCase();
      const value = lines[i].slice(colon + 1).trim();
      if (name === 'sec-websocket-key') key = value;
      else if (name === 'sec-websocket-extensions') extensions = extensions ? `${extensions}, ${value}` : value;
    }
    const { pathname, params } = routeOf(path);
    if (!key || !KNOWN_ROUTES.test(pathname)) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
    // Only /echo-deflate takes up an offer; every other route declines it.
    const deflate = pathname === '/echo-deflate' ? acceptDeflateOffer(extensions) : null;
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n` +
        (deflate ? `Sec-WebSocket-Extensions: ${deflate.response}\r\n` : '') +
        '\r\n',
    );
    stats.handshakes++;
    onUpgraded(socket, pathname, params, head.subarray(endAt + 4), deflate);
  };
  socket.on('data', onHead);
}

// ---- lifetime and reporting ------------------------------------------------

const server = net.createServer(onConnection);
server.maxConnections = 20000;
server.listen(Number(argValue('--port', '0')), '127.0.0.1', () => {
  const { port } = server.address();
  if (process.send) process.send({ type: 'listening', port });
  else process.stdout.write(JSON.stringify({ port }) + '\n');
});

if (process.send) {
  process.on('message', (msg) => {
    if (msg && msg.type === 'stats') process.send({ type: 'stats', ...stats });
  });
  process.on('disconnect', () => process.exit(0));
}
// Bounded even when the parent dies without closing the IPC channel cleanly:
// an orphan is re-parented, so its ppid changes.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) process.exit(0);
}, 1000).unref();
setTimeout(() => process.exit(0), Number(argValue('--max-lifetime-ms', String(60 * 60 * 1000)))).unref();
