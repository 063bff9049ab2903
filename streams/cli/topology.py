"""`topology`: print the stages in data-flow order, from the one declaration of them."""

from __future__ import annotations

import orjson


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("topology", help="print the stages, their topics and the functions they call, in data-flow order")
    p.add_argument("--json", action="store_true", help="one JSON object per stage instead of text")
    p.set_defaults(func=cmd_topology)


def cmd_topology(args) -> int:
    from .. import topology

    if args.json:
        for stage in topology.STAGES:
            print(orjson.dumps({
                "name": stage.name, "reads": stage.reads, "writes": list(stage.writes),
                "calls": stage.function_names, "does": stage.does, "keyed_by": stage.keyed_by,
                "batch": stage.batch, "batch_seconds": stage.batch_seconds, "state": list(stage.state),
                "every_worker": stage.every_worker,
            }).decode())
        return 0
    print(topology.describe(), end="")
    return 0
