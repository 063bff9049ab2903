"""Read-side of the window counts: the answers behind `/trending` and `/entities/{id}`."""

from __future__ import annotations

import math

from collections import defaultdict
from collections.abc import Iterable, Mapping

from .score import rank_window, ranking_key
from .windows import WindowSpec, format_duration, iso, window_entries


def find_spec(specs: Iterable[WindowSpec], name: str | None) -> WindowSpec:
    specs = list(specs)
    if not name:
        return specs[0]
    for spec in specs:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for spec in specs)
    raise ValueError(f"unknown window {name!r}; known windows: {known}")


def first_retained_start(spec: WindowSpec, watermark: float | None) -> int | None:
    """Start of the oldest window of `spec` still kept at this watermark (None: nothing dropped yet)."""
    if watermark is None:
        return None
    cutoff = spec.retained_after(watermark)  # windows ending at or before it are gone
    return (math.floor((cutoff - spec.size) / spec.step) + 1) * spec.step


def top_trending(
    store: Mapping[str, dict],
    spec: WindowSpec,
    *,
    entity_type: str | None = None,
    top: int = 10,
    at: float | None = None,
    watermark: float | None = None,
) -> dict:
    """Top entities of the window containing `at`, or of the latest window seen.

    `watermark` is the newest watermark among the partitions asked: windows
    older than their retention at it have been dropped, and a question about
    them is answered with `retained_from` and a `reason`, not a silent empty list.
    """
    retained_from = first_retained_start(spec, watermark)
    answer = {"window": spec.name, "type": entity_type,
              "retained_from": None if retained_from is None else iso(retained_from)}
    if at is not None:
        starts = spec.starts(at)
        start = starts[-1] if starts else None
        if start is not None and retained_from is not None and start < retained_from:
            return {**answer, "start": start, "end": start + spec.size, "items": [],
                    "reason": f"{spec.name} windows are kept for {format_duration(spec.keep)} after they end; "
                              f"the oldest one kept starts at {iso(retained_from)}"}
    entries = window_entries(store, spec)
    history: dict[str, dict[int, int]] = defaultdict(dict)
    for entry in entries:
        history[entry["entity_id"]][entry["start"]] = entry["articles"]
    if at is None:
        start = max((entry["start"] for entry in entries), default=None)
    current = [entry for entry in entries if entry["start"] == start]
    items = rank_window(current, history, size=spec.size, entity_type=entity_type, top=top)
    return {
        **answer,
        "start": start,
        "end": None if start is None else start + spec.size,
        "items": items,
    }


def timeline(store: Mapping[str, dict], entity_id: str, specs: Iterable[WindowSpec]) -> dict | None:
    """Every window's counts for one entity, oldest first, grouped by window spec."""
    mine = {key: entry for key, entry in store.items() if entry["entity_id"] == entity_id}
    if not mine:
        return None
    first = next(iter(mine.values()))
    windows: dict[str, list[dict]] = {}
    for spec in specs:
        points = [
            {
                "start": entry["start"],
                "end": entry["start"] + entry["size"],
                "mentions": entry["mentions"],
                "articles": entry["articles"],
                "sources": entry["sources"],
            }
            for entry in window_entries(mine, spec)
        ]
        if points:
            windows[spec.name] = sorted(points, key=lambda p: p["start"])
    return {"id": entity_id, "name": first["name"], "type": first["type"], "windows": windows}


def merge_trending(parts: list[dict], top: int) -> dict:
    """One answer from the answers of several workers for the same window start.

    Workers own disjoint entities, so the global top K is the top K of the union.
    What one worker has dropped, the answer says is dropped.
    """
    base = next((part for part in parts if part["start"] is not None), parts[0])
    items = [item for part in parts if part["start"] == base["start"] for item in part["items"]]
    items.sort(key=ranking_key)
    merged = {**base, "items": items[:top]}
    retained = [part["retained_from"] for part in parts if part.get("retained_from")]
    merged["retained_from"] = max(retained) if retained else None
    reasons = [part["reason"] for part in parts if part.get("reason")]
    if reasons:
        merged["reason"] = reasons[0]
        merged["items"] = []
    return merged


def merge_timelines(parts: list[dict | None]) -> dict | None:
    found = [part for part in parts if part]
    if not found:
        return None
    merged: dict[str, dict[int, dict]] = defaultdict(dict)
    for part in found:
        for name, points in part["windows"].items():
            for point in points:
                merged[name][point["start"]] = point
    return {**found[0], "windows": {name: [by_start[s] for s in sorted(by_start)] for name, by_start in merged.items()}}
