// Runs every conformance case against WebSocketClient over real loopback
// sockets and prints the per-section table (`npm run conformance`).
import { afterAll, describe, expect, it } from 'vitest';
import { CASES } from './cases.js';
import { WebSocketClient } from './client-under-test.js';
import { formatReport } from './report.js';
import { runCase, type CaseResult } from './run-case.js';

const results: CaseResult[] = [];

afterAll(() => {
  const sorted = [...results].sort((a, b) => CASES.findIndex((c) => c.id === a.id) - CASES.findIndex((c) => c.id === b.id));
  console.log(formatReport(sorted));
});

function check(result: CaseResult): void {
  results.push(result);
  expect(result.failures, `case ${result.id}: ${result.description}\n${result.peerLog.join('\n')}`).toEqual([]);
}

// Light cases run a few at a time (vitest's maxConcurrency); heavy ones alone.
describe.concurrent('conformance', () => {
  for (const c of CASES.filter((x) => !x.heavy)) {
    it(`${c.id} ${c.description}`, async () => check(await runCase(c, WebSocketClient)), (c.timeoutMs ?? 8000) + 5000);
  }
});

describe.sequential('conformance (large)', () => {
  for (const c of CASES.filter((x) => x.heavy)) {
    it(`${c.id} ${c.description}`, async () => check(await runCase(c, WebSocketClient)), (c.timeoutMs ?? 8000) + 10000);
  }
});
