import * as net from 'node:net';

/** Two ends of a real TCP connection on 127.0.0.1. */
export async function socketPair(): Promise<{ client: net.Socket; server: net.Socket; close: () => void }> {
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
  const client = net.connect(port, '127.0.0.1');
  const server = await accepted;
  await new Promise<void>((resolve) => (client.connecting ? client.once('connect', () => resolve()) : resolve()));
  listener.close();
  return {
    client,
    server,
    close: () => {
      client.destroy();
      server.destroy();
    },
  };
}

/** Resolves with the first `event` of `emitter`, or rejects after `ms`. */
export function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string, ms = 5_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms);
    emitter.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** Collects `count` 'data' objects from a readable stream, within `ms`. */
export function collect<T = unknown>(readable: NodeJS.ReadableStream, count: number, ms = 5_000): Promise<T[]> {
  return new Promise<T[]>((resolve, reject) => {
    const items: T[] = [];
    const timer = setTimeout(() => reject(new Error(`got ${items.length} of ${count} items within ${ms} ms`)), ms);
    const onData = (item: T): void => {
      items.push(item);
      if (items.length >= count) {
        clearTimeout(timer);
        readable.off('data', onData);
        resolve(items);
      }
    };
    readable.on('data', onData);
  });
}
