"""The demo's process map and stock overview in a real browser (Playwright + Debian's chromium against one
``crosstrace demo`` run): no two edge labels of the map overlap, none lies under a node, every node's text stays
inside its box; ``/stock`` lists every SKU and location, explains the blank-location rows and sorts by a click."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.e2e.test_demo import Demo
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")

DEFAULT_DAY = ["--seed", "7", "--duration", "20", "--speed", "30"]  # the default run's ten hours, faster

# Screen boxes of the map's edge labels, node boxes and node texts (each text with its node's index).
BOXES = """() => {
  const box = el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const map = document.querySelector('svg.process-map');
  const nodes = [...map.querySelectorAll('g.node')];
  return {labels: [...map.querySelectorAll('text.edge-label')].map(t => [t.textContent, box(t)]),
          nodes: nodes.map(g => [g.dataset.node, box(g.querySelector('rect'))]),
          texts: nodes.flatMap((g, i) => [...g.querySelectorAll('text')].map(t => [i, t.textContent, box(t)]))};
}"""


def overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def inside(inner: list[float], outer: list[float]) -> bool:
    return outer[0] <= inner[0] and inner[2] <= outer[2] and outer[1] <= inner[1] and inner[3] <= outer[3]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    running = Demo(tmp_path_factory.mktemp("demo"), DEFAULT_DAY)
    try:
        running.wait_summary()
        yield running
    finally:
        running.stop()


@pytest.fixture
def page(demo: Demo) -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser.new_page(viewport={"width": 1440, "height": 900})  # on loopback the UI opens as the demo's key
        browser.close()


def test_the_demos_process_map_has_no_overlapping_or_hidden_label(demo: Demo, page: Page, tmp_path: Path) -> None:
    page.goto(demo.url + "/dashboard?window=1d&kind=order")
    found = page.evaluate(BOXES)
    page.locator("svg.process-map").screenshot(path=str(tmp_path / "process-map.png"))
    labels, nodes, texts = found["labels"], found["nodes"], found["texts"]
    assert len(nodes) >= 8 and len(labels) >= 8, found  # a real map, not a trivial one
    for i, (text, box) in enumerate(labels):
        for other, other_box in labels[i + 1:]:
            assert not overlap(box, other_box), (text, other)
        for node, node_box in nodes:
            assert not overlap(box, node_box), (text, node)
    for index, text, box in texts:
        assert inside(box, nodes[index][1]), (text, nodes[index][0])


def test_the_demos_stock_overview_lists_explains_and_sorts(demo: Demo, page: Page) -> None:
    page.goto(demo.url + "/stock")
    rows = page.locator("#overview tr[data-sku]")
    assert rows.count() >= 20  # 12 SKUs at the warehouse and the stores, and more
    blank = page.locator('#overview tr[data-location=""]')
    assert blank.count() >= 1 and "no location" in blank.first.inner_text()
    assert "movements only" in blank.first.inner_text()  # the web shop's and marketplace's negative figures
    page.click("#overview-title + p a:text-is('sku')")
    page.wait_for_url("**/stock?sort=sku")
    skus = page.locator("#overview tr[data-sku]").evaluate_all("rows => rows.map(r => r.dataset.sku)")
    assert skus == sorted(skus) and len(skus) >= 20
