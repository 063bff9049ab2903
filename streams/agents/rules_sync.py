"""Every worker follows the whole `routing.rules` topic and swaps in the rules it carries.

A record's value is a complete rules document (the YAML of `categories.yaml`);
the key is a fixed name (`rules`), so compaction keeps just the latest
document. Every worker reads the whole topic (see `follow`). A document that
does not validate is logged, sent to the dead-letter topic (stage `rules`) and
ignored: the rules in force stay. File edits are still picked up by the
watcher; whichever change is newest wins (see `RulesWatcher`).
"""

from __future__ import annotations

from .. import topics
from ..app import app
from ..routing.rules import RulesError
from .common import PIPELINE
from .follow import follow_whole_topic


def apply_rules_message(watcher, message) -> str:
    """Apply one consumed record to the watcher; RulesError if it is unusable."""
    source = f"{message.topic}[{message.partition}]@{message.offset}"
    timestamp = message.timestamp / 1000.0 if message.timestamp and message.timestamp > 0 else None
    return watcher.apply_document(message.value, source=source, timestamp=timestamp)


@app.task
async def follow_routing_rules() -> None:
    if PIPELINE._rules is not None:  # fixed rules handed in (tests, bench): nothing to swap
        return
    await follow_whole_topic(
        topics.ROUTING_RULES, lambda message: apply_rules_message(PIPELINE.rules_watcher, message),
        refused=RulesError, stage="rules",
    )
