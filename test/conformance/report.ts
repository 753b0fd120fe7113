// The per-section pass/fail table printed after the conformance run.
import { SECTIONS } from './cases.js';
import type { CaseResult } from './run-case.js';

/**
 * A table per section: counts, then one line per failed case with its first
 * reasons (CONFORMANCE_VERBOSE=1 lists every case).
 */
export function formatReport(results: readonly CaseResult[]): string {
  const order = ['0', '1', '2', '3', '4', '5', '6', '7', '9'];
  const lines: string[] = [];
  const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
  lines.push('', 'wspipe conformance (RFC 6455, Autobahn client sections)', '');
  lines.push(`${pad('section', 34)}${pad('cases', 7)}${pad('pass', 6)}${pad('fail', 6)}result`);
  lines.push('-'.repeat(62));
  let total = 0;
  let passed = 0;
  for (const section of order) {
    const rs = results.filter((r) => r.section === section);
    if (rs.length === 0) continue;
    const ok = rs.filter((r) => r.failures.length === 0).length;
    total += rs.length;
    passed += ok;
    lines.push(`${pad(`${section}  ${SECTIONS[section] ?? ''}`, 34)}${pad(String(rs.length), 7)}${pad(String(ok), 6)}${pad(String(rs.length - ok), 6)}${ok === rs.length ? 'PASS' : 'FAIL'}`);
  }
  lines.push('-'.repeat(62));
  lines.push(`${pad('total', 34)}${pad(String(total), 7)}${pad(String(passed), 6)}${pad(String(total - passed), 6)}${passed === total ? 'PASS' : 'FAIL'}`);
  if (process.env.CONFORMANCE_VERBOSE) {
    lines.push('', 'every case:');
    for (const r of results) lines.push(`  ${r.failures.length === 0 ? 'pass' : 'FAIL'}  ${pad(r.id, 8)}${pad(`${r.ms} ms`, 9)}${r.description}`);
  }
  const failed = results.filter((r) => r.failures.length > 0);
  if (failed.length > 0) {
    lines.push('', 'failed cases:');
    for (const r of failed) {
      lines.push(`  ${r.id}  ${r.description}`);
      for (const f of r.failures.slice(0, 4)) lines.push(`      - ${f}`);
    }
  }
  lines.push('');
  return lines.join('\n');
}
