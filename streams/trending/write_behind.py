"""A mapping that collects writes over another one and applies them in one pass.

A mention batch holds many articles, and the same entity often appears in
several of them within one pane. Counting them into a write-behind layer over
the window table turns those repeated updates of one key into a single table
write, i.e. one changelog message instead of one per mention.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping


class WriteBehind(MutableMapping):
    """Reads see pending writes first; `flush` hands each changed key to the backing mapping once."""

    def __init__(self, backing: MutableMapping):
        self.backing = backing
        self.pending: dict = {}
        self.deleted: set = set()

    def __getitem__(self, key):
        if key in self.pending:
            return self.pending[key]
        if key in self.deleted:
            raise KeyError(key)
        return self.backing[key]

    def __setitem__(self, key, value) -> None:
        self.pending[key] = value
        self.deleted.discard(key)

    def __delitem__(self, key) -> None:
        if key not in self:
            raise KeyError(key)
        self.pending.pop(key, None)
        self.deleted.add(key)

    def __contains__(self, key) -> bool:
        return key in self.pending or (key not in self.deleted and key in self.backing)

    def __iter__(self) -> Iterator:
        yield from self.pending
        for key in list(self.backing):
            if key not in self.pending and key not in self.deleted:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def flush(self) -> int:
        """Apply the changes; returns how many writes and deletes reached the backing mapping."""
        writes = 0
        for key in self.deleted:
            if key in self.backing:
                del self.backing[key]
                writes += 1
        for key, value in self.pending.items():
            self.backing[key] = value
            writes += 1
        self.pending.clear()
        self.deleted.clear()
        return writes
