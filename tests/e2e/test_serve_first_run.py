"""``crosstrace serve`` with no config (a real process in an empty folder): it says where it looked and how to make
the first admin key."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.server import free_port
from tests.e2e.test_demo import ROOT


def test_serve_without_a_config_says_where_it_looked_and_how_to_begin(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSTRACE_")}
    env["PYTHONPATH"] = str(ROOT)
    log = tmp_path / "serve.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", "--port", str(free_port())],
                                   cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "crosstrace: store" not in (text := log.read_text(errors="replace")) and time.monotonic() < deadline:
            assert process.poll() is None, text
            time.sleep(0.2)
        assert f"no config file: looked for {tmp_path / 'crosstrace.toml'}" in text, text
        assert "crosstrace keys create --name admin --role admin" in text
    finally:
        process.terminate()
        process.wait(30)
