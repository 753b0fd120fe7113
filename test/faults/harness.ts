// A client wrapper for the fault tests: records every callback with its time.
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocketClient } from '../conformance/client-under-test.js';
import type { WebSocketClientOptions } from '../../src/index.js';

export interface Recorded {
  ws: WebSocketClient;
  startedAt: number;
  openedAt: number | undefined;
  messages: Array<{ data: string | Buffer; isBinary: boolean }>;
  errors: Array<{ code: string; closeCode: number | undefined; message: string; error: Error; at: number }>;
  closes: Array<{ code: number; reason: string; at: number }>;
  /** Resolves when onClose has fired `n` times, or after `timeoutMs`. */
  waitCloses(n?: number, timeoutMs?: number): Promise<boolean>;
  waitOpen(timeoutMs?: number): Promise<boolean>;
}

export function record(url: string, options: WebSocketClientOptions = {}, echo = false): Recorded {
  const ws = new WebSocketClient(url, options);
  const r: Recorded = {
    ws,
    startedAt: Date.now(),
    openedAt: undefined,
    messages: [],
    errors: [],
    closes: [],
    async waitCloses(n = 1, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (r.closes.length < n && Date.now() < deadline) await sleep(5);
      return r.closes.length >= n;
    },
    async waitOpen(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (r.openedAt === undefined && r.closes.length === 0 && Date.now() < deadline) await sleep(5);
      return r.openedAt !== undefined;
    },
  };
  ws.onWebSocketConnect = () => {
    r.openedAt = Date.now();
  };
  ws.onMessage = (_c, data, isBinary) => {
    const d = Array.isArray(data) ? Buffer.concat(data) : data;
    r.messages.push({ data: d, isBinary });
    if (echo && ws.readyState === 'open') ws.send(d, { binary: isBinary });
  };
  ws.onError = (_c, code, message, error) => {
    r.errors.push({ code, closeCode: error.closeCode, message, error, at: Date.now() - r.startedAt });
  };
  ws.onClose = (_c, code, reason) => {
    r.closes.push({ code, reason, at: Date.now() - r.startedAt });
  };
  return r;
}
