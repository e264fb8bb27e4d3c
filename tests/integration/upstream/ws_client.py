"""A `websockets` client for wsgate's upstream tests: connects to --url offering
permessage-deflate, sends a compressible --size-byte text message and a binary one,
checks that each comes back unchanged, closes, and prints one JSON object:
{"extensions": [...], "subprotocol": ..., "text_ok": bool, "binary_ok": bool}.
"""

import argparse
import asyncio
import json

from websockets.asyncio.client import connect


async def run(args):
    headers = [tuple(h.split(":", 1)) for h in args.header]
    async with connect(
        args.url,
        additional_headers=[(k.strip(), v.strip()) for k, v in headers],
        subprotocols=args.subprotocol or None,
        compression="deflate",
        max_size=None,
        ping_interval=None,
        open_timeout=10,
    ) as ws:
        line = b"wsgate upstream: a compressible line, said again and again.\n"
        data = (line * (args.size // len(line) + 1))[: args.size]
        text = data.decode()
        await ws.send(text)
        text_back = await asyncio.wait_for(ws.recv(), 10)
        await ws.send(data)
        data_back = await asyncio.wait_for(ws.recv(), 10)
        result = {
            "extensions": [e.name for e in ws.protocol.extensions],
            "subprotocol": ws.subprotocol,
            "text_ok": text_back == text,
            "binary_ok": data_back == data,
        }
    print(json.dumps(result), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--subprotocol", action="append", default=[])
    parser.add_argument("--size", type=int, default=1024 * 1024)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
