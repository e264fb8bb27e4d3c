"""A byte-stream service for wsgate's `tcp://` and `unix:` upstreams (websockify's
model): plain sockets, no WebSocket.

--mode echo: writes back every byte it reads; once what it has read ends with
  b"quit\\n" it writes b"bye\\n" and closes the connection (the stream ends).
--mode sink: reads until the end of the stream (the peer's half-close), then writes
  b"after-eof\\n" twice, 200 ms apart, and closes.

It records, one JSON object a line, in the file given with --record:
  {"event": "open", "conn": N}
  {"event": "eof", "conn": N, "received": BYTES, "sha256": ...}  the peer's EOF;
  {"event": "reset", "conn": N, "received": BYTES, "error": ...} a read failed;
  {"event": "wrote-after-eof", "conn": N, "ok": [bool, bool]}
  {"event": "closed", "conn": N, "received": BYTES}
Every line carries "t", the time it was written.

It prints "READY <port>" when it listens (--port, on 127.0.0.1; 0: a free port) or
"READY 0" (--unix PATH), and exits when its stdin closes.
"""

import argparse
import hashlib
import json
import os
import socket
import sys
import threading
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--unix")
    parser.add_argument("--record", required=True)
    parser.add_argument("--mode", choices=["echo", "sink"], default="echo")
    args = parser.parse_args()
    lock = threading.Lock()
    record_file = open(args.record, "a", encoding="utf-8")

    def record(**fields):
        fields["t"] = time.time()
        with lock:
            record_file.write(json.dumps(fields) + "\n")
            record_file.flush()

    if args.unix:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(args.unix)
        port = 0
    else:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", args.port or 0))
        port = listener.getsockname()[1]
    listener.listen(64)
    print(f"READY {port}", flush=True)

    def serve(conn, n):
        record(event="open", conn=n)
        digest = hashlib.sha256()
        received = 0
        tail = b""
        try:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError as e:
                    record(event="reset", conn=n, received=received, error=str(e))
                    return
                if not data:
                    record(event="eof", conn=n, received=received, sha256=digest.hexdigest())
                    if args.mode == "sink":
                        ok = []
                        for _ in range(2):
                            try:
                                conn.sendall(b"after-eof\n")
                                ok.append(True)
                            except OSError:
                                ok.append(False)
                            time.sleep(0.2)
                        record(event="wrote-after-eof", conn=n, ok=ok)
                    return
                received += len(data)
                digest.update(data)
                if args.mode == "echo":
                    conn.sendall(data)
                    tail = (tail + data)[-5:]
                    if tail == b"quit\n":
                        conn.sendall(b"bye\n")
                        return
        finally:
            conn.close()
            record(event="closed", conn=n, received=received)

    n = 0
    while True:
        conn, _ = listener.accept()
        n += 1
        threading.Thread(target=serve, args=(conn, n), daemon=True).start()


def exit_with_stdin():
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    threading.Thread(target=exit_with_stdin, daemon=True).start()
    main()
