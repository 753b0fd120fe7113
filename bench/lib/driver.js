// Runs one measurement inside a peer's child process. run.js starts
// `node <peer file> '<job json>'`; the peer file hands its adapter to
// runPeer(), which measures the workload once and reports over IPC:
//   {ok: true, value, extra}  |  {skipped: reason}  |  {error: message}
//
// A peer adapter is
//   { name, load(): Promise<{version?}>  (throw PeerUnavailable to skip),
//     open(url, onMessage, {needData, deflate}): Promise<Conn>
//       (deflate: offer permessage-deflate, as the compression workloads need),
//     notes?(): string[]   anything odd the adapter saw, for the report }
// and a Conn is
//   { send(data, isBinary): boolean   false: wait before sending more,
//     pace(lastSendOk): Promise       one event-loop turn, or until writable,
//     close(): Promise                clean close, resolves when closed,
//     terminate(),
//     extensions                      the server's Sec-WebSocket-Extensions, if any }
// onMessage(data) gets a string (text), a Buffer/ArrayBuffer/Buffer[] (binary),
// or, from the raw peer when no data is needed, the message length.
import { setTimeout as sleep, setImmediate as immediate } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { WORKLOADS } from './workloads.js';

export { immediate };

/** Thrown by an adapter's load() when its library is not there. */
export class PeerUnavailable extends Error {}

const now = () => performance.now();

function sizeOf(data) {
  if (typeof data === 'number') return data;
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.byteLength, 0);
  return data.byteLength;
}

function makePayload(spec) {
  if (spec.text !== undefined) return { data: spec.text, isBinary: false, bytes: Buffer.byteLength(spec.text) };
  const data = Buffer.allocUnsafe(spec.binaryBytes);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
  return { data, isBinary: true, bytes: data.length };
}

/**
 * The client process's CPU time (user + system, all threads) per message
 * since `cpu0`: steadier than a rate when other jobs share the machine, since
 * time spent waiting for a CPU is not counted.
 */
function cpuPerMessageUs(cpu0, messages) {
  const { user, system } = process.cpuUsage(cpu0);
  return messages > 0 ? (user + system) / messages : null;
}

function checkSize(workload, data) {
  if (data === undefined) throw new Error(`${workload.id}: no message received`);
  const got = sizeOf(data);
  if (got !== workload.expectBytes) throw new Error(`${workload.id}: message of ${got} bytes, expected ${workload.expectBytes}`);
}

async function measureReceive(peer, workload, base, job) {
  let count = 0;
  let last;
  const conn = await peer.open(base + workload.path, (data) => {
    count++;
    last = data;
  }, { needData: false });
  conn.send('go', false);
  await sleep(job.warmupMs);
  const c0 = count;
  const t0 = now();
  const cpu0 = process.cpuUsage();
  await sleep(job.durationMs);
  // A slow peer may take longer than the window for one big message.
  for (let waited = 0; count === c0 && waited < job.durationMs * 50; waited += 10) await sleep(10);
  const c1 = count;
  const t1 = now();
  const cpuUs = cpuPerMessageUs(cpu0, c1 - c0);
  conn.terminate();
  checkSize(workload, last);
  return { value: ((c1 - c0) * 1000) / (t1 - t0), extra: { messages: c1 - c0, ms: t1 - t0, cpuUs } };
}

async function measureSend(peer, workload, base, job) {
  const payload = makePayload(workload.payload);
  const batch = Math.max(1, Math.floor(workload.batchBytes / payload.bytes));
  let answer = null;
  const conn = await peer.open(base + '/sink', (data) => answer?.(Number(String(data))), { needData: true });
  // The sink answers an empty text message with its count so far.
  const askCount = () =>
    new Promise((resolve) => {
      answer = resolve;
      conn.send('', false);
    });
  const sendFor = async (ms) => {
    let sent = 0;
    const end = now() + ms;
    while (now() < end) {
      let ok;
      let i = 0;
      do {
        ok = conn.send(payload.data, payload.isBinary);
        sent++;
      } while (ok && ++i < batch);
      await conn.pace(ok);
    }
    return sent;
  };
  let sent = await sendFor(job.warmupMs);
  const c0 = await askCount();
  const t0 = now();
  const cpu0 = process.cpuUsage();
  sent += await sendFor(job.durationMs);
  const c1 = await askCount();
  const t1 = now();
  const cpuUs = cpuPerMessageUs(cpu0, c1 - c0);
  if (c1 !== sent) throw new Error(`${workload.id}: sent ${sent} messages, the sink counted ${c1}`);
  await conn.close();
  return { value: ((c1 - c0) * 1000) / (t1 - t0), extra: { messages: c1 - c0, ms: t1 - t0, cpuUs } };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function measureEcho(peer, workload, base, job) {
  const payload = makePayload(workload.payload);
  let wake = null;
  let last;
  const conn = await peer.open(base + '/echo', (data) => {
    last = data;
    wake();
  }, { needData: true });
  const roundTrip = () =>
    new Promise((resolve) => {
      wake = resolve;
      conn.send(payload.data, payload.isBinary);
    });
  let end = now() + job.warmupMs;
  while (now() < end) await roundTrip();
  if (sizeOf(last) !== payload.bytes) throw new Error(`${workload.id}: echo of ${sizeOf(last)} bytes, sent ${payload.bytes}`);
  const samples = [];
  const cpu0 = process.cpuUsage();
  end = now() + job.durationMs;
  while (now() < end) {
    const t = now();
    await roundTrip();
    samples.push(now() - t);
  }
  const cpuUs = cpuPerMessageUs(cpu0, samples.length);
  await conn.close();
  samples.sort((a, b) => a - b);
  const us = (ms) => ms * 1000;
  return {
    value: us(percentile(samples, 0.5)),
    extra: { samples: samples.length, p90Us: us(percentile(samples, 0.9)), p99Us: us(percentile(samples, 0.99)), cpuUs },
  };
}

function collectGarbage() {
  if (typeof globalThis.gc !== 'function') throw new Error('idle-rss needs --expose-gc');
  globalThis.gc();
  globalThis.gc();
}

/** Opens n connections, `inFlight` handshakes at a time. */
async function openIdle(peer, url, n, inFlight) {
  const conns = [];
  const openSome = async () => {
    while (conns.length < n) {
      const at = conns.push(null) - 1;
      conns[at] = await peer.open(url, () => {}, { needData: false });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, openSome));
  return conns;
}

/**
 * Marginal memory of an idle connection: (after - before) / n for RSS and the
 * JS heap, both after a forced GC, compression off, `idleInFlight` handshakes
 * at a time (issue 12: n = 5,000, 50 in flight).
 */
async function measureIdle(peer, workload, base, job) {
  const url = base + '/idle';
  const n = job.idleConnections;
  const inFlight = job.idleInFlight ?? 50;
  // Open and close a few connections first, so the library's code is loaded
  // and compiled. Not n of them: the heap (and the socket buffers) that n
  // connections need would then be resident already and the RSS delta would
  // miss it; issue 12 counts it.
  const warm = await openIdle(peer, url, Math.min(n, job.idleWarmConnections ?? n), inFlight);
  await Promise.all(warm.map((c) => c.close()));
  await sleep(50);
  collectGarbage();
  const before = process.memoryUsage();
  const conns = await openIdle(peer, url, n, inFlight);
  await sleep(100);
  collectGarbage();
  const after = process.memoryUsage();
  for (const c of conns) c.terminate();
  const perConnKiB = (key) => (after[key] - before[key]) / n / 1024;
  return { value: perConnKiB('rss'), extra: { connections: n, heapUsedKiB: perConnKiB('heapUsed'), externalKiB: perConnKiB('external') } };
}

async function measureHandshakes(peer, workload, base, job) {
  const url = base + '/idle';
  const noop = () => {};
  let done = 0;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const conn = await peer.open(url, noop, { needData: false });
      await conn.close();
      done++;
    }
  };
  const workers = Array.from({ length: workload.concurrency }, worker);
  await sleep(job.warmupMs);
  const d0 = done;
  const t0 = now();
  await sleep(job.durationMs);
  const d1 = done;
  const t1 = now();
  stop = true;
  await Promise.all(workers);
  return { value: ((d1 - d0) * 1000) / (t1 - t0), extra: { handshakes: d1 - d0, concurrency: workload.concurrency } };
}

// ---- permessage-deflate ----------------------------------------------------

/** A small seeded PRNG (mulberry32), so every peer gets the same messages. */
function seededRandom(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const JSON_MESSAGE_VARIANTS = 16;

/**
 * `count` JSON arrays of records, each exactly `bytes` long (ASCII). They
 * share their shape and differ in values, as an API's messages do, so
 * context takeover helps without any message repeating the one before.
 */
function jsonMessages(bytes, count) {
  const random = seededRandom(20261126);
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];
  const pick = () => words[Math.floor(random() * words.length)];
  const messages = [];
  let id = 1000;
  for (let m = 0; m < count; m++) {
    const records = [];
    let length = 2; // the brackets
    for (;;) {
      id++;
      const record = JSON.stringify({
        id,
        user: `${pick()}.${pick()}${Math.floor(random() * 1000)}`,
        active: random() < 0.5,
        score: Math.round(random() * 1e6) / 100,
        tags: [pick(), pick()],
        updatedAt: new Date(1.7e12 + Math.floor(random() * 3e10)).toISOString(),
      });
      const added = record.length + (records.length ? 1 : 0);
      if (length + added > bytes) break;
      records.push(record);
      length += added;
    }
    messages.push(`[${records.join(',')}${' '.repeat(bytes - length)}]`);
  }
  return messages;
}

function checkNegotiated(peer, conn) {
  if (!/permessage-deflate/i.test(conn.extensions ?? '')) {
    throw new Error(`${peer.name} did not negotiate permessage-deflate (Sec-WebSocket-Extensions: ${conn.extensions || 'none'})`);
  }
}

async function waitFor(condition, timeoutMs, what) {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * Compressed echo throughput: `inFlight` text messages stay on the way, each
 * echo sends the next; every echo is compared with what was sent.
 */
async function measureDeflateEcho(peer, workload, base, job) {
  const messages = jsonMessages(workload.messageBytes, JSON_MESSAGE_VARIANTS);
  let sent = 0;
  let received = 0;
  let stopping = false;
  let mismatch = null;
  let conn = null;
  const sendNext = () => conn.send(messages[sent++ % messages.length], false);
  conn = await peer.open(
    base + '/echo-deflate',
    (data) => {
      const expected = messages[received++ % messages.length];
      if (data !== expected) mismatch ??= `echo ${received} differs from what was sent (${sizeOf(data)} bytes, sent ${expected.length})`;
      if (!stopping) sendNext();
    },
    { needData: true, deflate: true },
  );
  checkNegotiated(peer, conn);
  for (let i = 0; i < workload.inFlight; i++) sendNext();
  await sleep(job.warmupMs);
  const r0 = received;
  const t0 = now();
  await sleep(job.durationMs);
  const r1 = received;
  const t1 = now();
  stopping = true;
  await waitFor(() => received === sent || mismatch, 10_000, 'the last echoes');
  if (mismatch) throw new Error(`${workload.id}: ${mismatch}`);
  await conn.close();
  return { value: ((r1 - r0) * 1000) / (t1 - t0), extra: { messages: r1 - r0, ms: t1 - t0, inFlight: workload.inFlight } };
}

/** Opens n compressing connections, each trading `messagesEach` messages with the echo. */
async function openCompressing(peer, url, n, messages, messagesEach) {
  const conns = [];
  const openOne = async (index) => {
    let wake = null;
    const conn = await peer.open(url, (data) => wake(data), { needData: true, deflate: true });
    checkNegotiated(peer, conn);
    for (let i = 0; i < messagesEach; i++) {
      const message = messages[(index + i) % messages.length];
      const echoed = await new Promise((resolve) => {
        wake = resolve;
        conn.send(message, false);
      });
      if (echoed !== message) throw new Error(`an echo on connection ${index} differs from what was sent`);
    }
    return conn;
  };
  const openSome = async () => {
    while (conns.length < n) {
      const at = conns.push(null) - 1;
      conns[at] = await openOne(at);
    }
  };
  await Promise.all(Array.from({ length: 25 }, openSome));
  return conns;
}

/** As measureIdle, with compression negotiated and zlib contexts in use on every connection. */
async function measureDeflateMemory(peer, workload, base, job) {
  const url = base + '/echo-deflate';
  const n = job.deflateConnections;
  const messages = jsonMessages(workload.messageBytes, JSON_MESSAGE_VARIANTS);
  const warm = await openCompressing(peer, url, n, messages, workload.messagesEach);
  await Promise.all(warm.map((c) => c.close()));
  await sleep(50);
  collectGarbage();
  const before = process.memoryUsage();
  const conns = await openCompressing(peer, url, n, messages, workload.messagesEach);
  await sleep(100);
  collectGarbage();
  const after = process.memoryUsage();
  for (const c of conns) c.terminate();
  const perConnKiB = (key) => (after[key] - before[key]) / n / 1024;
  return {
    value: perConnKiB('rss'),
    extra: { connections: n, messagesEach: workload.messagesEach, heapUsedKiB: perConnKiB('heapUsed'), externalKiB: perConnKiB('external') },
  };
}

const MEASURE = {
  receive: measureReceive,
  send: measureSend,
  echo: measureEcho,
  idle: measureIdle,
  handshake: measureHandshakes,
  'deflate-echo': measureDeflateEcho,
  'deflate-memory': measureDeflateMemory,
  // The sender's side of a relay workload: the relay runs in the parent
  // process (relay-throughput.js), job.port is the relay's.
  relay: measureSend,
};

function report(message) {
  // Exit only once the parent has the message; a stuck library must not keep
  // this process alive.
  if (process.send) process.send(message, () => process.exit(0));
  else {
    console.log(JSON.stringify(message));
    process.exit(0);
  }
}

/** The entry point of every peer file (see the top of this file). */
export async function runPeer(peer) {
  // Started by run.js: end with it.
  if (process.send) process.on('disconnect', () => process.exit(0));
  const job = JSON.parse(process.argv[2] ?? '{}');
  const workload = WORKLOADS.find((w) => w.id === job.workload);
  try {
    if (!workload || !MEASURE[workload.kind]) throw new Error(`unknown workload ${job.workload}`);
    const info = await peer.load();
    const result = await MEASURE[workload.kind](peer, workload, `ws://127.0.0.1:${job.port}`, job);
    const notes = peer.notes?.() ?? [];
    report({ ok: true, ...result, version: info?.version, ...(notes.length ? { notes } : {}) });
  } catch (err) {
    if (err instanceof PeerUnavailable) report({ skipped: err.message });
    else report({ error: err?.stack ?? String(err) });
  }
}
