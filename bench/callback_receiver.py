"""A minimal webhook receiver for bench_callbacks.py: answers 200 to every POST and counts them.

python bench/callback_receiver.py PORT      # GET /count → {"count", "first", "last"}
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: Counter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method = lines[0].split(" ")[0]
            length = 0
            for line in lines[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            if length:
                await reader.readexactly(length)
            if method == "POST":
                now = time.time()
                counter.count += 1
                counter.first = counter.first or now
                counter.last = now
                body = b""
            else:
                body = json.dumps(
                    {"count": counter.count, "first": counter.first, "last": counter.last}
                ).encode()
            # One write per answer: two small writes would meet Nagle's algorithm and delayed ACKs.
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/json\r\n\r\n" % len(body)
                + body
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    counter = Counter()
    server = await asyncio.start_server(lambda r, w: handle(r, w, counter), "127.0.0.1", port, backlog=1024)
    print("LISTENING", port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
