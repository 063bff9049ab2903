"""Commands on local files that need no broker: `process` articles through the
pipeline, evaluate and train the NER model, build the trend filter, evaluate
the routing rules."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from ..settings import environment_value
from .common import UsageError, positive_int


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("process", help="parse + enrich + route offline; one EnrichedArticle JSON per line")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--strict", action="store_true", help="exit 1 if any input was rejected")
    p.set_defaults(func=cmd_process)

    p = subparsers.add_parser("eval-ner", help="precision/recall/F1 of the NER model on a CoNLL file")
    p.add_argument("conll_file")
    p.set_defaults(func=cmd_eval_ner)

    p = subparsers.add_parser("train-ner", help="train the CRF NER model on a CoNLL file")
    p.add_argument("train_file")
    p.add_argument("--output", help="model file to write (default: the packaged model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dev-fraction", type=float, default=0.1)
    p.add_argument("--no-refit", action="store_true",
                   help="ship the model trained without the development split (default: retrain on all of it)")
    p.set_defaults(func=cmd_train_ner)

    p = subparsers.add_parser(
        "train-embeddings",
        help="rebuild the NER tagger's word clusters (from the ANT corpus) and name lists",
        description="Trains word vectors on the ANT corpus, clusters them and writes the word -> cluster "
                    "ids file and the name lists the tagger reads (streams/entities/model/); deterministic, "
                    "one thread. Needs the 'embeddings' extra. Retrain the tagger (train-ner) afterwards.",
    )
    p.add_argument("--corpus", default="../shared/data/ant/ant_v2.1.jsonl.xz",
                   help="ANT corpus, xz-compressed JSON Lines (default: %(default)s)")
    p.add_argument("--names", default="../shared/data/names/person_name_tokens.tsv",
                   help="Wikidata person-name tokens (default: %(default)s)")
    p.add_argument("--names-only", action="store_true", help="rebuild the name lists only")
    p.set_defaults(func=cmd_train_embeddings)

    p = subparsers.add_parser(
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
    p.add_argument("--jobs", type=positive_int, help="tagging processes (default: one per CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_build_trend_filter)

    p = subparsers.add_parser("eval-routing", help="precision/recall/F1 of routing (rules + section model) on labelled JSONL articles")
    p.add_argument("jsonl_file", help="one JSON object per line: body, optional title, gold category (or section)")
    p.add_argument("--rules", help="rules file (default: $NEWSSTREAMS_ROUTING_RULES or the packaged categories.yaml)")
    p.add_argument("--sections", help="YAML file mapping newspaper sections to categories (e.g. streams/routing/"
                                      "sections.yaml): also score the top category by section; macro_f1 is then "
                                      "the sections' one")
    p.add_argument("--rules-only", action="store_true", help="route by the rules alone, without the section model")
    p.add_argument("--entities", action="store_true", help="also run entity extraction, so entity conditions count")
    p.add_argument("--show-errors", action="store_true", help="list the misrouted articles")
    p.set_defaults(func=cmd_eval_routing)

    p = subparsers.add_parser("train-routing", help="train the section model of the router on the ANT corpus",
                              description="Scores the model across outlets (train on four, test on the fifth), "
                                          "then trains the shipped model on all five. Needs the 'train' extra "
                                          "(scikit-learn); the model it writes needs numpy alone.")
    p.add_argument("--corpus", default=None,
                   help="ANT corpus, xz-compressed JSON Lines (default: ../shared/data/ant/ant_v2.1.jsonl.xz)")
    p.add_argument("--output", help="model file to write (default: the packaged streams/routing/model/sections.npz)")
    p.add_argument("--report", help="also write the cross-source scores as JSON to this file")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_train_routing)


def cmd_process(args) -> int:
    from ..ingest.sources import IngestError, iter_raw_articles
    from ..pipeline import Pipeline, RejectedArticle, event_time
    from ..stories import StoryBook

    pipeline = Pipeline(rules_path=environment_value("NEWSSTREAMS_ROUTING_RULES"))
    stories = StoryBook({})  # as the route stage does: each article with the story it joins, in input order
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
                article["story_id"] = stories.assign(article, event_time(article)).story_id
                out.write(orjson.dumps(article).decode() + "\n")
    out.flush()
    return 1 if rejected and args.strict else 0


def cmd_eval_ner(args) -> int:
    from ..tools.eval_ner import eval_ner

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


def cmd_train_embeddings(args) -> int:
    from ..tools.train_embeddings import main

    argv = ["--ant", args.corpus, "--names", args.names] + (["--names-only"] if args.names_only else [])
    return main(argv)


def cmd_train_ner(args) -> int:
    from ..tools.train_ner import train_ner

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

    from ..tools.build_not_trending import (
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


def _load_rules_for_cli(path: str | None):
    from ..routing.rules_file import RulesError, load_rules

    path = path or environment_value("NEWSSTREAMS_ROUTING_RULES")
    try:
        return load_rules(path)
    except RulesError as exc:
        raise UsageError(f"routing rules: {exc}") from None


def format_routing_report(evaluation, *, show_errors: bool = False, first_column: str = "category") -> str:
    """Per-category table, macro scores and the gold x predicted confusion table."""
    from ..tools.eval_routing import NONE

    lines = []
    width = max([len(first_column)] + [len(s.id) for s in evaluation.per_category])
    lines.append(f"{first_column:<{width}}  {'prec':>6}  {'recall':>6}  {'f1':>6}  {'gold':>5}  {'pred':>5}")
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


def cmd_train_routing(args) -> int:
    try:
        from ..tools.train_routing import default_corpus, train
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"training needs the 'train' extra (pip install -e '.[train]'): {exc}") from None
    corpus = Path(args.corpus) if args.corpus else default_corpus()
    if not corpus.is_file():
        raise UsageError(f"no such file: {corpus}")
    kwargs = {"out": Path(args.output)} if args.output else {}
    result = train(corpus, report=args.report, progress=(lambda s: None) if args.quiet
                   else (lambda s: print(s, file=sys.stderr, flush=True)), **kwargs)
    print(orjson.dumps(result).decode())
    return 0


def cmd_eval_routing(args) -> int:
    from ..tools.eval_routing import (
        LabelledDataError, SectionsError, evaluate_routing, load_sections, read_labelled,
    )

    rules = _load_rules_for_cli(args.rules)
    sections = None
    if args.sections:
        try:
            sections = load_sections(args.sections, rules.category_ids)
        except SectionsError as exc:
            raise UsageError(f"sections: {exc}") from None
    try:
        articles = read_labelled(args.jsonl_file, list(rules.category_ids) + list(sections or ()))
    except LabelledDataError as exc:
        raise UsageError(str(exc)) from None
    entities_of = None
    if args.entities:
        from ..entities.extract import EntityExtractor

        extractor = EntityExtractor.default()
        entities_of = lambda article: extractor.extract(article.body)  # noqa: E731
    try:
        evaluation = evaluate_routing(rules, articles, entities_of, use_model=not args.rules_only, sections=sections)
    except LabelledDataError as exc:
        raise UsageError(str(exc)) from None
    print(format_routing_report(evaluation, show_errors=args.show_errors))
    if evaluation.sections is not None:
        print("")
        print("by section (top category mapped to its section; none = a category in no section)")
        print(format_routing_report(evaluation.sections, show_errors=False, first_column="section"))
    model = "none" if args.rules_only or rules.model is None else (rules.model.file or "packaged")
    print(orjson.dumps({**evaluation.summary(), "rules": rules.source, "model": model}).decode())
    return 0
