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
COMPOSITION_ROOT = {"hub/app.py", "hub/cli.py", "hub/worker.py"}


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


STORE_ONLY = {"sqlalchemy", "aiosqlite", "asyncpg", "sqlite3", "psycopg", "psycopg2"}
STORE_INTERNALS = {"hub.store.tables", "hub.store.engine"}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, in full (``from hub.store import tables`` is ``hub.store.tables``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against the file's package
                package = path.relative_to(ROOT).parent.parts
                base = ".".join(package[:len(package) - node.level + 1])
                module = f"{base}.{module}" if module else base
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def store_internals_used(path: Path) -> set[str]:
    """The SQL toolkit, drivers and store internals a file imports: only ``hub/store/`` may."""
    return {name for name in imported_modules(path)
            if name.split(".")[0] in STORE_ONLY or any(name == m or name.startswith(m + ".") for m in STORE_INTERNALS)}


def test_only_the_store_speaks_sql() -> None:
    broken = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith("hub/store/"):
                continue
            broken.extend(f"{relative} imports {name}" for name in sorted(store_internals_used(path)))
    assert broken == [], "only hub/store/ may import SQLAlchemy, a driver or the tables: call a store function"


def test_the_store_rule_catches_sql_outside_the_store(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sqlite3\nfrom sqlalchemy.ext.asyncio import AsyncConnection\n"
                   "from hub.store import Store, tables\nfrom hub.store.engine import open_engine\n")
    assert store_internals_used(bad) == {"sqlite3", "sqlalchemy.ext.asyncio", "sqlalchemy.ext.asyncio.AsyncConnection",
                                         "hub.store.tables", "hub.store.engine", "hub.store.engine.open_engine"}
