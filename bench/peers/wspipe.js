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
          // send() said wait for 'drain'. Should 'drain' not come, the buffer
          // is watched as for the other peers, and the miss is reported.
          let drained = false;
          const onDrain = () => {
            drained = true;
          };
          ws.once('drain', onDrain);
          do await immediate();
          while (!drained && ws.bufferedAmount >= SEND_HIGH_WATER_BYTES);
          // The buffer fell under the mark; 'drain' follows once the socket has written what
          // it holds. Allow it 200 ms before calling it missed. The wait is inside the timed
          // run: a late 'drain' costs wspipe here as it would cost a user.
          for (let waitedMs = 0; !drained && waitedMs < 200; waitedMs += 5) await new Promise((r) => setTimeout(r, 5));
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
  return missedDrains ? [`'drain' never came after send() returned false (${missedDrains} times); the runner watched bufferedAmount instead`] : [];
}

await runPeer({ name: 'wspipe', load, open, notes });
