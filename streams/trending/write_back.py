"""Table writes gathered over a batch: a key changed many times is written once.

Every write to a Faust table is also a changelog record, and a popular entity's
pane changes with almost every article. Counting a batch of mention messages
through this overlay and flushing it at the end turns N writes of one key into
one, while reads inside the batch see every earlier change.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

_DELETED = object()


class WriteBack(MutableMapping):
    """A mapping over `store` that keeps changes until `flush()`."""

    def __init__(self, store: MutableMapping):
        self._store = store
        self._changed: dict = {}

    def __getitem__(self, key):
        if key in self._changed:
            value = self._changed[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        return self._store[key]

    def __contains__(self, key) -> bool:
        if key in self._changed:
            return self._changed[key] is not _DELETED
        return key in self._store

    def get(self, key, default=None):
        if key in self._changed:
            value = self._changed[key]
            return default if value is _DELETED else value
        return self._store.get(key, default)

    def __setitem__(self, key, value) -> None:
        self._changed[key] = value

    def __delitem__(self, key) -> None:
        if key not in self:
            raise KeyError(key)
        self._changed[key] = _DELETED

    def __iter__(self) -> Iterator:
        for key in self._store:
            if key not in self._changed:
                yield key
        for key, value in self._changed.items():
            if value is not _DELETED:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def flush(self) -> int:
        """Write every changed key once to the store; returns how many writes that took."""
        written = 0
        for key, value in self._changed.items():
            if value is _DELETED:
                if key in self._store:
                    del self._store[key]
                    written += 1
            else:
                self._store[key] = value
                written += 1
        self._changed.clear()
        return written
