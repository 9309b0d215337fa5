"""GraphQL over HTTP against a real `crosstrace serve` process: the whole `graphql-http` audit, and the rules it
leaves to the server (405 for a mutation over GET, batching off, anonymous introspection off).

CI step (prints the audit's result line): ``.venv/bin/pytest -q -s tests/e2e/test_graphql_http.py -k audit``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Server, free_port, write_config
from tests.support import OPERATOR_KEY

AUDIT = Path(__file__).with_name("graphql_http_audit.mjs")
GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("graphql-http")
    running = Server(write_config(folder, f"sqlite+aiosqlite:///{folder / 'hub.db'}"), free_port())
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_graphql_http_audit_passes_every_must_and_should(server: Server) -> None:
    assert shutil.which("node") and shutil.which("npm"), "node and npm are required for the graphql-http audit"
    done = subprocess.run(["node", str(AUDIT), f"{server.url}/graphql"], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, GRAPHQL_AUDIT_KEY=OPERATOR_KEY))
    print(done.stdout)
    match = re.search(r"^(\d+) passed, (\d+) failed$", done.stdout, re.MULTILINE)
    assert match, f"no result line (exit {done.returncode}): {done.stdout}\n{done.stderr}"
    assert int(match.group(1)) >= 40 and int(match.group(2)) == 0, done.stdout
    assert done.returncode == 0, done.stderr


def test_http_rules_the_audit_leaves_to_the_server(server: Server) -> None:
    url = f"{server.url}/graphql"
    with httpx.Client(timeout=10) as client:
        mutation = client.get(url, params={"query": 'mutation { replayDelivery(id: "x") { count } }'},
                              headers={"accept": GRAPHQL_RESPONSE})
        assert mutation.status_code == 405 and mutation.headers["allow"] == "POST"
        assert "data" not in mutation.json()

        head = client.head(url)
        assert head.status_code == 405 and head.headers["allow"] == "GET, POST"
        batch = client.post(url, json=[{"query": "{ __typename }"}], headers={"accept": GRAPHQL_RESPONSE})
        assert batch.status_code == 400 and batch.json()["error"]["code"] == "bad_request"
        malformed = client.post(url, content=b'{"query": ', headers={"content-type": "application/json"})
        assert malformed.status_code == 400 and malformed.headers["content-type"].startswith("application/json")
        assert client.post(url, content=b"{ __typename }", headers={"content-type": "text/plain"}).status_code == 415
        assert client.post(url, json={"query": "{ __typename }"}, headers={"accept": "text/csv"}).status_code == 406

        ok = client.post(url, json={"query": "{ __typename }"}, headers={"accept": GRAPHQL_RESPONSE})
        assert ok.status_code == 200 and ok.headers["content-type"].startswith(GRAPHQL_RESPONSE)
        assert ok.json()["data"] == {"__typename": "Query"}
        legacy = client.post(url, json={"query": "{ nope }"})
        assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("application/json")

        introspect = {"query": "{ __schema { types { name } } }"}
        anonymous = client.post(url, json=introspect, headers={"accept": GRAPHQL_RESPONSE})
        assert anonymous.status_code == 400 and "data" not in anonymous.json()
        assert "introspection" in anonymous.json()["errors"][0]["message"]
        keyed = client.post(url, json=introspect, headers={"authorization": f"Bearer {OPERATOR_KEY}"})
        assert keyed.status_code == 200 and keyed.json()["data"]["__schema"]["types"]
