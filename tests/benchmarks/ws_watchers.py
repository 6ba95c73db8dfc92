"""Websocket clients for the metrics benchmark, in their own process so they do not share the measuring process's
CPU time with what they measure:

    python -m tests.benchmarks.ws_watchers WS_URL TOKEN READERS OUT.json [--idle N]

READERS clients read every frame; the first logs (receive time, second, worker, calls) of each tick. --idle adds
clients that never read a frame after the handshake. SIGTERM ends it and writes the log and per-client frame counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from typing import Any

import websockets


async def reader(url: str, token: str, log: list[Any] | None, counts: list[int], index: int) -> None:
    async with websockets.connect(url, additional_headers={"Authorization": f"Token {token}"}, max_size=2**22) as ws:
        async for raw in ws:
            counts[index] += 1
            if log is not None:
                frame = json.loads(raw)
                if frame.get("type") == "tick":
                    calls = sum(s["in"] for s in frame["sockets"].values())
                    log.append([time.time(), frame["t"], frame["worker"], calls])


async def idler(url: str, token: str) -> None:
    # max_queue=1 and no recv(): the library stops reading the TCP socket, so the server's sends back up.
    async with websockets.connect(url, additional_headers={"Authorization": f"Token {token}"}, max_queue=1):
        await asyncio.Event().wait()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("readers", type=int)
    parser.add_argument("out")
    parser.add_argument("--idle", type=int, default=0)
    options = parser.parse_args()
    log: list[Any] = []
    counts = [0] * options.readers
    tasks = [
        asyncio.create_task(reader(options.url, options.token, log if i == 0 else None, counts, i))
        for i in range(options.readers)
    ] + [asyncio.create_task(idler(options.url, options.token)) for _ in range(options.idle)]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    failed = [repr(t.exception()) for t in tasks if t.done() and not t.cancelled() and t.exception()]
    for task in tasks:
        task.cancel()
    with open(options.out, "w") as out:
        json.dump({"ticks": log, "frames": counts, "failed": failed}, out)


if __name__ == "__main__":
    asyncio.run(main())
