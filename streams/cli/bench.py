"""`bench`: the end-to-end benchmark on an embedded broker (see streams.tools.bench)."""

from __future__ import annotations

import orjson

from .common import positive_int


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("bench", help="end-to-end benchmark on the embedded broker")
    p.add_argument("--articles", type=positive_int, default=3000, help="articles per throughput run")
    p.add_argument("--rate", type=positive_int, default=100, help="offered load for the latency run (articles/s)")
    p.add_argument("--latency-seconds", type=positive_int, default=10, help="length of the latency run")
    p.add_argument("--workers", type=positive_int, default=1, help="worker processes for the pipeline run")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from ..tools.bench import run_bench

    result = run_bench(articles=args.articles, rate=args.rate, latency_seconds=args.latency_seconds, workers=args.workers)
    print(orjson.dumps(result).decode())
    return 0
