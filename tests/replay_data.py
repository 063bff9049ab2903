"""Real Arabic news for replay tests: two weeks of five outlets from the ANT corpus.

The ANT Corpus v2.1 (A. Chouigui, O. Ben Khiroun and B. Elayeb, "An Arabic
Multi-source News Corpus: Experimenting on Single-document Extractive
Summarization", Arabian Journal for Science and Engineering 46(8), 2021,
https://antcorpus.github.io; Apache License 2.0 with a citation licence) lives
beside the repository in `../shared/data/ant/` and is never committed: tests
that need it skip when it is absent.
"""

from __future__ import annotations

import lzma
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
ANT = ROOT.parent / "shared" / "data" / "ant" / "ant_v2.1.jsonl.xz"

FIRST_DAY = datetime(2018, 5, 1, tzinfo=timezone.utc)
DAYS = 14

PARTITION_OF_SOURCE = {"SkyNews": 0, "Alarabia": 1, "CNN": 2, "BBC": 2, "France24": 3}
"""One input partition per feed, as with a poller per site: Sky News Arabia fills
partition 0 with about 43 % of the articles, France 24 partition 3 with about 10 %.
Each partition spans the same two weeks, so a worker that reads its partitions
at the same rate in records reaches the end of the fortnight on partition 3
while partition 0 is still in its first days."""


def replay_selection(path: Path = ANT, first_day: datetime = FIRST_DAY, days: int = DAYS) -> list[dict]:
    """RawArticles of every outlet published in `days` consecutive days from `first_day`, oldest first.

    Why this slice: all five outlets (Al Arabiya, BBC Arabic, CNN Arabic,
    France 24, Sky News Arabia) publish on each of these days of May 2018, so
    one event is covered by several outlets (distinct sources, near-copies) and
    hourly and daily windows close many times, about 2,300 articles: a few
    thousand, enough for a backlog that takes a worker a minute.
    Time-ordered, as a user replays a corpus: by publication time (in UTC; the
    corpus mixes `Z` and `+04:00`), ties by the corpus id, so the selection and
    its order are the same on every run. Within any subset, event time then
    only grows, and every mention found late downstream is the pipeline's doing,
    not the data's.
    """
    last_day = first_day + timedelta(days=days)
    chosen: list[tuple[datetime, dict]] = []
    with lzma.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = orjson.loads(line)
            published = datetime.fromisoformat(row["published_at"].replace("Z", "+00:00")).astimezone(timezone.utc)
            if first_day <= published < last_day:
                chosen.append((published, row))
    chosen.sort(key=lambda item: (item[0], item[1]["id"]))
    return [
        {
            "id": row["id"],
            "url": row["url"],
            "source": row["source"],
            "title": row["title"],
            "body": row["body"],
            "published_at": published.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        for published, row in chosen
    ]
