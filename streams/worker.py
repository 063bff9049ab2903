"""Everything a worker runs: the app with its agents and web views attached."""

from __future__ import annotations

from .agents import aggregate, enrich, kb_sync, parse, progress, route, rules_sync  # noqa: F401  (registers agents and timers)
from .app import app
from .web import views  # noqa: F401  (registers pages)

__all__ = ["app"]
