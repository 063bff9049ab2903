"""`trending` and `stories`: ask a running worker over HTTP and print its answer."""

from __future__ import annotations

import sys

import orjson

from .common import UsageError, point_in_time, positive_int, web_base


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("trending", help="print the current trending table of a running worker")
    p.add_argument("--window", help="window name, e.g. 5m, 1h, 1d")
    p.add_argument("--type", choices=["PER", "ORG", "LOC", "MISC"], type=str.upper)
    p.add_argument("--top", type=positive_int, default=10)
    p.add_argument("--at", type=point_in_time, help="the window containing this time: ISO 8601 (2018-05-07, "
                                                    "2018-05-07T12:00:00Z) or Unix seconds; default: the latest")
    p.add_argument("--url", help="worker URL (default http://127.0.0.1:$NEWSSTREAMS_WEB_PORT)")
    p.add_argument("--json", action="store_true", help="print the raw JSON answer")
    p.set_defaults(func=cmd_trending)

    p = subparsers.add_parser("stories", help="print the breaking stories of a running worker")
    p.add_argument("--window", default="6h", help="how far back growth is measured, e.g. 1h, 6h, 1d (default 6h)")
    p.add_argument("--top", type=positive_int, default=10)
    p.add_argument("--category", help="only stories with articles of this category")
    p.add_argument("--at", type=point_in_time, help="rank as of this time: ISO 8601 (2018-05-07, "
                                                    "2018-05-07T12:00:00Z) or Unix seconds; default: the latest")
    p.add_argument("--url", help="worker URL (default http://127.0.0.1:$NEWSSTREAMS_WEB_PORT)")
    p.add_argument("--json", action="store_true", help="print the raw JSON answer")
    p.set_defaults(func=cmd_stories)


def _ask(args, path: str, params: dict) -> dict:
    """GET a worker's JSON answer; an unreachable worker or an error answer is one clear line."""
    import httpx

    base = web_base(args.url)
    try:
        response = httpx.get(f"{base.rstrip('/')}{path}", params=params, timeout=10.0)
    except httpx.HTTPError as exc:
        raise UsageError(f"cannot reach a worker at {base}: {exc}. Is `newsstreams run` or `worker` running?") from None
    if response.status_code != 200:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        raise UsageError(f"{base}{path} answered {response.status_code}: {message}")
    return response.json()


def cmd_stories(args) -> int:
    params = {"top": args.top, "window": args.window}
    if args.category:
        params["category"] = args.category
    if args.at is not None:
        params["at"] = args.at
    data = _ask(args, "/stories", params)
    if args.json:
        sys.stdout.write(orjson.dumps(data).decode() + "\n")
        return 0
    print(f"window {data['window']}  at {data['at']}")
    if not data["stories"]:
        print("(no story in the window yet)")
    for rank, story in enumerate(data["stories"], 1):
        growth = story["growth"]
        print(f"{rank:>3}. {growth['score']:>7.2f}  {growth['sources']:>3} outlets  {growth['articles']:>4} articles  "
              f"(x{growth['growth']:.1f})  {story['title']}  [{story['id']}]")
    return 0


def cmd_trending(args) -> int:
    params = {"top": args.top}
    if args.window:
        params["window"] = args.window
    if args.type:
        params["type"] = args.type
    if args.at is not None:
        params["at"] = args.at
    data = _ask(args, "/trending", params)
    if args.json:
        sys.stdout.write(orjson.dumps(data).decode() + "\n")
        return 0
    print(f"window {data['window']}  start {data['start']}  end {data['end']}")
    if not data["items"]:
        print(data.get("reason") or "(nothing counted yet)")
    for rank, item in enumerate(data["items"], 1):
        print(f"{rank:>3}. {item['score']:>7.2f}  {item['mentions']:>5} mentions  {item['articles']:>4} articles  "
              f"{item['type']:<4} {item['name']}  [{item['id']}]")
    return 0
