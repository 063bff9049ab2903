"""Story assignment measured on real multi-outlet news: the ANT corpus and hand-checked pairs.

    .venv/bin/python -m streams.tools.eval_stories propose [--out FILE]   # candidate pairs, with text, to label
    .venv/bin/python -m streams.tools.eval_stories evaluate [--pairs FILE] [--threshold T ...]

The slice: every ANT article published from `START` to `END` (two weeks of
May 2018, when all five outlets publish). `propose` lists candidate
same-event pairs the way docs/stories.md describes (different outlets, at
most two days apart, sharing rare title words; plus weaker and random pairs
so that the sample holds negatives), deterministically, with titles and leads
for a person to read. Only the ids and the labels are committed
(`tests/fixtures/story_pairs.jsonl`); the text stays in ../shared.

`evaluate` enriches the slice with the worker's pipeline (NER, linking,
categories), runs the online assignment (`streams.stories.StoryBook`) over it
in publication order, and prints pairwise precision, recall and F1 over the
labelled pairs, and CPU per article of the assignment alone; the last line is
JSON. ANT: A. Chouigui, O. Ben Khiroun and B. Elayeb, Arabian Journal for
Science and Engineering 46(8), 2021 (https://antcorpus.github.io).
"""

from __future__ import annotations

import argparse
import json
import lzma
import random
import sys
import time
from collections import Counter
from pathlib import Path

from ..clock import iso_to_epoch
from ..stories.features import BODY_WORDS, Idf, words

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / ".." / "shared" / "data" / "ant" / "ant_v2.1.jsonl.xz"
PAIRS = ROOT / "tests" / "fixtures" / "story_pairs.jsonl"
START, END = "2018-05-01", "2018-05-15"
RARE_DF = 300
"""A title word in fewer than this many of ANT's 30,043 articles counts as rare."""
MAX_GAP = 2 * 86400


def load_slice(corpus: Path = CORPUS, start: str = START, end: str = END) -> list[dict]:
    """The slice's articles in publication order (ties by id), as RawArticle-like dicts."""
    out = []
    with lzma.open(corpus, "rt", encoding="utf-8") as lines:
        for line in lines:
            article = json.loads(line)
            if start <= article["published_at"][:10] < end:
                out.append(article)
    out.sort(key=lambda a: (a["published_at"], a["id"]))
    return out


def propose(articles: list[dict], strong: int = 170, weak: int = 90, random_pairs: int = 40, seed: int = 21):
    idf = Idf.packaged()
    rare = lambda terms: {t for t in terms if idf.frequencies.get(t, 0) < RARE_DF}  # noqa: E731
    titles = [rare(words(a["title"])) for a in articles]
    leads = [rare(words(a["body"], BODY_WORDS)) for a in articles]
    times = [iso_to_epoch(a["published_at"]) for a in articles]
    strong_pairs, weak_pairs, near = [], [], []
    for i in range(len(articles)):
        for j in range(i + 1, len(articles)):
            if times[j] - times[i] > MAX_GAP:
                break
            if articles[i]["source"] == articles[j]["source"]:
                continue
            shared_title = len(titles[i] & titles[j])
            if shared_title >= 2:
                strong_pairs.append((i, j))
            elif shared_title == 1 and len(leads[i] & leads[j]) >= 3:
                weak_pairs.append((i, j))
            else:
                near.append((i, j))
    rng = random.Random(seed)
    chosen = ([("strong", p) for p in rng.sample(strong_pairs, min(strong, len(strong_pairs)))]
              + [("weak", p) for p in rng.sample(weak_pairs, min(weak, len(weak_pairs)))]
              + [("random", p) for p in rng.sample(near, min(random_pairs, len(near)))])
    print(f"candidates: {len(strong_pairs)} strong, {len(weak_pairs)} weak, {len(near)} others", file=sys.stderr)
    for kind, (i, j) in chosen:
        a, b = articles[i], articles[j]
        yield {"a": a["id"], "b": b["id"], "kind": kind,
               "title_a": a["title"], "title_b": b["title"],
               "lead_a": a["body"][:300], "lead_b": b["body"][:300]}


def enriched_slice(articles: list[dict]) -> list[dict]:
    from ..pipeline import Pipeline

    pipeline = Pipeline()
    out = []
    for article in articles:
        parsed = {"id": article["id"], "url": article["url"], "source": {"name": article["source"]},
                  "language": "ar", "published_at": article["published_at"], "title": article["title"],
                  "body": article["body"], "duplicate_of": None}
        out.append(pipeline.enrich(parsed))
    return out


def assign_all(enriched: list[dict], threshold: float | None) -> tuple[dict[str, str], float]:
    from ..pipeline import event_time
    from ..stories import StoryBook
    from ..stories.assign import DEFAULT_THRESHOLD

    book = StoryBook({}, threshold=DEFAULT_THRESHOLD if threshold is None else threshold)
    assigned = {}
    started = time.process_time()
    for article in enriched:
        assigned[article["id"]] = book.assign(article, event_time(article)).story_id
    return assigned, (time.process_time() - started) / max(1, len(enriched))


def pairwise(assigned: dict[str, str], pairs: list[dict]) -> dict:
    tp = fp = fn = tn = 0
    for pair in pairs:
        predicted = assigned.get(pair["a"]) is not None and assigned.get(pair["a"]) == assigned.get(pair["b"])
        same = pair["label"] == "same"
        tp += predicted and same
        fp += predicted and not same
        fn += same and not predicted
        tn += not same and not predicted
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"pairs": len(pairs), "same": tp + fn, "different": fp + tn, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def read_pairs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eval_stories")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("propose")
    p.add_argument("--out", type=Path)
    e = sub.add_parser("evaluate")
    e.add_argument("--pairs", type=Path, default=PAIRS)
    e.add_argument("--threshold", type=float, nargs="*")
    args = parser.parse_args(argv)
    articles = load_slice()
    if args.command == "propose":
        out = args.out.open("w", encoding="utf-8") if args.out else sys.stdout
        for pair in propose(articles):
            out.write(json.dumps(pair, ensure_ascii=False) + "\n")
        return 0
    from ..stories.assign import DEFAULT_THRESHOLD

    pairs = read_pairs(args.pairs)
    enriched = enriched_slice(articles)
    results = []
    for threshold in args.threshold or [DEFAULT_THRESHOLD]:
        assigned, cpu = assign_all(enriched, threshold)
        result = {"threshold": threshold, **pairwise(assigned, pairs), "articles": len(enriched),
                  "stories": len(set(assigned.values())),
                  "largest": max(Counter(assigned.values()).values()), "cpu_ms_per_article": round(cpu * 1000, 3)}
        by_kind = {kind: pairwise(assigned, [q for q in pairs if q["kind"] == kind])
                   for kind in sorted({q["kind"] for q in pairs})}
        result["by_kind"] = {k: {m: v[m] for m in ("pairs", "same", "precision", "recall")} for k, v in by_kind.items()}
        print(json.dumps(result), flush=True)
        results.append(result)
    print(json.dumps(results[-1] if len(results) == 1 else {"runs": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
