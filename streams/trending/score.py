"""Which entities are trending: a burst against the entity's own baseline.

score = (x - mu) / sqrt(mu + 1)

x is the number of distinct articles that mention the entity in the window, mu
the mean of that number in the `BASELINE_WINDOWS` windows before it (zero where
it was not mentioned). This is a Pearson residual under a Poisson baseline,
smoothed by +1 so a first appearance does not divide by zero: an entity in 40
articles every window scores about 0, one that jumps from 0 to 10 scores 10.

Articles, not mentions: a story is news when many articles carry it, not when
one article repeats a name. Scored on mentions, a four-week replay of real news
(ANT, May 2018) had 56 of the 270 daily top-10 places taken by entities of a
single article (a profile naming its subject 20 times, "Windows" in a software
review), and the day's stories fell out (the cancelled Singapore summit on
24 May, Jordan's protests on 3 June); scored on articles, none were single
articles and those stories ranked. Mentions stay in every answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

BASELINE_WINDOWS = 6


def trending_score(count: int, baseline: Iterable[int]) -> float:
    history = list(baseline)
    mu = sum(history) / len(history) if history else 0.0
    return (count - mu) / math.sqrt(mu + 1.0)


def baseline_and_score(count: int, past: Mapping[int, int], start: int, size: int) -> tuple[float, float]:
    """Baseline mean and score of a window against the windows before it (`past`: start -> count).

    The baseline windows are the earlier ones that do not overlap this one
    (one window size apart), so a hopping window is not compared with itself.
    """
    history = [past.get(start - size * i, 0) for i in range(1, BASELINE_WINDOWS + 1)]
    return round(sum(history) / len(history), 3), round(trending_score(count, history), 3)


def ranking_key(item: dict) -> tuple:
    """Best score first; among equal scores, more articles, then more mentions."""
    return (-item["score"], -item["articles"], -item["mentions"], item["id"])


def rank_window(
    entries: Iterable[dict],
    history: Mapping[str, dict[int, int]],
    *,
    size: int,
    entity_type: str | None = None,
    top: int = 10,
) -> list[dict]:
    """Top entities of one window, best score first.

    `history` maps entity id to {window start: article count} for that window spec.
    """
    ranked = []
    for entry in entries:
        if entity_type and entry["type"] != entity_type:
            continue
        baseline, score = baseline_and_score(entry["articles"], history.get(entry["entity_id"], {}), entry["start"], size)
        ranked.append({
            "id": entry["entity_id"],
            "name": entry["name"],
            "type": entry["type"],
            "mentions": entry["mentions"],
            "articles": entry["articles"],
            "sources": entry["sources"],
            "baseline": baseline,
            "score": score,
        })
    ranked.sort(key=ranking_key)
    return ranked[:top]
