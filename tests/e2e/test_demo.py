"""``crosstrace demo`` headless: two runs of the same seed in parallel (real subprocesses, free ports, tmp
databases), checked over GraphQL and /metrics once each printed its summary (it prints it after the hub
caught up: ERP polled to the end, inbox drained, evaluator ticked).

Every fault class the simulator injects must have produced its exception on the transaction it names;
every other transaction must be free of open exceptions; each system's own id finds the same order;
the ERP poller must show the outage's retries and be healthy again; and both runs must agree.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import free_port

ROOT = Path(__file__).resolve().parents[2]
RUN = ["--seed", "11", "--duration", "20", "--speed", "60", "--orders-per-minute", "0.2"]
READY_TIMEOUT = 300.0
# notable label (prefix) → the exception type it must have raised on that transaction
TRANSACTION_FAULTS = {"stuck order": "late", "duplicate deliveries": "duplicate",
                      "out-of-order carrier scan": "out_of_order", "short transfer": "quantity_mismatch",
                      "damaged return": "failed", "settlement mismatch": "amount_mismatch",
                      "payout line unmatched": "settlement_unmatched", "settlement missing": "settlement_missing",
                      "escalated": "late",
                      "schema drift": "dead_letter"}  # a dead letter lands on the order its body cites
TX_FIELDS = "id kind refs { namespace value role } exceptions { type status subject } steps { name status optional }"
LIST_FIELDS = "id kind firstAt refs { namespace value role }"  # cheap enough to page through every transaction
EXC_FIELDS = "type status subject system transactionId"


class Demo:
    """One ``python -m hub.cli demo`` process and what it printed."""

    def __init__(self, folder: Path, args: list[str]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "demo.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSTRACE_")}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "demo", *args, "--port", str(self.port), "--db", str(folder)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.key = ""
        self.notable: dict[str, list[str]] = {}
        self.queue: dict[str, str] = {}  # label → the exception queue's filter (exceptions of no transaction)
        self.text = ""

    def wait_summary(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            self.text = self.log.read_text(errors="replace")
            found = re.search(r"^demo refs: (.*)$", self.text, re.MULTILINE)
            if found:
                self.key = re.search(r"API key \(operator\)[^:]*: (ct_\S+)", self.text).group(1)  # type: ignore[union-attr]
                for part in found.group(1).split("; "):
                    label, _, refs = part.partition("=")
                    self.notable[label] = refs.split(",")
                queue = re.search(r"^demo queue: (.*)$", self.text, re.MULTILINE)
                self.queue = dict(part.partition("=")[::2] for part in queue.group(1).split("; ") if part) \
                    if queue else {}
                return
            if self.process.poll() is not None:
                raise AssertionError(f"demo exited with {self.process.returncode}:\n{self.text[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"demo printed no summary in {READY_TIMEOUT:g}s:\n{self.text[-3000:]}")

    def refs(self, prefix: str) -> list[str]:
        return next(refs for label, refs in self.notable.items() if label.startswith(prefix))

    def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        """One query; a THROTTLED answer (the cost budget) is retried after the Retry-After it gives."""
        deadline = time.monotonic() + 180
        while True:
            response = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables},
                                  headers={"authorization": f"Bearer {self.key}"}, timeout=120)
            if response.status_code != 429 or time.monotonic() > deadline:
                break
            time.sleep(float(response.headers.get("retry-after", "1")))
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def transaction(self, ref: str) -> dict[str, Any] | None:
        return self.gql(f"query($ref: String!) {{ transaction(ref: $ref) {{ {TX_FIELDS} }} }}", ref=ref)["transaction"]

    def every(self, field: str, selection: str, **filter_: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        after = None
        kind = {"transactions": "TransactionFilter", "exceptions": "ExceptionFilter",
                "deliveries": "DeliveryFilter"}[field]
        while True:
            page = self.gql(f"query($f: {kind}, $after: String) {{ {field}(filter: $f, first: 100, after: $after) "
                            f"{{ nodes {{ {selection} }} pageInfo {{ hasNextPage endCursor }} }} }}",
                            f=filter_ or None, after=after)[field]
            rows += page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                return rows
            after = page["pageInfo"]["endCursor"]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                return -9
        return self.process.returncode


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Demo, Demo]]:
    base = tmp_path_factory.mktemp("demo")
    first, second = Demo(base / "a", RUN), Demo(base / "b", RUN)
    try:
        first.wait_summary()
        second.wait_summary()
        yield first, second
    finally:
        first.stop()
        second.stop()


@pytest.fixture(scope="module")
def transactions(demos: tuple[Demo, Demo]) -> list[dict[str, Any]]:
    return demos[0].every("transactions", LIST_FIELDS)


@pytest.fixture(scope="module")
def exceptions(demos: tuple[Demo, Demo]) -> list[dict[str, Any]]:
    return demos[0].every("exceptions", EXC_FIELDS)


def _identity(tx: dict[str, Any]) -> frozenset[str]:
    return frozenset(f"{r['namespace']}:{r['value']}" for r in tx["refs"] if r["role"] == "identity")


def _complete(tx: dict[str, Any]) -> bool:
    return all(step["status"] == "done" for step in tx["steps"] if not step["optional"])


def test_every_fault_class_raised_its_exception_on_the_transaction_it_hit(demos: tuple[Demo, Demo]) -> None:
    demo = demos[0]
    for prefix, expected in TRANSACTION_FAULTS.items():
        refs = demo.refs(prefix)
        assert refs, prefix
        for ref in refs:
            tx = demo.transaction(ref)
            assert tx is not None, f"{prefix}: {ref} finds no transaction"
            types = {e["type"] for e in tx["exceptions"]}
            assert expected in types, f"{prefix}: {ref} has {types}, not {expected}"
    for ref in demo.refs("stuck order"):
        late = [e for e in demo.transaction(ref)["exceptions"] if e["type"] == "late"]  # type: ignore[index]
        steps = {(e["status"], e["subject"].rsplit(":", 1)[1]) for e in late}  # a long run: "shipped" is late too
        assert ("open", "accepted") in steps and steps <= {("open", "accepted"), ("open", "shipped")}, steps


def test_the_stuck_order_escalates_and_the_queue_shows_the_silent_source_and_the_disabled_pager(
        demos: tuple[Demo, Demo]) -> None:
    """Issue 17's alerts in the demo: a late step open past its SLA is escalated (severity raised, history says
    so); the returns platform's pause is a source_silent that resolved itself when the backlog came; the ops pager
    that refuses every connection is disabled with an exception saying so. The printed queue links find them."""
    demo = demos[0]
    for ref in demo.refs("escalated"):
        late = demo.gql("query($ref: String!) { transaction(ref: $ref) { exceptions { type severity "
                        "history { action } } } }", ref=ref)["transaction"]["exceptions"]
        escalated = [e for e in late if e["type"] == "late" and "escalated" in {h["action"] for h in e["history"]}]
        assert escalated and all(e["severity"] in ("error", "critical") for e in escalated), (ref, late)
    assert sorted(demo.queue.values()) == ["type=notification_endpoint_disabled", "type=source_silent&status=all"]
    silent = demo.every("exceptions", "status subject history { action }", type=["source_silent"])
    assert ("resolved", "returns") in {(e["status"], e["subject"]) for e in silent}, silent
    pager = demo.every("exceptions", "status subject", type=["notification_endpoint_disabled"])
    assert pager == [{"status": "open", "subject": "ops-pager"}]
    endpoints = demo.gql("{ notificationEndpoints { name enabled } }")["notificationEndpoints"]
    assert endpoints == [{"name": "ops-pager", "enabled": False}]
    with httpx.Client(base_url=demo.url, timeout=60) as web:
        for label, query in demo.queue.items():
            page = web.get(f"/exceptions?{query}")
            assert page.status_code == 200 and query.split("&")[0].split("=")[1] in page.text, label


def test_the_dashboard_shows_every_kpi_tile(demos: tuple[Demo, Demo]) -> None:
    """The dashboard's business tiles (issue 17 item 4) each have rows on the demo's day, not their empty note."""
    page = httpx.get(f"{demos[0].url}/dashboard", timeout=60)
    assert page.status_code == 200
    for tile in ("kpi-orders", "kpi-cycle", "kpi-cancel", "kpi-sla", "kpi-fresh", "kpi-backlog"):
        assert f'<table id="{tile}">' in page.text, tile


def test_schema_drift_is_a_dead_letter_and_stale_availability_a_stock_divergence(demos: tuple[Demo, Demo]) -> None:
    demo = demos[0]
    dead = demo.every("deliveries", "id source error", source="wms", state="dead")
    assert len(dead) == len(demo.refs("schema drift")) and all("event_id" in d["error"] for d in dead)
    letters = demo.every("exceptions", "subject system", type=["dead_letter"])
    assert {d["id"] for d in dead} <= {e["subject"] for e in letters}
    divergences = {e["subject"] for e in demo.every("exceptions", "subject", type=["stock_divergence"])}
    for pair in demo.refs("stale availability"):
        assert f"{pair}/amazon" in divergences, (pair, divergences)


def test_the_placeholder_order_id_joins_nothing(demos: tuple[Demo, Demo],
                                                 transactions: list[dict[str, Any]]) -> None:
    assert demos[0].transaction("0") is None
    transfers = [tx for tx in transactions if tx["kind"] == "transfer"]
    assert len(transfers) >= 3
    for tx in transfers:  # the WMS sent order_ref "0" on every transfer: none merged with another
        assert len([r for r in tx["refs"] if r["namespace"] == "erp:transfer"]) == 1, tx["refs"]


def test_normal_transactions_complete_without_open_exceptions(demos: tuple[Demo, Demo],
                                                              transactions: list[dict[str, Any]],
                                                              exceptions: list[dict[str, Any]]) -> None:
    demo = demos[0]
    faulty = {demo.transaction(ref)["id"] for prefix in TRANSACTION_FAULTS  # type: ignore[index]
              for ref in demo.refs(prefix)}
    by_tx: dict[str, list[dict[str, Any]]] = {}
    for item in exceptions:
        if item["transactionId"]:
            by_tx.setdefault(item["transactionId"], []).append(item)
    troubled = [(tx["kind"], sorted(_identity(tx))[:2], [(e["type"], e["subject"]) for e in by_tx[tx["id"]]])
                for tx in transactions if tx["id"] not in faulty
                and any(e["status"] != "resolved" for e in by_tx.get(tx["id"], []))]
    assert troubled == []
    for channel in ("shop:order", "amazon:order", "pos:order", "erp:transfer", "returns:rma", "erp:purchase_order",
                    "stripe:payout"):
        candidates = sorted((tx for tx in transactions if tx["id"] not in faulty and tx["id"] not in by_tx
                             and f"{channel}:" in " ".join(_identity(tx))), key=lambda tx: tx["firstAt"])
        assert any(_complete(demo.transaction(tx["id"])) for tx in candidates[:20]), channel  # type: ignore[arg-type]


def test_each_systems_own_id_finds_the_same_order(demos: tuple[Demo, Demo],
                                                 transactions: list[dict[str, Any]]) -> None:
    demo = demos[0]
    checked = 0
    for channel, systems in (("shop:order", 5), ("amazon:order", 4), ("pos:order", 2)):
        sample = [tx for tx in transactions if any(r["namespace"] == channel for r in tx["refs"])
                  and len({r["namespace"].split(":")[0] for r in tx["refs"] if r["role"] == "identity"}) >= systems]
        assert sample, channel
        for tx in sample[:3]:
            for ref in tx["refs"]:
                if ref["role"] == "identity":
                    found = demo.transaction(ref["value"])
                    assert found is not None and found["id"] == tx["id"], (ref, tx["id"])
                    checked += 1
    assert checked >= 20


def test_the_web_ui_finds_and_draws_what_graphql_returns(demos: tuple[Demo, Demo],
                                                        transactions: list[dict[str, Any]]) -> None:
    """The UI's search lands every system's id on GraphQL's transaction, and the trace draws one lane per
    system GraphQL lists events from; a SKU goes to its stock page (the UI reads through the hub, as GraphQL)."""
    demo = demos[0]
    web = httpx.Client(base_url=demo.url, timeout=60)
    landed = 0
    for channel in ("shop:order", "amazon:order", "pos:order", "erp:transfer", "returns:rma", "stripe:payout"):
        tx = max((tx for tx in transactions if any(r["namespace"] == channel for r in tx["refs"])),
                 key=lambda tx: (len(_identity(tx)), tx["id"]))  # the one most systems reported on
        for ref in (r for r in tx["refs"] if r["role"] == "identity"):
            assert demo.transaction(ref["value"])["id"] == tx["id"]  # type: ignore[index]
            found = web.get("/search", params={"ref": ref["value"]})
            assert (found.status_code, found.headers.get("location")) == (303, f"/t/{tx['id']}"), ref
            landed += 1
        events = demo.gql("query($ref: String!) { transaction(ref: $ref) { events { source } } }",
                          ref=tx["id"])["transaction"]["events"]
        page = web.get(f"/t/{tx['id']}")
        assert page.status_code == 200
        lanes = re.findall(r'<g class="lane" data-lane="([^"]+)"', page.text)
        assert lanes == list(dict.fromkeys(e["source"] for e in events)), (channel, lanes)
    assert landed >= 20
    sku = web.get("/search", params={"ref": "SKU-1001"})
    assert (sku.status_code, sku.headers.get("location")) == (303, "/stock?sku=SKU-1001")
    assert "SKU-1001" in web.get("/stock", params={"sku": "SKU-1001"}).text
    web.close()


def test_returns_and_payouts_are_related_to_the_orders_they_concern(demos: tuple[Demo, Demo],
                                                                    transactions: list[dict[str, Any]]) -> None:
    """A return of a demo order and a payout covering its charge show as related transactions, in GraphQL
    and on the order's trace page."""
    demo = demos[0]
    web = httpx.Client(base_url=demo.url, timeout=60)
    for kind in ("return", "settlement"):
        linked = []
        for tx in [tx for tx in transactions if tx["kind"] == kind][:10]:
            related = demo.gql("query($ref: String!) { transaction(ref: $ref) { related { id kind } } }",
                               ref=tx["id"])["transaction"]["related"]
            linked += [(tx["id"], other["id"]) for other in related if other["kind"] == "order"]
        assert linked, kind
        mine, order = linked[0]
        assert f'href="/t/{mine}"' in web.get(f"/t/{order}").text, (kind, order)
    web.close()


def test_metrics_show_the_erp_poller_recovered_from_the_outage(demos: tuple[Demo, Demo]) -> None:
    text = httpx.get(f"{demos[0].url}/metrics", timeout=30).text
    erp = {name: float(value) for name, value in
           re.findall(r'^(crosstrace_poll_\w+)\{source="erp"\} (\S+)$', text, re.MULTILINE)}
    assert erp["crosstrace_poll_retries_total"] > 0  # the 503s during the outage were retried
    assert erp["crosstrace_poll_items_total"] > 0
    assert erp["crosstrace_poll_consecutive_failures"] == 0  # and the last run succeeded
    assert erp["crosstrace_poll_circuit_open"] == 0
    assert re.search(r"ERP API answered \d+ polls, [1-9]\d* of them 503", demos[0].text)


def test_the_same_seed_gives_the_same_transactions_and_exceptions(demos: tuple[Demo, Demo],
                                                                  transactions: list[dict[str, Any]],
                                                                  exceptions: list[dict[str, Any]]) -> None:
    first, second = demos
    assert first.notable == second.notable
    other = second.every("transactions", LIST_FIELDS)
    assert Counter(_identity(tx) for tx in transactions) == Counter(_identity(tx) for tx in other)

    def open_exceptions(txs: list[dict[str, Any]], found: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
        name = {tx["id"]: min(_identity(tx) or {tx["kind"]}) for tx in txs}
        return Counter((e["type"], name[e["transactionId"]] if e["transactionId"] else
                        e["system"] if e["type"] == "dead_letter" else e["subject"])  # a dead letter names a delivery
                       for e in found if e["status"] != "resolved")

    assert open_exceptions(transactions, exceptions) == open_exceptions(other, second.every("exceptions", EXC_FIELDS))


def test_ctrl_c_stops_the_hub_and_the_erp_cleanly(demos: tuple[Demo, Demo]) -> None:
    demo = demos[1]
    erp_port = int(re.search(r"simulated ERP.s API .* on http://127\.0\.0\.1:(\d+)/", demo.text).group(1))  # type: ignore[union-attr]
    with socket.create_connection(("127.0.0.1", erp_port), timeout=2):
        pass  # up while the demo serves
    assert demo.stop() == 0
    for port in (demo.port, erp_port):
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass


def test_exit_ends_the_run_by_itself(tmp_path: Path) -> None:
    demo = Demo(tmp_path, ["--duration", "2", "--speed", "30", "--exit"])
    assert demo.process.wait(READY_TIMEOUT) == 0, demo.log.read_text()
    text = demo.log.read_text()
    assert "hub caught up" in text and "serving the UI" not in text
    assert (tmp_path / "crosstrace-demo.db").stat().st_size > 0


def test_a_busy_port_a_used_database_or_a_bad_option_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "hub.cli", "demo", "--exit", "--duration", "2", "--port", str(port),
                              "--db", str(tmp_path / "a")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and f"is port {port} free?" in run.stdout, run.stdout + run.stderr
    used = tmp_path / "used.db"
    used.write_bytes(b"not empty")
    run = subprocess.run([sys.executable, "-m", "hub.cli", "demo", "--db", str(used)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "already holds a database" in run.stderr, run.stdout + run.stderr
    for option in ("--speed", "--duration", "--orders-per-minute"):
        run = subprocess.run([sys.executable, "-m", "hub.cli", "demo", option, "0", "--db", str(tmp_path / "b")],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert run.returncode == 2 and "must be positive" in run.stderr, (option, run.stdout + run.stderr)
