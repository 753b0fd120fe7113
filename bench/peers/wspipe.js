// wspipe's WebSocketClient, from the build (dist/), through its documented
// callbacks (notes/client-contract.md).
import { once } from 'node:events';
import { runPeer, immediate, PeerUnavailable } from '../lib/driver.js';

let WebSocketClient;
const BINARY = { binary: true };
const TEXT = { binary: false };

async function load() {
  let lib;
  try {
    lib = await import('../../dist/index.js');
  } catch (err) {
    throw new PeerUnavailable(`dist/index.js did not load (run npm run build): ${err.message}`);
  }
  WebSocketClient = lib.WebSocketClient;
  if (typeof WebSocketClient !== 'function') throw new PeerUnavailable('dist/index.js exports no WebSocketClient yet');
  return { version: 'working tree' };
}

function open(url, onMessage) {
  const ws = new WebSocketClient(url, { reconnect: false });
  ws.onMessage = (conn, data) => onMessage(data);
  return new Promise((resolve, reject) => {
    ws.onError = (conn, code, message, error) => reject(error ?? new Error(`${code}: ${message}`));
    ws.onWebSocketConnect = () => {
      ws.onError = () => {};
      resolve({
        send(data, isBinary) {
          return ws.send(data, isBinary ? BINARY : TEXT);
        },
        pace(ok) {
          return ok ? immediate() : once(ws, 'drain');
        },
        close() {
          return new Promise((done) => {
            ws.onClose = () => done();
            ws.close(1000);
          });
        },
        terminate() {
          ws.terminate();
        },
      });
    };
    ws.connect();
  });
}

await runPeer({ name: 'wspipe', load, open });
