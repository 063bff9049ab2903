"""`run` and `worker`: start the pipeline (with an embedded broker for `run`)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from ..settings import Settings, environment_value, pin_library_log_levels
from ..samples import sample_pages
from .common import LOG_LEVELS, UsageError, bootstrap_servers, require_broker, tcp_port


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("run", help="embedded broker (unless KAFKA_BROKER) + worker + web UI")
    p.add_argument("--demo", action="store_true", help="also publish the bundled sample pages")
    p.add_argument("--web-port", type=tcp_port, help="HTTP port (default 6066 or NEWSSTREAMS_WEB_PORT)")
    p.add_argument("--loglevel", default="warn", choices=LOG_LEVELS)
    p.set_defaults(func=cmd_run)

    p = subparsers.add_parser("worker", help="a Faust worker against KAFKA_BROKER")
    p.add_argument("--web-port", type=tcp_port, help="HTTP port (default 6066 or NEWSSTREAMS_WEB_PORT)")
    p.add_argument("--loglevel", default="warn", choices=LOG_LEVELS)
    p.set_defaults(func=cmd_worker)


def _check_web_port(host: str, port: int) -> None:
    """A busy port is a one-line error before anything starts, not a traceback after the broker did."""
    import errno
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"port {port} on {host} is already in use: choose another with --web-port "
                                 "or NEWSSTREAMS_WEB_PORT") from None
            raise UsageError(f"cannot serve HTTP on {host}:{port}: {exc.strerror or exc}") from None


def _start_worker(args, settings: Settings, *, demo_paths: list[Path] | None = None) -> int:
    from ..runtime import build_app

    if getattr(args, "web_port", None):
        settings = replace(settings, web_port=args.web_port)
    _check_web_port(settings.web_host, settings.web_port)
    runtime = build_app(settings)
    runtime.pipeline.warm()
    _create_topics(runtime)
    if demo_paths:
        from ..runtime.demo import attach_demo

        attach_demo(runtime, demo_paths)
    loglevel = getattr(args, "loglevel", "warn")
    pin_library_log_levels(loglevel)
    sys.argv = ["newsstreams", "worker", "--loglevel", loglevel]
    runtime.app.main()
    return 0


def _create_topics(runtime) -> None:
    from ..kafka_io import BrokerUnavailable, PartitionMismatch, ensure_topics
    from ..routing.rules_file import RulesError, load_rules

    try:
        categories = load_rules(runtime.settings.routing_rules).category_ids
    except RulesError as exc:
        raise UsageError(f"routing rules: {exc}") from None
    try:
        asyncio.run(ensure_topics(bootstrap_servers(runtime.settings.broker_url), runtime.declared_topics(categories),
                                  exact=runtime.table_inputs()))
    except (BrokerUnavailable, PartitionMismatch) as exc:
        raise UsageError(str(exc)) from None


def cmd_run(args) -> int:
    from ..broker import EmbeddedBroker
    from ..run_announcement import announced, find_running

    settings = Settings.from_env()
    demo_paths = sample_pages() if args.demo else None
    if settings.broker:
        return _start_worker(args, settings, demo_paths=demo_paths)
    other = find_running(settings.data_dir)
    if other is not None:
        raise UsageError(
            f"a `newsstreams run` is already running in this data folder (pid {other.pid}, broker "
            f"{other.broker_url}, web {other.web_url}): use it, or set NEWSSTREAMS_DATA_DIR to run another"
        )
    if args.web_port:
        settings = replace(settings, web_port=args.web_port)
    _check_web_port(settings.web_host, settings.web_port)
    with EmbeddedBroker() as broker:
        # the embedded broker is Tansu: its corrections are switched on (streams.fixes)
        settings = replace(settings, broker=broker.url, embedded_broker=True)
        print(f"embedded broker on {broker.bootstrap}", file=sys.stderr)
        with announced(settings.data_dir, broker_url=broker.url, web_url=settings.canonical_web_url):
            return _start_worker(args, settings, demo_paths=demo_paths)


def cmd_worker(args) -> int:
    settings = Settings.from_env()
    if not settings.broker:
        # a worker joining a running `newsstreams run` uses its embedded broker
        declared = environment_value("NEWSSTREAMS_EMBEDDED_BROKER") is not None
        settings = replace(settings, broker=require_broker(),
                           embedded_broker=settings.embedded_broker if declared else True)
    return _start_worker(args, settings)
