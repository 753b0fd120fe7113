// The client the suites exercise, and the small helpers they share.
import { WebSocketClient } from '../../src/index.js';

export { WebSocketClient };
export type ClientConstructor = typeof WebSocketClient;
export type ClientUnderTest = WebSocketClient;

/** The `code` string of whatever `onError` reported. */
export function errorCodeOf(code: unknown, error: unknown): string {
  if (error && typeof (error as { code?: unknown }).code === 'string') return (error as { code: string }).code;
  return String(code);
}
