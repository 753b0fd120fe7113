// The ceiling: a bare node:net socket that does only what the workload cannot
// do without. It walks frame headers to count messages (payload bytes are
// skipped, not touched, unless the workload needs the data), sends prebuilt
// masked frames (masked once per distinct payload, with a fixed key), and
// gathers one turn's frames into one write. It verifies nothing.
import net from 'node:net';
import { once } from 'node:events';
import { runPeer, immediate } from '../lib/driver.js';
import { SEND_HIGH_WATER_BYTES } from '../lib/workloads.js';

const KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const HANDSHAKE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function maskedFrame(opcode, payload) {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 0x10000 ? 2 : 8;
  const frame = Buffer.allocUnsafe(2 + ext + 4 + len);
  frame[0] = 0x80 | opcode;
  if (ext === 0) frame[1] = 0x80 | len;
  else if (ext === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    frame.writeUInt32BE(len >>> 0, 6);
  }
  const p = 2 + ext;
  KEY.copy(frame, p);
  for (let i = 0; i < len; i++) frame[p + 4 + i] = payload[i] ^ KEY[i & 3];
  return frame;
}

const CLOSE_FRAME = maskedFrame(0x8, Buffer.from([0x03, 0xe8]));

/**
 * Counts messages in the server's unmasked frames. With `needData`, it also
 * gathers each message's payload (a string for text, a Buffer for binary).
 */
class FrameCounter {
  constructor(onMessage, needData) {
    this.onMessage = onMessage;
    this.needData = needData;
    this.head = Buffer.alloc(10);
    this.headHave = 0;
    this.skip = 0;
    this.fin = false;
    this.isControl = false;
    this.messageOpcode = 0;
    this.messageBytes = 0;
    this.parts = [];
  }

  push(chunk) {
    let i = 0;
    const end = chunk.length;
    while (i < end) {
      if (this.skip > 0) {
        const take = this.skip < end - i ? this.skip : end - i;
        if (this.needData && !this.isControl) this.parts.push(chunk.subarray(i, i + take));
        i += take;
        this.skip -= take;
        if (this.skip === 0) this.frameDone();
        continue;
      }
      if (this.headHave === 0 && end - i >= 2) {
        const len7 = chunk[i + 1] & 0x7f;
        if (len7 < 126) {
          // The common case of small frames: two header bytes, in this chunk.
          this.frameStart(chunk[i], len7);
          i += 2;
          if (len7 === 0) this.frameDone();
          continue;
        }
        if (len7 === 126 && end - i >= 4) {
          this.frameStart(chunk[i], (chunk[i + 2] << 8) | chunk[i + 3]);
          i += 4;
          continue;
        }
      }
      this.head[this.headHave++] = chunk[i++];
      if (this.headHave < 2) continue;
      const len7 = this.head[1] & 0x7f;
      const size = len7 < 126 ? 2 : len7 === 126 ? 4 : 10;
      if (this.headHave < size) continue;
      this.headHave = 0;
      const len = len7 < 126 ? len7 : len7 === 126 ? this.head.readUInt16BE(2) : this.head.readUInt32BE(2) * 2 ** 32 + this.head.readUInt32BE(6);
      this.frameStart(this.head[0], len);
      if (len === 0) this.frameDone();
    }
  }

  frameStart(b0, len) {
    this.fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    this.isControl = opcode >= 0x8;
    if (opcode === 0x1 || opcode === 0x2) this.messageOpcode = opcode;
    if (!this.isControl) this.messageBytes += len;
    this.skip = len;
  }

  frameDone() {
    if (!this.fin || this.isControl) return;
    let data = this.messageBytes;
    if (this.needData) {
      const payload = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
      data = this.messageOpcode === 0x1 ? payload.toString() : Buffer.from(payload);
      this.parts = [];
    }
    this.messageBytes = 0;
    this.onMessage(data);
  }
}

function open(url, onMessage, { needData }) {
  const { hostname, port, pathname, search } = new URL(url);
  const socket = net.connect({ host: hostname, port: Number(port), noDelay: true });
  socket.write(
    `GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${HANDSHAKE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    socket.once('error', reject);
    const onHead = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const endAt = head.indexOf('\r\n\r\n');
      if (endAt < 0) return;
      socket.off('data', onHead);
      socket.off('error', reject);
      socket.on('error', () => {});
      if (!head.subarray(0, 12).equals(Buffer.from('HTTP/1.1 101'))) return reject(new Error('handshake refused'));
      const counter = new FrameCounter(onMessage, needData);
      socket.on('data', (c) => counter.push(c));
      if (head.length > endAt + 4) counter.push(head.subarray(endAt + 4));
      resolve(connection(socket));
    };
    socket.on('data', onHead);
  });
}

function connection(socket) {
  let pending = [];
  let pendingBytes = 0;
  let lastPayload = null;
  let lastFrame = null;
  const flush = () => {
    if (pending.length === 0) return;
    socket.write(pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes));
    pending = [];
    pendingBytes = 0;
  };
  return {
    send(data, isBinary) {
      if (data !== lastPayload) {
        lastPayload = data;
        lastFrame = maskedFrame(isBinary ? 0x2 : 0x1, Buffer.from(data));
      }
      if (pending.length === 0) process.nextTick(flush);
      pending.push(lastFrame);
      pendingBytes += lastFrame.length;
      return socket.writableLength + pendingBytes < SEND_HIGH_WATER_BYTES;
    },
    async pace() {
      flush();
      if (socket.writableLength >= SEND_HIGH_WATER_BYTES) await once(socket, 'drain');
      else await immediate();
    },
    close() {
      flush();
      const closed = once(socket, 'close');
      socket.write(CLOSE_FRAME);
      return closed;
    },
    terminate() {
      socket.destroy();
    },
  };
}

await runPeer({ name: 'raw', load: async () => ({ version: process.version }), open });
