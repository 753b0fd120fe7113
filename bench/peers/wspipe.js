// wspipe's WebSocketClient, from the build (dist/), through its documented
// callbacks (notes/client-contract.md).
import { runPeer, immediate, PeerUnavailable } from '../lib/driver.js';
import { SEND_HIGH_WATER_BYTES } from '../lib/workloads.js';

let WebSocketClient;
let missedDrains = 0;
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

// Compression is offered only when the workload asks for it (the
// /echo-deflate route is the only one that accepts it), as for ws: an offer
// the server declines would still cost the connection its inflate stage.
function open(url, onMessage, { deflate = false } = {}) {
  const ws = new WebSocketClient(url, { reconnect: false, ...(deflate ? {} : { perMessageDeflate: false }) });
  ws.onMessage = (conn, data) => onMessage(data);
  return new Promise((resolve, reject) => {
    ws.onError = (conn, code, message, error) => reject(error ?? new Error(`${code}: ${message}`));
    ws.onWebSocketConnect = () => {
      ws.onError = () => {};
      resolve({
        extensions: ws.response?.extensions,
        send(data, isBinary) {
          return ws.send(data, isBinary ? BINARY : TEXT);
        },
        async pace(ok) {
          if (ok) return immediate();
          // send() said wait for 'drain': wait for the event, as a user would (no polling:
          // each 5 ms poll of an earlier version of this runner cost wspipe up to 5 ms per
          // wait). Should it not come within a second, the miss is reported.
          let onDrain;
          let timer;
          const drained = await new Promise((resolve) => {
            onDrain = () => resolve(true);
            ws.once('drain', onDrain);
            timer = setTimeout(() => resolve(false), 1000);
          });
          clearTimeout(timer);
          ws.off('drain', onDrain);
          if (!drained) missedDrains++;
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

function notes() {
  return missedDrains ? [`'drain' did not come within a second after send() returned false (${missedDrains} times)`] : [];
}

await runPeer({ name: 'wspipe', load, open, notes });
