"""Screenshots of every page against the demo's data: ``python -m tests.web.demo_screenshots docs``.

Runs ``crosstrace demo`` (seeded, so the same transactions and exceptions every time; six simulated hours, so the
first payout is in and shows on the order's trace as a related transaction) on a free port until its
simulation is over, then drives Debian's chromium through the pages at 1440×900 and writes PNGs into the
folder given (the README shows the ones in ``docs/``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Page, sync_playwright

from tests.e2e.server import free_port
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS

# A whole order (shop, payment, ERP, WMS, carrier) whose carrier scan arrived out of order; else the stuck one.
NOTABLE = re.compile(r"^ {4}(?:out-of-order carrier scan|stuck order)[^:]*: (\S+)", re.MULTILINE)


def _wait_for(log: Path, marker: str, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if marker in text:
            return text
        if process.poll() is not None:
            raise RuntimeError(f"demo exited:\n{text[-2000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"demo never printed {marker!r}")


def _shoot(page: Page, path: Path, full_page: bool = False) -> None:
    """Screenshot the page, refusing one wider than the viewport (a table spilling out of its column)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if overflow > 0:
        raise RuntimeError(f"{page.url} is {overflow} px wider than the window")
    page.screenshot(path=str(path), full_page=full_page)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        port, log = free_port(), Path(folder) / "demo.log"
        with open(log, "wb") as sink:
            demo = subprocess.Popen([sys.executable, "-m", "hub.cli", "demo", "--duration", "36", "--port", str(port),
                                     "--db", str(Path(folder) / "demo.db")], stdout=sink, stderr=subprocess.STDOUT)
        try:
            text = _wait_for(log, "serving the UI", demo, 120)
            notable = NOTABLE.search(text)
            base = f"http://127.0.0.1:{port}"
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(base + "/")
                _shoot(page, out / "transactions.png")
                page.goto(base + "/search?ref=" + (quote(notable.group(1)) if notable else "1008"))
                _shoot(page, out / "trace.png")
                carrier = page.locator('a.marker[data-lane="easypost"] circle')
                (carrier if carrier.count() else page.locator("a.marker circle")).last.click()
                page.wait_for_selector("#raw-body")
                _shoot(page, out / "trace-event.png", full_page=True)
                page.goto(base + "/exceptions")
                _shoot(page, out / "exceptions.png")
                page.goto(base + "/stock")
                _shoot(page, out / "stock-overview.png")
                link = page.locator("#divergences a[href*='sku=']").first
                if link.count():
                    link.click()
                    page.wait_for_load_state()
                _shoot(page, out / "stock.png")
                page.goto(base + "/dashboard?window=6h")
                _shoot(page, out / "dashboard.png", full_page=True)
                page.set_viewport_size({"width": 2560, "height": 900})  # the whole process map at its own size
                page.goto(base + "/dashboard?window=6h")
                page.locator("svg.process-map").screenshot(path=str(out / "process-map.png"))
                browser.close()
        finally:
            demo.terminate()
            demo.wait(15)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
