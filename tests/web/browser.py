"""A real ``crosstrace serve`` with the seed delivered over HTTP, and Debian's chromium through Playwright."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.e2e.server import Server, free_port
from tests.support import OPERATOR_KEY
from tests.web import seed

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


def deliver(base: str, deliveries: list[tuple[str, bytes, dict[str, str]]]) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        for path, body, headers in deliveries:
            response = client.post(path, content=body, headers=headers)
            assert response.status_code == 202, response.text


@contextmanager
def logged_in(base: str, key: str = OPERATOR_KEY, timeout: float = 5) -> Iterator[httpx.Client]:
    """An HTTP client logged in to the UI through its login form."""
    with httpx.Client(base_url=base, timeout=timeout) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None, page.text
        assert client.post("/login", data={"key": key, "csrf_token": token.group(1)}).status_code == 303
        yield client


def wait_until_found(base: str, ref: str, timeout: float = 30.0) -> str:
    """Poll search until the normalizer has made ``ref`` a transaction; the trace URL it lands on."""
    deadline = time.monotonic() + timeout
    with logged_in(base) as client:
        while time.monotonic() < deadline:
            response = client.get("/search", params={"ref": ref})
            if response.status_code == 303:
                return response.headers["location"]
            time.sleep(0.1)
    raise AssertionError(f"{ref} never became a transaction")


@contextmanager
def seeded_server(folder: Path) -> Iterator[Server]:
    server = Server(seed.write_toml(folder, f"sqlite+aiosqlite:///{folder / 'hub.db'}"), free_port())
    server.start()
    try:
        deliver(server.url, [seed.signed(source, event) for source, event in seed.story()] + [seed.dead_letter()])
        for ref in ("1Z999AA1", "W1002", "TR-9"):
            wait_until_found(server.url, ref)
        yield server
    finally:
        server.stop()
