"""Topic names: the contract between upstream producers, the workers and consumers."""

from __future__ import annotations

RAW = "articles.raw"
PARSED = "articles.parsed"
ENRICHED = "articles.enriched"
ENRICHED_PREFIX = "articles.enriched."
MENTIONS = "entities.mentions"
TRENDING = "trending.entities"
DEADLETTER = "articles.deadletter"
KB = "entities.kb"
STORIES = "stories"  # compacted: each story's latest state (story/1), key the story id
ROUTING_RULES = "routing.rules"  # compacted: whole rules documents, key `rules`
OTHER_CATEGORY = "other"
"""The category of an article nothing else fits: every article reaches at least one category topic."""


def category_topic(category_id: str) -> str:
    """Downstream teams subscribe to one category by topic name."""
    return f"{ENRICHED_PREFIX}{category_id}"
