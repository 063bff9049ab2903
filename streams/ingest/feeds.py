"""Polling one RSS/Atom feed (URL or local file) for entries not sent before.

`produce --every 5m` runs for days against servers that go down, stall,
serve garbage or try to exhaust memory. A poll therefore never raises for a
bad feed: it returns [] and keeps the reason in `last_error`, so one feed can
never stop the others from being polled. `IngestError` (what the outside world
can cause) is reported as it is; running out of memory, or an unexpected
exception (a bug that some feed's content triggers), is reported as well, with
the traceback in the log.

Conditional requests (ETag / Last-Modified, or the file's mtime and size) keep
polls cheap; a bounded set of seen entry ids, optionally kept in a JSON state
file, keeps a restart from sending everything again.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import Callable

import orjson

from .fetch import DEFAULT_MAX_BYTES, FetchResult, IngestError, _size_text, check_http_url, fetch_url
from .sources import Feed, RawItem, _host_source, _is_url, _path_of_file_url, read_feed

__all__ = ["FeedPoller", "DEFAULT_MAX_SEEN"]

log = logging.getLogger(__name__)

DEFAULT_MAX_SEEN = 50_000
STATE_VERSION = 1


class FeedPoller:
    """Poll one feed; `poll_once()` returns only entries not returned before.

    With `state_path`, seen ids and validators survive restarts; several pollers
    may share one state file (one section per feed). With `autosave=False` the
    caller decides when a poll counts as delivered by calling `save()` after
    its messages are safely produced (at-least-once across crashes).

    `fetcher` is called like `fetch_url(url, etag=..., last_modified=...,
    allow_private=...)`. `allow_private=True` lets the feed (and its
    redirects) live on this machine or a private network; the default refuses
    such addresses so a feed cannot point the producer at internal services.
    """

    def __init__(
        self,
        url_or_path: str | os.PathLike,
        *,
        fetcher: Callable[..., FetchResult] = fetch_url,
        state_path: str | os.PathLike | None = None,
        max_seen: int = DEFAULT_MAX_SEEN,
        autosave: bool = True,
        allow_private: bool = False,
    ) -> None:
        target = os.fspath(url_or_path)
        self._path: Path | None = None
        self._url: str | None = None
        if _is_url(target) and target.lower().startswith("file://"):
            self._path = _path_of_file_url(target)
        elif _is_url(target):
            check_http_url(target)
            self._url = target
        else:
            self._path = Path(target)
        self.target = self._url or str(Path(os.path.abspath(self._path)))
        if max_seen < 1:
            raise ValueError("max_seen must be at least 1")
        self._fetcher = fetcher
        self._allow_private = allow_private
        self._max_seen = max_seen
        self._autosave = autosave
        self._state_path = Path(state_path) if state_path is not None else None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._etag: str | None = None
        self._last_modified: str | None = None
        self._file_validator: list[int] | None = None
        self.last_error: str | None = None
        """Why the last poll returned nothing new because of a problem (None if it went fine)."""
        self.last_warning: str | None = None
        """Set when the last poll read a not-well-formed feed leniently."""
        self.last_status: int | None = None
        """HTTP status (or 200/304 for a file changed/unchanged) of the last successful read."""
        self.feed_title: str | None = None
        self._load_state()

    def __repr__(self) -> str:
        return f"FeedPoller({self.target!r}, seen={len(self._seen)})"

    @property
    def seen_count(self) -> int:
        return len(self._seen)

    # ------------------------------------------------------------ polling

    def poll_once(self, *, now: datetime | None = None) -> list[RawItem]:
        """The entries not returned before; [] with `last_error` set when the feed could not be read.

        Never raises for a feed problem, whatever it is: the caller polls
        other feeds in the same loop, and one feed must not stop them.
        """
        self.last_error = None
        self.last_warning = None
        try:
            feed, validators = self._read(now)
        except IngestError as exc:
            self.last_error = str(exc)
            log.warning("feed %s: %s", self.target, exc)
            return []
        except MemoryError:
            self.last_error = f"ran out of memory reading {self.target}"
            log.error("feed %s: %s", self.target, self.last_error)
            return []
        except Exception as exc:  # noqa: BLE001 - a bug one feed triggers must not stop the others
            log.exception("feed %s: unexpected error", self.target)
            self.last_error = f"unexpected {type(exc).__name__} reading {self.target}: {exc} (traceback in the log)"
            return []
        if feed is None:
            return []
        self.last_warning = feed.warning
        self.feed_title = feed.title
        fresh: list[RawItem] = []
        for entry in feed.entries:
            if entry.identity in self._seen:
                # Still in the feed: keep it recent so it is not evicted and re-sent.
                self._seen.move_to_end(entry.identity)
                continue
            self._seen[entry.identity] = None
            fresh.append(entry.item)
        while len(self._seen) > self._max_seen:
            self._seen.popitem(last=False)
        self._etag, self._last_modified, self._file_validator = validators
        if self._autosave:
            self._save_quietly()
        return fresh

    def _read(self, now: datetime | None) -> tuple[Feed | None, tuple]:
        """(feed or None when unchanged, validators to keep once the feed was read fine)."""
        if self._url is not None:
            result = self._fetcher(
                self._url, etag=self._etag, last_modified=self._last_modified, allow_private=self._allow_private
            )
            self.last_status = result.status
            if result.status == 304:
                return None, ()
            feed = read_feed(
                result.content,
                origin=self._url,
                now=now,
                base_url=result.final_url,
                fallback_source=_host_source(result.final_url),
            )
            return feed, (result.etag, result.last_modified, None)
        path = self._path
        try:
            stat = path.stat()
            validator = [stat.st_mtime_ns, stat.st_size]
            if validator == self._file_validator:
                self.last_status = 304
                return None, ()
            if stat.st_size > DEFAULT_MAX_BYTES:
                raise IngestError(
                    f"{path} is {_size_text(stat.st_size)}, over the {_size_text(DEFAULT_MAX_BYTES)} limit for a feed"
                )
            data = path.read_bytes()
        except FileNotFoundError:
            raise IngestError(f"no such file: {path}") from None
        except OSError as exc:
            raise IngestError(f"cannot read {path}: {exc.strerror or exc}") from None
        self.last_status = 200
        feed = read_feed(data, origin=str(path), now=now, fallback_source=path.stem)
        return feed, (None, None, validator)

    # -------------------------------------------------------------- state

    def _section(self) -> dict:
        return {
            "etag": self._etag,
            "last_modified": self._last_modified,
            "file_validator": self._file_validator,
            "seen": list(self._seen),
        }

    def _read_state_file(self) -> dict:
        path = self._state_path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {"version": STATE_VERSION, "feeds": {}}
        except OSError as exc:
            raise IngestError(f"cannot read feed state {path}: {exc.strerror or exc}") from None
        try:
            state = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise IngestError(f"feed state {path} is not valid JSON ({exc}); delete it to start over") from None
        if not isinstance(state, dict) or not isinstance(state.get("feeds"), dict):
            raise IngestError(f"feed state {path} is not a newsstreams feed state file; delete it to start over")
        return state

    def _load_state(self) -> None:
        if self._state_path is None:
            return
        section = self._read_state_file()["feeds"].get(self.target)
        if not isinstance(section, dict):
            return
        seen = section.get("seen") or []
        for identity in seen[-self._max_seen:]:
            if isinstance(identity, str):
                self._seen[identity] = None
        self._etag = section.get("etag") if isinstance(section.get("etag"), str) else None
        self._last_modified = section.get("last_modified") if isinstance(section.get("last_modified"), str) else None
        validator = section.get("file_validator")
        self._file_validator = validator if isinstance(validator, list) else None

    def save(self) -> None:
        """Write this feed's section of the state file atomically (other feeds' sections are kept)."""
        if self._state_path is None:
            return
        state = self._read_state_file()
        state["version"] = STATE_VERSION
        state["feeds"][self.target] = self._section()
        directory = self._state_path.parent
        directory.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{self._state_path.name}.", dir=directory)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(orjson.dumps(state))
            os.replace(temp, self._state_path)
        except BaseException:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise

    def _save_quietly(self) -> None:
        try:
            self.save()
        except (OSError, IngestError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            self.last_error = f"cannot save feed state {self._state_path}: {reason} (a restart may resend entries)"
            log.warning("%s", self.last_error)
