// The option types accept what the runtime accepts (this file is type-checked).
import { describe, expect, it } from 'vitest';
import { WebSocketClient, type WebSocketClientOptions } from '../../src/index.js';

describe('the TypeScript option types', () => {
  it('take a Headers, a Map, pairs or a record, and one protocol as a string', () => {
    const variants: WebSocketClientOptions[] = [
      { headers: new Headers({ Cookie: 'a=b' }), protocols: 'chat' },
      { headers: new Map([['X-A', 'a']]), protocols: ['chat', 'json'] },
      { headers: new Map<string, string | string[]>([['X-A', ['a', 'b']]]) },
      { headers: [['X-A', '1'], ['X-A', '2']] as const },
      { headers: { 'X-A': ['1', '2'] as const } },
    ];
    for (const options of variants) expect(() => new WebSocketClient('ws://127.0.0.1:1/', options)).not.toThrow();
  });
});
