// Masking throughput, MB/s: wspipe's maskInPlace and maskInto (dist/), and
// their two kernels alone (the JavaScript word loop, the WebAssembly SIMD
// kernel), against the obvious byte loop, Buffer.copy (memcpy, the floor for
// maskInto's copy), ws's JavaScript mask and bufferutil's native one when
// they are installed ($WSPIPE_PEERS_DIR).
//
//   node bench/mask.js                 all sizes and implementations, a table
//   node bench/mask.js --sweep         JS word loop vs wasm SIMD, 16 B to 64 KiB
//                                      (where SIMD_MIN_BYTES in src/protocol/mask-simd.ts comes from)
//   node bench/mask.js '<job json>'    one measurement, for run.js
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { WORKLOADS, MASK_PEERS } from './lib/workloads.js';
import { loadWs, WS_MISSING_NOTE } from './lib/load-ws.js';

const KEY = Buffer.from([0x9c, 0x31, 0x5e, 0xa7]);

function byteLoop(bytes, key) {
  for (let i = 0; i < bytes.length; i++) bytes[i] ^= key[i & 3];
}

class Unavailable extends Error {}

async function importDist(file) {
  try {
    return await import(`../dist/${file}`);
  } catch (err) {
    throw new Unavailable(`dist/${file} did not load (run npm run build): ${err.message}`);
  }
}

/** Returns a function that masks (or copies) one `bytes`-long payload. */
async function prepare(impl, bytes) {
  const source = Buffer.alloc(bytes, 0x5a);
  const target = Buffer.alloc(bytes + 14); // room for a frame header in front, as a sender would use
  switch (impl) {
    case 'byte-loop':
      return () => byteLoop(target, KEY);
    case 'buffer-copy':
      return () => source.copy(target, 14);
    case 'js-word-loop':
    case 'wasm-simd':
    case 'mask-in-place':
    case 'mask-into': {
      const lib = await importDist('protocol/mask.js');
      if (impl === 'js-word-loop') return () => lib.maskInPlaceJs(target, 14, 14 + bytes, KEY, 0);
      if (impl === 'mask-in-place') return () => lib.maskInPlace(target, 14, 14 + bytes, KEY, 0);
      if (impl === 'mask-into') return () => lib.maskInto(source, target, 14, KEY, 0);
      const { simdMask } = await importDist('protocol/mask-simd.js');
      if (!simdMask) throw new Unavailable('this engine has no WebAssembly SIMD');
      return () => simdMask(target, 14, 14 + bytes, target, 14, KEY, 0);
    }
    case 'ws-mask': {
      // ws's own loop: it only swaps in bufferutil when this is unset as ws loads.
      process.env.WS_NO_BUFFER_UTIL = '1';
      const found = loadWs();
      if (!found) throw new Unavailable(WS_MISSING_NOTE);
      const { mask } = found.require(path.join(found.wsDir, 'lib', 'buffer-util.js'));
      if (/bufferUtil/.test(String(mask))) throw new Error('ws loaded bufferutil although WS_NO_BUFFER_UTIL is set');
      return () => mask(source, KEY, target, 14, bytes);
    }
    case 'bufferutil': {
      const found = loadWs();
      let native;
      try {
        native = found?.require('bufferutil');
      } catch {
        // not installed
      }
      if (!native) throw new Unavailable('bufferutil not found ($WSPIPE_PEERS_DIR)');
      return () => native.mask(source, KEY, target, 14, bytes);
    }
    default:
      throw new Error(`unknown mask implementation ${impl}`);
  }
}

async function measure(impl, bytes, warmupMs, durationMs) {
  const run = await prepare(impl, bytes);
  const perCheck = Math.max(1, Math.floor((256 * 1024) / bytes));
  const loopFor = (ms) => {
    let calls = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < ms) {
      for (let i = 0; i < perCheck; i++) run();
      calls += perCheck;
      elapsed = performance.now() - start;
    }
    return { calls, elapsed };
  };
  loopFor(warmupMs);
  const { calls, elapsed } = loopFor(durationMs);
  return (calls * bytes) / (elapsed / 1000) / 1e6;
}

const maskWorkloads = WORKLOADS.filter((w) => w.kind === 'mask');

if (process.argv[2] && !process.argv[2].startsWith('--')) {
  if (process.send) process.on('disconnect', () => process.exit(0));
  const job = JSON.parse(process.argv[2]);
  const workload = maskWorkloads.find((w) => w.id === job.workload);
  let message;
  try {
    if (!workload) throw new Error(`unknown mask workload ${job.workload}`);
    message = { ok: true, value: await measure(job.peer, workload.bytes, job.warmupMs, job.durationMs) };
  } catch (err) {
    message = err instanceof Unavailable ? { skipped: err.message } : { error: err?.stack ?? String(err) };
  }
  if (process.send) process.send(message, () => process.exit(0));
  else console.log(JSON.stringify(message));
} else if (process.argv.includes('--sweep')) {
  const rows = [];
  for (let bytes = 16; bytes <= 64 * 1024; bytes *= 2) {
    const row = { bytes };
    for (const impl of ['js-word-loop', 'wasm-simd', 'mask-into']) row[impl] = (await measure(impl, bytes, 50, 300)).toFixed(0);
    row['wasm/js'] = (row['wasm-simd'] / row['js-word-loop']).toFixed(2);
    rows.push(row);
  }
  console.log(`Masking, MB/s (Node ${process.version}): JS word loop vs wasm SIMD, in place; maskInto as shipped`);
  console.table(rows);
} else {
  const rows = [];
  for (const w of maskWorkloads) {
    const row = { size: w.title.replace('mask ', '') };
    for (const p of MASK_PEERS) {
      try {
        row[p.title] = (await measure(p.name, w.bytes, 100, 500)).toFixed(0);
      } catch (err) {
        row[p.title] = err instanceof Unavailable ? 'n/a' : `error: ${err.message}`;
      }
    }
    rows.push(row);
  }
  console.log(`Masking, MB/s (Node ${process.version}), one process`);
  console.table(rows);
}
