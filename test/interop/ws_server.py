"""A WebSocket server we did not write, for wspipe's interop tests.

Run with the interpreter that sees Debian's python3-websockets:

    /usr/bin/python3 test/interop/ws_server.py [PORT]

It listens on 127.0.0.1 (PORT 0, the default, picks a free port), prints the
port on a line of its own on stdout, and serves:

    /echo                 echoes every text and binary message
    /headers              sends {"path", "headers": [[name, value], ...]} as
                          one text message, then echoes
    /close?code=N&reason=R  closes at once with that code and reason
    /pings                sends {"pings": n} as a text message each time a
                          ping arrives (websockets answers pings itself);
                          any text message is answered the same way

/headers accepts ?code=N&reason=R too: report the headers, then close.

It exits by itself when stdin closes (the test process went away) or after
--lifetime seconds (default 120), whichever comes first.
"""

import argparse
import asyncio
import json
import sys
import threading
from urllib.parse import parse_qs, urlsplit

import websockets

MAX_SIZE = 64 * 1024 * 1024


def has_new_asyncio_api():
    try:
        import websockets.asyncio.server  # noqa: F401  (websockets >= 13)
    except ImportError:
        return False
    return True


class Session:
    """What a handler needs from a connection, whichever API made it."""

    def __init__(self, connection, path, raw_headers):
        self.connection = connection
        self.path = path
        self.raw_headers = raw_headers
        self.pings = 0
        self.ping_waiters = asyncio.Queue()

    def ping_received(self):
        self.pings += 1
        self.ping_waiters.put_nowait(self.pings)


async def handle(session):
    ws = session.connection
    url = urlsplit(session.path)
    query = parse_qs(url.query)

    if url.path == "/headers":
        report = {"path": session.path, "headers": [list(item) for item in session.raw_headers]}
        await ws.send(json.dumps(report))
    if url.path in ("/close", "/headers") and "code" in query:
        code = int(query["code"][0])
        reason = query.get("reason", [""])[0]
        await ws.close(code, reason)
        return

    if url.path == "/pings":
        async def report_pings():
            while True:
                count = await session.ping_waiters.get()
                await ws.send(json.dumps({"pings": count}))

        reporter = asyncio.ensure_future(report_pings())
        try:
            async for _message in ws:
                await ws.send(json.dumps({"pings": session.pings}))
        except websockets.ConnectionClosed:
            pass
        finally:
            reporter.cancel()
        return

    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def serve_new_api(port, started):
    # websockets >= 13: every frame, pings included, goes through process_event().
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.frames import Opcode

    class CountingConnection(ServerConnection):
        session = None

        def process_event(self, event):
            if getattr(event, "opcode", None) is Opcode.PING and self.session is not None:
                self.session.ping_received()
            super().process_event(event)

    async def handler(connection):
        session = Session(connection, connection.request.path, connection.request.headers.raw_items())
        connection.session = session
        await handle(session)

    server = await serve(
        handler,
        "127.0.0.1",
        port,
        create_connection=CountingConnection,
        compression=None,
        max_size=MAX_SIZE,
        ping_interval=None,
    )
    started(server.sockets[0].getsockname()[1])
    return server


async def serve_legacy_api(port, started):
    # websockets < 13 (Debian bookworm has 10.4): pings are read by read_frame().
    from websockets.frames import Opcode
    from websockets.legacy.server import WebSocketServerProtocol

    class CountingProtocol(WebSocketServerProtocol):
        session = None

        async def read_frame(self, max_size):
            frame = await super().read_frame(max_size)
            if frame.opcode == Opcode.PING and self.session is not None:
                self.session.ping_received()
            return frame

    async def handler(ws):
        session = Session(ws, ws.path, ws.request_headers.raw_items())
        ws.session = session
        await handle(session)

    server = await websockets.serve(
        handler,
        "127.0.0.1",
        port,
        create_protocol=CountingProtocol,
        compression=None,
        max_size=MAX_SIZE,
        ping_interval=None,
    )
    started(server.sockets[0].getsockname()[1])
    return server


def watch_stdin(loop, stop):
    # Blocks until the parent closes our stdin (or dies), then stops the server.
    try:
        sys.stdin.buffer.read()
    finally:
        loop.call_soon_threadsafe(stop.set)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", nargs="?", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=120.0)
    args = parser.parse_args()

    def started(port):
        print(port, flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    threading.Thread(target=watch_stdin, args=(loop, stop), daemon=True).start()

    serve_with = serve_new_api if has_new_asyncio_api() else serve_legacy_api
    server = await serve_with(args.port, started)
    try:
        await asyncio.wait_for(stop.wait(), args.lifetime)
    except asyncio.TimeoutError:
        print("ws_server.py: lifetime over, exiting", file=sys.stderr, flush=True)
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
