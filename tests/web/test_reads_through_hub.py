"""The UI computes nothing its own way: no web module talks to the database itself (no SQLAlchemy, no driver);
every page reads through the ``hub`` query functions GraphQL's resolvers use."""

from __future__ import annotations

from pathlib import Path

from tests.test_layering import imported_packages

WEB = Path(__file__).resolve().parents[2] / "web"
DATABASE_PACKAGES = {"sqlalchemy", "sqlite3", "aiosqlite", "asyncpg", "psycopg", "psycopg2"}


def test_no_web_module_imports_a_database_library() -> None:
    modules = sorted(WEB.rglob("*.py"))
    assert len(modules) >= 10
    offenders = {path.name: sorted(imported_packages(path) & DATABASE_PACKAGES) for path in modules}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_check_sees_a_database_import(tmp_path: Path) -> None:
    module = tmp_path / "page.py"
    module.write_text("from sqlalchemy import select\nimport asyncpg\n")
    assert imported_packages(module) & DATABASE_PACKAGES == {"sqlalchemy", "asyncpg"}
