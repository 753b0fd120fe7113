// The command line of `wspipe`: what the user typed, checked, as one object.
// Every mistake is a CommandLineError with one line for the user (exit status 2).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { encodeClosePayload } from '../protocol/close.js';

/** A mistake on the command line: one line for the user, exit status 2. */
export class CommandLineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandLineError';
  }
}

export type BinaryOutput = 'hex' | 'base64';

/** Everything the client run needs, already validated. */
export interface ClientConfig {
  url: string;
  headers: Record<string, string[]>;
  origin: string | undefined;
  protocols: string[];
  proxy: string | undefined;
  handshakeTimeoutMs: number | undefined;
  pingIntervalMs: number;
  binary: boolean;
  binaryOutput: BinaryOutput;
  compression: boolean;
  reconnect: boolean;
  /** Close and exit after this many messages; undefined: close at the end of stdin. */
  waitForMessages: number | undefined;
  closeCode: number;
  closeReason: string;
  ca: Buffer | undefined;
  insecure: boolean;
}

export type Command = { kind: 'help' } | { kind: 'version' } | { kind: 'demo' } | { kind: 'client'; config: ClientConfig };

const OPTIONS = {
  header: { type: 'string', short: 'H', multiple: true },
  origin: { type: 'string', short: 'o' },
  protocol: { type: 'string', short: 'p', multiple: true },
  proxy: { type: 'string' },
  'handshake-timeout': { type: 'string' },
  ping: { type: 'string' },
  binary: { type: 'boolean', short: 'b' },
  'binary-output': { type: 'string' },
  'no-compression': { type: 'boolean' },
  reconnect: { type: 'boolean', short: 'r' },
  wait: { type: 'string', short: 'w' },
  'close-code': { type: 'string' },
  'close-reason': { type: 'string' },
  ca: { type: 'string' },
  insecure: { type: 'boolean', short: 'k' },
  version: { type: 'boolean', short: 'V' },
  help: { type: 'boolean', short: 'h' },
} as const;

type OptionName = keyof typeof OPTIONS;
type Values = { [K in OptionName]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string[] : boolean };

/** Parses `argv` (without node and the script). Throws CommandLineError. */
export function parseCommandLine(argv: string[]): Command {
  // strict: false and our own checks, so each mistake gets a message of ours
  // (parseArgs' strict messages talk about positionals for an unknown -V).
  const { tokens } = parseArgs({ args: argv, options: OPTIONS, strict: false, allowPositionals: true, tokens: true });
  const values: Values = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value);
      continue;
    }
    if (token.kind === 'option-terminator') continue;
    const name = token.name as OptionName;
    const spec = OPTIONS[name];
    if (spec === undefined) throw new CommandLineError(`unknown option ${token.rawName} (wspipe --help lists them)`);
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw new CommandLineError(`${token.rawName} takes no value`);
      (values as Record<string, boolean>)[name] = true;
    } else {
      if (token.value === undefined) throw new CommandLineError(`${token.rawName} needs a value`);
      const list = ((values as Record<string, string[]>)[name] ??= []);
      if (!('multiple' in spec) && list.length > 0) throw new CommandLineError(`${token.rawName} given twice`);
      list.push(token.value);
    }
  }
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  if (positionals.length > 1) {
    throw new CommandLineError(`one URL only; also got ${JSON.stringify(positionals[1])}`);
  }
  if (positionals.length === 0) {
    if (tokens.some((t) => t.kind === 'option')) {
      throw new CommandLineError('options need a URL (wspipe [options] URL); run wspipe alone for the demo');
    }
    return { kind: 'demo' };
  }
  return { kind: 'client', config: toConfig(positionals[0]!, values) };
}

function toConfig(url: string, values: Values): ClientConfig {
  const one = (name: OptionName): string | undefined => (values[name] as string[] | undefined)?.[0];
  const closeCode = integer('--close-code', one('close-code'), 0) ?? 1000;
  const closeReason = one('close-reason') ?? '';
  try {
    encodeClosePayload(closeCode, closeReason);
  } catch (error) {
    throw new CommandLineError(`--close-code/--close-reason: ${(error as Error).message}`);
  }
  const binaryOutput = one('binary-output') ?? 'hex';
  if (binaryOutput !== 'hex' && binaryOutput !== 'base64') {
    throw new CommandLineError(`--binary-output must be hex or base64, not ${JSON.stringify(binaryOutput)}`);
  }
  return {
    url,
    headers: parseHeaders(values.header ?? []),
    origin: one('origin'),
    protocols: values.protocol ?? [],
    proxy: one('proxy'),
    handshakeTimeoutMs: integer('--handshake-timeout', one('handshake-timeout'), 0),
    pingIntervalMs: integer('--ping', one('ping'), 0) ?? 0,
    binary: values.binary === true,
    binaryOutput,
    compression: values['no-compression'] !== true,
    reconnect: values.reconnect === true,
    waitForMessages: integer('--wait', one('wait'), 1),
    closeCode,
    closeReason,
    ca: readCa(one('ca')),
    insecure: values.insecure === true,
  };
}

function integer(flag: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new CommandLineError(`${flag} needs a whole number of at least ${min}, not ${JSON.stringify(text)}`);
  }
  return value;
}

function parseHeaders(lines: string[]): Record<string, string[]> {
  const headers: Record<string, string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new CommandLineError(`-H ${JSON.stringify(line)}: expected "Name: value"`);
    (headers[line.slice(0, colon).trim()] ??= []).push(line.slice(colon + 1).trim());
  }
  return headers;
}

function readCa(path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (code ?? 'unreadable');
    throw new CommandLineError(`--ca ${path}: cannot read it (${why})`);
  }
}
