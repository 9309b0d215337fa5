"""The process map's layered layout: igraph's Sugiyama layout (cycles broken by a feedback arc set, longest-path
layers, barycentric crossing reduction), turned to run left to right.

Each edge's label is laid out as a vertex of its own in the middle of the edge, so it gets a slot in a layer like
a node: no label can sit on another label or under a node. Layers become columns as wide as their widest box;
positions within a layer become rows one row apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import igraph

CHAR_W = 7.2  # px per character of 12px text, on the generous side
NODE_H, LABEL_H, ROW_H, COLUMN_GAP, MARGIN = 40, 16, 58, 36, 20


@dataclass(frozen=True, slots=True)
class Box:
    x: float  # left
    y: float  # top
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass(frozen=True, slots=True)
class Layout:
    nodes: dict[str, Box]  # node id → its box
    labels: list[Box]  # edge i's label box
    routes: list[list[tuple[float, float]]]  # edge i's points from its source node's side to its target's
    width: float
    height: float


def text_width(text: str) -> float:
    return len(text) * CHAR_W


def layered(nodes: dict[str, float], edges: list[tuple[str, str, float]]) -> Layout:
    """Lay out ``nodes`` (id → box width) and ``edges`` (source, target, label width) left to right."""
    ids = list(nodes)
    index = {node: i for i, node in enumerate(ids)}
    graph = igraph.Graph(directed=True)
    graph.add_vertices(len(ids) + len(edges))
    first_label = len(ids)
    graph.add_edges([pair for e, (a, b, _) in enumerate(edges)
                     for pair in ((index[a], first_label + e), (first_label + e, index[b]))])
    layout = graph.layout_sugiyama(maxiter=200)
    places = [(float(u), int(round(layer))) for u, layer in layout.coords]
    widths = [nodes[i] for i in ids] + [w for _, _, w in edges]
    heights = [NODE_H] * len(ids) + [LABEL_H] * len(edges)
    layers = max(layer for _, layer in places) + 1
    column_w = [0.0] * layers
    for (_, layer), w in zip(places, widths, strict=True):
        column_w[layer] = max(column_w[layer], w)
    column_x = [MARGIN + sum(column_w[:k]) + COLUMN_GAP * k for k in range(layers)]
    rows = min(u for u, _ in places)

    def box(v: int) -> Box:
        u, layer = places[v]
        cx, cy = column_x[layer] + column_w[layer] / 2, MARGIN + NODE_H / 2 + (u - rows) * ROW_H
        return Box(cx - widths[v] / 2, cy - heights[v] / 2, widths[v], heights[v])

    boxes = [box(v) for v in range(len(places))]

    def column_center(layer: float) -> float:
        k = int(round(layer))
        return column_x[k] + column_w[k] / 2

    bends = [[(column_center(layer), MARGIN + NODE_H / 2 + (u - rows) * ROW_H) for u, layer in points]
             for points in layout.edge_routing]
    routes = []
    for e in range(len(edges)):
        a, b, label = index[edges[e][0]], index[edges[e][1]], boxes[first_label + e]
        under = (label.cx, label.y + label.h + 3)  # the line runs just under its label, not through it
        inner = _toward(bends[2 * e], boxes[a]) + [under] + _toward(bends[2 * e + 1], label)
        routes.append([_side(boxes[a], inner[0]), *inner, _side(boxes[b], inner[-1])])
    width = column_x[-1] + column_w[-1] + MARGIN
    height = max(b.y + b.h for b in boxes) + MARGIN
    return Layout({node: boxes[index[node]] for node in ids}, boxes[first_label:], routes, width, height)


def _toward(points: list[tuple[float, float]], start: Box) -> list[tuple[float, float]]:
    """A segment's bend points in order from ``start`` (a reversed edge's come the other way)."""
    if len(points) > 1 and abs(points[0][0] - start.cx) > abs(points[-1][0] - start.cx):
        return points[::-1]
    return points


def _side(node: Box, toward: tuple[float, float]) -> tuple[float, float]:
    """Where a line to ``toward`` leaves the node: the middle of its left or right side."""
    return (node.x + node.w, node.cy) if toward[0] >= node.cx else (node.x, node.cy)
