"""The `newsstreams` command line.

Errors a user can fix (bad arguments, unreadable files, no broker) are printed
as one line on stderr with exit code 2; nothing prints a traceback for them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from importlib import resources
from pathlib import Path

import orjson

from .clock import parse_time
from .settings import SettingsError, parse_duration, pin_library_log_levels


class UsageError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _time(text: str) -> float:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return value


def sample_pages() -> list[Path]:
    """The bundled sample pages that `run --demo` publishes."""
    folder = resources.files("streams").joinpath("samples")
    return sorted(Path(str(item)) for item in folder.iterdir() if item.name.endswith(".txt"))


def _data_dir() -> str:
    return os.environ.get("NEWSSTREAMS_DATA_DIR", ".newsstreams-data")


def require_broker() -> str:
    """KAFKA_BROKER, else the embedded broker of the `newsstreams run` running in this data folder."""
    from .running import find_running, run_file

    broker = os.environ.get("KAFKA_BROKER")
    if broker:
        return broker
    running = find_running(_data_dir())
    if running is not None:
        return running.broker_url
    raise UsageError(
        f"no broker: KAFKA_BROKER is not set and no `newsstreams run` is running here "
        f"(none announced in {run_file(_data_dir())}). Start `newsstreams run` in this folder, "
        "or point KAFKA_BROKER at Kafka (e.g. KAFKA_BROKER=kafka://localhost:9092)"
    )


def web_base(explicit: str | None) -> str:
    """The worker's HTTP address: --url, else the running `newsstreams run`'s, else NEWSSTREAMS_WEB_PORT's."""
    from .running import find_running

    if explicit:
        return explicit
    running = find_running(_data_dir())
    if running is not None and not os.environ.get("NEWSSTREAMS_WEB_PORT"):
        return running.web_url
    return f"http://127.0.0.1:{os.environ.get('NEWSSTREAMS_WEB_PORT', '6066')}"


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


def bootstrap_servers(broker_url: str) -> str:
    """`kafka://a:9092;b:9092` or `a:9092,b:9092` -> `a:9092,b:9092` for aiokafka."""
    hosts = []
    for part in broker_url.replace(";", ",").split(","):
        part = part.strip()
        if "://" in part:
            part = part.split("://", 1)[1]
        if part:
            hosts.append(part)
    if not hosts:
        raise UsageError(f"KAFKA_BROKER names no host: {broker_url!r}")
    return ",".join(hosts)


# ---------------------------------------------------------------- run / worker

def _start_worker(args, *, demo_paths: list[Path] | None = None) -> int:
    if getattr(args, "web_port", None):
        os.environ["NEWSSTREAMS_WEB_PORT"] = str(args.web_port)
    from .settings import Settings

    web = Settings.from_env()
    _check_web_port(web.web_host, web.web_port)
    from .agents.common import PIPELINE
    from .worker import app

    PIPELINE.warm()
    _create_topics()
    if demo_paths:
        from .demo import register_demo

        register_demo(app, demo_paths)
    loglevel = getattr(args, "loglevel", "warn")
    pin_library_log_levels(loglevel)
    sys.argv = ["newsstreams", "worker", "--loglevel", loglevel]
    app.main()
    return 0


def _create_topics() -> None:
    from .app import declared_topics, settings
    from .kafka_io import BrokerUnavailable, ensure_topics
    from .routing.rules import RulesError, load_rules

    try:
        categories = load_rules(settings.routing_rules).category_ids
    except RulesError as exc:
        raise UsageError(f"routing rules: {exc}") from None
    try:
        asyncio.run(ensure_topics(bootstrap_servers(require_broker()), declared_topics(categories)))
    except BrokerUnavailable as exc:
        raise UsageError(str(exc)) from None


def cmd_run(args) -> int:
    from .broker import EmbeddedBroker
    from .running import announced, find_running
    from .settings import Settings

    demo_paths = sample_pages() if args.demo else None
    if os.environ.get("KAFKA_BROKER"):
        return _start_worker(args, demo_paths=demo_paths)
    other = find_running(_data_dir())
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
        print(f"embedded broker on {broker.bootstrap}", file=sys.stderr)
        web_url = web.web_url or f"http://{web.web_host}:{web.web_port}"
        with announced(_data_dir(), broker_url=broker.url, web_url=web_url):
            return _start_worker(args, demo_paths=demo_paths)


def cmd_worker(args) -> int:
    require_broker()
    return _start_worker(args)


# ---------------------------------------------------------------- produce

def cmd_produce(args) -> int:
    from .ingest.produce import produce_targets

    bootstrap = bootstrap_servers(require_broker())
    return asyncio.run(produce_targets(
        bootstrap, args.targets, every=args.every, progress=not args.quiet, topic=args.topic, state_path=args.state,
    ))


# ---------------------------------------------------------------- consume

def cmd_consume(args) -> int:
    from .kafka_io import consume_topic

    bootstrap = bootstrap_servers(require_broker())
    return asyncio.run(consume_topic(
        bootstrap, args.topic, from_beginning=args.from_beginning, limit=args.limit, idle_timeout=args.timeout,
    ))


# ---------------------------------------------------------------- trending

def cmd_trending(args) -> int:
    import httpx

    base = web_base(args.url)
    params = {"top": args.top}
    if args.window:
        params["window"] = args.window
    if args.type:
        params["type"] = args.type
    if args.at is not None:
        params["at"] = args.at
    try:
        response = httpx.get(f"{base.rstrip('/')}/trending", params=params, timeout=10.0)
    except httpx.HTTPError as exc:
        raise UsageError(f"cannot reach a worker at {base}: {exc}. Is `newsstreams run` or `worker` running?") from None
    if response.status_code != 200:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        raise UsageError(f"{base}/trending answered {response.status_code}: {message}")
    data = response.json()
    if args.json:
        sys.stdout.write(orjson.dumps(data).decode() + "\n")
        return 0
    print(f"window {data['window']}  start {data['start']}  end {data['end']}")
    if not data["items"]:
        print(data.get("reason") or "(nothing counted yet)")
    for rank, item in enumerate(data["items"], 1):
        print(f"{rank:>3}. {item['score']:>7.2f}  {item['mentions']:>5} mentions  {item['articles']:>4} articles  "
              f"{item['type']:<4} {item['name']}  [{item['id']}]")
    return 0


# ---------------------------------------------------------------- process

def cmd_process(args) -> int:
    from .ingest.sources import IngestError, iter_raw_articles
    from .pipeline import Pipeline, RejectedArticle

    pipeline = Pipeline(rules_path=os.environ.get("NEWSSTREAMS_ROUTING_RULES") or None)
    out = sys.stdout
    rejected = 0
    for target in args.paths:
        try:
            items = list(iter_raw_articles(target))
        except IngestError as exc:
            raise UsageError(str(exc)) from None
        for item in items:
            try:
                articles = pipeline.process(item.value)
            except RejectedArticle as exc:
                rejected += 1
                print(f"rejected {item.origin}: {exc.reason}", file=sys.stderr)
                continue
            for article in articles:
                out.write(orjson.dumps(article).decode() + "\n")
    out.flush()
    return 1 if rejected and args.strict else 0


# ---------------------------------------------------------------- NER

def cmd_eval_ner(args) -> int:
    from .entities.evaluate import eval_ner

    path = Path(args.conll_file)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    try:
        report, summary = eval_ner(path)
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None
    print(report)
    print(orjson.dumps(summary).decode())
    return 0


def cmd_train_ner(args) -> int:
    from .entities.train import train_ner

    path = Path(args.train_file)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    scores = train_ner(path, Path(args.output) if args.output else None, seed=args.seed,
                       dev_fraction=args.dev_fraction, refit=not args.no_refit)
    print(orjson.dumps(scores).decode())
    return 0


def cmd_build_trend_filter(args) -> int:
    """Recompute which names may not trend (streams/trending/not_trending.json) from corpus statistics."""
    import time

    from .trending.build_not_trending import (
        DEFAULT_OUT, CorpusError, build_filter, document_summary, report_lines,
    )

    started = time.monotonic()
    out = Path(args.out) if args.out else DEFAULT_OUT
    if not out.parent.is_dir():
        raise UsageError(f"no such directory for --out: {out.parent}")

    def progress(n: int) -> None:
        if not args.quiet:
            print(f"tagged {n} articles ({time.monotonic() - started:.0f} s)", file=sys.stderr)

    try:
        document = build_filter(Path(args.corpus), Path(args.conll), out, jobs=args.jobs, progress=progress)
    except CorpusError as exc:
        raise UsageError(str(exc)) from None
    print("\n".join(report_lines(document)))
    print(f"wrote {out}", file=sys.stderr)
    print(orjson.dumps({**document_summary(document), "seconds": round(time.monotonic() - started, 1),
                        "out": str(out)}).decode())
    return 0


# ---------------------------------------------------------------- routing

def _load_rules_for_cli(path: str | None):
    from .routing.rules import RulesError, load_rules

    path = path or os.environ.get("NEWSSTREAMS_ROUTING_RULES") or None
    try:
        return load_rules(path)
    except RulesError as exc:
        raise UsageError(f"routing rules: {exc}") from None


def format_routing_report(evaluation, *, show_errors: bool = False) -> str:
    """Per-category table, macro scores and the gold x predicted confusion table."""
    from .routing.evaluate import NONE

    lines = []
    width = max([len("category")] + [len(s.id) for s in evaluation.per_category])
    lines.append(f"{'category':<{width}}  {'prec':>6}  {'recall':>6}  {'f1':>6}  {'gold':>5}  {'pred':>5}")
    for s in evaluation.per_category:
        lines.append(f"{s.id:<{width}}  {s.precision:>6.3f}  {s.recall:>6.3f}  {s.f1:>6.3f}  {s.support:>5}  {s.predicted:>5}")
    lines.append("")
    lines.append(f"articles {evaluation.articles}  accuracy {evaluation.accuracy:.3f}  macro F1 {evaluation.macro_f1:.3f}  "
                 f"gold among routed {evaluation.routed_recall:.3f}  unrouted {evaluation.unrouted}  "
                 f"categories/article {evaluation.mean_categories:.2f}")
    lines.append("")
    columns = evaluation.labels + [NONE]
    codes = [str(i) for i in range(1, len(evaluation.labels) + 1)] + [NONE]
    cell = max(4, max(len(c) for c in codes))
    lines.append("confusion (rows: gold, columns: top-scored prediction)")
    lines.append(" " * (width + 5) + " ".join(f"{c:>{cell}}" for c in codes))
    for i, gold in enumerate(evaluation.labels, 1):
        row = evaluation.confusion.get(gold)
        if row is None:
            continue
        lines.append(f"{i:>2}. {gold:<{width}} " + " ".join(f"{row[c]:>{cell}}" for c in columns))
    legend = [f"{i}={label}" for i, label in enumerate(evaluation.labels, 1)
              if label not in evaluation.confusion]
    if legend:
        lines.append("    predicted only: " + ", ".join(legend))
    if show_errors and evaluation.errors:
        lines.append("")
        lines.append("misrouted (line: gold -> routed)")
        for e in evaluation.errors:
            routed = ", ".join(f"{cid} {score:g}" for cid, score in e["routed"]) or NONE
            lines.append(f"  {e['line']:>4}: {e['gold']} -> {routed}  | {e['title']}")
    return "\n".join(lines)


def cmd_eval_routing(args) -> int:
    from .routing.evaluate import LabelledDataError, evaluate_routing, read_labelled

    rules = _load_rules_for_cli(args.rules)
    try:
        articles = read_labelled(args.jsonl_file, rules.category_ids)
    except LabelledDataError as exc:
        raise UsageError(str(exc)) from None
    entities_of = None
    if args.entities:
        from .entities.extract import EntityExtractor

        extractor = EntityExtractor.default()
        entities_of = lambda article: extractor.extract(article.body)  # noqa: E731
    evaluation = evaluate_routing(rules, articles, entities_of)
    print(format_routing_report(evaluation, show_errors=args.show_errors))
    print(orjson.dumps({**evaluation.summary(), "rules": rules.source}).decode())
    return 0


RULES_RECORD_KEY = b"rules"


def cmd_rules(args) -> int:
    """Validate a rules file; `publish` then sends it to routing.rules for every worker."""
    from .kafka_io import BrokerUnavailable, ensure_topics, publish
    from .routing.rules import RulesError, load_rules
    from .topics import ROUTING_RULES

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


def cmd_kb(args) -> int:
    """Publish a knowledge-base change to entities.kb; every worker applies it."""
    from .entities.kb_updates import KbRecordError, decode_record, kb_record
    from .kafka_io import BrokerUnavailable, ensure_topics, publish
    from .topics import KB

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
    from .deadletter import ReplayError, replay_messages
    from .kafka_io import BrokerUnavailable, publish_many, read_at
    from .topics import RAW

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


# ---------------------------------------------------------------- bench

def cmd_bench(args) -> int:
    from .bench import run_bench

    result = run_bench(articles=args.articles, rate=args.rate, latency_seconds=args.latency_seconds, workers=args.workers)
    print(orjson.dumps(result).decode())
    return 0


# ---------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsstreams",
        description="Stream processor for news: parse, enrich with entities, route and trend.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="embedded broker (unless KAFKA_BROKER) + worker + web UI")
    p.add_argument("--demo", action="store_true", help="also publish the bundled sample pages")
    p.add_argument("--web-port", type=_port, help="HTTP port (default 6066 or NEWSSTREAMS_WEB_PORT)")
    p.add_argument("--loglevel", default="warn", choices=["crit", "error", "warn", "info", "debug"])
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("worker", help="a Faust worker against KAFKA_BROKER")
    p.add_argument("--web-port", type=_port, help="HTTP port (default 6066 or NEWSSTREAMS_WEB_PORT)")
    p.add_argument("--loglevel", default="warn", choices=["crit", "error", "warn", "info", "debug"])
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("produce", help="publish pages, JSON/JSONL articles or RSS/Atom feeds to articles.raw")
    p.add_argument("targets", nargs="+", metavar="PATH_OR_URL")
    p.add_argument("--every", type=_duration, help="poll the targets again at this interval (e.g. 5m)")
    p.add_argument("--topic", default=None, help="topic to write to (default articles.raw)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--state", help="with --every: file that remembers which feed entries were sent, across restarts")
    p.set_defaults(func=cmd_produce)

    p = sub.add_parser("consume", help="print messages of a topic as JSON Lines")
    p.add_argument("topic")
    p.add_argument("--from-beginning", action="store_true", help="start at the oldest message")
    p.add_argument("--limit", type=_positive_int, help="stop after N messages")
    p.add_argument("--timeout", type=float, default=None,
                   help="stop after this many seconds without a message (default: wait forever, or 10 s with --limit)")
    p.set_defaults(func=cmd_consume)

    p = sub.add_parser("trending", help="print the current trending table of a running worker")
    p.add_argument("--window", help="window name, e.g. 5m, 1h, 1d")
    p.add_argument("--type", choices=["PER", "ORG", "LOC", "MISC"], type=str.upper)
    p.add_argument("--top", type=_positive_int, default=10)
    p.add_argument("--at", type=_time, help="the window containing this time: ISO 8601 (2018-05-07, "
                                            "2018-05-07T12:00:00Z) or Unix seconds; default: the latest")
    p.add_argument("--url", help="worker URL (default http://127.0.0.1:$NEWSSTREAMS_WEB_PORT)")
    p.add_argument("--json", action="store_true", help="print the raw JSON answer")
    p.set_defaults(func=cmd_trending)

    p = sub.add_parser("process", help="parse + enrich + route offline; one EnrichedArticle JSON per line")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--strict", action="store_true", help="exit 1 if any input was rejected")
    p.set_defaults(func=cmd_process)

    p = sub.add_parser("eval-ner", help="precision/recall/F1 of the NER model on a CoNLL file")
    p.add_argument("conll_file")
    p.set_defaults(func=cmd_eval_ner)

    p = sub.add_parser("train-ner", help="train the CRF NER model on a CoNLL file")
    p.add_argument("train_file")
    p.add_argument("--output", help="model file to write (default: the packaged model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dev-fraction", type=float, default=0.1)
    p.add_argument("--no-refit", action="store_true",
                   help="ship the model trained without the development split (default: retrain on all of it)")
    p.set_defaults(func=cmd_train_ner)

    p = sub.add_parser(
        "build-trend-filter",
        help="recompute which names may not trend (not_trending.json) from the ANT corpus and ANERcorp",
        description="Tags every article of the ANT corpus with the packaged tagger and linker and writes the "
                    "names that must not produce trending mention records. Re-run it whenever the tagger is "
                    "retrained; docs/not-trending.md explains the rule.",
    )
    p.add_argument("--corpus", default="../shared/data/ant/ant_v2.1.jsonl.xz",
                   help="ANT corpus, xz-compressed JSON Lines (default: %(default)s)")
    p.add_argument("--conll", default="../shared/data/anercorp/train.conll",
                   help="ANERcorp CoNLL file, the reference for what is a name (default: %(default)s)")
    p.add_argument("--out", help="file to write (default: the packaged streams/trending/not_trending.json)")
    p.add_argument("--jobs", type=_positive_int, help="tagging processes (default: one per CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_build_trend_filter)

    p = sub.add_parser("eval-routing", help="precision/recall/F1 of the routing rules on labelled JSONL articles")
    p.add_argument("jsonl_file", help="one JSON object per line: body, optional title, gold category")
    p.add_argument("--rules", help="rules file (default: $NEWSSTREAMS_ROUTING_RULES or the packaged categories.yaml)")
    p.add_argument("--entities", action="store_true", help="also run entity extraction, so entity conditions count")
    p.add_argument("--show-errors", action="store_true", help="list the misrouted articles")
    p.set_defaults(func=cmd_eval_routing)

    p = sub.add_parser("kb", help="add, change or remove knowledge-base entities at run time (entities.kb)")
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

    p = sub.add_parser("deadletter", help="work with dead-letter records")
    dl_sub = p.add_subparsers(dest="deadletter_command", required=True, metavar="ACTION")
    q = dl_sub.add_parser(
        "replay", help="send (fixed) dead-letter records back: parse failures to articles.raw, others to their topic",
        description="FILE holds records as printed by `newsstreams consume articles.deadletter`; "
                    "put a corrected payload as text in an `original` field, or leave original_b64 as it was.",
    )
    q.add_argument("file", metavar="FILE.jsonl")
    q.add_argument("--topic", help="send everything to this topic instead")
    q.set_defaults(func=cmd_deadletter_replay)

    p = sub.add_parser("rules", help="check routing rules files, or publish one to every worker (routing.rules)")
    rules_sub = p.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    q = rules_sub.add_parser("check", help="validate a rules file and list its categories")
    q.add_argument("file")
    q.set_defaults(func=cmd_rules)
    q = rules_sub.add_parser("publish", help="validate a rules file, then publish it; workers swap it in without restart")
    q.add_argument("file")
    q.set_defaults(func=cmd_rules)

    p = sub.add_parser("bench", help="end-to-end benchmark on the embedded broker")
    p.add_argument("--articles", type=_positive_int, default=3000, help="articles per throughput run")
    p.add_argument("--rate", type=_positive_int, default=100, help="offered load for the latency run (articles/s)")
    p.add_argument("--latency-seconds", type=_positive_int, default=10, help="length of the latency run")
    p.add_argument("--workers", type=_positive_int, default=1, help="worker processes for the pipeline run")
    p.set_defaults(func=cmd_bench)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
