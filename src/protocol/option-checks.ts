// Checks for options that come from plain JavaScript, where the types of the
// TypeScript declarations are only a hope. Each failure is a UsageError with
// WSP_ERR_INVALID_OPTION whose message names the option and says what it takes.

import { ErrorCode, UsageError } from './errors.js';

/**
 * The longest delay a Node timer honours: `setTimeout` clamps anything above
 * 2^31 - 1 ms to 1 ms (with a TimeoutOverflowWarning), so a larger duration
 * would fire at once rather than late.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** Throws the UsageError for option `name`, which must be `expected`. */
export function invalidOption(name: string, expected: string, value: unknown): never {
  throw new UsageError(ErrorCode.InvalidOption, `${name} must be ${expected}; got ${describeValue(value)}`);
}

/**
 * A short, safe description of a bad value: its type, and the value itself
 * only for numbers, booleans and short enum-like strings. Strings may be
 * secrets (a header, a token), so longer ones are given by length.
 */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof value} ${String(value)}`;
    case 'string':
      return /^[\w.-]{0,16}$/.test(value) ? `string ${JSON.stringify(value)}` : `a string of ${value.length} characters`;
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    default: {
      const tag = Object.prototype.toString.call(value).slice(8, -1);
      return tag === 'Object' ? 'an object' : `a ${tag}`;
    }
  }
}

/** Whether `value` is an object literal (or `Object.create(null)`), not an instance of some class. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Refuses keys of `object` that are not in `known`, naming the first one as
 * `where.key` and suggesting the closest known name when one is near
 * (`pingInterval` -> `pingIntervalMs`).
 */
export function checkKnownKeys(where: string, object: object, known: readonly string[]): void {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    const name = where === '' ? key : `${where}.${key}`;
    const suggestion = closestName(key, known);
    const hint = suggestion === undefined ? '' : `; did you mean ${where === '' ? suggestion : `${where}.${suggestion}`}?`;
    throw new UsageError(ErrorCode.InvalidOption, `unknown option ${name}${hint}`);
  }
}

/**
 * The known name `key` was probably meant to be: the same name in another
 * case, the name without its unit (`maxDelay` for `maxDelayMs`), or one within
 * two edits.
 */
export function closestName(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const candidateLower = candidate.toLowerCase();
    if (candidateLower === lower) return candidate;
    const distance = candidateLower.startsWith(lower) && lower.length >= 4 ? 1.5 : editDistance(lower, candidateLower);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= 2 ? best : undefined;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** A duration in ms that a timer can hold: a finite number from 0 to 2^31 - 1. */
export function checkDuration(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0 && value <= MAX_DURATION_MS)) {
    invalidOption(name, `a number from 0 to ${MAX_DURATION_MS} (milliseconds; 2^31 - 1 is the longest a timer can wait)`, value);
  }
  return value;
}

/** A size or a count: a non-negative safe integer. */
export function checkSize(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    invalidOption(name, 'a non-negative integer (at most Number.MAX_SAFE_INTEGER)', value);
  }
  return value;
}

/** An integer from `min` to `max`. */
export function checkIntegerIn(name: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalidOption(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

export function checkBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') invalidOption(name, 'true or false', value);
  return value;
}

/** One of `allowed`. */
export function checkEnum<T extends string, F extends T | undefined = T>(name: string, value: unknown, allowed: readonly T[], fallback: F): T | F {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) invalidOption(name, allowed.map((a) => `'${a}'`).join(' or '), value);
  return value as T;
}

export function checkFunction<T>(name: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') invalidOption(name, 'a function', value);
  return value as T;
}
