// The test peer checks itself: a raw socket playing a misbehaving client must
// trip each of the peer's checks, and a well-behaved one none. Otherwise a
// passing conformance run would prove nothing.
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Peer } from './peer.js';
import { frame, Op } from './wire.js';

const KEY = (): string => randomBytes(16).toString('base64');
const request = (port: number, key: string, extra = ''): string =>
  `GET /self HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
const masked = (opcode: number, payload: Buffer | string, more: { rsv?: number; fin?: boolean; key?: Buffer } = {}): Buffer =>
  frame({ opcode, payload, rsv: more.rsv, fin: more.fin, maskKey: more.key ?? randomBytes(4) });

/** Connects, sends `head`, waits for the 101 if `awaitAccept`, then sends `after`; returns the peer's violations. */
async function play(head: (port: number) => string, after: Buffer[] = [], options: { beforeAccept?: Buffer } = {}): Promise<string[]> {
  const peer = await Peer.start(async (conn) => {
    if (options.beforeAccept) await sleep(50);
    await conn.accept();
    await conn.waitTcpClosed(1000);
  });
  const socket: Socket = connect(peer.port, '127.0.0.1');
  socket.on('error', () => {});
  socket.on('data', () => {});
  await new Promise((r) => socket.once('connect', r));
  socket.write(head(peer.port));
  if (options.beforeAccept) socket.write(options.beforeAccept);
  await sleep(100);
  for (const b of after) socket.write(b);
  await sleep(100);
  socket.destroy();
  await sleep(20);
  const violations = peer.connections.flatMap((c) => c.violations);
  await peer.stop();
  return violations;
}

describe('the conformance peer catches a misbehaving client', () => {
  it('accepts a well-behaved client', async () => {
    expect(await play((p) => request(p, KEY()), [masked(Op.Text, 'hi'), masked(Op.Ping, ''), masked(Op.Close, Buffer.from([0x03, 0xe8]))])).toEqual([]);
  });
  it.each([
    ['no key', (p: number) => request(p, '').replace('Sec-WebSocket-Key: \r\n', ''), /Sec-WebSocket-Key/],
    ['a 15-byte key', (p: number) => request(p, randomBytes(15).toString('base64')), /16 bytes/],
    ['version 8', (p: number) => request(p, KEY()).replace('Version: 13', 'Version: 8'), /Version/],
    ['no Upgrade', (p: number) => request(p, KEY()).replace('Upgrade: websocket\r\n', ''), /Upgrade/],
    ['POST', (p: number) => request(p, KEY()).replace('GET', 'POST'), /GET/],
  ])('a bad request: %s', async (_name, head, pattern) => {
    expect((await play(head)).join('\n')).toMatch(pattern);
  });
  it('a key used twice', async () => {
    const key = KEY();
    await play((p) => request(p, key));
    expect((await play((p) => request(p, key))).join('\n')).toMatch(/reused/);
  });
  it.each([
    ['an unmasked frame', [frame({ opcode: Op.Text, payload: 'x' })], /unmasked/],
    ['RSV bits', [masked(Op.Text, 'x', { rsv: 4 })], /RSV/],
    ['a mask key used on consecutive frames', [masked(Op.Text, 'a', { key: Buffer.from([9, 9, 9, 9]) }), masked(Op.Text, 'b', { key: Buffer.from([9, 9, 9, 9]) })], /reused/],
    ['invalid UTF-8 in a text frame', [masked(Op.Text, Buffer.from([0xed, 0xa0, 0x80]))], /INVALID_UTF8/],
    ['close code 1005', [masked(Op.Close, Buffer.from([0x03, 0xed]))], /CLOSE_CODE/],
    ['bytes after the close frame', [Buffer.concat([masked(Op.Close, Buffer.from([0x03, 0xe8])), masked(Op.Text, 'late')])], /after its close/],
    ['a non-minimal length', [frame({ opcode: Op.Binary, payload: Buffer.from('x'), lengthForm: 16, maskKey: randomBytes(4) })], /minimal/],
    ['a fragmented ping', [masked(Op.Ping, 'x', { fin: false })], /FRAGMENTED_CONTROL/],
  ])('after the handshake: %s', async (_name, frames, pattern) => {
    expect((await play((p) => request(p, KEY()), frames)).join('\n')).toMatch(pattern);
  });
  it('a frame before the 101', async () => {
    expect((await play((p) => request(p, KEY()), [], { beforeAccept: masked(Op.Text, 'early') })).join('\n')).toMatch(/before the handshake/);
  });
  it('checks consecutive keys only: a key may recur later', async () => {
    const k = Buffer.from([1, 2, 3, 4]);
    expect(await play((p) => request(p, KEY()), [masked(Op.Text, 'a', { key: k }), masked(Op.Text, 'b'), masked(Op.Text, 'c', { key: k })])).toEqual([]);
  });
});
