"""The web UI in a real browser: Playwright driving Debian's chromium against a real ``crosstrace serve``.

The seed is delivered over HTTP as signed webhooks. Each test saves a 1440×900 screenshot of its page
into ``$CROSSTRACE_SCREENSHOTS`` (the README's images come from ``CROSSTRACE_SCREENSHOTS=docs``), else
into a temporary folder.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.support import OPERATOR_KEY, cloudevent
from tests.web import seed
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, deliver, seeded_server, wait_until_found

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install "
                                                                    "chromium; .ci/run installs it)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with seeded_server(tmp_path_factory.mktemp("web")) as running:
        yield running.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("CROSSTRACE_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_in(page: Page, server: str, key: str = OPERATOR_KEY) -> None:
    """Log in through the login form, as a person does (the UI asks for a key by default)."""
    page.goto(server + "/")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill("#key", key)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(server + "/")


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id="America/New_York")
    opened = context.new_page()
    log_in(opened, server)
    yield opened
    context.close()


def test_search_by_every_ref_lands_on_the_same_trace(server: str, page: Page, shots: Path) -> None:
    page.goto(server + "/")
    assert page.evaluate("document.activeElement.id") == "search"  # autofocus: paste and press Enter
    landed = set()
    for ref in [*seed.ORDER_REFS.values(), "erp:sales_order:SO-1042"]:
        page.goto(server + "/exceptions")
        page.locator("h1").click()  # focus elsewhere: the shortcut brings it back to search
        page.keyboard.press("/")
        page.keyboard.type(ref)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/t/tx_\w+$"))
        landed.add(page.url)
    assert len(landed) == 1
    page.screenshot(path=str(shots / "trace.png"))
    page.goto(server + "/")
    page.screenshot(path=str(shots / "transactions.png"))


def test_timeline_has_one_lane_per_system_and_times_are_local(server: str, page: Page, shots: Path) -> None:
    page.goto(server + "/search?ref=SO-1042")
    lanes = page.locator("svg g.lane").evaluate_all("els => els.map(e => e.dataset.lane)")
    assert lanes == ["shop", "pay", "erp", "wms", "carrier"]
    for lane in lanes:  # every lane holds at least one marker of its system
        assert page.locator(f'a.marker[data-lane="{lane}"]').count() >= 1
    first = page.locator("#events time").first
    utc = first.get_attribute("title")
    assert utc is not None and utc.endswith("UTC")
    assert first.inner_text() != utc.removesuffix(" UTC")  # shown in New York time, UTC on hover

    page.locator('a.marker[data-type="sync.failed"] circle').click()
    page.wait_for_selector("#raw-body")
    assert '"specversion": "1.0"' in page.inner_text("#raw-body")
    assert "ERP timeout posting SO-1042" in page.inner_text("#event")
    page.screenshot(path=str(shots / "trace-event.png"), full_page=True)


def test_acknowledging_removes_from_open_and_shows_in_history(server: str, page: Page, shots: Path) -> None:
    page.goto(server + "/exceptions")
    page.screenshot(path=str(shots / "exceptions.png"))
    row = page.locator("#queue tbody tr", has=page.locator("td", has_text=re.compile(r"^failed$")))
    assert row.count() == 1
    exc_id = row.get_attribute("data-id")
    row.locator("input[name=ids]").check()
    page.select_option("select[name=action]", "acknowledge")
    page.fill("input[name=note]", "calling the ERP team")
    page.click("form#act button[type=submit]")
    page.wait_for_url(re.compile(r"msg="))
    assert "Acknowledged 1 exception" in page.inner_text("[role=status]")
    assert page.locator(f'tr[data-id="{exc_id}"]').count() == 0  # gone from the open filter

    page.goto(server + "/exceptions?status=acknowledged")
    mine = page.locator(f'tr[data-id="{exc_id}"]')
    mine.locator("summary").click()
    assert "ops acknowledged: calling the ERP team" in mine.locator("ul.history").inner_text()  # who logged in


def test_new_exceptions_appear_without_reloading(server: str, page: Page) -> None:
    page.goto(server + "/exceptions?every=300")
    page.evaluate("window.__same_document = true")
    event = cloudevent("pay", "payment.failed", [("shop:order", "W1002")], id="p-live", status="failed",
                       error="card declined live")
    deliver(server, [seed.signed("pay", event)])
    page.wait_for_selector('#queue tr:has-text("card declined live")')
    assert page.evaluate("window.__same_document") is True  # swapped in, not reloaded


def test_stock_page_highlights_the_seeded_divergence(server: str, page: Page, shots: Path) -> None:
    page.goto(server + "/")
    page.fill("#search", "SKU-GRN-L")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/stock\?sku=SKU-GRN-L"))
    cell = page.locator('tr[data-source="wms"] td[data-diverging="on_hand"]')
    assert cell.inner_text().strip() == "37"
    assert cell.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(248, 222, 219)"
    assert page.locator('tr[data-source="erp"] td[data-diverging]').count() == 0  # the authority is the reference
    assert "STORE-12" in page.inner_text("#divergences")
    page.screenshot(path=str(shots / "stock.png"))


def test_dashboard_renders_its_charts_with_data(server: str, page: Page, shots: Path) -> None:
    page.goto(server + "/dashboard?window=7d")  # the seed's orders started 30 hours ago
    lines = page.locator("svg.chart polyline")
    assert lines.count() >= 2
    points = lines.first.get_attribute("points") or ""
    assert len(points.split()) > 10
    box = page.locator("svg.chart").first.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100  # drawn, not collapsed
    assert page.locator("svg.process-map g.node").count() >= 5
    assert page.locator("svg.process-map g.edge").count() >= 4
    assert page.locator("#lag-by-source tr").count() == 6  # header + 5 sources
    assert page.locator("#divergence-heat td").count() > 1
    assert "59.80 EUR" in page.inner_text("#kpi-orders")  # the business tiles: W1001's order value from shop
    assert page.locator("#kpi-sla tr").count() > 1 and page.locator("#kpi-cancel tr").count() > 1
    assert page.locator("#variant-table tr").count() > 1  # the paths beside the process map
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)


@pytest.mark.parametrize("width", [1280, 1920])
def test_every_page_fits_a_laptop_and_a_wide_screen(server: str, browser: Browser, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    log_in(page, server)
    trace = server + "/search?ref=SO-1042"
    for path in ["/", trace, "/exceptions", "/stock", "/stock?sku=SKU-GRN-L", "/dashboard?window=7d", "/search?ref=7"]:
        page.goto(path if path.startswith("http") else server + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, (path, width, overflow)  # no sideways scrolling
        assert page.locator("#search").is_visible(), path
    context.close()


def test_a_dead_letter_is_replayed_from_the_queue(server: str, page: Page) -> None:
    page.goto(server + "/exceptions?type=dead_letter")
    row = page.locator("#queue tbody tr", has=page.locator("td", has_text=re.compile(r"^dead_letter$")))
    assert row.count() == 1
    row.locator("summary").click()
    button = row.locator("button", has_text="Replay delivery")
    delivery = (button.inner_text()).rsplit(" ", 1)[1]
    page.goto(f"{server}/deliveries/{delivery}")
    assert "attempts 1" in page.inner_text("main")
    page.go_back()
    page.locator("#queue tbody tr", has=page.locator("td", has_text=re.compile(r"^dead_letter$"))) \
        .locator("summary").click()
    page.locator("button", has_text="Replay delivery").click()
    page.wait_for_url(re.compile(r"msg="))
    assert f"Replaying {delivery}" in page.inner_text("[role=status]")
    for _ in range(100):  # the normalizer tried it again (the bytes are still not a CloudEvent: dead again)
        page.goto(f"{server}/deliveries/{delivery}")
        if "attempts 2" in page.inner_text("main"):
            break
        page.wait_for_timeout(100)
    assert "attempts 2" in page.inner_text("main") and "dead" in page.inner_text("main")


def test_every_page_works_under_its_content_security_policy(server: str, page: Page) -> None:
    """The pages' one script, stylesheet, inline style attributes, SVG and live polling all run under the CSP:
    chromium reports no violation on any page, the login page and GraphiQL included."""
    page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                         "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
    trace = server + "/search?ref=SO-1042"
    for path in ["/", trace, "/exceptions?every=300", "/stock?sku=SKU-GRN-L", "/dashboard?window=7d", "/search?ref=7",
                 "/login", "/graphql"]:
        page.goto(path if path.startswith("http") else server + path)
        page.wait_for_load_state("load")
        if "every=300" in path:
            page.wait_for_selector("#live-status:has-text('updated')")  # the live queue polled
        assert page.evaluate("window.__csp") == [], path
    page.goto(trace)
    assert not page.locator("#events time").first.inner_text().endswith("UTC")  # app.js ran (local times)
    page.goto(server + "/stock?sku=SKU-GRN-L")  # an inline style attribute is still applied
    cell = page.locator('tr[data-source="wms"] td[data-diverging="on_hand"]')
    assert cell.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(248, 222, 219)"


def test_logging_out_from_any_page_ends_the_session(server: str, page: Page) -> None:
    page.goto(server + "/exceptions")
    assert "ops · operator" in page.inner_text("header form.session")
    page.click("header form.session button")
    page.wait_for_url(server + "/login")
    cookies = {c["name"] for c in page.context.cookies()}
    assert "ct_session" not in cookies
    page.goto(server + "/exceptions")
    page.wait_for_url(re.compile(r"/login\?next=/exceptions"))


def test_the_live_queue_stops_and_says_so_when_the_session_ends(server: str, page: Page) -> None:
    page.goto(server + "/exceptions?every=300")
    rows = page.locator("#queue tbody tr").count()
    page.wait_for_selector("#live-status:has-text('updated')")
    page.context.clear_cookies()  # as after a logout elsewhere or the session's expiry
    page.wait_for_selector("#live-status:has-text('session ended')")
    assert page.locator("#queue tbody tr").count() == rows  # the rows stay; no login page swapped in
    assert page.locator("#queue input[name=key]").count() == 0


def test_graphiql_works_offline_and_runs_a_query(server: str, browser: Browser, shots: Path) -> None:
    """GraphiQL loads everything from the hub: with every request to a host other than 127.0.0.1 refused, it
    draws, fetches the schema with the key typed into its Headers editor and runs a query."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    elsewhere: list[str] = []

    def offline(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", offline)
    page = context.new_page()
    page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                         "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
    response = page.goto(server + "/graphql?q=" + quote('{ transaction(ref: "SO-1042") { id systems } }'))
    assert response is not None and "https:" not in response.headers["content-security-policy"]
    page.locator(".graphiql-editor-tools button", has_text="Headers").click()
    page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror").click()
    page.keyboard.insert_text(json.dumps({"Authorization": f"Bearer {OPERATOR_KEY}"}))
    with page.expect_response(lambda r: r.request.method == "POST" and "SO-1042" in (r.request.post_data or "")) \
            as answered:
        page.locator("button.graphiql-execute-button").click()
    found = answered.value.json()["data"]["transaction"]
    assert found["systems"] == ["carrier", "erp", "pay", "shop", "wms"]
    page.locator(".result-window", has_text=found["id"]).wait_for()  # drawn in the result pane
    page.locator("button[aria-label='Re-fetch GraphQL schema']").click()  # introspection, now with the key
    page.locator("button[aria-label='Show Documentation Explorer']").click()
    page.locator(".graphiql-doc-explorer a", has_text="Transaction").first.wait_for()
    page.screenshot(path=str(shots / "graphiql.png"))
    assert elsewhere == [] and page.evaluate("window.__csp") == []
    context.close()


def test_a_late_order_names_the_system_that_owes_its_next_step(server: str, page: Page) -> None:
    """W1002 was placed 29 hours ago and the ERP never accepted it: the trace's step bar and the exception queue
    (filtered by the ERP as source) both say it waits on the ERP, and for how long."""
    page.goto(server + "/search?ref=W1002")
    page.wait_for_url(re.compile(r"/t/tx_\w+$"))
    tx_id = page.url.rsplit("/", 1)[1]
    accepted = page.locator("ol.steps li", has=page.locator(".name", has_text="accepted"))
    assert re.fullmatch(r"waiting on ERP \(erp\) for 1d 5h( \d+m)?", accepted.locator(".owed").inner_text())
    assert accepted.get_attribute("class") == "overdue"

    page.goto(server + "/exceptions?type=late&source=erp")
    row = page.locator("#queue tbody tr", has=page.locator(f'a[href="/t/{tx_id}"]'))
    assert row.count() == 1
    assert "waiting on ERP (erp) since" in row.inner_text() and "(for 1d 5h" in row.inner_text()
    assert row.locator("td").nth(5).inner_text() == "erp (erp)"  # the Source column
    page.goto(server + "/exceptions?type=late&source=shop")
    assert page.locator(f'#queue a[href="/t/{tx_id}"]').count() == 0


def test_search_as_people_type_and_paste(server: str, page: Page) -> None:
    """Lower case, a stray ``#``, spaces, a URL-encoded paste or a 5-character prefix all land on the order;
    ``SKU@LOCATION`` opens that stock cell."""
    page.goto(server + "/search?ref=SO-1042")
    trace = page.url
    for typed in ["so-1042", " #SO-1042 ", "erp%3Asales_order%3ASO-1042", "1z999"]:
        page.fill("#search", typed)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/t/tx_\w+$"))
        assert page.url == trace, typed
    page.fill("#search", "SKU-GRN-L@STORE-12")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/stock\?sku=SKU-GRN-L&location=STORE-12$"))
    assert "37" in page.inner_text('tr[data-source="wms"]')


def test_two_orders_compared_side_by_side_from_the_trace(server: str, page: Page, shots: Path) -> None:
    """The stuck order against the one that went through: aligned steps, each side's lag, where they diverge."""
    page.goto(server + "/search?ref=W1002")
    page.fill("form.compare-with input[name=b]", "W1001")
    page.click("form.compare-with button[type=submit]")
    page.wait_for_selector("#comparison")
    steps = page.locator("#comparison tr[data-step]").evaluate_all("rows => rows.map(r => r.dataset.step)")
    assert steps[:3] == ["placed", "accepted", "paid"]  # the order flow's steps first, in order
    assert page.inner_text("#diverges-at") == "accepted"  # W1002 was never accepted; W1001 was
    diverging = page.locator('#comparison tr[data-diverges="yes"]').first
    assert diverging.get_attribute("data-step") == "accepted" and "diverges" in diverging.inner_text()
    header = page.inner_text("#comparison tr >> nth=0")
    assert "W1002" in header and "W1001" in header  # each side by its order number
    page.screenshot(path=str(shots / "compare.png"), full_page=True)


def test_a_dense_settlement_reads_folded_with_comfortable_markers(server: str, page: Page, shots: Path) -> None:
    """67 related charges fold (count, total, expandable), three payout lines at one moment are one marker with
    one label and a 30 px click target, and evidence reads as expected vs actual."""
    deliver(server, seed.settlement())
    wait_until_found(server, "po_77")
    page.goto(server + "/search?ref=po_77")
    for _ in range(100):  # po_77 is found once its first line is recorded: wait for the other two
        if page.locator("#timeline a.marker text").all_text_contents() == ["settlement.paid ×3"]:
            break
        page.wait_for_timeout(100)
        page.reload()
    related = page.locator("details#related")
    assert "7 related: 7 orders · this settlement: 700.00 EUR" in related.locator("summary").inner_text()
    assert not related.locator("li").first.is_visible()
    related.locator("summary").click()
    assert related.locator("li").count() == 7 and related.locator("li").first.is_visible()
    labels = page.locator("#timeline a.marker text").all_text_contents()
    assert labels == ["settlement.paid ×3"]
    box = page.locator("#timeline a.marker rect.hit").bounding_box()
    assert box is not None and box["width"] >= 24 and box["height"] >= 24  # scaled with the SVG, still roomy
    page.mouse.click(box["x"] + box["width"] / 2 + box["width"] * 0.4, box["y"] + box["height"] / 2)  # near the rim
    page.wait_for_url(re.compile(r"\?event=evt_\w+#event$"))
    page.screenshot(path=str(shots / "settlement.png"), full_page=True)

    page.goto(server + "/exceptions?type=late")
    page.locator("#queue details summary").first.click()
    table = page.locator("#queue div.evidence").first
    assert table.locator(".expected").first.inner_text() == "done"
    assert table.locator(".actual").first.inner_text() == "missing"


def test_the_home_page_lists_recent_transactions_by_their_numbers(server: str, page: Page, shots: Path) -> None:
    """The home page is the list of recent transactions: each row leads with its business number (the tx id under
    it), says its systems, its flow status and its open exceptions, and the filters narrow it by kind."""
    page.goto(server + "/")
    rows = page.locator("table.transactions tr", has=page.locator("a.tx-name"))
    numbers = rows.locator("a.tx-name strong.number").all_text_contents()
    assert {"W1001", "W1002", "TR-9"} <= set(numbers), numbers
    stuck = rows.filter(has=page.locator("strong.number", has_text=re.compile(r"^W1002$")))
    assert re.fullmatch(r"tx_\w+", stuck.locator("code.tx-id").inner_text())
    assert "overdue" in stuck.locator("td.flow").inner_text()
    assert int(stuck.locator("td.num").last.inner_text()) >= 1  # its open exceptions, linked to the queue
    page.screenshot(path=str(shots / "home.png"), full_page=True)

    page.select_option("form.filters select[name=kind]", "transfer")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"kind=transfer"))
    assert page.locator("table.transactions a.tx-name strong.number").all_text_contents() == ["TR-9"]
    page.click("text=clear")
    page.wait_for_url(server + "/")
    page.click('a.tx-name:has(strong.number:text-is("W1001"))')
    page.wait_for_url(re.compile(r"/t/tx_\w+$"))
    assert page.title().startswith("Order W1001 · tx_")


def test_a_dead_letter_citing_an_order_shows_on_its_trace(server: str, page: Page) -> None:
    """A WMS delivery that drifted from its schema but names W1001's ERP order lands on W1001: its dead letter is
    on the trace's exceptions, and the queue links it to that order."""
    drifted = json.dumps({"eventId": "b-77", "eventType": "PICKED", "order": {"reference": "SO-1042"}}).encode()
    deliver(server, [("/hooks/wms", drifted, seed.signed_headers(drifted))])
    page.goto(server + "/search?ref=W1001")
    page.wait_for_url(re.compile(r"/t/tx_\w+$"))
    tx_id = page.url.rsplit("/", 1)[1]
    for _ in range(100):  # the normalizer dead-letters it within moments
        exceptions = page.inner_text("#exceptions + table") if page.locator("#exceptions + table").count() else ""
        if "dead_letter" in exceptions:
            break
        page.wait_for_timeout(100)
        page.reload()
    assert "dead_letter" in exceptions and "from wms could not be parsed" in exceptions
    page.goto(server + "/exceptions?type=dead_letter")
    assert page.locator(f'#queue tbody tr a[href="/t/{tx_id}"]').count() == 1
