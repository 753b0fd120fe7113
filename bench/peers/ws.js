// The `ws` package as a client peer, loaded from $WSPIPE_PEERS_DIR or normal
// resolution (never a dependency). Text messages are turned into strings,
// because that is what a user of text needs and what the other peers deliver.
import { once } from 'node:events';
import { runPeer, immediate, PeerUnavailable } from '../lib/driver.js';
import { SEND_HIGH_WATER_BYTES } from '../lib/workloads.js';
import { loadWs, WS_MISSING_NOTE } from '../lib/load-ws.js';

let WebSocket;
const BINARY = { binary: true };
const TEXT = { binary: false };

async function load() {
  const found = loadWs();
  if (!found) throw new PeerUnavailable(WS_MISSING_NOTE);
  WebSocket = found.WebSocket;
  return { version: found.version };
}

function open(url, onMessage, { deflate = false } = {}) {
  // ws offers compression by default; only the compression workloads want it.
  const ws = new WebSocket(url, { perMessageDeflate: deflate });
  ws.on('message', (data, isBinary) => onMessage(isBinary ? data : data.toString()));
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => {});
      resolve({
        extensions: ws.extensions,
        send(data, isBinary) {
          ws.send(data, isBinary ? BINARY : TEXT);
          return true;
        },
        async pace() {
          do await immediate();
          while (ws.bufferedAmount >= SEND_HIGH_WATER_BYTES);
        },
        close() {
          const closed = once(ws, 'close');
          ws.close(1000);
          return closed;
        },
        terminate() {
          ws.terminate();
        },
      });
    });
  });
}

await runPeer({ name: 'ws', load, open });
