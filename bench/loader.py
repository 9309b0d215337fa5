"""A lean HTTP/1.1 load generator: N keep-alive connections on uvloop, one request in flight on each.

Run in its own process (``python -m bench.loader ...``); prints one JSON line with req/s, status counts,
latency percentiles and its own CPU use. Sends Standard-Webhooks-signed CloudEvents to ``/hooks/<source>``
(the three stages of an order go to shop, erp and wms). Hand-written protocol code, not httpx: an httpx
client tops out far below what one uvicorn worker serves, and then the loader would be what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from collections import Counter
from typing import Any

from bench.common import SECRET, dumps, iso_now, latency_summary, order_event, order_stream
from collectors.standard_webhooks import sign


class Requests:
    """Signed webhook requests, built on demand (~10 µs each), unique ``webhook-id`` per request."""

    def __init__(self, run: str, limit: int, lag: int = 500) -> None:
        self._run = run
        self._stream = order_stream(limit // 3 + lag * 2, lag)
        self._left = limit
        self._stamp = 0
        self._when = ""

    def next(self) -> bytes | None:
        if self._left <= 0:
            return None
        self._left -= 1
        order, stage = next(self._stream)
        now = int(time.time())
        if now != self._stamp:
            self._stamp, self._when = now, iso_now()
        event = order_event(order, stage, self._when)
        event["id"] = f"{self._run}-{event['id']}"
        body = dumps(event)
        msg_id = f"msg_{event['id']}"
        head = (f"POST /hooks/{event['source']} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\nwebhook-id: {msg_id}\r\nwebhook-timestamp: {now}\r\n"
                f"webhook-signature: {sign(SECRET, msg_id, now, body)}\r\n\r\n")
        return head.encode() + body


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors = 0


class Connection(asyncio.Protocol):
    def __init__(self, requests: Requests, stats: Stats, deadline: float, done: asyncio.Future[None]) -> None:
        self._requests = requests
        self._stats = stats
        self._deadline = deadline
        self._done = done
        self._buffer = b""
        self._started = 0.0
        self._transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport subclass
        self._send()

    def _send(self) -> None:
        request = self._requests.next() if time.perf_counter() < self._deadline else None
        if request is None:
            self._finish()
            return
        self._started = time.perf_counter()
        self._transport.write(request)

    def _finish(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if not self._done.done():
            self._done.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self._buffer[:end].lower()
        length = _content_length(head)
        if len(self._buffer) < end + 4 + length:
            return
        self._stats.latencies.append(time.perf_counter() - self._started)
        self._stats.statuses[int(head[9:12])] += 1
        self._buffer = self._buffer[end + 4 + length:]
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done.done():
            if exc is not None or self._buffer:
                self._stats.errors += 1
            self._done.set_result(None)


def _content_length(head: bytes) -> int:
    at = head.find(b"content-length:")
    if at < 0:
        return 0
    stop = head.find(b"\r\n", at)
    return int(head[at + 15:stop if stop > 0 else len(head)])


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(port: int, concurrency: int, duration: float, limit: int, run_id: str) -> dict:
    loop = asyncio.get_running_loop()
    requests = Requests(run_id, limit)
    stats = Stats()
    cpu = _cpu()
    started = time.perf_counter()
    deadline = started + duration
    futures = [loop.create_future() for _ in range(concurrency)]
    await asyncio.gather(*(loop.create_connection(lambda f=f: Connection(requests, stats, deadline, f),
                                                  "127.0.0.1", port) for f in futures))
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    cpu = _cpu() - cpu
    done = len(stats.latencies)
    return {"requests": done, "seconds": elapsed, "rps": done / elapsed, "statuses": dict(stats.statuses),
            "errors": stats.errors, **latency_summary(stats.latencies),
            "loader_cpu": cpu / elapsed}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=300_000)
    parser.add_argument("--run-id", default=f"r{os.getpid()}")
    args = parser.parse_args(argv)
    import uvloop

    result = uvloop.run(run(args.port, args.concurrency, args.duration, args.max_requests, args.run_id))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
