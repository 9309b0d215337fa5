"""``crosstrace keys create|list|revoke`` and ``crosstrace purge``: admin commands on the store, audited as ``cli``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from collections.abc import Callable
from typing import Any

from hub.access import audit, auth, keys
from hub.access.retention import Retention, purge
from hub.config import ROLES, load
from hub.errors import HubError
from hub.model import utcnow
from hub.store import Store


def add_commands(commands: Any, config_option: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register the subcommands on the ``crosstrace`` parser."""
    group = commands.add_parser("keys", help="API keys: create, list, revoke")
    actions = group.add_subparsers(required=True, metavar="action")
    create = actions.add_parser("create", help="create a key in the store and print it (once)")
    config_option(create)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--print-config", action="store_true",
                        help="do not touch the store: print a bootstrap [[api_keys]] block for crosstrace.toml")
    create.set_defaults(run=_create)
    listing = actions.add_parser("list", help="list stored keys (prefix, name, role, created, revoked)")
    config_option(listing)
    listing.set_defaults(run=_list)
    revoke = actions.add_parser("revoke", help="revoke a stored key by prefix or name (effective within seconds)")
    config_option(revoke)
    revoke.add_argument("key", metavar="PREFIX_OR_NAME")
    revoke.set_defaults(run=_revoke)

    purge_cmd = commands.add_parser("purge", help="delete raw deliveries and events older than [retention] now")
    config_option(purge_cmd)
    purge_cmd.set_defaults(run=_purge)


def cli_actor() -> str:
    """Who a CLI action is by: ``cli:<user>`` (``cli`` without a passwd entry)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "cli"


def _run(args: argparse.Namespace, work: Callable[[Store], Any]) -> int:
    async def main() -> int:
        store = await Store.open(load(args.config).store_url)
        try:
            return await work(store)
        except HubError as exc:
            print(f"crosstrace: {exc.message}")
            return 1
        finally:
            await store.close()

    return asyncio.run(main())


def _create(args: argparse.Namespace) -> int:
    if args.print_config:
        key, digest = auth.new_key()
        print(f"API key for {args.name} ({args.role}), shown once, store it now:\n\n    {key}\n")
        print("Add this block to crosstrace.toml (only the hash is kept):\n")
        print(auth.config_block(args.name, args.role, digest))
        return 0

    async def work(store: Store) -> int:
        key, row = await keys.create_key(store, args.name, args.role)
        await audit.append(store, actor=cli_actor(), role="admin", action="keys.create",
                           object=f"prefix={row.prefix}; name={row.name}; role={row.role}")
        print(f"API key for {row.name} ({row.role}), shown once, store it now:\n\n    {key}\n")
        print(f"Revoke it with `crosstrace keys revoke {row.prefix}`; only its SHA-256 is kept.")
        return 0

    return _run(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        rows = await keys.list_keys(store)
        print(f"{'PREFIX':10} {'NAME':24} {'ROLE':9} {'CREATED (UTC)':20} REVOKED (UTC)")
        for row in rows:
            revoked = row.revoked_at.isoformat(sep=" ", timespec="seconds") if row.revoked_at else "-"
            print(f"{row.prefix:10} {row.name[:24]:24} {row.role:9} "
                  f"{row.created_at.isoformat(sep=' ', timespec='seconds'):20} {revoked}")
        print(f"{len(rows)} stored keys (keys in crosstrace.toml are not listed)")
        return 0

    return _run(args, work)


def _revoke(args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        rows = await keys.revoke_key(store, args.key)
        for row in rows:
            await audit.append(store, actor=cli_actor(), role="admin", action="keys.revoke",
                               object=f"prefix={row.prefix}; name={row.name}")
            print(f"revoked {row.prefix} ({row.name}, {row.role}); a running hub stops accepting it within seconds")
        return 0

    return _run(args, work)


def _purge(args: argparse.Namespace) -> int:
    retention = load(args.config).retention or Retention()
    if not retention.enabled:
        print("nothing to purge: no [retention] in the config (keeping everything)")
        return 0

    async def work(store: Store) -> int:
        report = await purge(store, retention, utcnow(), actor=cli_actor())
        print(f"purged {report.deliveries} deliveries and {report.events} events")
        return 0

    return _run(args, work)
