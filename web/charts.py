"""Inline SVG charts drawn server-side (no chart library, no JavaScript): a multi-series time chart, a
heat-map colour scale, and the process map (laid out by :mod:`web.process_layout`). Every label is escaped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from markupsafe import Markup, escape

from hub.export.process_map import ProcessMap
from web.common import duration, iso_utc
from web.process_layout import layered, text_width

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


def process_map_svg(pm: ProcessMap) -> Markup:
    """The process map laid out in layers (:mod:`web.process_layout`): nodes ``type`` over ``source · count``,
    edges as curves through their own label ``count · median lag``."""
    if not pm.nodes:
        return Markup("")
    captions = {n.id: f"{n.source} · {n.count}{f' · {n.starts} start' if n.starts else ''}" for n in pm.nodes}
    labels = [f"{e.count} · {duration(e.median_lag_seconds) or '0s'}" for e in pm.edges]
    widths = {n.id: max(120.0, text_width(n.type) + 16, text_width(captions[n.id]) + 16) for n in pm.nodes}
    layout = layered(widths, [(e.source, e.target, text_width(label) + 6)
                              for e, label in zip(pm.edges, labels, strict=True)])
    peak = max(e.count for e in pm.edges) if pm.edges else 1
    parts = [f'<svg class="chart process-map" data-nodes="{len(pm.nodes)}" data-edges="{len(pm.edges)}" '
             f'style="min-width: {int(layout.width * 0.7)}px" viewBox="0 0 {_num(layout.width)} '
             f'{_num(layout.height)}" role="img" aria-label="Process map">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
             'markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
             '<path d="M0,0 L10,5 L0,10 z" fill="#7d8896"/></marker></defs>']
    for edge, label, box, route in zip(pm.edges, labels, layout.labels, layout.routes, strict=True):
        stroke = 1 + 5 * edge.count / peak
        parts.append(f'<g class="edge"><path d="{_curve(route)}" fill="none" stroke="#9aa5b1" '
                     f'stroke-width="{stroke:.1f}" marker-end="url(#arrow)" opacity=".8"><title>{escape(edge.source)} '
                     f'→ {escape(edge.target)}: {edge.count} times, median lag {duration(edge.median_lag_seconds)}'
                     f'</title></path><text class="dim edge-label" x="{_num(box.cx)}" y="{_num(box.cy + 4)}" '
                     f'text-anchor="middle">{escape(label)}</text></g>')
    for node in pm.nodes:
        box = layout.nodes[node.id]
        parts.append(f'<g class="node" data-node="{escape(node.id)}"><rect x="{_num(box.x)}" y="{_num(box.y)}" '
                     f'width="{_num(box.w)}" height="{box.h}" rx="6" fill="#fff" stroke="#2457c5"/>'
                     f'<text x="{_num(box.x + 8)}" y="{_num(box.y + 16)}" font-weight="600">{escape(node.type)}</text>'
                     f'<text class="dim" x="{_num(box.x + 8)}" y="{_num(box.y + 31)}">{escape(captions[node.id])}'
                     '</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _curve(points: list[tuple[float, float]]) -> str:
    """A smooth path through the points: each step a cubic curve leaving and arriving horizontally."""
    (x, y), rest = points[0], points[1:]
    path = [f"M{_num(x)},{_num(y)}"]
    for nx, ny in rest:
        mx = (x + nx) / 2
        path.append(f"C{_num(mx)},{_num(y)} {_num(mx)},{_num(ny)} {_num(nx)},{_num(ny)}")
        x, y = nx, ny
    return " ".join(path)
