"""An echo server for wspipe's permessage-deflate interop tests.

Uses Debian's python3-websockets (run it with /usr/bin/python3) with its
default compression='deflate'. Listens on 127.0.0.1, prints the port on the
first line of stdout, echoes every message with the type it came with, and
exits by itself after --lifetime seconds (default 30). On the path /log it
also prints "recv <bytes> <sha256>" for each message it receives.
"""

import argparse
import asyncio
import hashlib
import sys

import websockets


async def echo(ws, _path=None):
    log = ws.path == "/log"
    try:
        async for message in ws:
            if log:
                data = message.encode() if isinstance(message, str) else message
                print(f"recv {len(data)} {hashlib.sha256(data).hexdigest()}", flush=True)
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main(lifetime: float) -> None:
    async with websockets.serve(
        echo, "127.0.0.1", 0, compression="deflate", max_size=64 * 1024 * 1024, ping_interval=None
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await asyncio.sleep(lifetime)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--lifetime", type=float, default=30.0)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.lifetime))
    except KeyboardInterrupt:
        sys.exit(0)
