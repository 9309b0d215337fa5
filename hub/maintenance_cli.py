"""``crosstrace maintenance add|list|end``: announce, list and end maintenance windows (hub.exceptions.maintenance)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from hub.admin_cli import cli_actor
from hub.config import load
from hub.exceptions import maintenance
from hub.model import as_utc, utcnow
from hub.store import Store


def _moment(text: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a date and time, e.g. 2026-12-06T22:00:00Z") from None


def add_commands(commands: Any, config_option: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``maintenance add|list|end`` on the ``crosstrace`` parser."""
    group = commands.add_parser("maintenance", help="maintenance windows: add, list, end")
    actions = group.add_subparsers(required=True, metavar="action")
    add = actions.add_parser("add", help="announce a source's maintenance (pauses its SLA clocks and silence alerts)")
    config_option(add)
    add.add_argument("--source", required=True)
    add.add_argument("--from", dest="starts", type=_moment, help="start (ISO 8601, UTC unless given; default now)")
    add.add_argument("--until", dest="ends", type=_moment, required=True, help="end (ISO 8601)")
    add.add_argument("--reason")
    add.set_defaults(run=_add)
    listing = actions.add_parser("list", help="windows under way or announced")
    config_option(listing)
    listing.set_defaults(run=_list)
    end = actions.add_parser("end", help="end an announced window now")
    config_option(end)
    end.add_argument("id")
    end.set_defaults(run=_end)


def _run(args: argparse.Namespace, work: Callable[[Any, Store], Any]) -> int:
    async def main() -> int:
        config = load(args.config)
        store = await Store.open(config.store_url)
        try:
            return await work(config, store)
        finally:
            await store.close()

    return asyncio.run(main())


def _show(window: maintenance.MaintenanceWindow, now: datetime) -> str:
    state = "under way" if window.active(now) else "announced" if window.starts_at > now else "ended"
    return (f"{window.id}  {window.source}  {window.starts_at:%Y-%m-%d %H:%M} → {window.ends_at:%Y-%m-%d %H:%M} UTC  "
            f"{state}  {window.reason or ''}").rstrip()


def _add(args: argparse.Namespace) -> int:
    async def work(config: Any, store: Store) -> int:
        now = utcnow()
        try:
            async with store.write() as conn:
                window = await maintenance.schedule(conn, config, args.source, args.starts or now, args.ends,
                                                    args.reason, cli_actor(), now)
        except ValueError as exc:
            print(f"crosstrace: {exc}")
            return 1
        print(_show(window, now))
        return 0

    return _run(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(config: Any, store: Store) -> int:
        now = utcnow()
        async with store.read() as conn:
            found = await maintenance.windows(conn, config, now)
        for window in found:
            print(_show(window, now))
        if not found:
            print("no maintenance under way or announced")
        return 0

    return _run(args, work)


def _end(args: argparse.Namespace) -> int:
    async def work(config: Any, store: Store) -> int:
        now = utcnow()
        async with store.write() as conn:
            window = await maintenance.end(conn, args.id, now)
        if window is None:
            print(f"crosstrace: no maintenance window {args.id!r}")
            return 1
        print(_show(window, now))
        return 0

    return _run(args, work)
