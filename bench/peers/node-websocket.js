// Node's built-in WebSocket (undici). Node 20 needs --experimental-websocket,
// which run.js passes to this file's child process. Binary messages arrive as
// ArrayBuffer (binaryType 'arraybuffer'; the default Blob would be slower).
import { runPeer, immediate, PeerUnavailable } from '../lib/driver.js';
import { SEND_HIGH_WATER_BYTES } from '../lib/workloads.js';

async function load() {
  if (typeof globalThis.WebSocket !== 'function') {
    throw new PeerUnavailable("Node's WebSocket is missing: run with --experimental-websocket (Node 20)");
  }
  return { version: `undici ${process.versions.undici ?? '?'}` };
}

function open(url, onMessage) {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onmessage = (event) => onMessage(event.data);
  return new Promise((resolve, reject) => {
    ws.onerror = (event) => reject(event.error ?? new Error('WebSocket error'));
    ws.onopen = () => {
      ws.onerror = null;
      resolve({
        // It offers permessage-deflate always, and only ever decompresses.
        extensions: ws.extensions,
        send(data) {
          ws.send(data);
          return true;
        },
        async pace() {
          do await immediate();
          while (ws.bufferedAmount >= SEND_HIGH_WATER_BYTES);
        },
        close() {
          return new Promise((done) => {
            ws.onclose = () => done();
            ws.close(1000);
          });
        },
        terminate() {
          // No abort in the WebSocket API; the child process exits right after.
          ws.close();
        },
      });
    };
  });
}

await runPeer({ name: 'node', load, open });
