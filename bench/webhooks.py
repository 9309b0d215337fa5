"""Figure 1: signed webhooks/s through real HTTP, beside a bare raw-ASGI hello under the same uvicorn settings.

The server is ``python -m uvicorn`` in a subprocess (one worker, httptools + uvloop, no access log) on a
free 127.0.0.1 port; the loader (``bench.loader``) is another process. After the hub run it waits for the
normalizer to drain the inbox and reports how far behind it was when the load stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import cpu_seconds, free_port, ratio, sqlite_url

REPO = Path(__file__).resolve().parent.parent
UVICORN = ["-m", "uvicorn", "--host", "127.0.0.1", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
           "--log-level", "warning", "--timeout-keep-alive", "30"]


def _wait_ready(port: int, proc: subprocess.Popen, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n".encode())
                if sock.recv(64).startswith(b"HTTP/1.1 2"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} not ready after {timeout} s")


def _serve(app: list[str], env: dict[str, str], ready_path: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, *UVICORN, "--port", str(port), *app], cwd=REPO,
                            env={**os.environ, **env})
    try:
        _wait_ready(port, proc, ready_path)
    except Exception:
        proc.kill()
        raise
    return proc, port


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(2)  # SIGINT: uvicorn runs the lifespan shutdown (the inbox drains)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _load(port: int, concurrency: int, duration: float, limit: int, run_id: str, server_pid: int) -> dict[str, Any]:
    cpu = cpu_seconds(server_pid)
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "bench.loader", "--port", str(port), "--concurrency", str(concurrency),
                          "--duration", str(duration), "--max-requests", str(limit), "--run-id", run_id],
                         cwd=REPO, capture_output=True, text=True, check=True, timeout=duration + 120)
    result = json.loads(out.stdout)
    result["server_cpu"] = (cpu_seconds(server_pid) - cpu) / (time.perf_counter() - started)
    return result


def _pending(port: int) -> int:
    """Deliveries acknowledged but not normalized yet, as the hub's /metrics reports them (inbox log included)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        text = b""
        while chunk := sock.recv(65536):
            text += chunk
    for line in text.decode().splitlines():
        if line.startswith("crosstrace_normalize_pending "):
            return int(float(line.split()[1]))
    raise RuntimeError("no crosstrace_normalize_pending on /metrics")


def _store_url(tmp: Path, store: str) -> str:
    if store == "sqlite":
        return sqlite_url(str(tmp / "webhooks.db"))
    from bench.growth import _fresh_pg

    return asyncio.run(_fresh_pg())


def _drop_store(url: str) -> None:
    if url.startswith("postgresql"):
        from bench.growth import _drop_pg

        asyncio.run(_drop_pg(url))


def run(tmp: Path, *, duration: float, concurrency: int, limit: int, drain_timeout: float,
        receive_only: bool = False, store: str = "sqlite", layout: str = "all",
        hello: dict[str, Any] | None = None) -> dict[str, Any]:
    """One load on the hub (``layout`` all: one process as ``crosstrace serve``; split: ``serve --role web`` and a
    ``crosstrace worker`` process) beside hello (run here unless given)."""
    result: dict[str, Any] = {"concurrency": concurrency, "duration": duration, "store": store, "layout": layout}
    if hello is None:
        proc, port = _serve(["bench.server:hello"], {}, "/")
        try:
            hello = _load(port, concurrency, duration, limit, "hello", proc.pid)
        finally:
            _stop(proc)
        print(f"  hello:    {_line(hello)}", flush=True)
    result["hello"] = hello
    url = _store_url(tmp, store)
    env = {"BENCH_STORE_URL": url}
    app = "bench.server:hub_app" if layout == "all" else "bench.server:hub_web"
    proc, port = _serve(["--factory", app], env, "/healthz")
    worker = subprocess.Popen([sys.executable, "-m", "bench.server", "worker"], cwd=REPO,
                              env={**os.environ, **env}) if layout == "split" else None
    try:
        worker_cpu = cpu_seconds(worker.pid) if worker else 0.0
        result["hub"] = hub = _load(port, concurrency, duration, limit, f"wh{int(time.time())}", proc.pid)
        if worker:
            hub["worker_cpu"] = (cpu_seconds(worker.pid) - worker_cpu) / duration
        print(f"  webhooks ({store}, {layout}): {_line(hub)}", flush=True)
        result["backlog_at_stop"] = pending = _pending(port)
        started = time.perf_counter()
        while pending and time.perf_counter() - started < drain_timeout:
            time.sleep(0.2)
            pending = _pending(port)
        result["drain_seconds"] = time.perf_counter() - started if not pending else float("nan")
    finally:
        if worker:
            worker.terminate()
            worker.wait(30)
        _stop(proc)
        _drop_store(url)
    result["ratio"] = ratio(result["hub"]["rps"], hello["rps"])
    if receive_only:
        result["receive_only"] = _receive_only(tmp, concurrency, duration, limit)
        result["receive_only_ratio"] = ratio(result["receive_only"]["rps"], hello["rps"])
    print(f"  webhooks/hello = {result['ratio']:.2f}; normalizer backlog when load stopped: "
          f"{result['backlog_at_stop']} deliveries, drained in {result['drain_seconds']:.1f} s", flush=True)
    return result


def _receive_only(tmp: Path, concurrency: int, duration: float, limit: int) -> dict[str, Any]:
    """The same load on the hub with its normalizer parked (``bench.server:hub_receive_only``)."""
    db = str(tmp / "receive-only.db")
    proc, port = _serve(["--factory", "bench.server:hub_receive_only"], {"BENCH_STORE_URL": sqlite_url(db)},
                        "/healthz")
    try:
        result = _load(port, concurrency, duration, limit, f"ro{int(time.time())}", proc.pid)
    finally:
        _stop(proc)
    print(f"  receive-only (normalizer parked): {_line(result)}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.webhooks``: the webhook figure at several concurrencies, repeated, with the load average."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", default="16,64", help="comma-separated loader connections")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load per server")
    parser.add_argument("--receive-only", action="store_true",
                        help="also the hub with its normalizer parked (what the receiver alone sustains)")
    parser.add_argument("--stores", default="sqlite", help="comma-separated: sqlite, postgres")
    parser.add_argument("--layouts", default="all", help="comma-separated: all (one process), split (serve "
                        "--role web + a worker process)")
    args = parser.parse_args(argv)
    for repeat in range(1, args.repeats + 1):
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            print(f"repeat {repeat}, c{concurrency}, load average {os.getloadavg()[0]:.1f}", flush=True)
            hello = None
            for store in args.stores.split(","):
                for layout in args.layouts.split(","):
                    with tempfile.TemporaryDirectory(prefix="ct-bench-") as tmp:
                        result = run(Path(tmp), duration=args.duration, concurrency=concurrency, limit=10**9,
                                     drain_timeout=60, receive_only=args.receive_only, store=store, layout=layout,
                                     hello=hello)
                    hello = result["hello"]
                    if args.receive_only:
                        print(f"  receive-only/hello = {result['receive_only_ratio']:.2f}", flush=True)
            print(f"  load average {os.getloadavg()[0]:.1f}", flush=True)
    return 0


def _line(r: dict[str, Any]) -> str:
    worker = f" worker {r['worker_cpu']:.0%}" if "worker_cpu" in r else ""
    return (f"{r['rps']:,.0f} req/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, {r['requests']} requests "
            f"in {r['seconds']:.1f} s, statuses {r['statuses']}, errors {r['errors']}, "
            f"CPU server {r['server_cpu']:.0%}{worker} loader {r['loader_cpu']:.0%}")


if __name__ == "__main__":
    raise SystemExit(main())
