// The package as consumers see it: a built copy with this package.json, reached
// through node_modules/wspipe, from CommonJS, from ESM, and from TypeScript
// under `module: nodenext` (a CommonJS project) and `module: esnext` +
// `moduleResolution: bundler`.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
let work: string;

function run(file: string, args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, timeout: 90_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A consumer project: its package.json, its files, and node_modules/wspipe -> the built package. */
function project(name: string, type: 'commonjs' | 'module', files: Record<string, string>): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
  symlinkSync(join(work, 'wspipe'), join(dir, 'node_modules', 'wspipe'), 'dir');
  symlinkSync(join(root, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type }));
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

const CONSUMER_CJS = `
const wspipe = require('wspipe');
const protocol = require('wspipe/protocol');
const streams = require('wspipe/streams');
const relay = require('wspipe/relay');
const names = [typeof wspipe.WebSocketClient, typeof wspipe.WebSocket, typeof wspipe.WebSocketStream,
  typeof wspipe.createWebSocketStream, typeof protocol.FrameDecoder, typeof streams.FrameDecoderStream,
  typeof relay.createRelay];
// One module instance whichever way it is reached: no dual-package hazard.
console.log(JSON.stringify({ names, same: wspipe.FrameDecoder === protocol.FrameDecoder }));
`;

const CONSUMER_TS = `
import { WebSocket, WebSocketClient, type WebSocketClientOptions } from 'wspipe';
import { FrameDecoder } from 'wspipe/protocol';
import { FrameDecoderStream } from 'wspipe/streams';
const options: WebSocketClientOptions = { pingIntervalMs: 1000 };
const client = new WebSocketClient('ws://127.0.0.1:1/', options);
const state: 0 | 1 | 2 | 3 | number = WebSocket.OPEN;
console.log(JSON.stringify([typeof client.connect, state, typeof FrameDecoder, typeof FrameDecoderStream]));
`;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'wspipe-consumers-'));
  // The package as published: package.json and dist/, built from the sources now.
  const pkg = join(work, 'wspipe');
  mkdirSync(pkg);
  cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
  const build = await run(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist'), '--sourceMap', 'false'], root);
  expect(build.stdout + build.stderr).toBe('');
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the package from consumers', () => {
  it('require() from CommonJS: the root and both subpaths, with no warning', async () => {
    const dir = project('cjs-consumer', 'commonjs', { 'index.js': CONSUMER_CJS });
    const result = await run(process.execPath, ['index.js'], dir);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ names: Array(7).fill('function'), same: true });
  });

  it('import from ESM', async () => {
    const dir = project('esm-consumer', 'module', {
      'index.js': `import { WebSocket } from 'wspipe'; import { FrameDecoder } from 'wspipe/protocol'; import * as s from 'wspipe/streams';
console.log(typeof WebSocket, typeof FrameDecoder, typeof s.FrameDecoderStream);`,
    });
    const result = await run(process.execPath, ['index.js'], dir);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('function function function');
  });

  it.each([
    ['module nodenext in a "type": "commonjs" project (compiled to require())', 'commonjs', { module: 'nodenext', moduleResolution: 'nodenext' }],
    ['module esnext with moduleResolution bundler', 'module', { module: 'esnext', moduleResolution: 'bundler' }],
  ] as const)('TypeScript, %s: type-checks the imports, compiles and runs', async (_name, type, resolution) => {
    const dir = project(`ts-${resolution.module}`, type, {
      'index.ts': CONSUMER_TS,
      'tsconfig.json': JSON.stringify({
        compilerOptions: { ...resolution, target: 'es2022', strict: true, types: ['node'], outDir: 'out' },
        files: ['index.ts'],
      }),
    });
    const compiled = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], dir);
    expect(compiled.stdout + compiled.stderr).toBe('');
    const result = await run(process.execPath, ['out/index.js'], dir);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual(['function', 1, 'function', 'function']);
  }, 60_000);
});
