"""HTTP API and dashboard served by every worker (Faust web), attached to a runtime's app by `attach`."""

from __future__ import annotations

import re
from importlib import resources

from faust.web import Request, Response, View

from ... import metrics
from ...clock import parse_time
from ...settings import parse_duration
from ...stories import story_record, top_stories
from ...stories.assign import story_key
from ...stories.query import category_rates, merge_rates, merge_top
from ...trending.query import find_spec, merge_timelines, merge_trending, timeline, top_trending
from .cluster import Cluster

ENTITY_TYPES = ("PER", "ORG", "LOC", "MISC")
MAX_TOP = 200


def _dashboard_html() -> str:
    return resources.files(__package__).joinpath("dashboard.html").read_text(encoding="utf-8")


_ARABIC_LETTER = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]")


def arabic_name(kb, entity_id: str, name: str) -> str | None:
    """An entity's display name in Arabic: the knowledge base's, else its own name when that is Arabic.

    Names the tagger found (not in the knowledge base) are already their
    Arabic surface form; names in the knowledge base carry `names.ar`.
    """
    entity = kb.get(entity_id) if kb is not None else None
    found = ((entity or {}).get("names") or {}).get("ar")
    if found:
        return found
    return name if name and _ARABIC_LETTER.search(name) else None


def _bad_request(view: View, message: str) -> Response:
    return view.json({"error": message}, status=400)


def attach(runtime) -> None:
    """The dashboard, `/trending`, `/entities/{id}`, `/stories`, `/stories/{id}` and `/metrics` on the runtime's app."""
    app, windows, cluster = runtime.app, runtime.settings.windows, Cluster(runtime)

    def knowledge_base():
        try:
            return runtime.pipeline.extractor.kb
        except Exception:  # no extractor (a test's stand-in pipeline): names as they are
            return None

    @app.page("/")
    class Dashboard(View):
        async def get(self, request: Request) -> Response:
            return self.html(_dashboard_html())

    @app.page("/trending")
    class Trending(View):
        async def get(self, request: Request) -> Response:
            query = request.query
            try:
                spec = find_spec(windows, query.get("window"))
            except ValueError as exc:
                return _bad_request(self, str(exc))
            entity_type = (query.get("type") or "").upper() or None
            if entity_type and entity_type not in ENTITY_TYPES:
                return _bad_request(self, f"unknown type {entity_type!r}; use one of {', '.join(ENTITY_TYPES)}")
            try:
                top = int(query.get("top") or 10)
            except ValueError:
                return _bad_request(self, "top must be a whole number")
            try:
                at = parse_time(query["at"]) if query.get("at") else None
            except ValueError as exc:
                return _bad_request(self, f"at: {exc}")
            if not 1 <= top <= MAX_TOP:
                return _bad_request(self, f"top must be between 1 and {MAX_TOP}")
            watermark = cluster.local_watermark()
            result = top_trending(cluster.local_counts(), spec, entity_type=entity_type, top=top, at=at,
                                  watermark=watermark)
            partial: list[str] = []
            if not query.get("local"):
                params = {"window": spec.name, "type": entity_type, "top": top}
                answers, partial = await cluster.ask_peers("/trending", {**params, "at": at})
                parts = [result, *answers]
                latest = max((part["start"] for part in parts if part["start"] is not None), default=None)
                stale = [part for part in parts if part["start"] not in (None, latest)]
                if stale and at is None:
                    # Some worker's newest window is older than the cluster's: ask again for the newest.
                    result = top_trending(cluster.local_counts(), spec, entity_type=entity_type, top=top, at=latest,
                                          watermark=watermark)
                    answers, partial = await cluster.ask_peers("/trending", {**params, "at": latest})
                    parts = [result, *answers]
                result = merge_trending(parts, top)
                result["partial"] = partial
            result["windows"] = [s.name for s in windows]
            kb = knowledge_base()
            for item in result["items"]:
                item["name_ar"] = arabic_name(kb, item["id"], item["name"])
            return self.json(result)

    @app.page("/entities/{entity_id}")
    class Entity(View):
        async def get(self, request: Request, entity_id: str) -> Response:
            found = timeline(cluster.local_counts(), entity_id, windows)
            if not request.query.get("local"):
                answers, _ = await cluster.ask_peers(f"/entities/{entity_id}", {})
                found = merge_timelines([found, *answers])
            if found is None:
                return self.json({"error": f"no counts for entity {entity_id!r}"}, status=404)
            found["name_ar"] = arabic_name(knowledge_base(), entity_id, found["name"])
            return self.json(found)

    def local_stories():
        table = runtime.stories
        return [] if table is None else [story for key, story in list(table.items())
                                         if isinstance(key, str) and key.startswith("s/") and story]

    @app.page("/stories")
    class Stories(View):
        """The stories ranked by breaking score (`streams.stories.query`); the owner of the stories answers."""

        async def get(self, request: Request) -> Response:
            query = request.query
            try:
                window = parse_duration(query.get("window") or "6h")
            except ValueError as exc:
                return _bad_request(self, f"window: {exc}")
            try:
                top = int(query.get("top") or 10)
            except ValueError:
                return _bad_request(self, "top must be a whole number")
            if not 1 <= top <= MAX_TOP:
                return _bad_request(self, f"top must be between 1 and {MAX_TOP}")
            try:
                at = parse_time(query["at"]) if query.get("at") else None
            except ValueError as exc:
                return _bad_request(self, f"at: {exc}")
            category, entity = query.get("category") or None, query.get("entity") or None
            result = top_stories(local_stories(), at=at, window=window, top=top, category=category, entity=entity)
            if not query.get("local"):
                params = {"window": f"{window}s", "top": top, "at": at, "category": category, "entity": entity}
                answers, partial = await cluster.ask_peers("/stories", params)
                result = merge_top([result, *[a for a in answers if a]], top)
                result["partial"] = partial
            return self.json(result)

    @app.page("/categories")
    class Categories(View):
        """Articles per category in the last `window` of event time (from the stories' members)."""

        async def get(self, request: Request) -> Response:
            query = request.query
            try:
                window = parse_duration(query.get("window") or "1h")
                at = parse_time(query["at"]) if query.get("at") else None
            except ValueError as exc:
                return _bad_request(self, str(exc))
            result = category_rates(local_stories(), at=at, window=window)
            if not query.get("local"):
                answers, partial = await cluster.ask_peers("/categories", {"window": f"{window}s", "at": at})
                result = merge_rates([result, *[a for a in answers if a]])
                result["partial"] = partial
            return self.json(result)

    @app.page("/stories/{story_id}")
    class Story(View):
        async def get(self, request: Request, story_id: str) -> Response:
            table = runtime.stories
            story = None if table is None else table.get(story_key(story_id))
            if story is not None:
                return self.json(story_record(story))
            if not request.query.get("local"):
                answers, _ = await cluster.ask_peers(f"/stories/{story_id}", {})
                found = [a for a in answers if a]
                if found:
                    return self.json(found[0])
            return self.json({"error": f"no story {story_id!r}"}, status=404)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(metrics.render(), content_type="text/plain; version=0.0.4")
