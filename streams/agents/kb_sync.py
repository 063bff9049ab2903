"""Every worker applies the whole `entities.kb` topic to its knowledge base, without a restart."""

from __future__ import annotations

from .. import metrics, topics
from ..app import app
from ..entities.kb_updates import KbRecordError, apply_record
from .common import PIPELINE
from .follow import follow_whole_topic


def _apply(message) -> str:
    done = apply_record(PIPELINE.extractor.kb, message.key, message.value)
    metrics.KB_UPDATES.inc()
    return done


@app.task
async def follow_knowledge_base() -> None:
    await follow_whole_topic(topics.KB, _apply, refused=KbRecordError, stage="kb")
