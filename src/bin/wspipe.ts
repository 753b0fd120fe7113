#!/usr/bin/env node
// The wspipe command. With no URL: the reference program against an embedded
// echo server. With a URL: send each stdin line, print each message.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { WebSocketClient } from '../client/websocket-client.js';
import type { WebSocketClientOptions } from '../client/options.js';
import { WebSocketError } from '../protocol/errors.js';
import { startEchoServer } from '../server/echo-server.js';

const USAGE = `usage: wspipe [options] [ws://host:port/path | wss://...]

With no URL, runs the reference program against an embedded local echo server.
With a URL, sends each line of stdin as a message and prints each message received.

options:
  -H, --header "Name: value"   extra handshake header (repeatable)
  -p, --protocol NAME          offer a subprotocol (repeatable)
      --ping MS                send a ping every MS milliseconds
  -b, --binary                 send binary frames instead of text
  -r, --reconnect              reconnect automatically (exponential backoff)
      --ca FILE                trust this CA certificate (PEM) for wss://
  -k, --insecure               do not verify the server certificate
  -h, --help                   this text`;

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
}

async function demo(): Promise<void> {
  const server = await startEchoServer();
  log(`embedded echo server listening on ${server.url}`);
  let connects = 0;
  const ws = new WebSocketClient(`${server.url}/demo?from=wspipe`, {
    pingIntervalMs: 300,
    headers: { Cookie: 'PHPSID=demo; token=demo', OtherKey: 'values' },
    messageType: 'text',
  });
  ws.onConnect = () => log('onConnect: TCP connected');
  ws.onWebSocketConnect = (conn, response) => {
    connects++;
    log(`onWebSocketConnect: ${response.status} ${response.statusText} (accept ${response.headers['sec-websocket-accept']})`);
    conn.send('hello');
  };
  ws.on('pong', () => log('pong received (ping interval 300 ms)'));
  ws.onMessage = (conn, data) => {
    log(`onMessage: recv ${String(data)}`);
    setTimeout(() => {
      if (connects === 1) {
        log('the server closes the connection (1012, service restart)');
        for (const c of server.connections) c.close(1012, 'restart');
      } else {
        log('client closes (1000)');
        conn.close(1000, 'done');
      }
    }, 700);
  };
  ws.onError = (_conn, code, message) => log(`onError: ${code}: ${message}`);
  ws.onClose = (conn, code, reason) => {
    log(`onClose: code ${code}${reason ? ` reason "${reason}"` : ''}`);
    if (connects === 1) {
      log('reconnecting in 1 s: conn.reconnect(1_000)');
      conn.reconnect(1_000);
    } else {
      void server.close().then(() => log('demo finished'));
    }
  };
  ws.connect();
}

async function cli(url: string, values: Record<string, unknown>): Promise<void> {
  const headers: Record<string, string[]> = {};
  for (const h of (values['header'] as string[] | undefined) ?? []) {
    const colon = h.indexOf(':');
    if (colon <= 0) throw new Error(`bad header ${JSON.stringify(h)}: expected "Name: value"`);
    (headers[h.slice(0, colon).trim()] ??= []).push(h.slice(colon + 1).trim());
  }
  const options: WebSocketClientOptions = {
    headers,
    protocols: (values['protocol'] as string[] | undefined) ?? [],
    pingIntervalMs: values['ping'] === undefined ? 0 : Number(values['ping']),
    messageType: values['binary'] ? 'binary' : 'text',
    reconnect: Boolean(values['reconnect']),
    tls: {
      ...(values['ca'] ? { ca: readFileSync(values['ca'] as string) } : {}),
      ...(values['insecure'] ? { rejectUnauthorized: false } : {}),
    },
  };
  const ws = new WebSocketClient(url, options);
  let inputDone = false;
  ws.onConnect = () => log('connected');
  ws.onWebSocketConnect = (_conn, response) => log(`open (${response.status}${response.protocol ? `, protocol ${response.protocol}` : ''})`);
  ws.onMessage = (_conn, data, isBinary) => {
    const text = isBinary ? `<${(data as Buffer).length} bytes> ${(data as Buffer).toString('hex').slice(0, 64)}` : String(data);
    process.stdout.write(`< ${text}\n`);
  };
  ws.onError = (_conn, code, message) => log(`error ${code}: ${message}`);
  ws.onClose = (_conn, code, reason) => {
    log(`closed ${code}${reason ? ` ${reason}` : ''}`);
    if (inputDone || !options.reconnect) process.stdin.destroy();
  };
  ws.on('reconnecting', ({ attempt, delayMs }: { attempt: number; delayMs: number }) =>
    log(`reconnecting (attempt ${attempt}) in ${delayMs} ms`),
  );
  ws.connect();
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    try {
      ws.send(line);
    } catch (error) {
      log(`not sent: ${(error as Error).message}`);
    }
  });
  lines.on('close', () => {
    inputDone = true;
    if (ws.readyState === 'open' || ws.readyState === 'connecting') ws.close(1000);
  });
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      header: { type: 'string', short: 'H', multiple: true },
      protocol: { type: 'string', short: 'p', multiple: true },
      ping: { type: 'string' },
      binary: { type: 'boolean', short: 'b' },
      reconnect: { type: 'boolean', short: 'r' },
      ca: { type: 'string' },
      insecure: { type: 'boolean', short: 'k' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (positionals.length === 0) return demo();
  return cli(positionals[0]!, values);
}

main().catch((error: unknown) => {
  const code = error instanceof WebSocketError ? `${error.code}: ` : '';
  console.error(`wspipe: ${code}${(error as Error).message}`);
  process.exitCode = 1;
});
