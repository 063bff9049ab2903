"""The two bundled sample pages (real Arabic aggregator pages) that `run --demo` publishes and the bench imitates.

A package, so that an installed copy ships the pages with it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sample_pages() -> list[Path]:
    folder = resources.files(__name__)
    return sorted(Path(str(item)) for item in folder.iterdir() if item.name.endswith(".txt"))
