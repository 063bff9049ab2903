"""How other commands find a running `newsstreams run`: a file in its data folder.

`run` starts its broker on a free port, so `produce`, `consume`, `worker`,
`trending` and `stories` started beside it (same folder, or the same
`NEWSSTREAMS_DATA_DIR`) cannot guess where it is. `run` writes
`<data folder>/run.json` with its process id, broker and web address once both
are up, and removes it when it stops. A file left by a run that was killed is
recognised by its dead process and ignored.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import orjson

FILE_NAME = "run.json"


@dataclass(frozen=True)
class RunningRun:
    pid: int
    broker_url: str
    """`kafka://127.0.0.1:PORT`, as KAFKA_BROKER takes it."""
    web_url: str


def run_file(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / FILE_NAME


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def find_running(data_dir: str | os.PathLike) -> RunningRun | None:
    """The run announced in `data_dir`, if its process is still alive."""
    try:
        data = orjson.loads(run_file(data_dir).read_bytes())
        found = RunningRun(int(data["pid"]), str(data["broker_url"]), str(data["web_url"]))
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    return found if _alive(found.pid) else None


@contextlib.contextmanager
def announced(data_dir: str | os.PathLike, *, broker_url: str, web_url: str):
    """Announce this process as the running run of `data_dir` for as long as the block lasts."""
    path = run_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(orjson.dumps({"pid": os.getpid(), "broker_url": broker_url, "web_url": web_url}))
    temporary.replace(path)
    try:
        yield
    finally:
        current = find_running(data_dir)
        if current is None or current.pid == os.getpid():
            path.unlink(missing_ok=True)
