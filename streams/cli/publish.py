"""Records that running workers pick up without a restart: knowledge-base
changes (`kb`), dead letters sent back (`deadletter replay`) and routing rules
(`rules publish`, with `rules check`: the validation it starts with)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson

from .common import UsageError, bootstrap_servers, require_broker


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("kb", help="add, change or remove knowledge-base entities at run time (entities.kb)")
    kb_sub = p.add_subparsers(dest="kb_command", required=True, metavar="ACTION")
    q = kb_sub.add_parser("add", help="add or replace an entity (or, with --merge, add aliases to it)")
    q.add_argument("--id", required=True, help="entity id, e.g. per:jane-doe")
    q.add_argument("--type", required=True, choices=["PER", "ORG", "LOC", "MISC"], type=str.upper)
    q.add_argument("--name", required=True, help="canonical display name")
    q.add_argument("--alias", action="append", help="a spelling to recognise (repeatable)")
    q.add_argument("--ar", help="Arabic display name")
    q.add_argument("--en", help="English display name")
    q.add_argument("--merge", action="store_true", help="keep the aliases the entity already has")
    q.set_defaults(func=cmd_kb)
    q = kb_sub.add_parser("remove", help="remove an entity")
    q.add_argument("--id", required=True)
    q.set_defaults(func=cmd_kb)

    p = subparsers.add_parser("deadletter", help="work with dead-letter records")
    dl_sub = p.add_subparsers(dest="deadletter_command", required=True, metavar="ACTION")
    q = dl_sub.add_parser(
        "replay", help="send (fixed) dead-letter records back: parse failures to articles.raw, others to their topic",
        description="FILE holds records as printed by `newsstreams consume articles.deadletter`; "
                    "put a corrected payload as text in an `original` field, or leave original_b64 as it was.",
    )
    q.add_argument("file", metavar="FILE.jsonl")
    q.add_argument("--topic", help="send everything to this topic instead")
    q.set_defaults(func=cmd_deadletter_replay)

    p = subparsers.add_parser("rules", help="check routing rules files, or publish one to every worker (routing.rules)")
    rules_sub = p.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    q = rules_sub.add_parser("check", help="validate a rules file and list its categories")
    q.add_argument("file")
    q.set_defaults(func=cmd_rules)
    q = rules_sub.add_parser("publish", help="validate a rules file, then publish it; workers swap it in without restart")
    q.add_argument("file")
    q.set_defaults(func=cmd_rules)


def cmd_kb(args) -> int:
    """Publish a knowledge-base change to entities.kb; every worker applies it."""
    from ..entities.kb_updates import KbRecordError, decode_record, kb_record
    from ..kafka_io import BrokerUnavailable, ensure_topics, publish
    from ..topics import KB

    if args.kb_command == "add":
        record = kb_record(
            args.id, args.type, args.name, args.alias or [],
            names={k: v for k, v in (("ar", args.ar), ("en", args.en)) if v}, merge=args.merge,
        )
        value = orjson.dumps(record)
    else:
        value = None
    try:
        decode_record(args.id.encode(), value)
    except KbRecordError as exc:
        raise UsageError(str(exc)) from None
    try:
        bootstrap = bootstrap_servers(require_broker())
        asyncio.run(ensure_topics(bootstrap, {KB: (1, {"cleanup.policy": "compact"})}))
        asyncio.run(publish(bootstrap, KB, key=args.id.encode(), value=value))
    except BrokerUnavailable as exc:
        raise UsageError(str(exc)) from None
    print(f"{'removal of' if value is None else 'entity'} {args.id} published to entities.kb", file=sys.stderr)
    return 0


def cmd_deadletter_replay(args) -> int:
    """Send dead letters back; an original too large to have been copied is read back from its offset."""
    from ..deadletter import ReplayError, replay_messages
    from ..kafka_io import BrokerUnavailable, publish_many, read_at
    from ..topics import RAW

    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    try:
        with open(path, "rb") as lines:
            replays = replay_messages(lines, args.topic or RAW)
    except ReplayError as exc:
        raise UsageError(f"{path}: {exc}") from None
    bootstrap = bootstrap_servers(require_broker())
    messages, left_out = [], 0
    try:
        for replay in replays:
            value = replay.value
            if value is None and replay.source is not None:
                value = asyncio.run(read_at(bootstrap, *replay.source))
            if value is None:
                print(f"skipped {path}:{replay.line}: {replay.missing()}", file=sys.stderr)
                left_out += 1
                continue
            messages.append((args.topic or replay.topic, replay.key, value))
        asyncio.run(publish_many(bootstrap, messages))
    except BrokerUnavailable as exc:
        raise UsageError(str(exc)) from None
    counts: dict[str, int] = {}
    for topic, _, _ in messages:
        counts[topic] = counts.get(topic, 0) + 1
    replayed = ", ".join(f"{n} to {t}" for t, n in counts.items()) or "nothing"
    print(f"replayed {replayed}" + (f"; {left_out} left out (listed above)" if left_out else ""), file=sys.stderr)
    return 1 if left_out else 0


RULES_RECORD_KEY = b"rules"


def cmd_rules(args) -> int:
    """Validate a rules file; `publish` then sends it to routing.rules for every worker."""
    from ..kafka_io import BrokerUnavailable, ensure_topics, publish
    from ..routing.rules_file import RulesError, load_rules
    from ..topics import ROUTING_RULES

    path = Path(args.file)
    try:
        rules = load_rules(path)
    except RulesError as exc:
        raise UsageError(str(exc)) from None
    summary = f"{path}: valid, {len(rules.categories)} categories ({', '.join(rules.category_ids)})"
    if args.rules_command == "check":
        print(summary)
        return 0
    data = path.read_bytes()
    bootstrap = bootstrap_servers(require_broker())
    try:
        # a compacted topic keeps the latest document for workers that start later
        asyncio.run(ensure_topics(bootstrap, {ROUTING_RULES: (1, {"cleanup.policy": "compact"})}))
        asyncio.run(publish(bootstrap, ROUTING_RULES, key=RULES_RECORD_KEY, value=data))
    except BrokerUnavailable as exc:
        raise UsageError(str(exc)) from None
    print(f"{summary}; published to {ROUTING_RULES}", file=sys.stderr)
    return 0
