"""Inline SVG charts drawn server-side (no chart library, no JavaScript): a multi-series time chart, a
heat-map colour scale, and the process map's layered layout. Every label is escaped.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup, escape

from hub.export.process_map import ProcessMap
from web.common import duration, iso_utc

_LEGEND_STEP, _LEGEND_ROW = 110, 16  # legend entry width and row height
PALETTE = ("#2457c5", "#2f7d4f", "#b3261e", "#b26a00", "#7a3fb0", "#0f8b8d", "#c2477a", "#5b6b7f")


def _num(value: float) -> str:
    return f"{value:.1f}"


def time_chart(series: dict[str, list[tuple[datetime, float]]], start: datetime, end: datetime, bucket: timedelta,
               label: str, width: int = 640, height: int = 220) -> Markup:
    """One polyline per series over ``[start, end)`` (missing buckets are zero), a y axis from 0, a legend."""
    left, right, top, bottom = 44, 12, 12, 42
    buckets = max(1, int((end - start) / bucket))
    names = sorted(series)
    peak = max([v for points in series.values() for _, v in points] + [1])
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: float) -> float:
        return left + plot_w * i / max(buckets - 1, 1)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / peak)

    per_row = max(1, (width - left) // _LEGEND_STEP)  # legend entries wrap onto as many rows as they need
    total_height = height + _LEGEND_ROW * ((len(names) - 1) // per_row if names else 0)
    parts = [f'<svg class="chart" data-chart="{escape(label)}" data-series="{len(names)}" viewBox="0 0 {width} '
             f'{total_height}" role="img" aria-label="{escape(label)}">']
    for frac in (0, 0.5, 1):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{_num(y(peak * frac))}" y2="{_num(y(peak * frac))}" '
                     f'stroke="#eef0f3"/><text class="dim" x="{left - 6}" y="{_num(y(peak * frac) + 4)}" '
                     f'text-anchor="end">{peak * frac:.0f}</text>')
    for i, anchor in ((0, "start"), (buckets // 2, "middle"), (buckets - 1, "end")):  # the end labels stay inside
        at = start + bucket * i
        parts.append(f'<text class="dim" x="{_num(x(i))}" y="{height - 26}" text-anchor="{anchor}" '
                     f'data-utc="{iso_utc(at)}"><title>{at.strftime("%Y-%m-%d %H:%M")} UTC</title>'
                     f'{at.strftime("%m-%d %H:%M")}</text>')
    for n, name in enumerate(names):
        values = [0.0] * buckets
        for at, value in series[name]:
            index = int((at - start) / bucket)
            if 0 <= index < buckets:
                values[index] += value
        color = PALETTE[n % len(PALETTE)]
        points = " ".join(f"{_num(x(i))},{_num(y(v))}" for i, v in enumerate(values))
        parts.append(f'<polyline data-name="{escape(name)}" fill="none" stroke="{color}" stroke-width="2" '
                     f'points="{points}"><title>{escape(name)}: {sum(values):.0f} in the window</title></polyline>')
        parts.extend(f'<circle cx="{_num(x(i))}" cy="{_num(y(v))}" r="2.5" fill="{color}"><title>{escape(name)} '
                     f'{(start + bucket * i).strftime("%m-%d %H:%M")} UTC: {v:.0f}</title></circle>'
                     for i, v in enumerate(values) if v)
        lx, ly = left + _LEGEND_STEP * (n % per_row), height + _LEGEND_ROW * (n // per_row)
        parts.append(f'<rect x="{lx}" y="{ly - 14}" width="10" height="10" fill="{color}"/>'
                     f'<text class="legend" x="{lx + 14}" y="{ly - 5}">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def heat(value: float, peak: float) -> str:
    """A background colour from white to red for a heat-map cell."""
    if value <= 0 or peak <= 0:
        return "#ffffff"
    share = min(1.0, value / peak)
    return f"rgba(179, 38, 30, {0.12 + 0.7 * share:.2f})"


def process_map_svg(pm: ProcessMap, width: int = 900) -> Markup:
    """Nodes in columns by their mean position in the timeline, rows within a column by volume; edges as curves
    labelled ``count · median lag`` (backward edges bend below)."""
    if not pm.nodes:
        return Markup("")
    columns: dict[int, list[Any]] = defaultdict(list)
    for node in pm.nodes:
        columns[round(node.position)].append(node)
    ordered = sorted(columns)
    node_w, node_h, gap_y, top = 150, 40, 34, 30
    col_gap = node_w + 100  # room for the edge labels; a wide map shrinks to 70 %, then scrolls sideways
    width = max(width, int(40 + node_w + col_gap * (len(ordered) - 1)))
    rows = max(len(v) for v in columns.values())
    height = top + rows * (node_h + gap_y) + 30
    where: dict[str, tuple[float, float]] = {}
    for c, key in enumerate(ordered):
        for r, node in enumerate(sorted(columns[key], key=lambda n: -n.count)):
            where[node.id] = (20 + c * col_gap, top + r * (node_h + gap_y))
    peak = max(e.count for e in pm.edges) if pm.edges else 1
    parts = [f'<svg class="chart process-map" data-nodes="{len(pm.nodes)}" data-edges="{len(pm.edges)}" '
             f'style="min-width: {int(width * 0.7)}px" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="Process map">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
             'markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
             '<path d="M0,0 L10,5 L0,10 z" fill="#7d8896"/></marker></defs>']
    for edge in pm.edges:
        (x1, y1), (x2, y2) = where[edge.source], where[edge.target]
        stroke = 1 + 5 * edge.count / peak
        if x2 > x1:
            sx, sy, tx, ty = x1 + node_w, y1 + node_h / 2, x2, y2 + node_h / 2
            mx = (sx + tx) / 2
            path = f"M{_num(sx)},{_num(sy)} C{_num(mx)},{_num(sy)} {_num(mx)},{_num(ty)} {_num(tx)},{_num(ty)}"
            lx, ly = mx, (sy + ty) / 2 - 6
        else:  # same column or backwards: a loop under the nodes
            sx, sy, tx, ty = x1 + node_w / 2, y1 + node_h, x2 + node_w / 2, y2 + node_h
            low = max(sy, ty) + 26
            path = f"M{_num(sx)},{_num(sy)} C{_num(sx)},{_num(low)} {_num(tx)},{_num(low)} {_num(tx)},{_num(ty)}"
            lx, ly = (sx + tx) / 2, low
        label = f"{edge.count} · {duration(edge.median_lag_seconds) or '0s'}"
        parts.append(f'<g class="edge"><path d="{path}" fill="none" stroke="#9aa5b1" stroke-width="{stroke:.1f}" '
                     f'marker-end="url(#arrow)" opacity=".8"><title>{escape(edge.source)} → {escape(edge.target)}: '
                     f'{edge.count} times, median lag {duration(edge.median_lag_seconds)}</title></path>'
                     f'<text class="dim" x="{_num(lx)}" y="{_num(ly)}" text-anchor="middle">{escape(label)}</text></g>')
    for node in pm.nodes:
        x, y = where[node.id]
        parts.append(f'<g class="node" data-node="{escape(node.id)}"><rect x="{_num(x)}" y="{_num(y)}" '
                     f'width="{node_w}" height="{node_h}" rx="6" fill="#fff" stroke="#2457c5"/>'
                     f'<text x="{_num(x + 8)}" y="{_num(y + 16)}" font-weight="600">{escape(node.type)}</text>'
                     f'<text class="dim" x="{_num(x + 8)}" y="{_num(y + 31)}">{escape(node.source)} · {node.count}'
                     f'{f" · {node.starts} start" if node.starts else ""}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
