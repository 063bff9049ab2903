"""The `newsstreams` command line.

Each module of this package is a group of commands and registers its
subcommands with `add_commands(subparsers)`; `build_parser` calls them in the
order of COMMAND_GROUPS, which is the order `newsstreams --help` lists them in.
Shared pieces (UsageError, argument types, the broker and web addresses) are in
`common`.

Errors a user can fix (bad arguments, unreadable files, no broker) are printed
as one line on stderr with exit code 2; nothing prints a traceback for them.
Lower layers (kafka_io, ingest, bench, ...) raise their own exceptions and do
not import this package; the commands turn those into UsageError.
"""

from __future__ import annotations

import argparse
import sys

from ..samples import sample_pages
from ..settings import SettingsError
from . import bench, messages, offline, publish, query, running, topology
from .common import UsageError, bootstrap_servers, require_broker, web_base
from .offline import format_routing_report

__all__ = [
    "COMMAND_GROUPS", "UsageError", "bootstrap_servers", "build_parser", "format_routing_report", "main",
    "require_broker", "sample_pages", "web_base",
]

# A new group of commands: a module with add_commands(subparsers), listed here.
COMMAND_GROUPS = (
    running,    # run, worker
    messages,   # produce, consume
    query,      # trending, stories
    offline,    # process, eval-ner, train-ner, build-trend-filter, eval-routing
    publish,    # kb, deadletter replay, rules check/publish
    bench,      # bench
    topology,   # topology
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsstreams",
        description="Stream processor for news: parse, enrich with entities, route and trend.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except (UsageError, SettingsError) as exc:
        print(f"newsstreams {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
