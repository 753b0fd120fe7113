// Finds the `ws` package without it ever being a dependency of wspipe: first
// in $WSPIPE_PEERS_DIR (a folder where `npm install --prefix DIR ws` put it),
// then by normal resolution from bench/. Returns null when it is not there.
import { createRequire } from 'node:module';
import path from 'node:path';

export function loadWs() {
  const bases = [];
  if (process.env.WSPIPE_PEERS_DIR) bases.push(path.join(path.resolve(process.env.WSPIPE_PEERS_DIR), 'noop.js'));
  bases.push(import.meta.url);
  for (const base of bases) {
    const require = createRequire(base);
    try {
      const WebSocket = require('ws');
      const { version } = require('ws/package.json');
      const wsDir = path.dirname(require.resolve('ws/package.json'));
      return { WebSocket, version, wsDir, require };
    } catch {
      // not in this place; try the next
    }
  }
  return null;
}

export const WS_MISSING_NOTE =
  'ws not found: install it in a folder outside the project (npm install --prefix "$PEERS_DIR" ws) and set WSPIPE_PEERS_DIR="$PEERS_DIR"';
