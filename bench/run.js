// `npm run bench`: wspipe against a raw socket, ws and Node's WebSocket, on a
// load server in its own process, and wspipe's relay against a plain TCP relay. Every measurement runs in a fresh child
// process, so that one peer's garbage never lands on another's clock.
//
//   node bench/run.js [--quick] [--rounds N] [--only a,b] [--peers a,b] [--profile]
//
// --quick     one short round of everything, under a minute (the CI smoke run)
// --rounds N  rounds per workload (default 5); cells are median (min-max)
// --only      workloads by id or id prefix: recv, send-text16, echo, pmd, relay, mask ...
// --peers     peers by name: raw, wspipe, ws, node; tcp-relay, wspipe-relay; byte-loop ...
// --profile   run the children with --cpu-prof into bench/results/profiles/
//             (summarize with: node bench/profile-top.js <file.cpuprofile>)
//
// Writes bench/results/latest.json and latest.md (a --quick run, or one
// narrowed by --only, --peers or --profile, writes partial.json and partial.md
// instead, so that it never overwrites the last whole table); exits 1 if a measurement failed (a
// peer that is not installed is skipped, not failed).
import { execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WORKLOADS, MODES, CLIENT_PEERS, CLIENT_RATIOS, MASK_PEERS, RELAY_PEERS } from './lib/workloads.js';
import { loadWs } from './lib/load-ws.js';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = path.join(BENCH_DIR, 'results');
const PROFILE_DIR = path.join(RESULTS_DIR, 'profiles');

function parseArgs(argv) {
  const args = { quick: false, rounds: undefined, only: [], peers: [], profile: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--quick') args.quick = true;
    else if (a === '--rounds') args.rounds = Number(value());
    else if (a === '--only') args.only.push(...value().split(','));
    else if (a === '--peers') args.peers.push(...value().split(','));
    else if (a === '--profile') args.profile = true;
    else if (a === '--help' || a === '-h') args.help = true;
    else throw new Error(`unknown argument ${a} (try --help)`);
  }
  if (args.rounds !== undefined && !(Number.isInteger(args.rounds) && args.rounds > 0)) throw new Error('--rounds takes a positive integer');
  return args;
}

function selectWorkloads(only) {
  if (only.length === 0) return WORKLOADS;
  const picked = WORKLOADS.filter((w) => only.some((name) => w.id === name || w.id.startsWith(name + '-') || w.kind === name));
  if (picked.length === 0) throw new Error(`--only ${only.join(',')} matches no workload; ids: ${WORKLOADS.map((w) => w.id).join(', ')}`);
  return picked;
}

/** The columns of a workload's table. */
function peerSet(workload) {
  if (workload.kind === 'mask') return MASK_PEERS;
  if (workload.kind === 'relay') return RELAY_PEERS;
  return CLIENT_PEERS;
}

function peersFor(workload, names) {
  // A workload may run on some of its table's peers only (the raw peer does not compress).
  const all = peerSet(workload).filter((p) => !workload.peers || workload.peers.includes(p.name));
  return names.length === 0 ? all : all.filter((p) => names.includes(p.name));
}

function checkPeerNames(names) {
  const known = [...CLIENT_PEERS, ...RELAY_PEERS, ...MASK_PEERS].map((p) => p.name);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length) throw new Error(`--peers: unknown ${unknown.join(', ')}; known: ${known.join(', ')}`);
}

async function startLoadServer() {
  const server = fork(path.join(BENCH_DIR, 'load-server.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  const [msg] = await once(server, 'message');
  if (msg?.type !== 'listening') throw new Error('load server did not start');
  return { server, port: msg.port };
}

function serverStats(server) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 1000);
    server.once('message', (msg) => {
      clearTimeout(timer);
      resolve(msg);
    });
    server.send({ type: 'stats' });
  });
}

/** One measurement in a fresh child: resolves {ok,value,extra} | {skipped} | {error}. */
function measureInChild(file, job, execArgv, timeoutMs, env, onSpawn) {
  return new Promise((resolve) => {
    const child = fork(path.join(BENCH_DIR, file), [JSON.stringify(job)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv,
      env: env ? { ...process.env, ...env } : process.env,
    });
    onSpawn?.(child);
    let result = null;
    const timer = setTimeout(() => {
      result ??= { error: `timed out after ${timeoutMs} ms` };
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('message', (msg) => {
      result ??= msg;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(result ?? { error: `child exited (${signal ?? code}) without a result` });
    });
  });
}

// ---- one CPU for both processes (echo-64-1cpu) ----------------------------

/** `taskset` (util-linux) when it is there; every thread of a process (-a) goes to CPU 0. */
function findTaskset() {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function affinityOf(pid) {
  // "pid 123's current affinity list: 0,1"
  return execFileSync('taskset', ['-c', '-p', String(pid)], { encoding: 'utf8' }).split(':').pop().trim();
}

function pin(pid, cpuList) {
  try {
    execFileSync('taskset', ['-a', '-c', '-p', cpuList, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false; // the process may have ended already
  }
}

// ---- statistics and formatting ---------------------------------------------

function summarize(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/** The result whose value is the median of `results` (the lower middle one of an even count). */
function medianResult(results) {
  const sorted = [...results].sort((a, b) => a.value - b.value);
  return sorted[(sorted.length - 1) >> 1];
}

function fmt(value, unit) {
  if (unit === 'µs') return `${value.toFixed(value < 10 ? 2 : 1)} µs`;
  if (unit === 'KiB') return `${value.toFixed(1)} KiB`;
  if (unit === 'MB/s') return `${Math.round(value).toLocaleString('en-US')}`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(value >= 1e7 ? 1 : 2)}M`;
  if (value >= 1e4) return `${Math.round(value / 1e3)}k`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(2)}k`;
  return value >= 100 ? `${Math.round(value)}` : value.toFixed(1);
}

function cell(entry, unit, rounds) {
  if (!entry) return '–';
  if (entry.skipped) return 'skipped';
  if (entry.errors?.length && !entry.samples.length) return 'error';
  const { median, min, max } = entry;
  const text = rounds > 1 ? `${fmt(median, unit)} (${fmt(min, unit)}–${fmt(max, unit)})` : fmt(median, unit);
  return entry.errors?.length ? `${text} (${entry.errors.length} failed)` : text;
}

function ratio(a, b) {
  if (!a?.samples?.length || !b?.samples?.length || b.median === 0) return '–';
  return `${(a.median / b.median).toFixed(2)}×`;
}

/**
 * a / b taken within each round (the two ran minutes apart at most, under
 * the same load), then the median of those ratios, with min-max.
 */
function roundRatios(a, b) {
  const values = [];
  const rounds = Math.min(a?.byRound?.length ?? 0, b?.byRound?.length ?? 0);
  for (let r = 0; r < rounds; r++) {
    const x = a.byRound[r];
    const y = b.byRound[r];
    if (typeof x === 'number' && typeof y === 'number' && y > 0) values.push(x / y);
  }
  return values.length ? { ...summarize(values), rounds: values.length } : null;
}

function ratioCell(a, b) {
  const r = roundRatios(a, b);
  if (!r) return '–';
  const f = (v) => `${v.toFixed(2)}×`;
  return r.rounds > 1 ? `${f(r.median)} (${f(r.min)}–${f(r.max)})` : f(r.median);
}

const peerTitle = (name) => CLIENT_PEERS.find((p) => p.name === name)?.title.replace(' (pure JS)', '') ?? name;

const arrow = (w) => (w.better === 'lower' ? '↓' : '↑');

/**
 * The rows a workload's `alsoShow` asks for: another figure from the same
 * measurements (an `extra` key), summarized like the main one.
 */
function extraRows(w) {
  return (w.alsoShow ?? []).map(({ key, title, unit, better }) => {
    const peers = {};
    for (const [name, e] of Object.entries(w.peers)) {
      const samples = (e.extra ?? []).map((x) => x[key]).filter((v) => typeof v === 'number');
      const byRound = (e.extraByRound ?? []).map((x) => x?.[key]);
      peers[name] = e.skipped ? { skipped: e.skipped } : { samples, byRound, errors: e.errors, ...(samples.length ? summarize(samples) : {}) };
    }
    return { title, unit: unit ?? w.unit, better: better ?? w.better, peers };
  });
}

function markdown(report) {
  const lines = [];
  lines.push(`# wspipe bench`);
  lines.push('');
  lines.push(
    `Node ${report.node}, ws ${report.ws ?? 'not installed'}, Node's WebSocket: undici ${report.undici}; ` +
      `${report.cpus} × ${report.cpuModel}; ${report.mode} mode, ${report.rounds} round(s); ${report.date}.`,
  );
  lines.push('');
  lines.push(
    `Cells: median (min–max) over the rounds, each a fresh child process; ↑ higher is better, ↓ lower is better. ` +
      `Ratios are taken within each round (both peers measured minutes apart at most, under the same load), ` +
      `then median (min–max) of those; for ↓ rows, below 1 is better. \`ws\` is ws with WS_NO_BUFFER_UTIL=1 (its JavaScript mask).`,
  );
  if (report.load) lines.push('', `Machine load (uptime) before: ${report.load.before}; after: ${report.load.after}.`);
  const isMemory = (w) => w.kind === 'idle';
  const client = report.workloads.filter((w) => w.kind !== 'mask' && w.kind !== 'relay' && !isMemory(w));
  const ratioTitles = CLIENT_RATIOS.map(([a, b]) => `${peerTitle(a)}/${peerTitle(b)}`);
  if (client.length) {
    lines.push('');
    lines.push(`| workload | unit | ${CLIENT_PEERS.map((p) => p.title).join(' | ')} | ${ratioTitles.join(' | ')} |`);
    lines.push(`|---|---|${CLIENT_PEERS.map(() => '---:').join('|')}|${CLIENT_RATIOS.map(() => '---:').join('|')}|`);
    for (const w of client) {
      for (const row of [w, ...extraRows(w)]) {
        const cells = CLIENT_PEERS.map((p) => cell(row.peers[p.name], row.unit, report.rounds));
        const ratios = CLIENT_RATIOS.map(([a, b]) => ratioCell(row.peers[a], row.peers[b]));
        lines.push(`| ${row.title} | ${row.unit} ${arrow(row)} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
      }
    }
  }
  const memory = report.workloads.filter(isMemory);
  for (const w of memory) {
    const [heap] = extraRows(w);
    const n = Object.values(w.peers).find((e) => e.extra?.length)?.extra[0]?.connections;
    lines.push('');
    lines.push(
      `Idle memory, KiB per connection ↓: marginal over ${n ?? '?'} idle connections, after a forced GC, ` +
        `${report.idleInFlight} handshakes in flight, compression off (Node's WebSocket always offers it; the server declines):`,
    );
    lines.push('');
    lines.push(`| peer | RSS | JS heap | RSS/ws | heap/ws |`);
    lines.push(`|---|---:|---:|---:|---:|`);
    for (const p of CLIENT_PEERS) {
      lines.push(
        `| ${p.title} | ${cell(w.peers[p.name], 'KiB', report.rounds)} | ${cell(heap.peers[p.name], 'KiB', report.rounds)} | ` +
          `${ratioCell(w.peers[p.name], w.peers.ws)} | ${ratioCell(heap.peers[p.name], heap.peers.ws)} |`,
      );
    }
  }
  const relay = report.workloads.filter((w) => w.kind === 'relay');
  if (relay.length) {
    lines.push('');
    lines.push(`Relays, between a sender and a sink (the raw peer and the load server; relay-pmd.js for the compressed row):`);
    lines.push('');
    lines.push(`| workload | unit | ${RELAY_PEERS.map((p) => p.title).join(' | ')} | relay/plain |`);
    lines.push(`|---|---|${RELAY_PEERS.map(() => '---:').join('|')}|---:|`);
    for (const w of relay) {
      for (const row of [w, ...extraRows(w)]) {
        const cells = RELAY_PEERS.map((p) => cell(row.peers[p.name], row.unit, report.rounds));
        lines.push(`| ${row.title} | ${row.unit} ${arrow(row)} | ${cells.join(' | ')} | ${ratio(row.peers['wspipe-relay'], row.peers['tcp-relay'])} |`);
      }
    }
  }
  const mask = report.workloads.filter((w) => w.kind === 'mask');
  if (mask.length) {
    lines.push('');
    lines.push(`Masking, MB/s ↑ (one payload per call, key offset 0):`);
    lines.push('');
    lines.push(`| payload | ${MASK_PEERS.map((p) => p.title).join(' | ')} | wasm/JS word loop | maskInto/bufferutil | maskInto/Buffer.copy |`);
    lines.push(`|---|${MASK_PEERS.map(() => '---:').join('|')}|---:|---:|---:|`);
    for (const w of mask) {
      const cells = MASK_PEERS.map((p) => cell(w.peers[p.name], w.unit, report.rounds));
      const p = w.peers;
      lines.push(
        `| ${w.title.replace('mask ', '')} | ${cells.join(' | ')} | ${ratioCell(p['wasm-simd'], p['js-word-loop'])} | ` +
          `${ratioCell(p['mask-into'], p.bufferutil)} | ${ratioCell(p['mask-into'], p['buffer-copy'])} |`,
      );
    }
  }
  const notes = new Map();
  for (const w of report.workloads) {
    for (const [name, e] of Object.entries(w.peers)) {
      if (e.skipped) notes.set(name, `${name}: skipped, ${e.skipped}`);
      for (const err of e.errors ?? []) notes.set(`${w.id}/${name}`, `${w.id} / ${name}: ${err.split('\n')[0]}`);
      if (e.notes?.length) notes.set(`${w.id}/${name}/notes`, `${w.id} / ${name}: ${e.notes[0]}`);
    }
  }
  if (notes.size) {
    lines.push('');
    for (const note of notes.values()) lines.push(`- ${note}`);
  }
  return lines.join('\n') + '\n';
}

// ---- main ------------------------------------------------------------------

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    const header = (await import('node:fs')).readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\nimport ')[0];
    console.log(header.replace(/^\/\/ ?/gm, ''));
    return 0;
  }
  const modeName = args.quick ? 'quick' : 'full';
  const mode = MODES[modeName];
  const rounds = args.rounds ?? mode.rounds;
  checkPeerNames(args.peers);
  const workloads = selectWorkloads(args.only).filter((w) => peersFor(w, args.peers).length > 0);
  if (workloads.length === 0) throw new Error('no workload has any of the chosen --peers');
  const ws = loadWs();
  if (!ws) console.error('note: ws is not installed; its rows are skipped (see bench/README.md)');
  const taskset = workloads.some((w) => w.oneCpu) && findTaskset();
  const uptime = () => os.loadavg().map((x) => x.toFixed(2)).join(', ');
  const loadBefore = uptime();
  if (args.profile) mkdirSync(PROFILE_DIR, { recursive: true });

  const { server, port } = await startLoadServer();
  const entries = new Map(workloads.map((w) => [w.id, {}]));
  const skippedPeers = new Map();
  let failures = 0;
  let stats = null;
  const started = Date.now();
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const w of workloads) {
        const peers = peersFor(w, args.peers);
        // A row with `slices` (the latency rows) runs every peer that many times per round,
        // interleaved (A B C A B C ...), so a burst of load from the other jobs on the machine
        // falls on all of them; the round's value is each peer's median slice.
        const slices = args.quick ? 1 : (w.slices ?? 1);
        const sliced = new Map();
        for (let slice = 0; slice < slices; slice++) {
          // Rotate the order each round (and slice), so no peer always runs first or last.
          const order = peers.map((_, i) => peers[(i + round - 1 + slice) % peers.length]);
          for (const peer of order) {
            const entry = (entries.get(w.id)[peer.name] ??= { samples: [], byRound: [], extra: [], extraByRound: [], errors: [], notes: [] });
            if (skippedPeers.has(peer.name)) {
              entry.skipped = skippedPeers.get(peer.name);
              continue;
            }
            const job = {
              workload: w.id,
              peer: peer.name,
              port,
              warmupMs: mode.warmupMs,
              // A slice is half a measurement: slices x (warm-up + half) keeps the row a few seconds per peer.
              durationMs: slices > 1 ? Math.round(mode.durationMs / 2) : mode.durationMs,
              idleConnections: mode.idleConnections,
              idleInFlight: mode.idleInFlight,
              idleWarmConnections: mode.idleWarmConnections,
              deflateConnections: mode.deflateConnections,
            };
            const execArgv = ['--expose-gc', ...(peer.execArgv ?? [])];
            if (peer.name === 'node') execArgv.push('--disable-warning=ExperimentalWarning');
            if (args.profile) execArgv.push('--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${w.id}.${peer.name}.r${round}${slices > 1 ? `s${slice + 1}` : ''}.cpuprofile`);
            const file = w.kind === 'mask' ? 'mask.js' : peer.file;
            // echo-64-1cpu: the load server and the child share CPU 0 (every thread of both),
            // so a round trip pays for two wake-ups on one core, as a small VM would.
            let serverAffinity;
            let onSpawn;
            if (w.oneCpu && taskset) {
              serverAffinity = affinityOf(server.pid);
              pin(server.pid, '0');
              onSpawn = (child) => {
                if (!pin(child.pid, '0')) entry.notes.push('taskset could not pin the child');
              };
            } else if (w.oneCpu) {
              entry.notes.push('taskset not found: client and server ran unpinned (the row then equals echo-64)');
            }
            const result = await measureInChild(file, job, execArgv, mode.childTimeoutMs + mode.durationMs, peer.env, onSpawn);
            if (serverAffinity) pin(server.pid, serverAffinity);
            let line;
            if (result.skipped) {
              skippedPeers.set(peer.name, result.skipped);
              entry.skipped = result.skipped;
              line = `skipped: ${result.skipped}`;
            } else if (result.error) {
              failures++;
              entry.errors.push(result.error);
              line = `ERROR ${result.error}`;
            } else {
              (sliced.get(peer.name) ?? sliced.set(peer.name, []).get(peer.name)).push(result);
              for (const note of result.notes ?? []) entry.notes.push(note);
              line = fmt(result.value, w.unit) + (w.unit === 'µs' || w.unit === 'KiB' ? '' : ` ${w.unit}`);
            }
            const sliceNote = slices > 1 ? ` (slice ${slice + 1}/${slices})` : '';
            console.error(`[${round}/${rounds}] ${w.id} ${peer.name}${sliceNote}: ${line}`);
          }
        }
        for (const [name, results] of sliced) {
          const entry = entries.get(w.id)[name];
          const result = medianResult(results);
          entry.samples.push(result.value);
          entry.byRound[round - 1] = result.value;
          const extra = slices > 1 ? { ...result.extra, slices: results.map((x) => x.value) } : result.extra;
          if (extra) {
            entry.extra.push(extra);
            entry.extraByRound[round - 1] = extra;
          }
        }
      }
    }
  } finally {
    stats = await serverStats(server);
    server.disconnect();
  }

  const report = {
    node: process.version,
    ws: ws?.version ?? null,
    undici: process.versions.undici ?? null,
    date: new Date().toISOString(),
    mode: modeName,
    rounds,
    only: args.only,
    peers: args.peers,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown cpu',
    platform: `${process.platform} ${os.release()}`,
    seconds: (Date.now() - started) / 1000,
    load: { before: loadBefore, after: uptime() },
    idleInFlight: mode.idleInFlight,
    server: stats,
    workloads: workloads.map((w) => {
      const peers = entries.get(w.id);
      for (const e of Object.values(peers)) if (e.samples.length) Object.assign(e, summarize(e.samples));
      const entry = { id: w.id, title: w.title, kind: w.kind, unit: w.unit, better: w.better, peers };
      const r = (a, b) => (a?.samples?.length && b?.samples?.length ? a.median / b.median : null);
      if (w.kind === 'relay') entry.ratios = { 'relay/plain': r(peers['wspipe-relay'], peers['tcp-relay']) };
      else if (w.kind !== 'mask') {
        // Within-round ratios, as in the table: median, min, max.
        entry.ratios = Object.fromEntries(CLIENT_RATIOS.map(([a, b]) => [`${a}/${b}`, roundRatios(peers[a], peers[b])]));
      }
      // Its rows are drawn from peers[name].extra[key] when the table is made.
      if (w.alsoShow) entry.alsoShow = w.alsoShow;
      return entry;
    }),
  };
  const md = markdown(report);
  const stem = args.quick || args.only.length || args.peers.length || args.profile ? 'partial' : 'latest';
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(path.join(RESULTS_DIR, `${stem}.json`), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(path.join(RESULTS_DIR, `${stem}.md`), md);
  console.log(md);
  console.error(`${report.seconds.toFixed(0)} s; wrote bench/results/${stem}.json and ${stem}.md${failures ? `; ${failures} measurement(s) failed` : ''}`);
  return failures ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err?.message ?? err);
    process.exit(2);
  },
);
