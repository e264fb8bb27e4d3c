"""A WebSocket server for wsgate's upstream tests, built on the `websockets` package.

It records what it receives, one JSON object a line, in the file given with --record:

  {"event": "request", "conn": N, "path": ..., "headers": [[name, value], ...]}
      for every opening handshake that reaches it, before it answers;
  {"event": "open", "conn": N, "subprotocol": ..., "extensions": [...]}
      once it has answered 101;
  {"event": "message", "conn": N, "type": "text"|"binary", "len": ..., "sha256": ...}
      for every message;
  {"event": "closed", "conn": N, "code": ..., "reason": ..., "close_received": bool}
      when the connection has ended (code 1006 when no close frame arrived);
  {"event": "flood", "conn": N, "sent": BYTES} while flooding.

Every line carries "t", the time it was written (seconds since the epoch).

What a connection does is chosen by the request's `do=` query parameter:
  echo (default)  sends every message back;
  close           closes at once with 4002 "later";
  drop            on the first message, ends the TCP connection without a close frame;
  flood           sends 200 MiB in 64 KiB binary messages, as fast as the peer takes them;
  reject          answers the handshake 403 with a body and a header of its own.

--select NAME[,NAME...] lists the subprotocols it speaks: it selects the first one the
client offers that it speaks, and none when there is none. With --port it listens on
127.0.0.1 (0: a free port), with --unix on a Unix socket. It prints "READY <port>" when
it listens, and exits when its stdin closes (so it never outlives the test).
"""

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

import websockets
from websockets.asyncio.server import serve, unix_serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

FLOOD_TOTAL = 200 * 1024 * 1024
FLOOD_CHUNK = 64 * 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--unix")
    parser.add_argument("--record", required=True)
    parser.add_argument("--select", default="")
    args = parser.parse_args()
    speaks = [p for p in args.select.split(",") if p]
    record_file = open(args.record, "a", encoding="utf-8")
    counter = itertools.count(1)

    def record(**fields):
        fields["t"] = time.time()
        record_file.write(json.dumps(fields) + "\n")
        record_file.flush()

    def action(connection):
        query = parse_qs(urlsplit(connection.request.path).query)
        return query.get("do", ["echo"])[0]

    def process_request(connection, request):
        connection.n = next(counter)
        record(
            event="request",
            conn=connection.n,
            path=request.path,
            headers=[[name, value] for name, value in request.headers.raw_items()],
        )
        if action(connection) == "reject":
            response = connection.respond(403, "upstream-says-no: internal detail\n")
            response.headers["X-Upstream-Detail"] = "do-not-forward"
            return response
        return None

    def select_subprotocol(connection, offered):
        for name in offered:
            if name in speaks:
                return name
        return None

    async def handler(ws):
        n = ws.n
        record(
            event="open",
            conn=n,
            subprotocol=ws.subprotocol,
            extensions=[e.name for e in ws.protocol.extensions],
        )
        what = action(ws)
        try:
            if what == "close":
                await ws.close(4002, "later")
            elif what == "flood":
                payload = os.urandom(FLOOD_CHUNK)
                sent = 0
                while sent < FLOOD_TOTAL:
                    await ws.send(payload)
                    sent += len(payload)
                    if sent % (1024 * 1024) == 0:
                        record(event="flood", conn=n, sent=sent)
                record(event="flood-done", conn=n, sent=sent)
                await ws.wait_closed()
            else:
                async for message in ws:
                    data = message.encode() if isinstance(message, str) else message
                    record(
                        event="message",
                        conn=n,
                        type="text" if isinstance(message, str) else "binary",
                        len=len(data),
                        sha256=hashlib.sha256(data).hexdigest(),
                    )
                    if what == "drop":
                        ws.transport.close()
                        break
                    await ws.send(message)
                await ws.wait_closed()
        except ConnectionClosed:
            pass
        finally:
            record(
                event="closed",
                conn=n,
                code=ws.close_code,
                reason=ws.close_reason,
                close_received=ws.protocol.close_rcvd is not None,
            )

    async def run():
        common = dict(
            process_request=process_request,
            select_subprotocol=select_subprotocol,
            max_size=None,
            ping_interval=None,
            close_timeout=2,
        )
        if args.unix:
            server = await unix_serve(handler, args.unix, **common)
            port = 0
        else:
            server = await serve(handler, "127.0.0.1", args.port or 0, **common)
            port = server.sockets[0].getsockname()[1]
        print(f"READY {port}", flush=True)
        await server.serve_forever()

    asyncio.run(run())


def exit_with_stdin():
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    threading.Thread(target=exit_with_stdin, daemon=True).start()
    main()
