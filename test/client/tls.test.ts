import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketClient, type WebSocketError } from '../../src/index.js';
import { framePool } from '../../src/streams/frame-writer.js';
import { createTestCertificate, type TestCertificate } from '../helpers/certificate.js';
import { TestServer, type ReceivedMessage, type TestConnection } from '../helpers/test-server.js';
import { ClientRecorder, waitUntil } from '../helpers/wait.js';

let certificate: TestCertificate;
let server: TestServer;

beforeAll(async () => {
  certificate = createTestCertificate();
  server = await TestServer.start({ tls: { key: certificate.key, cert: certificate.cert } });
});
afterAll(async () => {
  await server?.close();
  certificate?.remove();
});

describe('wss: against a TLS server with a certificate made at test time', () => {
  it('connects, echoes and closes when the CA is given', async () => {
    const ws = new WebSocketClient(server.url('/secure'), { tls: { ca: certificate.cert } });
    const events = new ClientRecorder(ws);
    const serverConnection = new Promise<void>((resolve) => server.once('connection', () => resolve()));
    ws.onWebSocketConnect = (conn) => conn.send('over tls');
    ws.connect();
    await events.first('open', 5_000);
    await serverConnection;
    const conn = server.connections.at(-1)!;
    await waitUntil(() => conn.messages.length === 1, 5_000, 'the server got the message');
    expect(conn.messages[0]).toEqual({ binary: false, data: Buffer.from('over tls') });
    expect(conn.request.path).toBe('/secure');
    conn.send('back');
    const [data] = (await events.first('message', 5_000)).args;
    expect(data).toBe('back');
    ws.close(1000, 'bye');
    const close = await events.first('close', 5_000);
    expect(close.args).toEqual([1000, '']);
    expect(events.count('error')).toBe(0);
  });

  it('echoes a 1 MiB binary message both ways over TLS', async () => {
    const ws = new WebSocketClient(server.url(), { tls: { ca: certificate.cert } });
    const events = new ClientRecorder(ws);
    const echo = (conn: TestConnection): void => {
      conn.on('message', (m: ReceivedMessage) => conn.send(m.data, m.binary));
    };
    server.once('connection', echo);
    const payload = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 13) & 0xff;
    ws.onWebSocketConnect = (conn) => conn.send(payload, { binary: true });
    ws.connect();
    const [data, isBinary] = (await events.first('message', 10_000)).args;
    expect(isBinary).toBe(true);
    expect((data as Buffer).equals(payload)).toBe(true);
    ws.close();
    await events.first('close', 5_000);
  });

  it('sends large messages back to back over TLS, each intact, while their frame memory is recycled', async () => {
    framePool.clear();
    const ws = new WebSocketClient(server.url(), { tls: { ca: certificate.cert } });
    const events = new ClientRecorder(ws);
    server.once('connection', (conn: TestConnection) => {
      conn.on('message', (m: ReceivedMessage) => conn.send(m.data, m.binary));
    });
    // Sizes that share the pool's 4 KiB classes, so a frame reuses memory a longer one filled.
    const sizes = [300_000, 299_990, 70_000, 69_999, 300_000, 1 << 20, (1 << 20) - 7, 20_000, 20_001, 70_000];
    const payloads = sizes.map((size, n) => {
      const payload = Buffer.alloc(size);
      for (let i = 0; i < size; i++) payload[i] = (i * 31 + n * 7) & 0xff;
      return payload;
    });
    const received: Buffer[] = [];
    ws.on('message', (data: Buffer) => received.push(data));
    ws.onWebSocketConnect = async (conn) => {
      for (const payload of payloads) {
        conn.send(payload, { binary: true });
        await new Promise((resolve) => setImmediate(resolve)); // one turn each: the written frames go back to the pool
      }
    };
    ws.connect();
    await waitUntil(() => received.length === payloads.length, 10_000, 'every echo');
    for (const [i, data] of received.entries()) expect(data.equals(payloads[i]!), `message ${i}`).toBe(true);
    expect(framePool.heldBytes).toBeGreaterThan(0); // the TLS socket's written frames went back to the pool
    ws.close();
    await events.first('close', 5_000);
  });

  it('connects without the CA when rejectUnauthorized is false', async () => {
    const ws = new WebSocketClient(server.url(), { tls: { rejectUnauthorized: false } });
    const events = new ClientRecorder(ws);
    ws.connect();
    await events.first('open', 5_000);
    ws.close();
    expect((await events.first('close', 5_000)).args[0]).toBe(1000);
    expect(events.count('error')).toBe(0);
  });

  it('send() reports backpressure against a paused TLS server and drain follows when it resumes', async () => {
    const ws = new WebSocketClient(server.url(), { tls: { ca: certificate.cert }, highWaterMarkBytes: 128 * 1024 });
    const events = new ClientRecorder(ws);
    const connection = new Promise<TestConnection>((resolve) => server.once('connection', resolve));
    ws.connect();
    const conn = await connection;
    await events.first('open', 5_000);
    conn.pause();
    let sent = 0;
    while (sent < 1024 && ws.send(Buffer.alloc(32 * 1024, sent & 0xff), { binary: true })) {
      sent++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    sent++; // the send that returned false was accepted too
    expect(sent).toBeLessThan(1024);
    expect(events.count('bufferFull')).toBe(1);
    conn.resume();
    await events.first('drain', 5_000);
    await waitUntil(() => conn.messages.length === sent, 5_000, `all ${sent} messages`);
    expect(conn.messages.map((m) => m.data[0])).toEqual(Array.from({ length: sent }, (_, i) => i & 0xff));
    ws.close();
    await events.first('close', 5_000);
  });

  it('fails with WSP_ERR_TLS_FAILED and onClose 1006 without the CA', async () => {
    const requestsBefore = server.requests.length;
    const ws = new WebSocketClient(server.url());
    const errors: Array<[string, WebSocketError]> = [];
    ws.onError = (_conn, code, _message, error) => errors.push([code, error]);
    const events = new ClientRecorder(ws);
    ws.connect();
    const close = await events.first('close', 5_000);
    expect(close.args[0]).toBe(1006);
    expect(errors.map(([code]) => code)).toEqual(['WSP_ERR_TLS_FAILED']);
    expect(errors[0]![1].message).toMatch(/certificate/i);
    expect(events.count('connect')).toBe(0);
    expect(events.count('open')).toBe(0);
    expect(server.requests.length).toBe(requestsBefore); // no handshake was sent over an untrusted channel
  });

  it('fails with WSP_ERR_TLS_FAILED when the name does not match the certificate', async () => {
    const ws = new WebSocketClient(server.url(), { tls: { ca: certificate.cert, servername: 'wrong.example' } });
    const events = new ClientRecorder(ws);
    ws.connect();
    const close = await events.first('close', 5_000);
    expect(close.args[0]).toBe(1006);
    expect(events.of('error').map((e) => (e.args[0] as WebSocketError).code)).toEqual(['WSP_ERR_TLS_FAILED']);
  });
});
