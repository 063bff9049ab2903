"""Answers that span every worker: each owns the counts of its own partitions.

A request to any worker asks the others for their local part (`local=1`) and
merges. Owners come from Faust's partition assignor; a worker that does not
answer in time is named in `partial` instead of failing the whole request.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from yarl import URL

from ... import topics
from ...trending.windows import progress_key

log = logging.getLogger(__name__)
PEER_TIMEOUT = 3.0


class Cluster:
    """This worker's share of the window counts, and the other workers that hold the rest."""

    def __init__(self, runtime):
        self.app = runtime.app
        self.window_counts = runtime.window_counts

    def local_counts(self) -> dict[str, dict]:
        """Window counts of the partitions this worker is active for (not standby copies)."""
        active = self._active_partitions()
        return {key: entry for key, entry in self.window_counts.items() if entry.get("partition") in active}

    def local_watermark(self) -> float | None:
        """The newest watermark among this worker's active partitions: what it has dropped is older."""
        marks = []
        for partition in self._active_partitions():
            state = self.window_counts.get(progress_key(partition))
            if state and state.get("watermark") is not None:
                marks.append(state["watermark"])
        return max(marks, default=None)

    def _active_partitions(self) -> set[int]:
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topics.MENTIONS}

    def peer_urls(self) -> list[URL]:
        """Web URLs of the other workers that own partitions of the window counts."""
        own = URL(str(self.app.conf.canonical_url))
        try:
            owners = self.app.router.table_metadata(self.window_counts.name)
        except (KeyError, AttributeError):
            return []
        return sorted({URL(str(url)) for url in owners} - {own}, key=str)

    async def ask_peers(self, path: str, params: dict) -> tuple[list[dict | None], list[str]]:
        """GET `path?local=1&...` from every peer; returns (answers, peers that failed)."""
        peers = self.peer_urls()
        if not peers:
            return [], []
        query = {**{k: str(v) for k, v in params.items() if v is not None}, "local": "1"}
        timeout = aiohttp.ClientTimeout(total=PEER_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async def one(peer: URL):
                async with session.get(peer.with_path(path).with_query(query)) as response:
                    if response.status == 404:
                        return None
                    response.raise_for_status()
                    return await response.json()

            results = await asyncio.gather(*(one(peer) for peer in peers), return_exceptions=True)
        answers, failed = [], []
        for peer, result in zip(peers, results):
            if isinstance(result, BaseException):
                log.warning("worker %s did not answer %s: %s", peer, path, result)
                failed.append(str(peer))
            else:
                answers.append(result)
        return answers, failed
