// Relay throughput: messages per second from a sender, through a relay, to
// the load server's /sink. run.js starts `node bench/relay-throughput.js
// '<job json>'`; this process runs the relay named by job.peer and forks the
// raw peer as the sender, whose send measurement (lib/driver.js, counted and
// checked by the sink) goes through the relay. Reports as the driver does.
//
//   tcp-relay          the obvious implementation: one net.Socket per side,
//                      piped both ways, bytes never looked at
//   wspipe-relay       createRelay() from wspipe/relay (the build: dist/relay),
//                      no hook: frames re-masked in place and passed on
//   wspipe-relay-hook  the same with a pass-through onMessage hook: every
//                      message assembled, shown to the hook, sent as one frame
//
// relay-pmd16k runs its own compressing sender and sink (relay-pmd.js), not
// the raw peer and the load server: the relays then carry compressed frames.
import net from 'node:net';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WORKLOADS } from './lib/workloads.js';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const RELAY_MODULE = path.join(BENCH_DIR, '..', 'dist', 'relay', 'index.js');

class RelayUnavailable extends Error {}

/** The bytes of one client frame of `workloadId`'s payload: header, 4-byte key, payload. */
function maskedFrameBytes(workloadId) {
  const { payload } = WORKLOADS.find((w) => w.id === workloadId);
  const bytes = payload.binaryBytes ?? Buffer.byteLength(payload.text);
  return 2 + (bytes < 126 ? 0 : bytes < 0x10000 ? 2 : 8) + 4 + bytes;
}

function startTcpRelay(loadPort) {
  const sockets = new Set();
  // Bytes from the senders, for the relay's CPU per message (it never parses them).
  const downstreams = new Set();
  let closedBytesIn = 0;
  const bytesIn = () => {
    let bytes = closedBytesIn;
    for (const socket of downstreams) bytes += socket.bytesRead;
    return bytes;
  };
  const server = net.createServer((downstream) => {
    downstreams.add(downstream);
    downstream.once('close', () => {
      downstreams.delete(downstream);
      closedBytesIn += downstream.bytesRead;
    });
    const upstream = net.connect({ host: '127.0.0.1', port: loadPort, noDelay: true });
    downstream.setNoDelay(true);
    for (const socket of [downstream, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        downstream.destroy();
        upstream.destroy();
      });
    }
    downstream.pipe(upstream);
    upstream.pipe(downstream);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: server.address().port,
        close() {
          for (const socket of sockets) socket.destroy();
          return new Promise((done) => server.close(() => done()));
        },
        stats: null,
        bytesIn,
      }),
    );
  });
}

async function startWspipeRelay(loadPort, hooked) {
  if (!existsSync(RELAY_MODULE)) throw new RelayUnavailable('dist/relay/index.js is not there (npm run build)');
  const { createRelay } = await import(pathToFileURL(RELAY_MODULE).href);
  // The relay appends the client's request path (/sink) to the upstream's.
  const relay = createRelay({ upstream: `ws://127.0.0.1:${loadPort}/`, ...(hooked ? { onMessage: () => undefined } : {}) });
  const { port } = await relay.listen({ host: '127.0.0.1', port: 0 });
  return { port, close: () => relay.close(), get stats() { return relay.metrics; }, messagesIn: () => relay.metrics.clientToUpstream.messages };
}

/** The compressing sink of relay-pmd16k, in its own process; resolves with its port and a stop(). */
async function startPmdSink() {
  const child = fork(path.join(BENCH_DIR, 'relay-pmd.js'), ['sink'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  const [msg] = await once(child, 'message');
  return { port: msg.port, stop: () => child.kill() };
}

/** The raw peer (or the compressing sender) sends the job's workload to the relay's port; resolves with its report. */
function runSender(job, relayPort) {
  const compressed = job.workload === 'relay-pmd16k';
  const file = compressed ? path.join(BENCH_DIR, 'relay-pmd.js') : path.join(BENCH_DIR, 'peers', 'raw.js');
  const args = [JSON.stringify({ ...job, peer: compressed ? 'relay-pmd' : 'raw', port: relayPort })];
  return new Promise((resolve) => {
    const sender = fork(file, args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [],
    });
    let result = null;
    sender.on('message', (msg) => {
      result ??= msg;
    });
    sender.on('exit', (code, signal) => resolve(result ?? { error: `the sender exited (${signal ?? code}) without a result` }));
  });
}

function snapshot(stats) {
  try {
    return stats == null ? undefined : JSON.parse(JSON.stringify(stats));
  } catch {
    return undefined;
  }
}

/** relay-rss: what each held relayed connection costs the relay process, after GC. */
async function measureMemory(job, relay) {
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      globalThis.gc?.();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return process.memoryUsage();
  };
  const before = await settle();
  const holder = fork(path.join(BENCH_DIR, 'relay-pmd.js'), ['hold', JSON.stringify({ ...job, port: relay.port })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  const [msg] = await once(holder, 'message');
  if (msg.error) return { error: msg.error };
  const after = await settle();
  holder.send('done');
  await once(holder, 'exit');
  const each = (key) => (after[key] - before[key]) / msg.held / 1024;
  return { ok: true, value: each('rss'), extra: { heapUsedKiB: each('heapUsed'), externalKiB: each('external'), connections: msg.held } };
}

async function measure(job) {
  let relay;
  const sink = job.workload === 'relay-pmd16k' ? await startPmdSink() : undefined;
  const upstreamPort = sink ? sink.port : job.port;
  try {
    relay = job.peer === 'tcp-relay' ? await startTcpRelay(upstreamPort) : await startWspipeRelay(upstreamPort, job.peer === 'wspipe-relay-hook');
  } catch (err) {
    sink?.stop();
    if (err instanceof RelayUnavailable) return { skipped: err.message };
    throw err;
  }
  if (job.workload === 'relay-rss') {
    const result = await measureMemory(job, relay);
    await relay.close();
    return result;
  }
  // relay-pmd16k's frames are compressed, of no fixed size: no figure per message there.
  const carried = sink ? undefined : relay.messagesIn ?? (() => relay.bytesIn() / maskedFrameBytes(job.workload));
  const cpu0 = process.cpuUsage();
  const steady = carried && steadyCpu(carried, job.warmupMs);
  const result = await runSender(job, relay.port);
  const cpu = process.cpuUsage(cpu0);
  const relayCpuUs = steady?.stop();
  const stats = snapshot(relay.stats);
  await relay.close();
  sink?.stop();
  if (!result.ok) return result;
  return { ...result, extra: { ...result.extra, relayCpuMs: (cpu.user + cpu.system) / 1000, relayCpuUs, ...(stats ? { relayStats: stats } : {}) } };
}

/**
 * The relay process's CPU time per message carried, after its warm-up:
 * samples (CPU time, messages) every 50 ms; the figure runs from `warmupMs`
 * after the first message to the last sample that saw a new one, so neither
 * the JIT's first compiles nor the idle end are in it. `carried()` counts
 * messages: the wspipe relay counts them, the plain one counts bytes,
 * divided by the size of one masked frame (the handshake's few bytes are
 * within the rounding).
 */
function steadyCpu(carried, warmupMs) {
  const samples = [];
  const sample = () => {
    const { user, system } = process.cpuUsage();
    samples.push({ at: performance.now(), cpuUs: user + system, messages: carried() });
  };
  const timer = setInterval(sample, 50);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const first = samples.find((s) => s.messages > 0);
      if (!first) return undefined;
      const from = samples.find((s) => s.at >= first.at + warmupMs);
      let to = samples.length - 1;
      while (to > 0 && samples[to - 1].messages === samples[to].messages) to--;
      if (!from || samples[to].messages <= from.messages) return undefined;
      return (samples[to].cpuUs - from.cpuUs) / (samples[to].messages - from.messages);
    },
  };
}

function report(message) {
  if (process.send) process.send(message, () => process.exit(0));
  else {
    console.log(JSON.stringify(message));
    process.exit(0);
  }
}

if (process.send) process.on('disconnect', () => process.exit(0));
const job = JSON.parse(process.argv[2] ?? '{}');
measure(job).then(report, (err) => report({ error: err?.stack ?? String(err) }));
