"""The runtime wing: the only code that imports Faust.

`build_app(settings)` makes a worker's Faust app from one `Settings` object:
topics, tables, one agent per stage of `streams.topology` (`movers`), the
progress heartbeats and the web views. Importing this package has no effect;
building the app switches on the corrections in `streams.fixes`.
"""

from .app import Runtime, build_app

__all__ = ["Runtime", "build_app"]
