// What an idle connection costs, and why (issue 12): opens N idle wspipe
// connections (or raw TCP sockets, for the floor) to the load server's /idle,
// 50 handshakes at a time, after a warm-up of 200, and prints per connection:
//   - the marginal RSS, JS heap and young/old generation after a forced GC;
//   - --snapshot: the objects that stay, by constructor (two heap snapshots,
//     the objects new in the second);
//   - --allocations: every byte the handshakes allocated, garbage included,
//     by the nearest wspipe function on the stack (the sampling heap profiler).
// The young generation's pages that the handshakes' garbage touched stay
// resident after the GC, so the garbage shows in the RSS as much as what stays.
//
//   npm run build
//   flock "$LOCK" node --expose-gc bench/idle-heap.js [--connections 2000] [--peer wspipe|raw] [--snapshot | --allocations]
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import inspector from 'node:inspector/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, fallback) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
const N = Number(arg('--connections', 2000));
const PEER = arg('--peer', 'wspipe');
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');

const { WebSocketClient } = await import('../dist/index.js');
const server = fork(path.join(BENCH_DIR, 'load-server.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
const [{ port }] = await once(server, 'message');
const url = `ws://127.0.0.1:${port}/idle`;

function openWspipe() {
  const ws = new WebSocketClient(url, { reconnect: false, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.onError = (_c, _code, _m, error) => reject(error);
    ws.onWebSocketConnect = () => resolve(ws);
    ws.connect();
  });
}

function openRaw() {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
  socket.write(`GET /idle HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  return new Promise((resolve) => socket.once('data', () => resolve({ terminate: () => socket.destroy() })));
}

async function openIdle(n) {
  const open = PEER === 'raw' ? openRaw : openWspipe;
  const conns = [];
  const worker = async () => {
    while (conns.length < n) {
      const at = conns.push(null) - 1;
      conns[at] = await open();
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  return conns;
}

const settle = async () => {
  await new Promise((resolve) => setTimeout(resolve, 300));
  globalThis.gc();
  globalThis.gc();
};
const spaces = () => Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s]));
const perConn = (bytes) => `${(bytes / N / 1024).toFixed(2)} KiB`;

/** Self size and count by constructor of the objects in `after` that `before` did not have. */
function newObjectsByConstructor(before, after) {
  const load = (file) => JSON.parse(readFileSync(file, 'utf8'));
  const [a, b] = [load(before), load(after)];
  const { node_fields: fields, node_types: [types] } = b.snapshot.meta;
  const [ti, ni, si, ii] = ['type', 'name', 'self_size', 'id'].map((f) => fields.indexOf(f));
  const old = new Set();
  for (let i = 0; i < a.nodes.length; i += fields.length) old.add(a.nodes[i + ii]);
  const rows = new Map();
  for (let i = 0; i < b.nodes.length; i += fields.length) {
    if (old.has(b.nodes[i + ii])) continue;
    const type = types[b.nodes[i + ti]];
    const name = type === 'object' || type === 'closure' ? `${type === 'closure' ? 'closure ' : ''}${b.strings[b.nodes[i + ni]]}` : `(${type})`;
    const row = rows.get(name) ?? { count: 0, bytes: 0 };
    row.count++;
    row.bytes += b.nodes[i + si];
    rows.set(name, row);
  }
  return [...rows].sort((x, y) => y[1].bytes - x[1].bytes);
}

/** Allocated bytes (garbage included) by the nearest frame of wspipe's dist/ (else the allocating frame). */
function allocationsByFunction(profile) {
  const rows = new Map();
  const walk = (node, nearest) => {
    const { functionName, url: file, lineNumber } = node.callFrame;
    const here = `${functionName || '(anonymous)'} ${file.replace(/^.*\/dist\//, 'dist/')}:${lineNumber + 1}`;
    const own = file.includes('/dist/') ? here : nearest;
    if (node.selfSize > 0) rows.set(own ?? `(not wspipe) ${here}`, (rows.get(own ?? `(not wspipe) ${here}`) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child, own);
  };
  walk(profile.head, undefined);
  return [...rows].sort((x, y) => y[1] - x[1]);
}

const warm = await openIdle(200);
for (const c of warm) c.terminate();
await settle();
const session = new inspector.Session();
const before = { memory: process.memoryUsage(), spaces: spaces() };
const snapshots = [];
if (process.argv.includes('--snapshot')) snapshots.push(v8.writeHeapSnapshot(path.join(tmpdir(), `idle-heap-${process.pid}-0.heapsnapshot`)));
if (process.argv.includes('--allocations')) {
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
}
const conns = await openIdle(N);
const sampled = process.argv.includes('--allocations') ? (await session.post('HeapProfiler.stopSampling')).profile : undefined;
await settle();
const after = { memory: process.memoryUsage(), spaces: spaces() };
if (snapshots.length) snapshots.push(v8.writeHeapSnapshot(path.join(tmpdir(), `idle-heap-${process.pid}-1.heapsnapshot`)));

console.log(`${PEER}, ${N} idle connections, per connection:`);
const skewed = snapshots.length > 0 || sampled !== undefined ? ' (skewed by the snapshot or the profiler: measure RSS without them)' : '';
console.log(`  RSS ${perConn(after.memory.rss - before.memory.rss)}${skewed}, JS heap ${perConn(after.memory.heapUsed - before.memory.heapUsed)}`);
for (const space of ['new_space', 'old_space']) {
  const [x, y] = [before.spaces[space], after.spaces[space]];
  console.log(`  ${space}: used ${perConn(y.space_used_size - x.space_used_size)}, resident ${perConn(y.physical_space_size - x.physical_space_size)}`);
}
if (snapshots.length) {
  console.log('\nObjects that stay, by constructor (bytes and count per connection):');
  for (const [name, { count, bytes }] of newObjectsByConstructor(...snapshots).slice(0, 30)) {
    if (bytes / N >= 8) console.log(`  ${(bytes / N).toFixed(0).padStart(6)} B  ${(count / N).toFixed(2).padStart(5)}  ${name}`);
  }
  for (const file of snapshots) rmSync(file);
}
if (sampled) {
  const rows = allocationsByFunction(sampled);
  const total = rows.reduce((sum, [, bytes]) => sum + bytes, 0);
  console.log(`\nAllocated while opening, garbage included: ${(total / N).toFixed(0)} B per connection; by function:`);
  for (const [name, bytes] of rows.slice(0, 30)) console.log(`  ${(bytes / N).toFixed(0).padStart(6)} B  ${name}`);
}
for (const c of conns) c.terminate();
server.kill();
