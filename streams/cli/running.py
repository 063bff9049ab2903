"""`run` and `worker`: start the pipeline (with an embedded broker for `run`)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from ..settings import pin_library_log_levels
from .common import LOG_LEVELS, UsageError, bootstrap_servers, data_dir, require_broker, sample_pages, tcp_port


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


def _start_worker(args, *, demo_paths: list[Path] | None = None) -> int:
    if getattr(args, "web_port", None):
        os.environ["NEWSSTREAMS_WEB_PORT"] = str(args.web_port)
    from ..settings import Settings

    web = Settings.from_env()
    _check_web_port(web.web_host, web.web_port)
    from ..agents.common import PIPELINE
    from ..worker import app

    PIPELINE.warm()
    _create_topics()
    if demo_paths:
        from ..demo import register_demo

        register_demo(app, demo_paths)
    loglevel = getattr(args, "loglevel", "warn")
    pin_library_log_levels(loglevel)
    sys.argv = ["newsstreams", "worker", "--loglevel", loglevel]
    app.main()
    return 0


def _create_topics() -> None:
    from ..app import declared_topics, settings
    from ..kafka_io import BrokerUnavailable, ensure_topics
    from ..routing.rules import RulesError, load_rules

    try:
        categories = load_rules(settings.routing_rules).category_ids
    except RulesError as exc:
        raise UsageError(f"routing rules: {exc}") from None
    try:
        asyncio.run(ensure_topics(bootstrap_servers(require_broker()), declared_topics(categories)))
    except BrokerUnavailable as exc:
        raise UsageError(str(exc)) from None


def cmd_run(args) -> int:
    from ..broker import EmbeddedBroker
    from ..run_announcement import announced, find_running
    from ..settings import Settings

    demo_paths = sample_pages() if args.demo else None
    if os.environ.get("KAFKA_BROKER"):
        return _start_worker(args, demo_paths=demo_paths)
    other = find_running(data_dir())
    if other is not None:
        raise UsageError(
            f"a `newsstreams run` is already running in this data folder (pid {other.pid}, broker "
            f"{other.broker_url}, web {other.web_url}): use it, or set NEWSSTREAMS_DATA_DIR to run another"
        )
    if args.web_port:
        os.environ["NEWSSTREAMS_WEB_PORT"] = str(args.web_port)
    web = Settings.from_env()
    _check_web_port(web.web_host, web.web_port)
    with EmbeddedBroker() as broker:
        os.environ["KAFKA_BROKER"] = broker.url
        os.environ["NEWSSTREAMS_EMBEDDED_BROKER"] = "1"  # switches on the corrections for it (streams.fixes)
        print(f"embedded broker on {broker.bootstrap}", file=sys.stderr)
        web_url = web.web_url or f"http://{web.web_host}:{web.web_port}"
        with announced(data_dir(), broker_url=broker.url, web_url=web_url):
            return _start_worker(args, demo_paths=demo_paths)


def cmd_worker(args) -> int:
    if not os.environ.get("KAFKA_BROKER"):
        # a worker joining a running `newsstreams run` uses its embedded broker
        os.environ["KAFKA_BROKER"] = require_broker()
        os.environ.setdefault("NEWSSTREAMS_EMBEDDED_BROKER", "1")
    return _start_worker(args)
