"""A global table that reports every change to it, whichever worker made it.

Some state is cheaper to replicate as one record per item and index in memory
than to replicate with its index (the near-duplicate sketches: one record per
article instead of one per lookup hash). The in-memory index must then see
every change: writes made here and records other workers wrote, which arrive
through the changelog. What a restart restores from local storage is not
replayed: rebuild the index in the table's `on_recover` callback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust


class ObservedGlobalTable(faust.GlobalTable):
    """Calls `on_change(key, value)` for every change; the value is None for a removed key."""

    def __init__(self, *args: Any, on_change: Callable[[Any, Any], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_change = on_change

    def on_key_set(self, key: Any, value: Any) -> None:
        super().on_key_set(key, value)
        self._on_change(key, value)

    def on_key_del(self, key: Any) -> None:
        super().on_key_del(key)
        self._on_change(key, None)

    def apply_changelog_batch(self, batch) -> None:
        batch = list(batch)
        super().apply_changelog_batch(batch)
        for key in dict.fromkeys(self._to_key(event.key) for event in batch):
            self._on_change(key, self.data.get(key))
