"""`produce` and `consume`: put articles on articles.raw, print the messages of any topic."""

from __future__ import annotations

import asyncio
import sys

from .common import UsageError, bootstrap_servers, duration, positive_int, require_broker


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("produce", help="publish pages, JSON/JSONL articles or RSS/Atom feeds to articles.raw")
    p.add_argument("targets", nargs="+", metavar="PATH_OR_URL")
    p.add_argument("--every", type=duration, help="poll the targets again at this interval (e.g. 5m)")
    p.add_argument("--topic", default=None, help="topic to write to (default articles.raw)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--state", help="with --every: file that remembers which feed entries were sent, across restarts")
    p.add_argument("--allow-private-addresses", action="store_true",
                   help="fetch URLs (and follow redirects) to loopback, private and link-local addresses too")
    p.set_defaults(func=cmd_produce)

    p = subparsers.add_parser("consume", help="print messages of a topic as JSON Lines")
    p.add_argument("topic")
    p.add_argument("--from-beginning", action="store_true", help="start at the oldest message")
    p.add_argument("--limit", type=positive_int, help="stop after N messages")
    p.add_argument("--timeout", type=float, default=None,
                   help="stop after this many seconds without a message (default: wait forever, or 10 s with --limit)")
    p.set_defaults(func=cmd_consume)


def cmd_produce(args) -> int:
    from ..ingest.produce import ProduceError, produce_targets

    bootstrap = bootstrap_servers(require_broker())
    try:
        return asyncio.run(produce_targets(
            bootstrap, args.targets, every=args.every, progress=not args.quiet, topic=args.topic,
            state_path=args.state, allow_private=args.allow_private_addresses,
        ))
    except ProduceError as exc:
        raise UsageError(str(exc)) from None


def cmd_consume(args) -> int:
    from ..kafka_io import BrokerUnavailable

    bootstrap = bootstrap_servers(require_broker())
    idle_timeout = args.timeout
    if idle_timeout is None and args.limit is not None:
        idle_timeout = 10.0
    try:
        asyncio.run(_print_messages(bootstrap, args.topic, from_beginning=args.from_beginning, limit=args.limit,
                                    idle_timeout=idle_timeout))
    except BrokerUnavailable as exc:
        raise UsageError(str(exc)) from None
    return 0


async def _print_messages(bootstrap: str, topic: str, *, from_beginning: bool, limit: int | None,
                          idle_timeout: float | None) -> None:
    """One JSON document per line on stdout, flushed batch by batch."""
    from contextlib import aclosing

    from ..kafka_io import consume_batches, message_to_json

    out = sys.stdout.buffer
    batches = consume_batches(bootstrap, topic, from_beginning=from_beginning, limit=limit,
                              idle_timeout=idle_timeout)
    async with aclosing(batches):
        async for batch in batches:
            for message in batch:
                out.write(message_to_json(message) + b"\n")
            out.flush()
