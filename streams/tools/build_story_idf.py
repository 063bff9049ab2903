"""Build `streams/stories/data/idf.tsv.gz`: in how many ANT articles each matching-form word occurs.

    .venv/bin/python -m streams.tools.build_story_idf [../shared/data/ant/ant_v2.1.jsonl.xz]

Reads the title and the lead (`features.BODY_WORDS` words) of each of the
ANT corpus's articles, as story assignment reads them, and writes the number
of articles and each word's document frequency (words seen in at least
`MIN_DF` articles; rarer ones count as unknown, i.e. rare). Deterministic.
Derived statistics only; the corpus stays in ../shared. ANT: A. Chouigui,
O. Ben Khiroun and B. Elayeb, "An Arabic Multi-source News Corpus:
Experimenting on Single-document Extractive Summarization", Arabian Journal
for Science and Engineering 46(8), 2021 (https://antcorpus.github.io).
"""

from __future__ import annotations

import gzip
import json
import lzma
import sys
from collections import Counter
from pathlib import Path

from ..stories.features import BODY_WORDS, words

MIN_DF = 3
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ant" / "ant_v2.1.jsonl.xz"
OUTPUT = Path(__file__).resolve().parents[1] / "stories" / "data" / "idf.tsv.gz"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    corpus = Path(args[0]) if args else DEFAULT_CORPUS
    df: Counter = Counter()
    documents = 0
    with lzma.open(corpus, "rt", encoding="utf-8") as lines:
        for line in lines:
            article = json.loads(line)
            documents += 1
            df.update(set(words(article.get("title") or "")) | set(words(article.get("body") or "", BODY_WORDS)))
    kept = sorted((term, n) for term, n in df.items() if n >= MIN_DF)
    text = f"#documents\t{documents}\n" + "".join(f"{term}\t{n}\n" for term, n in kept)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    print(json.dumps({"documents": documents, "terms": len(kept), "output": str(OUTPUT)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
