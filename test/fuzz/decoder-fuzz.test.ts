// Seeded fuzzing of FrameDecoder (and FrameDecoderStream) in both roles:
// valid frame streams, the same streams mutated (bit flips, truncations,
// insertions, spliced frames, absurd lengths) and plain garbage, fed whole
// and at random split points.
//
// Properties: the decoder never throws; every input ends accepted or with one
// ProtocolError whose code is documented and whose closeCode is the one that
// code maps to (1002, 1007 or 1009); nothing follows an error or a close; the
// result does not depend on how the bytes were split; valid streams decode to
// exactly what was encoded; accepted text is valid UTF-8; no message exceeds
// maxMessageBytes; announcing absurd lengths allocates nothing.
//
// Replay one input: FUZZ_SEED=<seed> npx vitest run test/fuzz/decoder-fuzz.test.ts

import { isUtf8 } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { isValidCloseCode } from '../../src/protocol/close-codes.js';
import { ErrorCode, ProtocolError } from '../../src/protocol/errors.js';
import { FrameDecoder, type DecoderEvent } from '../../src/protocol/frame-decoder.js';
import { FrameDecoderStream } from '../../src/streams/frame-decoder-stream.js';
import { frame, Op } from '../conformance/wire.js';
import { ABSURD_LENGTHS, makeInput, type FuzzInput } from './frame-streams.js';
import { Prng } from './prng.js';

/** The errors a decoder may raise, with the close code each must carry. */
const DECODER_ERRORS: Record<string, number> = {
  [ErrorCode.ReservedBits]: 1002,
  [ErrorCode.ReservedOpcode]: 1002,
  [ErrorCode.MaskedFrame]: 1002,
  [ErrorCode.UnmaskedFrame]: 1002,
  [ErrorCode.ControlFrameTooLong]: 1002,
  [ErrorCode.FragmentedControlFrame]: 1002,
  [ErrorCode.UnexpectedContinuation]: 1002,
  [ErrorCode.ExpectedContinuation]: 1002,
  [ErrorCode.InvalidLength]: 1002,
  [ErrorCode.InvalidClosePayload]: 1002,
  [ErrorCode.InvalidCloseCode]: 1002,
  [ErrorCode.InvalidUtf8]: 1007,
  [ErrorCode.MessageTooBig]: 1009,
};

const INPUTS = Number(process.env.FUZZ_INPUTS ?? 40_000);
const ONLY_SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

interface Outcome {
  summary: string[];
  problems: string[];
  error: ProtocolError | undefined;
}

/** Decodes `bytes` fed in the pieces `cuts` gives; checks the invariants of the event sequence. */
function decode(input: FuzzInput, cuts: number[]): Outcome {
  const decoder = new FrameDecoder({ role: input.role, maxMessageBytes: input.maxMessageBytes, perMessageCompression: input.compression });
  const events: DecoderEvent[] = [];
  const problems: string[] = [];
  let from = 0;
  for (const cut of [...cuts, input.bytes.length]) {
    // A copy per piece: the server role unmasks in place.
    const piece = Buffer.from(input.bytes.subarray(from, cut));
    from = cut;
    try {
      const got = decoder.push(piece);
      for (const e of got) {
        if (e.type === 'data' || e.type === 'ping' || e.type === 'pong' || e.type === 'close') {
          // Payloads are views of `piece`; copy what we keep.
          events.push({ ...e, payload: Buffer.from(e.payload) } as DecoderEvent);
        } else {
          events.push(e);
        }
      }
    } catch (error) {
      problems.push(`threw ${(error as Error).stack ?? String(error)}`);
      break;
    }
  }
  return { ...summarize(events, input, problems), problems };
}

function summarize(events: DecoderEvent[], input: FuzzInput, problems: string[]): { summary: string[]; error: ProtocolError | undefined } {
  const summary: string[] = [];
  let error: ProtocolError | undefined;
  let ended = false;
  let pieces: Buffer[] = [];
  let inMessage = false;
  let messageBytes = 0;
  for (const e of events) {
    if (ended) problems.push(`event ${e.type} after ${error ? 'an error' : 'a close'}`);
    switch (e.type) {
      case 'data': {
        if (e.messageStart === inMessage) problems.push(`messageStart ${e.messageStart} while ${inMessage ? 'in' : 'not in'} a message`);
        if (e.messageStart) {
          pieces = [];
          messageBytes = 0;
        }
        inMessage = !e.messageEnd;
        pieces.push(e.payload);
        messageBytes += e.payload.length;
        if (messageBytes > input.maxMessageBytes) problems.push(`message of ${messageBytes} bytes passed maxMessageBytes ${input.maxMessageBytes}`);
        if (e.messageEnd) {
          const whole = Buffer.concat(pieces);
          if (e.opcode === Op.Text && !e.compressed && !isUtf8(whole)) problems.push('accepted a text message that is not UTF-8');
          summary.push(`${e.opcode === Op.Text ? 'text' : 'binary'}${e.compressed ? '+z' : ''}:${whole.toString('hex')}`);
        }
        break;
      }
      case 'ping':
      case 'pong':
        if (e.payload.length > 125) problems.push(`control payload of ${e.payload.length} bytes`);
        summary.push(`${e.type}:${e.payload.toString('hex')}`);
        break;
      case 'close':
        if (e.code !== undefined && !isValidCloseCode(e.code)) problems.push(`accepted close code ${e.code}`);
        summary.push(`close:${e.code ?? ''}:${e.reason}`);
        ended = true;
        break;
      case 'error': {
        error = e.error;
        ended = true;
        const want = DECODER_ERRORS[e.error.code];
        if (!(e.error instanceof ProtocolError)) problems.push(`error is not a ProtocolError: ${String(e.error)}`);
        if (want === undefined) problems.push(`undocumented error code ${e.error.code}`);
        else if (e.error.closeCode !== want) problems.push(`${e.error.code} carries closeCode ${e.error.closeCode}, not ${want}`);
        summary.push(`error:${e.error.code}:${e.error.closeCode}`);
        break;
      }
    }
  }
  return { summary, error };
}

function runOne(input: FuzzInput, rng: Prng): string[] {
  const whole = decode(input, []);
  const split = decode(input, rng.cuts(input.bytes.length));
  const problems = [...whole.problems, ...split.problems];
  if (whole.summary.join('\n') !== split.summary.join('\n')) {
    problems.push(`split feeding changed the result:\n  whole: ${whole.summary.join(' | ').slice(0, 300)}\n  split: ${split.summary.join(' | ').slice(0, 300)}`);
  }
  if (input.expected !== undefined && whole.summary.join('\n') !== input.expected.join('\n')) {
    problems.push(`valid stream decoded wrongly:\n  got:  ${whole.summary.join(' | ').slice(0, 300)}\n  want: ${input.expected.join(' | ').slice(0, 300)}`);
  }
  return problems;
}

describe('FrameDecoder fuzz', () => {
  it(`${ONLY_SEED === undefined ? INPUTS : 1} seeded inputs: accepted or a documented error, split-invariant`, () => {
    const failures: string[] = [];
    const kinds = new Map<string, number>();
    const outcomes = new Map<string, number>();
    const heapBefore = process.memoryUsage().heapUsed;
    const seeds = ONLY_SEED === undefined ? Array.from({ length: INPUTS }, (_, i) => 0x5eed0000 + i) : [ONLY_SEED];
    let bytes = 0;
    for (const seed of seeds) {
      const input = makeInput(seed);
      bytes += input.bytes.length;
      kinds.set(input.kind, (kinds.get(input.kind) ?? 0) + 1);
      const problems = runOne(input, new Prng(seed ^ 0x9e3779b9));
      const result = decode(input, []);
      const outcome = result.error ? result.error.code : 'accepted';
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      if (problems.length > 0 && failures.length < 10) failures.push(`seed ${seed} (${input.kind}, ${input.role}): ${problems.join('; ')}`);
    }
    const heapGrowthMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
    console.log(
      `decoder fuzz: ${seeds.length} inputs (${(bytes / 1024 / 1024).toFixed(1)} MiB), each decoded whole and at random split points\n` +
        `  inputs: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}\n` +
        `  outcomes: ${[...outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}\n` +
        `  heap growth ${heapGrowthMb.toFixed(1)} MiB`,
    );
    expect(failures).toEqual([]);
    // Every kind of error must be reachable, or the fuzzer is not reaching the decoder's corners.
    for (const code of Object.keys(DECODER_ERRORS)) {
      if (code === ErrorCode.MaskedFrame || code === ErrorCode.UnmaskedFrame || ONLY_SEED !== undefined) continue;
      expect(outcomes.get(code) ?? 0, `no input ended in ${code}`).toBeGreaterThan(0);
    }
  }, 120_000);

  it('absurd announced lengths allocate nothing and fail before any payload', () => {
    const before = process.memoryUsage().arrayBuffers;
    for (const announce of ABSURD_LENGTHS.filter((n) => n > 0x1000000n)) {
      for (const role of ['client', 'server'] as const) {
        const decoder = new FrameDecoder({ role });
        const f = frame({ opcode: Op.Binary, payload: Buffer.from('abc'), lengthForm: 64, announce, maskKey: role === 'server' ? Buffer.from([1, 2, 3, 4]) : undefined });
        const events = decoder.push(f);
        expect(events.length).toBe(1);
        const e = events[0]!;
        expect(e.type).toBe('error');
        if (e.type === 'error') expect([1002, 1009]).toContain(e.error.closeCode);
      }
    }
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1024 * 1024);
  });

  it('FrameDecoderStream: protocol errors are events, never stream errors', async () => {
    let runs = 0;
    for (let seed = 1; seed <= 500; seed++) {
      const input = makeInput(0xa11ce000 + seed);
      const stream = new FrameDecoderStream({ role: input.role, maxMessageBytes: input.maxMessageBytes, perMessageCompression: input.compression });
      const streamErrors: unknown[] = [];
      const events: DecoderEvent[] = [];
      stream.on('error', (error) => streamErrors.push(error));
      stream.on('data', (e: DecoderEvent) => events.push(e.type === 'error' ? e : ({ ...e, payload: Buffer.from((e as { payload: Buffer }).payload) } as DecoderEvent)));
      const done = new Promise<void>((resolve) => {
        stream.on('end', resolve);
        stream.on('close', resolve);
      });
      const rng = new Prng(seed);
      let from = 0;
      for (const cut of [...rng.cuts(input.bytes.length), input.bytes.length]) {
        stream.write(Buffer.from(input.bytes.subarray(from, cut)));
        from = cut;
      }
      stream.end();
      await done;
      runs++;
      expect(streamErrors).toEqual([]);
      const direct = decode(input, []);
      const problems: string[] = [];
      expect(summarize(events, input, problems).summary).toEqual(direct.summary);
      expect(problems).toEqual([]);
    }
    console.log(`decoder stream fuzz: ${runs} inputs`);
  });
});
