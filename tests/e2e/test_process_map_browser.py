"""The demo's process map is readable in a real browser (Playwright + Debian's chromium against ``crosstrace demo``):
no two edge labels overlap, no edge label lies under a node, and every node's text stays inside its box."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

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


def test_the_demos_process_map_has_no_overlapping_or_hidden_label(tmp_path: Path) -> None:
    demo = Demo(tmp_path, DEFAULT_DAY)
    try:
        demo.wait_summary()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(demo.url + "/dashboard?window=1d&kind=order")  # on loopback the UI opens as the demo's key
            found = page.evaluate(BOXES)
            page.locator("svg.process-map").screenshot(path=str(tmp_path / "process-map.png"))
            browser.close()
    finally:
        demo.stop()
    labels, nodes, texts = found["labels"], found["nodes"], found["texts"]
    assert len(nodes) >= 8 and len(labels) >= 8, found  # a real map, not a trivial one
    for i, (text, box) in enumerate(labels):
        for other, other_box in labels[i + 1:]:
            assert not overlap(box, other_box), (text, other)
        for node, node_box in nodes:
            assert not overlap(box, node_box), (text, node)
    for index, text, box in texts:
        assert inside(box, nodes[index][1]), (text, nodes[index][0])
