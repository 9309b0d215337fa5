"""The ``crosstrace`` command: serve, check-config, keys create, replay."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path

from hub import admin_cli, maintenance_cli
from hub.config import DEFAULT_CONFIG_PATH, Config, load
from hub.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"crosstrace: configuration error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crosstrace", description="Operational visibility hub for retail "
                                     "integration.")
    commands = parser.add_subparsers(required=True, metavar="command")

    serve = commands.add_parser("serve", help="run the hub (webhooks, /ingest, GraphQL, web UI)")
    _config_option(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--role", default="all", choices=["all", "web"],
                       help="all (default): also the background duties; web: receiver, /ingest, GraphQL and UI "
                       "only, beside a `crosstrace worker`")
    serve.add_argument("--worker-process", action="store_true",
                       help="with --role all: run the background duties in a child `crosstrace worker` process "
                       "(restarted if it ends), so receiving has its own core")
    serve.set_defaults(run=_serve)

    worker = commands.add_parser("worker", help="run the background duties only (normalizer, evaluator, alerts, "
                                 "pollers, notifier, retention), beside `serve --role web` processes")
    _config_option(worker)
    worker.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # serve --worker-process's child
    worker.add_argument("--health-port", type=int, help="also serve /healthz and /metrics on this port")
    worker.add_argument("--health-host", default="127.0.0.1",
                        help="address of --health-port (default 127.0.0.1: loopback only)")
    worker.set_defaults(run=_worker)

    check = commands.add_parser("check-config", help="validate crosstrace.toml and say what is wrong")
    _config_option(check)
    check.set_defaults(run=_check_config)

    admin_cli.add_commands(commands, _config_option)  # keys create|list|revoke, purge (hub/admin_cli.py)
    maintenance_cli.add_commands(commands, _config_option)  # maintenance add|list|end (hub/maintenance_cli.py)

    replay = commands.add_parser("replay", help="re-derive events from stored deliveries (after a mapping fix)")
    _config_option(replay)
    replay.add_argument("--id", action="append", default=[], help="a delivery id (repeatable)")
    replay.add_argument("--source", help="only this source's deliveries")
    replay.add_argument("--state", default="dead", choices=["dead", "done", "pending", "any"],
                        help="which deliveries (default: dead letters; ignored with --id)")
    replay.add_argument("--since", type=datetime.fromisoformat, help="received at or after (UTC, ISO 8601)")
    replay.add_argument("--until", type=datetime.fromisoformat, help="received before (UTC, ISO 8601)")
    replay.add_argument("--error-contains", help="only deliveries whose error contains this text")
    replay.set_defaults(run=_replay)

    demo = commands.add_parser("demo", help="the hub driven by a simulated retailer (SQLite in a temp dir)")
    demo.add_argument("--seed", type=int, default=7, help="same seed, same transactions and exceptions")
    demo.add_argument("--speed", type=float, default=10.0, help="simulated minutes per real second (default 10)")
    demo.add_argument("--orders-per-minute", type=float, default=0.5, help="orders per simulated minute")
    demo.add_argument("--duration", type=float, default=60.0, help="real seconds of simulation (default 60)")
    demo.add_argument("--db", help="SQLite file or directory for it (default: a new temp dir)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--exit", action="store_true", help="exit when the simulation is over (default: keep "
                      "serving the UI until Ctrl-C)")
    demo.set_defaults(run=_demo)
    return parser


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="path of crosstrace.toml (default: $CROSSTRACE_CONFIG or ./crosstrace.toml)")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from hub.app import create_app
    from hub.startup_heap import freeze_startup_heap
    from resolvers.limits import limits_from

    config = load(args.config)
    child = None
    if args.worker_process:
        if args.role != "all":
            raise ConfigError("--worker-process runs the background duties of --role all in a child process")
        from hub.supervise import WorkerChild

        child = WorkerChild(args.config)
    app = create_app(config, role="web" if child is not None else args.role)
    if config.path is None:
        print(f"crosstrace: no config file: looked for {Path(DEFAULT_CONFIG_PATH).resolve()} (give --config or "
              "$CROSSTRACE_CONFIG); running with the defaults: no sources yet (README: Connect a system)",
              file=sys.stderr)
        print("crosstrace: make the first admin key with `crosstrace keys create --name admin --role admin` "
              f"(kept in {config.store_url})", file=sys.stderr)
    _print_warnings(config)
    layout = {"all": "all roles", "web": "web role (run a `crosstrace worker` too)"}[args.role]
    print(f"crosstrace: store {config.store_url}; {len(config.sources)} sources; {layout}"
          f"{' with a worker process' if child else ''}; http://{args.host}:{args.port}/", file=sys.stderr)
    print("crosstrace: the web UI asks for an API key (`crosstrace keys create --name you --role operator`)",
          file=sys.stderr)
    # A subscription message may be no bigger than a /graphql body (uvicorn's default is 16 MiB).
    ws_max_size = limits_from(config.graphql).max_body_bytes
    if child is not None:
        child.start()
    freeze_startup_heap()
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                    ws_max_size=ws_max_size)
    finally:
        if child is not None:
            child.stop()
    return 0


def _worker(args: argparse.Namespace) -> int:
    from hub.startup_heap import freeze_startup_heap
    from hub.worker import run_worker

    config = load(args.config)
    freeze_startup_heap()
    return run_worker(config, parent_pid=args.parent_pid, health_port=args.health_port,
                      health_host=args.health_host)


def _demo(args: argparse.Namespace) -> int:
    from hub.app import create_app
    from hub.demo import DemoOptions, run_demo

    options = DemoOptions(seed=args.seed, speed=args.speed, orders_per_minute=args.orders_per_minute,
                          duration=args.duration, db=args.db, host=args.host, port=args.port, exit=args.exit)
    return asyncio.run(run_demo(options, lambda config, clock, every, open_as: create_app(
        config, clock=clock, evaluate_every=every, open_ui_as=open_as)))


def _check_config(args: argparse.Namespace) -> int:
    from collectors import ADAPTERS
    from hub.app import check_sources

    config = load(args.config)
    check_sources(config, ADAPTERS)  # adapters and [sources.options.poll], checked as `serve` checks them at start
    _print_warnings(config)
    print(f"ok: {config.path or 'defaults (no config file)'}; store {config.store_url}; "
          f"{len(config.sources)} sources ({', '.join(config.sources) or 'none'}); {len(config.api_keys)} API keys")
    return 0


def _print_warnings(config: Config) -> None:
    for warning in config.warnings:
        print(f"crosstrace: warning: {warning}", file=sys.stderr)


def _replay(args: argparse.Namespace) -> int:
    config = load(args.config)
    return asyncio.run(_replay_async(config, args))


async def _replay_async(config: Config, args: argparse.Namespace) -> int:
    from collectors import parser_for
    from hub.exceptions.evaluate import Evaluator
    from hub.ingest.normalize import Normalizer, ReplayFilter, replay
    from hub.model import utcnow
    from hub.store import Store
    from hub.store.queries import delivery_states
    from hub.telemetry import new_metrics

    store = await Store.open(config.store_url)
    try:
        selection = ReplayFilter(ids=tuple(args.id), source=args.source,
                                 state=None if args.id or args.state == "any" else args.state,
                                 since=args.since, until=args.until, error_contains=args.error_contains)
        ids = await replay(store, selection)
        normalizer = Normalizer(store, parser_for(config), config, new_metrics(),
                                evaluator=Evaluator(store, config, utcnow))
        await normalizer.run_until_idle()
        async with store.read() as conn:
            states = await delivery_states(conn, ids)
    finally:
        await store.close()
    dead = sorted(i for i, state in states.items() if state == "dead")
    print(f"replayed {len(ids)} deliveries: {len(ids) - len(dead)} normalized, {len(dead)} still dead")
    for delivery_id in dead[:20]:
        print(f"  still dead: {delivery_id}")
    return 0 if not dead else 1


if __name__ == "__main__":
    sys.exit(main())
