"""A WebSocket client we did not write, for wspipe's relay tests.

Run with the interpreter that sees Debian's python3-websockets:

    /usr/bin/python3 test/relay/py_client.py URL SIZES [--compression deflate|none] [--close CODE]

Connects to URL, and for each size in SIZES (comma-separated bytes) sends a
binary message of that many pattern bytes, then a text message of that many
ASCII characters; reads one echo after each and prints
"echo <binary|text> <bytes> <sha256>". Then closes with CODE (default 1000)
and prints "closed <code> <reason>" with the code the server answered, and
"extensions <header>" right after opening. Exits by itself after 60 s.
"""

import argparse
import asyncio
import hashlib
import sys

import websockets


def pattern(size, seed):
    return bytes(((i * 31 + seed) & 0xFF) for i in range(size))


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("sizes")
    parser.add_argument("--compression", default="none")
    parser.add_argument("--close", type=int, default=1000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s != ""]
    compression = "deflate" if args.compression == "deflate" else None
    async with websockets.connect(
        args.url, compression=compression, max_size=64 * 1024 * 1024, ping_interval=None
    ) as ws:
        print("extensions", ws.response_headers.get("Sec-WebSocket-Extensions", "-"), flush=True)
        for i, size in enumerate(sizes):
            for message in (pattern(size, i), "t" * size):
                await ws.send(message)
                echo = await ws.recv()
                data = echo if isinstance(echo, bytes) else echo.encode()
                kind = "binary" if isinstance(echo, bytes) else "text"
                print("echo", kind, len(data), hashlib.sha256(data).hexdigest(), flush=True)
        await ws.close(args.close, "python says bye")
        print("closed", ws.close_code, ws.close_reason or "-", flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), 60))
    except Exception as error:  # noqa: BLE001 - the test reads the message
        print("error", type(error).__name__, error, flush=True)
        sys.exit(1)
