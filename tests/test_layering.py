"""Data walks one way: collectors → hub → schema/resolvers/web. Read every import with ast."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hub", "collectors", "schema", "resolvers", "web")
FORBIDDEN = {
    "hub": {"collectors", "schema", "resolvers", "web"},
    "collectors": {"schema", "resolvers", "web"},
    "schema": {"resolvers", "web", "collectors"},
    "resolvers": {"web", "collectors"},
    "web": {"collectors", "resolvers", "schema"},
}
COMPOSITION_ROOT = {"hub/app.py", "hub/cli.py"}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_imports_follow_the_one_way_flow() -> None:
    broken = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if relative in COMPOSITION_ROOT:
                continue
            for name in imported_packages(path) & FORBIDDEN[package]:
                broken.append(f"{relative} imports {name}")
    assert broken == []


def test_the_rule_catches_a_wrong_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from resolvers import build_schema\nimport web.routes\n")
    assert imported_packages(bad) == {"resolvers", "web"}
