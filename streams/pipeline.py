"""The whole article path as plain functions: bytes in, enriched articles out.

Agents call these one stage at a time; `newsstreams process` calls them in a
row with no broker. Keeping both on the same code is what makes the offline
output a faithful preview of the stream.
"""

from __future__ import annotations

from functools import cached_property

from .clock import iso_to_epoch, utc_now_iso
from .text.decode import RejectedArticle
from .text.dedupe import SketchIndex, check_and_remember
from .text.parse import parse_payload

ENRICHED_SCHEMA = "enriched_article/3"
MAX_ENTITIES = 500
"""An article naming more distinct entities than this keeps the most mentioned ones:
a list of names is not news, and one message must stay a reasonable size."""
MENTION_SCHEMA = "mention/1"

__all__ = ["Pipeline", "RejectedArticle", "mentions_of"]


class Pipeline:
    """Parse, enrich and categorise with one knowledge base, model and rule set."""

    def __init__(self, extractor=None, rules=None, rules_path: str | None = None, dedupe_index=None):
        self._extractor = extractor
        self._rules = rules
        self._rules_path = rules_path
        # Offline runs remember sketches in a dict; the worker hands in one over its table.
        self.dedupe_index = SketchIndex() if dedupe_index is None else dedupe_index

    @cached_property
    def extractor(self):
        if self._extractor is None:
            from .entities.extract import EntityExtractor

            self._extractor = EntityExtractor.default()
        return self._extractor

    @cached_property
    def rules_watcher(self):
        """Rules are re-read when their file changes, so editors need no restart."""
        from .routing.watcher import RulesWatcher

        return RulesWatcher(self._rules_path)

    @property
    def rules_are_fixed(self) -> bool:
        """Rules were handed in (tests, bench): neither the file nor the `routing.rules` topic changes them."""
        return self._rules is not None

    def rules(self):
        return self._rules if self._rules is not None else self.rules_watcher.current()

    def parse(self, payload: bytes, ingested_at: str | None = None, dedupe_index=None) -> list[dict]:
        """Raises RejectedArticle for anything that is not an article.

        Each article is checked against the fingerprints of earlier ones and
        marked `duplicate_of` when it is a near-copy (a syndicated story). An
        embedded article is emitted only with the first page it was found in.
        """
        ingested_at = ingested_at or utc_now_iso()
        articles = parse_payload(payload, ingested_at=ingested_at, split_tags=self.extractor.split_tags)
        index = self.dedupe_index if dedupe_index is None else dedupe_index
        now = iso_to_epoch(ingested_at)
        kept = []
        for article in articles:
            if article["embedded_in"] and article["id"] in index:
                continue  # a "read also" article already emitted with an earlier page
            if article["duplicate_of"] is None:
                article["duplicate_of"] = check_and_remember(index, article["id"], article["body"], now).duplicate_of
            kept.append(article)
        return kept

    def enrich(self, parsed: dict) -> dict:
        entities = self.extractor.extract(parsed["body"])[:MAX_ENTITIES]
        # rules + section model; never empty (`other` when nothing fits): streams/routing/combine.py
        categories = self.rules().route(parsed.get("title") or "", parsed["body"], entities,
                                        language=parsed.get("language"))
        enriched = dict(parsed)
        enriched["schema"] = ENRICHED_SCHEMA
        enriched["entities"] = entities
        enriched["categories"] = categories
        return enriched

    def process(self, payload: bytes, ingested_at: str | None = None) -> list[dict]:
        return [self.enrich(parsed) for parsed in self.parse(payload, ingested_at)]

    def warm(self) -> None:
        """Loads the tagger, knowledge base, rules, language model and HTML extractor now.

        Otherwise the first article waits about a second for them, and that
        second is charged to whichever stage happens to load each one.
        """
        from .text import html
        from .text.language import detect_language

        self.extractor.extract("زار الرئيس موسكو")
        self.rules().route("", "زار الرئيس موسكو لبحث التعاون الاقتصادي")  # loads the section model once
        detect_language("مقال قصير لتحميل نموذج اللغة")
        html.warm()


MAX_FUTURE_SECONDS = 86400
"""A publication time further ahead of ingestion than this is a wrong clock upstream. Taken
as it is, it would move stream time ahead and make every later article late; ingestion time
is used instead."""


def _event(article: dict) -> tuple[float, str]:
    ingested = _epoch_or_none(article.get("ingested_at"))
    published = _epoch_or_none(article.get("published_at"))
    if published is not None and (ingested is None or published - ingested <= MAX_FUTURE_SECONDS):
        return published, article["published_at"]
    if ingested is not None:
        return ingested, article["ingested_at"]
    raise RejectedArticle("article has neither a valid published_at nor ingested_at")


def _epoch_or_none(value) -> float | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return iso_to_epoch(value)
    except (ValueError, OverflowError):
        return None


def event_time(article: dict) -> float:
    """Publication time, falling back to ingestion time (also for a date far in the future)."""
    return _event(article)[0]


def mentions_of(enriched: dict) -> list[dict]:
    """One record per entity of an article, to be re-keyed by entity id.

    Duplicates of an earlier article add nothing: the story was already counted.
    Names that say nothing about the news (`الله`, a preposition taken for a
    name) stay in the article's entities but are not counted for trending
    (``streams.trending.not_trending``).
    """
    from .trending.not_trending import counts_for_trending

    if enriched.get("duplicate_of"):
        return []
    ts, when = _event(enriched)
    source = (enriched.get("source") or {}).get("name") or ""
    return [
        {
            "schema": MENTION_SCHEMA,
            "entity_id": entity["id"],
            "name": entity["name"],
            "type": entity["type"],
            "article_id": enriched["id"],
            "source": source,
            "mentions": entity["mentions"],
            "event_time": when,
            "event_ts": ts,
        }
        for entity in counts_for_trending(enriched.get("entities", ()))
    ]
