// The `ws` package as a client peer, loaded from $WSPIPE_PEERS_DIR or normal
// resolution (never a dependency). Text messages are turned into strings,
// because that is what a user of text needs and what the other peers deliver.
import { once } from 'node:events';
import path from 'node:path';
import { runPeer, immediate, PeerUnavailable } from '../lib/driver.js';
import { SEND_HIGH_WATER_BYTES } from '../lib/workloads.js';
import { loadWs, WS_MISSING_NOTE } from '../lib/load-ws.js';

let WebSocket;
const BINARY = { binary: true };
const TEXT = { binary: false };

async function load() {
  const found = loadWs();
  if (!found) throw new PeerUnavailable(WS_MISSING_NOTE);
  // run.js starts this file as two peers: `ws` with WS_NO_BUFFER_UTIL=1 (ws's
  // JavaScript mask), `ws-bufferutil` without it. ws replaces its mask when it
  // can require bufferutil; check which one it took, so no row is mislabelled.
  const wantNative = process.env.WSPIPE_WS_BUFFERUTIL === '1';
  const { mask } = found.require(path.join(found.wsDir, 'lib', 'buffer-util.js'));
  const native = /bufferUtil|websocketMask/.test(String(mask));
  if (wantNative && !native) throw new PeerUnavailable('bufferutil not found next to ws (npm install --prefix $WSPIPE_PEERS_DIR bufferutil)');
  if (!wantNative && native) throw new Error('ws loaded bufferutil although WS_NO_BUFFER_UTIL is set');
  WebSocket = found.WebSocket;
  return { version: `${found.version}${native ? ' + bufferutil' : ''}` };
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

await runPeer({ name: process.env.WSPIPE_WS_BUFFERUTIL === '1' ? 'ws-bufferutil' : 'ws', load, open });
