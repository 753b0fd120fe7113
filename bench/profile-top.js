// The functions with the most self time in V8 CPU profiles (node --cpu-prof),
// as a Markdown table. Several files (e.g. the rounds of one workload) are
// added together.
//
//   node bench/run.js --only recv-text16 --peers wspipe --profile
//   node bench/profile-top.js [--top N] bench/results/profiles/recv-text16.wspipe.*.cpuprofile
import { readFileSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
let top = 10;
const topAt = args.indexOf('--top');
if (topAt >= 0) {
  top = Number(args[topAt + 1]);
  args.splice(topAt, 2);
}
if (args.length === 0) {
  console.error('usage: node bench/profile-top.js [--top N] FILE.cpuprofile...');
  process.exit(2);
}

/** Self microseconds per function, keyed by name and place. */
const selfUs = new Map();
let totalUs = 0;
for (const file of args) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodeById = new Map(profile.nodes.map((n) => [n.id, n]));
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; charge it to that sample's function.
    const dt = timeDeltas[i] ?? 0;
    const { callFrame } = nodeById.get(samples[i]);
    if (callFrame.functionName === '(idle)') continue;
    const where = callFrame.url ? `${path.basename(callFrame.url)}:${callFrame.lineNumber + 1}` : '';
    const key = `${callFrame.functionName || '(anonymous)'}\t${where}`;
    selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
    totalUs += dt;
  }
}

const rows = [...selfUs.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
console.log(`| # | self % | self ms | function | where |`);
console.log(`|---:|---:|---:|---|---|`);
rows.forEach(([key, us], i) => {
  const [name, where] = key.split('\t');
  console.log(`| ${i + 1} | ${((100 * us) / totalUs).toFixed(1)} | ${(us / 1000).toFixed(1)} | \`${name}\` | ${where} |`);
});
console.log(`\n${(totalUs / 1000).toFixed(0)} ms of samples (idle excluded) from ${args.length} profile(s).`);
