"""Keeping the rules in force current while the worker runs.

An editor's change must reach routing without a restart, and a broken edit
must not stop it: ``RulesWatcher`` reloads the file when it changes, takes
whole documents from the compacted ``routing.rules`` topic, and keeps the
rules in force when a new version cannot be used.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

from streams.routing.rules import RuleSet
from streams.routing.rules_file import DEFAULT_RULES_PATH, RulesError, load_rules, rules_from_bytes

log = logging.getLogger(__name__)


class RulesWatcher:
    """Hands out the current rules, reloading them when the file changes.

    Checking is a ``stat`` at most every ``check_interval`` seconds, cheap
    enough to call per article. A bad edit is logged and the rules in force are
    kept, so routing never stops because of a typo; ``last_error`` says why.
    The first load must succeed (there is nothing to fall back on).

    Rules can also arrive as whole documents (``apply_document``: records of
    the compacted ``routing.rules`` topic). File and topic are two ways to make
    a change, and the newest change wins: a file edit is dated by its mtime, a
    document by its record timestamp. At run time every change is newer than
    the last, so each one simply replaces the rules in force; after a restart
    the worker loads the file and then replays the topic, where documents
    older than the file are skipped and newer ones are applied.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, check_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path) if path is not None else DEFAULT_RULES_PATH
        self.check_interval = check_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._signature = self._stat()
        self._rules = load_rules(self.path)
        self._checked_at = clock()
        self.last_error: RulesError | None = None
        self.reloads = 0
        # where the rules in force come from ("file" or the record's source)
        # and the wall-clock time of that change
        self.origin = "file"
        self.changed_at = self._file_time()

    def _file_time(self) -> float:
        return self._signature[0] / 1e9 if self._signature is not None else 0.0

    def apply_document(self, data: bytes | None, *, source: str, timestamp: float | None = None) -> str:
        """Swap in the rules of a complete YAML document; returns what happened.

        ``None`` (a tombstone) withdraws published rules: the file is in force
        again. Raises RulesError for a document that cannot be used; the rules
        in force are then kept.
        """
        timestamp = time.time() if timestamp is None or timestamp <= 0 else timestamp
        with self._lock:
            if data is None:
                if self.origin == "file":
                    return "tombstone ignored: the file's rules are in force"
                rules = load_rules(self.path)  # RulesError: keep the document's rules
                self._signature = self._stat()
                self._install(rules, "file", max(timestamp, self._file_time()))
                return f"published rules withdrawn, back to {self.path} ({len(rules.categories)} categories)"
            if self.origin == "file" and timestamp < self.changed_at:
                return (f"document from {source} skipped: older than the last edit of {self.path} "
                        f"(the newest change wins)")
            try:
                rules = rules_from_bytes(data, source)
            except RulesError as exc:
                self.last_error = exc
                raise
            self._install(rules, source, timestamp)
            return f"rules from {source} in force ({len(rules.categories)} categories)"

    def _install(self, rules: RuleSet, origin: str, changed_at: float) -> None:
        self._rules = rules
        self.origin = origin
        self.changed_at = changed_at
        self.last_error = None
        self.reloads += 1

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> RuleSet:
        now = self._clock()
        if now - self._checked_at < self.check_interval:
            return self._rules
        with self._lock:
            self._checked_at = now
            signature = self._stat()
            if signature == self._signature:
                return self._rules
            self._signature = signature
            try:
                rules = load_rules(self.path)
            except RulesError as exc:
                self.last_error = exc
                log.error("routing rules not reloaded, keeping the previous ones: %s", exc)
                return self._rules
            self._install(rules, "file", max(self._file_time(), self.changed_at))
            log.info("routing rules reloaded from %s (%d categories)", self.path, len(rules.categories))
            return rules
