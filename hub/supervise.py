"""``crosstrace serve --worker-process``: the background duties in a child ``crosstrace worker``, kept running.

The child is started with ``--parent-pid`` and ends by itself when this process is gone (even SIGKILLed). When
the child ends while the parent serves, the parent starts it again after a pause that doubles up to 30 s (reset
once a child lived a minute): the receiver keeps acknowledging into the durable inbox meanwhile, and /healthz
shows the pending deliveries' age growing if the worker cannot stay up.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

log = logging.getLogger(__name__)
_MAX_PAUSE_SECONDS = 30.0
_STABLE_SECONDS = 60.0


class WorkerChild:
    """Runs ``python -m hub.cli worker`` as a child of this process, restarting it when it ends."""

    def __init__(self, config_path: str | None) -> None:
        self._command = [sys.executable, "-m", "hub.cli", "worker", "--parent-pid", str(os.getpid())]
        if config_path:
            self._command += ["--config", config_path]
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name="crosstrace-worker-child", daemon=True)
        self.starts = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the child (it finishes its batch and stops) and wait for it."""
        self._stopping.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._thread.join(timeout)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _run(self) -> None:
        pause = 1.0
        while not self._stopping.is_set():
            started = time.monotonic()
            self._process = subprocess.Popen(self._command)
            self.starts += 1
            code = self._process.wait()
            if self._stopping.is_set():
                return
            pause = 1.0 if time.monotonic() - started >= _STABLE_SECONDS else pause
            print(f"crosstrace: the worker process ended (exit status {code}); starting it again in {pause:g} s",
                  file=sys.stderr, flush=True)
            if self._stopping.wait(pause):
                return
            pause = min(pause * 2, _MAX_PAUSE_SECONDS)
