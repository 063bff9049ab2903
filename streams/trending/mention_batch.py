"""The messages on `entities.mentions`: mention records grouped by the partition that owns them.

Counting happens where an entity's windows live, the partition its id hashes to
(Kafka's default partitioner, murmur2 of the id). Sending one message per
entity made the aggregate stage pay a whole consume, dispatch and commit for
each; the route stage groups the mentions of a batch of articles by that
partition first and sends at most one message per partition (split at
`MAX_BATCH_MENTIONS` to stay well under the message size limit), and every
entity still meets its windows in one place.
"""

from __future__ import annotations

from collections import defaultdict

from aiokafka.partitioner import murmur2

MENTION_BATCH_SCHEMA = "mention_batch/1"
REQUIRED = ("entity_id", "article_id", "mentions", "event_ts")
MAX_BATCH_MENTIONS = 1000


def entity_partition(entity_id: str, partitions: int) -> int:
    return (murmur2(entity_id.encode("utf-8")) & 0x7FFFFFFF) % partitions


def mention_batches(mentions: list[dict], partitions: int) -> list[tuple[int, dict]]:
    """(partition, message) pairs covering every mention once, in partition order, each in arrival order."""
    groups: dict[int, list[dict]] = defaultdict(list)
    for mention in mentions:
        groups[entity_partition(mention["entity_id"], partitions)].append(mention)
    return [
        (partition, {"schema": MENTION_BATCH_SCHEMA, "mentions": group[start:start + MAX_BATCH_MENTIONS]})
        for partition, group in sorted(groups.items())
        for start in range(0, len(group), MAX_BATCH_MENTIONS)
    ]


def read_mention_batch(message: dict) -> list[dict]:
    """The mention records of a batch; a ValueError names what makes it unusable."""
    mentions = message.get("mentions")
    if not isinstance(mentions, list) or not mentions:
        raise ValueError("a mention batch needs a non-empty 'mentions' list")
    for index, mention in enumerate(mentions):
        if not isinstance(mention, dict):
            raise ValueError(f"mentions[{index}] is a {type(mention).__name__}, not an object")
        missing = [field for field in REQUIRED if field not in mention]
        if missing:
            raise ValueError(f"mentions[{index}] lacks {', '.join(missing)}")
        if not isinstance(mention["entity_id"], str) or not isinstance(mention["article_id"], str):
            raise ValueError(f"mentions[{index}]: entity_id and article_id must be strings")
        try:
            float(mention["event_ts"]), int(mention["mentions"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"mentions[{index}]: event_ts and mentions must be numbers ({exc})") from None
    return mentions
