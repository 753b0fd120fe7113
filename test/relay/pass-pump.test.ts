import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Opcode, type DecoderEvent } from '../../src/protocol/index.js';
import { delay, waitUntil } from '../helpers/wait.js';
import { clientFrame, closeOf, Harness, pattern, rawClient, serverFrame, startRawUpstream } from './helpers.js';

// The pass-through pump (RelayConnection.passOn): whole single-frame
// messages whose header is in the read are passed on by the relay itself,
// every other frame by the decoder, given exactly that frame's bytes. These
// tables cut one sequence of every kind of frame at many points (written in
// two writes, the second a little later, so that the relay mostly reads them
// apart) and check what reaches the far end, the metrics and onFrame.

const harness = new Harness();
afterEach(() => harness.cleanup());

/** One of each: fast-path frames (16-bit, empty, 64-bit length) and decoder frames (pings, fragments). */
function sequence(frame: (opcode: number, payload: Buffer | string, fin: boolean) => Buffer): { bytes: Buffer; expected: string[]; payloadBytes: number; frames: string[] } {
  const big = pattern(70_000, 5);
  const parts: Array<[number, Buffer | string, boolean]> = [
    [Opcode.Binary, pattern(200, 1), true],
    [Opcode.Text, '', true],
    [Opcode.Ping, 'p', true],
    [Opcode.Text, 'hel', false],
    [Opcode.Ping, 'q', true],
    [Opcode.Continuation, 'lo', true],
    [Opcode.Binary, big, true],
    [Opcode.Text, 'end', true],
  ];
  const bytes = Buffer.concat(parts.map(([opcode, payload, fin]) => frame(opcode, payload, fin)));
  const expected = [`binary ${digest(pattern(200, 1))}`, 'text ', 'ping p', 'ping q', 'text hello', `binary ${digest(big)}`, 'text end'];
  const payloadBytes = 200 + 0 + 3 + 2 + 70_000 + 3;
  // onFrame's view: opcode, fin, bytes (continuations as opcode 0).
  const frames = parts.map(([opcode, payload, fin]) => `${opcode} ${fin} ${Buffer.byteLength(payload)}`);
  return { bytes, expected, payloadBytes, frames };
}

const digest = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex').slice(0, 16);

/** How many messages and pings the events hold (cheaper than `messages` to wait on). */
const count = (events: DecoderEvent[]): number => events.filter((e) => e.type === 'ping' || (e.type === 'data' && e.messageEnd)).length;

/** The decoded events as strings: each whole message with its type (binary ones by digest), and pings. */
function messages(events: DecoderEvent[]): string[] {
  const out: string[] = [];
  let current: Buffer[] = [];
  for (const e of events) {
    if (e.type === 'ping') out.push(`ping ${e.payload.toString()}`);
    if (e.type !== 'data') continue;
    current.push(Buffer.from(e.payload));
    if (!e.messageEnd) continue;
    const whole = Buffer.concat(current);
    out.push(e.opcode === Opcode.Text ? `text ${whole.toString()}` : `binary ${digest(whole)}`);
    current = [];
  }
  return out;
}

/** Cut points: every byte of the first frames, around the 64-bit header, and near the end. */
function cuts(length: number): number[] {
  const points: number[] = [];
  for (let at = 1; at < 240; at++) points.push(at);
  for (let at = 236; at < 260; at++) points.push(at);
  for (let at = length - 12; at < length; at++) points.push(at);
  return [...new Set(points)].filter((at) => at > 0 && at < length);
}

describe('the pass-through pump', () => {
  it('passes every kind of client frame on intact, wherever a read cuts it, with metrics and onFrame as the decoder counts them', { timeout: 60_000 }, async () => {
    const raw = await startRawUpstream(harness);
    const seen: string[] = [];
    const { relay, port } = await harness.mount('listen', {
      upstream: raw.url,
      onFrame: (frame, direction) => {
        if (direction === 'client-to-upstream') seen.push(`${frame.opcode} ${frame.fin} ${frame.bytes}`);
      },
    });
    const client = await rawClient(harness, port);
    client.socket.setNoDelay(true);
    const { bytes, expected, payloadBytes, frames } = sequence(clientFrame);
    const points = cuts(bytes.length);
    for (const [i, cut] of points.entries()) {
      // A fresh copy each time: the relay re-masks what it reads in place, and the frames must differ anyway.
      const { bytes: copy } = sequence(clientFrame);
      client.socket.write(copy.subarray(0, cut));
      await delay(2);
      client.socket.write(copy.subarray(cut));
      await waitUntil(() => count(raw.events) === (i + 1) * expected.length, 5_000, `every message of cut ${cut}`);
    }
    const got = messages(raw.events);
    for (const [i, cut] of points.entries()) {
      expect(got.slice(i * expected.length, (i + 1) * expected.length), `cut at ${cut}`).toEqual(expected);
    }
    expect(seen).toEqual(points.flatMap(() => frames));
    const [connection] = relay.connections;
    const metrics = connection!.metrics.clientToUpstream;
    expect({ messages: metrics.messages, frames: metrics.frames, bytes: metrics.bytes }).toEqual({
      messages: 5 * points.length,
      frames: 8 * points.length,
      bytes: payloadBytes * points.length, // data payloads only: control frames count as frames
    });
  });

  it('passes every kind of upstream frame on intact, wherever a read cuts it', { timeout: 60_000 }, async () => {
    const raw = await startRawUpstream(harness);
    const { port } = await harness.mount('listen', { upstream: raw.url });
    const client = await rawClient(harness, port);
    await waitUntil(() => raw.sockets.length === 1, 5_000, 'the upstream connection');
    const upstream = raw.sockets[0]!;
    upstream.setNoDelay(true);
    const { bytes, expected } = sequence((opcode, payload, fin) => serverFrame(opcode, payload, false, fin));
    const points = cuts(bytes.length).filter((_, i) => i % 3 === 0);
    for (const [i, cut] of points.entries()) {
      upstream.write(bytes.subarray(0, cut));
      await delay(2);
      upstream.write(bytes.subarray(cut));
      await waitUntil(() => count(client.events) === (i + 1) * expected.length, 5_000, `every message of cut ${cut}`);
    }
    const got = messages(client.events);
    for (const [i, cut] of points.entries()) {
      expect(got.slice(i * expected.length, (i + 1) * expected.length), `cut at ${cut}`).toEqual(expected);
    }
  });

  it('gives the masking key of every frame it passes on a new value', async () => {
    const raw = await startRawUpstream(harness);
    const { port } = await harness.mount('listen', { upstream: raw.url });
    const client = await rawClient(harness, port);
    const frame = clientFrame(Opcode.Binary, pattern(300, 2));
    const key = Buffer.from(frame.subarray(4, 8)); // 2 header bytes, 2 of length, then the key
    client.socket.write(Buffer.from(frame));
    await waitUntil(() => messages(raw.events).length === 1, 5_000, 'the frame upstream');
    const upstreamBytes = Buffer.concat(raw.raw[0]!);
    expect(upstreamBytes.subarray(0, 4).equals(frame.subarray(0, 4))).toBe(true);
    expect(upstreamBytes.subarray(4, 8).equals(key)).toBe(false);
    expect(messages(raw.events)).toEqual([`binary ${digest(pattern(300, 2))}`]);
  });

  // Frames that look like the pump's common case but break the protocol: the decoder gets them and fails the client.
  const broken: Array<[string, Buffer, number]> = [
    ['RSV2 set', Buffer.from([0xa2, 0x80, 1, 2, 3, 4]), 1002],
    ['RSV1 without compression', clientFrame(Opcode.Text, 'x', true, true), 1002],
    ['unmasked', serverFrame(Opcode.Binary, 'x'), 1002],
    ['reserved opcode 3', Buffer.from([0x83, 0x80, 1, 2, 3, 4]), 1002],
    ['a text frame inside a fragmented message', Buffer.concat([clientFrame(Opcode.Text, 'a', false), clientFrame(Opcode.Text, 'b')]), 1002],
    ['a continuation with no message', clientFrame(Opcode.Continuation, 'x'), 1002],
    ['over maxMessageBytes', clientFrame(Opcode.Binary, Buffer.alloc(2_000)), 1009],
    ['a 64-bit length at 2^63', Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]), 1002],
  ];
  for (const [name, frame, code] of broken) {
    it(`fails a client that sends ${name} with ${code}, and the upstream with 1011`, async () => {
      const raw = await startRawUpstream(harness);
      const { port } = await harness.mount('listen', { upstream: raw.url, maxMessageBytes: 1_000 });
      const client = await rawClient(harness, port);
      client.socket.write(frame);
      await waitUntil(() => closeOf(client.events) !== undefined, 5_000, 'the client to get a close frame');
      expect(closeOf(client.events)!.code).toBe(code);
      await waitUntil(() => closeOf(raw.events) !== undefined, 5_000, 'the upstream to get a close frame');
      expect(closeOf(raw.events)!.code).toBe(1011);
    });
  }
});
