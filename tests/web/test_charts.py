"""The time chart keeps every series' legend entry and the axis labels inside its drawing."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from web.charts import time_chart

START = datetime(2026, 11, 2)


def test_every_legend_entry_is_inside_the_chart_however_many_sources() -> None:
    names = ["amazon", "easypost", "erp", "pos", "returns", "shop", "stripe", "wms"]
    series = {name: [(START + timedelta(hours=n), float(n + 1))] for n, name in enumerate(names)}
    svg = str(time_chart(series, START, START + timedelta(hours=12), timedelta(hours=1), "deliveries"))
    width, height = map(int, re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).groups())  # type: ignore[union-attr]
    legend = re.findall(r'<text class="legend" x="(\d+)" y="(\d+)">(\w+)</text>', svg)
    assert [name for _, _, name in legend] == names
    assert all(int(x) + 8 * len(name) <= width and int(y) <= height for x, y, name in legend), (width, height, legend)
    assert len({y for _, y, _ in legend}) == 2  # eight sources wrap onto a second row
    anchors = re.findall(r'text-anchor="(start|middle|end)" data-utc', svg)
    assert anchors == ["start", "middle", "end"]
