// What `npm run bench` measures: one entry per table row. `run.js` reads the
// titles and units; `driver.js` (in each peer's child process) reads the rest.

/** Client peers, in table order. `file` is the child-process runner. */
export const CLIENT_PEERS = [
  { name: 'raw', title: 'raw TCP socket', file: 'peers/raw.js', execArgv: [] },
  { name: 'wspipe', title: 'wspipe', file: 'peers/wspipe.js', execArgv: [] },
  // ws 8 masks with bufferutil (native) whenever it can require it, unless
  // WS_NO_BUFFER_UTIL is set: two peers, one ws. peers/ws.js checks which
  // mask ws ended up with, and skips ws+bufferutil when bufferutil is missing.
  { name: 'ws', title: 'ws (pure JS)', file: 'peers/ws.js', execArgv: [], env: { WS_NO_BUFFER_UTIL: '1' } },
  { name: 'ws-bufferutil', title: 'ws+bufferutil', file: 'peers/ws.js', execArgv: [], env: { WSPIPE_WS_BUFFERUTIL: '1' } },
  { name: 'node', title: "Node's WebSocket", file: 'peers/node-websocket.js', execArgv: ['--experimental-websocket'] },
];

/** The ratio columns of the client table: [numerator, denominator], taken within each round. */
export const CLIENT_RATIOS = [
  ['wspipe', 'ws'],
  ['wspipe', 'ws-bufferutil'],
  ['ws-bufferutil', 'ws'],
  ['node', 'ws'],
  ['raw', 'ws'],
];

/**
 * Relays between a sender and the load server's sink, in table order; both
 * run by relay-throughput.js (the sender is the raw peer, in its own process).
 */
export const RELAY_PEERS = [
  { name: 'tcp-relay', title: 'plain TCP relay', file: 'relay-throughput.js' },
  { name: 'wspipe-relay', title: 'wspipe/relay', file: 'relay-throughput.js' },
  { name: 'wspipe-relay-hook', title: 'wspipe/relay, onMessage hook', file: 'relay-throughput.js' },
];

/** Masking implementations, in table order; all run by mask.js. */
export const MASK_PEERS = [
  { name: 'byte-loop', title: 'byte loop (naive)' },
  { name: 'buffer-copy', title: 'Buffer.copy (memcpy)' },
  { name: 'js-word-loop', title: 'wspipe JS loop (in place; words from 128 B)' },
  { name: 'wasm-simd', title: 'wspipe wasm SIMD (in place)' },
  { name: 'mask-in-place', title: 'wspipe maskInPlace' },
  { name: 'mask-into', title: 'wspipe maskInto' },
  { name: 'ws-mask', title: 'ws mask (JS)' },
  { name: 'bufferutil', title: 'bufferutil mask (native)' },
];

const TEXT16 = 'abcdefghijklmnop';

/** A second row for throughput workloads: the client's CPU time per message (↓), steadier under load. */
const CPU_ROW = [{ key: 'cpuUs', title: '… client CPU per message', unit: 'µs', better: 'lower' }];
/** The same for a round trip (the client's send and its receive of the echo). */
const ECHO_CPU_ROW = [{ key: 'cpuUs', title: '… client CPU per round trip', unit: 'µs', better: 'lower' }];

export const WORKLOADS = [
  { id: 'recv-text16', title: 'receive 16-byte text', unit: 'msg/s', better: 'higher', kind: 'receive', path: '/blast/text16', expectBytes: 16, alsoShow: CPU_ROW },
  { id: 'recv-text1k', title: 'receive 1 KiB text', unit: 'msg/s', better: 'higher', kind: 'receive', path: '/blast/text1k', expectBytes: 1024, alsoShow: CPU_ROW },
  { id: 'recv-bin64k', title: 'receive 64 KiB binary', unit: 'msg/s', better: 'higher', kind: 'receive', path: '/blast/bin64k', expectBytes: 64 * 1024, alsoShow: CPU_ROW },
  { id: 'recv-bin1m', title: 'receive 1 MiB binary', unit: 'msg/s', better: 'higher', kind: 'receive', path: '/blast/bin1m', expectBytes: 1 << 20, alsoShow: CPU_ROW },
  { id: 'recv-frag16m', title: 'receive 16 MiB in 1,024 fragments', unit: 'msg/s', better: 'higher', kind: 'receive', path: '/blast/frag16m', expectBytes: 16 << 20, alsoShow: CPU_ROW },
  { id: 'send-text16', title: 'send 16-byte text', unit: 'msg/s', better: 'higher', kind: 'send', payload: { text: TEXT16 }, batchBytes: 64 * 1024, alsoShow: CPU_ROW },
  { id: 'send-bin64k', title: 'send 64 KiB binary (masked)', unit: 'msg/s', better: 'higher', kind: 'send', payload: { binaryBytes: 64 * 1024 }, batchBytes: 1 << 20, alsoShow: CPU_ROW },
  { id: 'send-bin1m', title: 'send 1 MiB binary (masked)', unit: 'msg/s', better: 'higher', kind: 'send', payload: { binaryBytes: 1 << 20 }, batchBytes: 1 << 20, alsoShow: CPU_ROW },
  // Latency rows: `slices` short runs of every peer per round, interleaved (see run.js), since
  // a p50 of one run moves with the machine's load by more than the peers differ.
  { id: 'echo-64', title: 'echo round trip 64 B, p50', unit: 'µs', better: 'lower', kind: 'echo', payload: { binaryBytes: 64 }, slices: 5, alsoShow: ECHO_CPU_ROW },
  // run.js pins the client and the load server to one CPU (taskset) for this row.
  { id: 'echo-64-1cpu', title: 'echo round trip 64 B, p50, client and server on one CPU', unit: 'µs', better: 'lower', kind: 'echo', payload: { binaryBytes: 64 }, oneCpu: true, slices: 5, alsoShow: ECHO_CPU_ROW },
  // Marginal memory of idle connections (issue 12): RSS and JS heap after a forced GC.
  {
    id: 'idle-rss',
    title: 'idle connection, RSS each',
    unit: 'KiB',
    better: 'lower',
    kind: 'idle',
    alsoShow: [{ key: 'heapUsedKiB', title: 'idle connection, JS heap each' }],
  },
  { id: 'handshakes', title: 'handshakes (open + close)', unit: 'conn/s', better: 'higher', kind: 'handshake', concurrency: 8 },
  // permessage-deflate (issue 5): the raw peer does not compress, so it sits these out.
  { id: 'pmd-echo-16k', title: 'compressed echo 16 KiB JSON text', unit: 'msg/s', better: 'higher', kind: 'deflate-echo', messageBytes: 16 * 1024, inFlight: 8, peers: ['wspipe', 'ws', 'node'] },
  {
    id: 'pmd-rss',
    title: 'compressing connection, RSS each',
    unit: 'KiB',
    better: 'lower',
    kind: 'deflate-memory',
    messageBytes: 16 * 1024,
    messagesEach: 3,
    peers: ['wspipe', 'ws', 'node'],
    // More rows from the same measurement: the median of extra[key].
    alsoShow: [{ key: 'heapUsedKiB', title: 'compressing connection, heapUsed each' }],
  },
  // Relays (issue 6): the raw peer sends through a relay to /sink.
  { id: 'relay-bin16k', title: 'relay 16 KiB binary to the sink', unit: 'msg/s', better: 'higher', kind: 'relay', payload: { binaryBytes: 16 * 1024 }, batchBytes: 64 * 1024 },
  { id: 'relay-text16', title: 'relay 16-byte text to the sink', unit: 'msg/s', better: 'higher', kind: 'relay', payload: { text: TEXT16 }, batchBytes: 64 * 1024 },
  // Issue 11: compressed frames passed through (relay-pmd.js sends and sinks them); a hook would inflate, so no hook column.
  {
    id: 'relay-rss',
    title: 'relayed idle connection, relay RSS each',
    unit: 'KiB',
    better: 'lower',
    kind: 'relay',
    peers: ['tcp-relay', 'wspipe-relay'],
    alsoShow: [{ key: 'heapUsedKiB', title: 'relayed idle connection, relay heapUsed each' }],
  },
  {
    id: 'relay-pmd16k',
    title: 'relay 16 KiB JSON, compressed, passed through',
    unit: 'msg/s',
    better: 'higher',
    kind: 'relay',
    // relay-pmd.js sends each as the same deflated 16 KiB JSON message.
    payload: { binaryBytes: 16 * 1024 },
    batchBytes: 64 * 1024,
    peers: ['tcp-relay', 'wspipe-relay'],
  },
  { id: 'mask-64', title: 'mask 64 B', unit: 'MB/s', better: 'higher', kind: 'mask', bytes: 64 },
  { id: 'mask-1k', title: 'mask 1 KiB', unit: 'MB/s', better: 'higher', kind: 'mask', bytes: 1024 },
  { id: 'mask-16k', title: 'mask 16 KiB', unit: 'MB/s', better: 'higher', kind: 'mask', bytes: 16 * 1024 },
  { id: 'mask-1m', title: 'mask 1 MiB', unit: 'MB/s', better: 'higher', kind: 'mask', bytes: 1 << 20 },
];

/** Timings per mode; `quick` keeps the whole run under a minute. */
export const MODES = {
  // idleConnections over 5,000 with idleInFlight handshakes at a time: how issue 12 counts idle memory.
  full: { rounds: 5, warmupMs: 300, durationMs: 1000, idleConnections: 5000, idleInFlight: 50, idleWarmConnections: 200, deflateConnections: 1000, childTimeoutMs: 60_000 },
  quick: { rounds: 1, warmupMs: 100, durationMs: 200, idleConnections: 200, idleInFlight: 50, idleWarmConnections: 100, deflateConnections: 100, childTimeoutMs: 20_000 },
};

/** Above this many queued bytes a sender waits (wspipe's default highWaterMarkBytes). */
export const SEND_HIGH_WATER_BYTES = 1 << 20;
