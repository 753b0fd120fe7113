// Masking throughput, MB/s: wspipe's maskInPlace and maskInto (dist/) against
// the obvious byte loop, Buffer.copy (memcpy, the floor for maskInto's copy),
// and ws's mask when ws is installed (its JavaScript loop unless bufferutil is).
//
//   node bench/mask.js                 all sizes and implementations, a table
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

/** Returns a function that masks (or copies) one `bytes`-long payload. */
async function prepare(impl, bytes) {
  const source = Buffer.alloc(bytes, 0x5a);
  const target = Buffer.alloc(bytes + 14); // room for a frame header in front, as a sender would use
  switch (impl) {
    case 'byte-loop':
      return () => byteLoop(target, KEY);
    case 'buffer-copy':
      return () => source.copy(target, 14);
    case 'mask-in-place':
    case 'mask-into': {
      let lib;
      try {
        lib = await import('../dist/protocol/mask.js');
      } catch (err) {
        throw new Unavailable(`dist/protocol/mask.js did not load (run npm run build): ${err.message}`);
      }
      return impl === 'mask-in-place'
        ? () => lib.maskInPlace(target, 14, 14 + bytes, KEY, 0)
        : () => lib.maskInto(source, target, 14, KEY, 0);
    }
    case 'ws-mask': {
      const found = loadWs();
      if (!found) throw new Unavailable(WS_MISSING_NOTE);
      const { mask } = found.require(path.join(found.wsDir, 'lib', 'buffer-util.js'));
      return () => mask(source, KEY, target, 14, bytes);
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

if (process.argv[2]) {
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
