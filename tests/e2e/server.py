"""A real ``crosstrace serve`` process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hub.access.auth import digest
from tests.support import ADMIN_KEY, ERP_SECRET, OPERATOR_KEY, VIEWER_KEY


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(folder: Path, store_url: str, *, every_role: bool = False) -> Path:
    """A config with the operator key ``ops`` (``every_role``: also the viewer ``bi`` and the admin ``root``) and
    the ``erp`` source."""
    path = folder / "crosstrace.toml"
    path.write_text(f"""
[store]
url = "{store_url}"

[graphql]  # the tests read everything back; the per-caller cost budget is not what they measure
cost_bucket = 1000000

[[api_keys]]
name = "ops"
role = "operator"
key_sha256 = "{digest(OPERATOR_KEY)}"

[[sources]]
name = "erp"
kind = "erp"
adapter = "cloudevents"
secret = "env:CT_TEST_ERP_SECRET"
""" + (f"""
[[api_keys]]
name = "bi"
role = "viewer"
key_sha256 = "{digest(VIEWER_KEY)}"

[[api_keys]]
name = "root"
role = "admin"
key_sha256 = "{digest(ADMIN_KEY)}"
""" if every_role else ""))
    return path


class Server:
    """Start, wait for, and kill a hub process."""

    def __init__(self, config: Path, port: int, *args: str) -> None:
        self.config = config
        self.port = port
        self.args = args  # more `serve` options: --role web, --worker-process
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = config.with_name(f"server-{port}.log")

    def command(self) -> list[str]:
        return ["serve", "--config", str(self.config), "--port", str(self.port), *self.args]

    def start(self, timeout: float = 30.0) -> None:
        env = dict(os.environ, CT_TEST_ERP_SECRET=ERP_SECRET)
        env.pop("CROSSTRACE_DATABASE_URL", None)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "hub.cli", *self.command()],
                                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.config.parent)
        if not self.port:
            return  # nothing to ask whether it is up
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become healthy: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, exactly like a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class Worker(Server):
    """A real ``crosstrace worker`` process: start, kill, stop; with ``health_port`` it answers ``/healthz`` there
    (and :meth:`start` waits for it)."""

    def __init__(self, config: Path, health_port: int = 0) -> None:
        super().__init__(config, health_port)
        self.log = config.with_name("worker.log")

    def command(self) -> list[str]:
        return ["worker", "--config", str(self.config), *(["--health-port", str(self.port)] if self.port else [])]
