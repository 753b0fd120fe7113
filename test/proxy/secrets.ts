import { inspect } from 'node:util';
import { expect } from 'vitest';

/**
 * Asserts that no form of `error` a user could print or log (message, stack,
 * inspect output with the whole cause chain and every property, JSON) shows
 * any of `secrets`.
 */
export function expectNoSecrets(error: unknown, secrets: string[]): void {
  const forms = [
    String(error),
    (error as Error).stack ?? '',
    inspect(error, { depth: 10, showHidden: false }),
    JSON.stringify(error),
  ];
  let cause = (error as Error).cause;
  while (cause !== undefined && cause !== null) {
    forms.push(String(cause), inspect(cause, { depth: 10 }));
    cause = (cause as Error).cause;
  }
  for (const form of forms) {
    for (const secret of secrets) expect(form).not.toContain(secret);
  }
}

/** The Basic credentials of a `user:password` pair, as they would travel. */
export function basicToken(user: string, password: string): string {
  return Buffer.from(`${user}:${password}`).toString('base64');
}
