"""``crosstrace demo`` keeps its promises (real subprocesses): every ref it prints finds a page that shows the story
it names, for several seeds of the default six-hour day (which has a short transfer and a damaged return); a short
run says so in a sentence; Ctrl-C removes the temp dir it made and says where the data was."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import free_port
from tests.e2e.test_demo import ROOT, TRANSACTION_FAULTS, Demo

SIX_HOURS = ["--duration", "12", "--speed", "30"]  # the default run's simulated day, faster
STORIES = TRANSACTION_FAULTS  # label prefix → what its trace must show


@pytest.mark.parametrize("seed", ["3", "8"])
def test_every_printed_ref_finds_the_page_of_its_story(tmp_path: Path, seed: str) -> None:
    demo = Demo(tmp_path, ["--seed", seed, *SIX_HOURS])
    try:
        demo.wait_summary()
        assert any(label.startswith("short transfer") for label in demo.notable), demo.notable
        assert any(label.startswith("damaged return") for label in demo.notable), demo.notable
        with httpx.Client(base_url=demo.url, timeout=60) as web:  # on loopback the UI opens as the demo's key
            for label, refs in demo.notable.items():
                for ref in refs[:3]:
                    found = web.get("/search", params={"ref": ref})
                    assert found.status_code == 303, (label, ref, found.status_code)
                    target = found.headers["location"]
                    page = web.get(target).text
                    if label.startswith("stale availability"):
                        sku, _, location = ref.partition("@")
                        assert target.startswith("/stock?sku=") and sku in page and location in page, (label, target)
                        continue
                    assert target.startswith("/t/tx_"), (label, ref, target)
                    story = next((kind for prefix, kind in STORIES.items() if label.startswith(prefix)), None)
                    assert story is None or story in page, (label, ref, story)
    finally:
        demo.stop()


def test_a_short_run_says_so_and_ctrl_c_removes_its_temp_dir(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "demo.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSTRACE_")}
    with open(log, "wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "hub.cli", "demo", "--duration", "2", "--speed", "1",
                                    "--port", str(port)], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "serving the UI" not in (text := log.read_text(errors="replace")) and time.monotonic() < deadline:
            assert process.poll() is None, text
            time.sleep(0.2)
        assert "nothing has gone wrong yet in 0.0 simulated hours" in text, text
        store = Path(re.search(r"\(store (\S+)\)", text).group(1))  # type: ignore[union-attr]
        assert store.exists() and store.parent.name.startswith("crosstrace-demo-")
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
        text = log.read_text(errors="replace")
        assert f"its data ({store.parent}) is removed" in text, text
        assert not store.parent.exists()
    finally:
        if process.poll() is None:
            process.kill()
