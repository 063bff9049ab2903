"""The bench's input: distinct seed-like news, so the figures include window counting."""

from __future__ import annotations

import orjson

from streams.bench import seed_like_articles
from streams.clock import iso_to_epoch
from streams.pipeline import Pipeline, mentions_of


def test_bench_articles_are_distinct_news_spread_in_event_time():
    payloads = [orjson.loads(p) for p in seed_like_articles(300, prefix="t", spacing=2.0)]
    assert len({a["id"] for a in payloads}) == 300
    times = [iso_to_epoch(a["published_at"]) for a in payloads]
    assert all(abs((later - earlier) - 2.0) < 1e-3 for earlier, later in zip(times, times[1:]))
    pipeline = Pipeline()
    enriched = [article for a in payloads[:120] for article in pipeline.process(orjson.dumps(a))]
    duplicates = [a for a in enriched if a["duplicate_of"]]
    assert len(duplicates) <= 2, [a["id"] for a in duplicates]
    assert sum(len(mentions_of(a)) for a in enriched) >= 120 * 5


def test_bench_article_size_follows_the_sentence_count():
    short = [len(orjson.loads(p)["body"]) for p in seed_like_articles(20, prefix="s", sentences=(4, 4))]
    long = [len(orjson.loads(p)["body"]) for p in seed_like_articles(20, prefix="l", sentences=(64, 64))]
    assert sum(long) > 8 * sum(short)
