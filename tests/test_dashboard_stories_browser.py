"""The dashboard's Breaking stories panel in a real browser (headless Chromium, as tests/test_dashboard_browser.py).

The two seed pages (two outlets, one story) are produced while the page is
open: the panel shows the story with its outlets, article count, growth and a
sparkline; a click on its title lists its articles (headline, outlet, time,
link) and the list stays open across refreshes; a click on a person's name
opens the entity's page with its stories and their latest headlines; the panel
speaks Arabic too.
Screenshots of the panel, in both languages, are checked: the size of the
panel, nothing overflowing it, and not a blank image.
"""

from __future__ import annotations

import re
import struct
import zlib
from datetime import datetime, timezone
from pathlib import Path

import httpx
import orjson
import pytest

from streams import topics

from .conftest import produce
from .test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, DATA_TIMEOUT_MS, UI_TIMEOUT_MS, _browser_or_skip
from .test_pipeline_broker import _seed_payloads

pytestmark = [pytest.mark.broker, pytest.mark.timeout(90)]


def png_rows(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the (still filtered) rows of an 8-bit, non-interlaced PNG: enough to see it is no blank."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    data, at = b"", 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        if png[at + 4:at + 8] == b"IDAT":
            data += png[at + 8:at + 8 + length]
        at += 12 + length
    raw = zlib.decompress(data)
    stride = 1 + width * (4 if colour == 6 else 3)
    assert len(raw) == stride * height
    return width, height, [raw[i * stride + 1:(i + 1) * stride] for i in range(height)]


async def check_screenshot(page, path: Path) -> None:
    panel = page.locator("#stories")
    box = await panel.bounding_box()
    viewport = page.viewport_size
    assert box and box["width"] <= viewport["width"], (box, viewport)
    overflow = await panel.evaluate("node => node.scrollWidth - node.clientWidth")
    assert overflow <= 0, f"the stories panel overflows by {overflow}px"
    width, height, rows = png_rows(await panel.screenshot(path=str(path)))
    assert abs(width - round(box["width"])) <= 1 and abs(height - round(box["height"])) <= 1
    assert len({row for row in rows}) > height // 4, "the screenshot is (nearly) blank"


async def test_breaking_stories_panel_lists_the_seeds_story_and_opens_its_articles(broker, start_worker, tmp_path):
    api = _browser_or_skip()
    expect = api.expect
    worker = start_worker(NEWSSTREAMS_PARTITIONS=1)
    async with api.async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, timeout=30_000, viewport={"width": 1000, "height": 900},
        )
        try:
            page = await context.new_page()
            page_errors: list[str] = []
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            await page.goto(worker.url + "/", wait_until="domcontentloaded", timeout=UI_TIMEOUT_MS)
            panel = page.locator("#stories")
            await expect(panel.locator("h2")).to_have_text("Breaking stories", timeout=UI_TIMEOUT_MS)
            await expect(panel.locator("p.empty")).to_have_text("No story yet.", timeout=UI_TIMEOUT_MS)

            seeds = [orjson.loads(p) for p in _seed_payloads(datetime.now(timezone.utc))]
            for n, seed in enumerate(seeds):
                seed["url"] = f"https://example.org/seed-{n}"
            await produce(broker, topics.RAW, [orjson.dumps(seed) for seed in seeds])
            rows = panel.locator("tr[data-story]")
            try:
                await expect(rows.first).to_be_visible(timeout=DATA_TIMEOUT_MS)
                await expect(panel.locator("td.num", has_text="2 articles")).not_to_have_count(0, timeout=DATA_TIMEOUT_MS)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n--- worker log ---\n{worker.log()}") from None
            listed = httpx.get(f"{worker.url}/stories", params={"top": 8}, timeout=10).json()["stories"]
            found = [s for s in listed if "كوريا الشمالية" in s["title"]]  # the two pages' lead: Putin meets North Korea
            assert len(found) == 1, [(s["title"], [m["id"] for m in s["members"]]) for s in listed]
            (top,) = found
            row = panel.locator(f'tr[data-story="{top["id"]}"]')
            await expect(row.locator("td.title")).to_have_text(top["title"])
            await expect(row.locator("td.outlets")).to_have_text("2 outlets")
            await expect(row.locator("td.num")).to_have_text("2 articles")
            await expect(row.locator("td.score")).to_have_text(re.compile(r"^×\d+\.\d$"))
            await expect(row.locator("svg.spark polyline")).to_have_count(1)

            members = panel.locator(f'tr[data-members="{top["id"]}"]')
            await expect(members).to_be_hidden()
            await row.locator("td.title button").click()
            await expect(members).to_be_visible()
            links = members.locator("li a")
            await expect(links).to_have_count(2)
            hrefs = {await links.nth(i).get_attribute("href") for i in range(2)}
            assert hrefs == {m["url"] for m in top["members"]}
            await expect(members.locator("li").first).to_contain_text(" · ")
            await page.wait_for_timeout(3500)  # a refresh keeps it open
            await expect(members).to_be_visible()
            await check_screenshot(page, tmp_path / "stories-en.png")

            # Entities carry an Arabic display name beside the English one.
            people = httpx.get(f"{worker.url}/trending", params={"window": "1d", "type": "PER", "top": 50}, timeout=10)
            putin = [i for i in people.json()["items"] if i["id"] == "per:vladimir-putin"]
            assert putin and putin[0]["name_ar"] == "فلاديمير بوتين" and putin[0]["name"] == "Vladimir Putin"
            timeline = httpx.get(f"{worker.url}/entities/per:vladimir-putin", timeout=10).json()
            assert timeline["name_ar"] == "فلاديمير بوتين"

            # Articles per category in the last hour, as /categories counts them.
            rates = httpx.get(f"{worker.url}/categories", timeout=10).json()["categories"]
            assert rates, "the seeds were routed somewhere"
            first = page.locator(f'#categories tr[data-category="{rates[0]["id"]}"] td.num')
            await expect(first).to_have_text(f'{rates[0]["articles"]} articles', timeout=UI_TIMEOUT_MS)

            # A click on a name opens the entity's page: its stories of the day and their latest headlines.
            entity = page.locator("#entity")
            await expect(entity).to_be_hidden()
            await page.locator('section[data-type="PER"] tr[data-entity="per:vladimir-putin"] td.name a').click()
            await expect(entity.locator("h2")).to_contain_text("Vladimir Putin", timeout=UI_TIMEOUT_MS)
            await expect(entity.locator(f'h3[data-story="{top["id"]}"]')).to_have_text(top["title"], timeout=UI_TIMEOUT_MS)
            await expect(entity.locator("li a")).not_to_have_count(0)
            await page.wait_for_timeout(3500)  # a refresh keeps it
            await expect(entity.locator(f'h3[data-story="{top["id"]}"]')).to_be_visible()
            await entity.locator("h2 button").click()
            await expect(page.locator("#entity")).to_be_hidden()

            await page.locator("#lang").click()
            await expect(panel.locator("h2")).to_have_text("قصص عاجلة", timeout=UI_TIMEOUT_MS)
            await expect(row.locator("td.outlets")).to_have_text("2 مصادر", timeout=UI_TIMEOUT_MS)
            await expect(members).to_be_visible()
            await check_screenshot(page, tmp_path / "stories-ar.png")
            # Fixes from the issue: an icon, no panel wider than its content box, names on one line.
            assert await page.locator('link[rel="icon"]').count() == 1
            overflowing = await page.evaluate(
                "[...document.querySelectorAll('section')].filter(s => s.scrollWidth > s.clientWidth).length")
            assert overflowing == 0
            tall = await page.evaluate("[...document.querySelectorAll('td.name')].filter(td => td.getClientRects()[0]"
                                       ".height > 2 * parseFloat(getComputedStyle(td).lineHeight)).length")
            assert tall == 0, "an entity name wraps"
            assert page_errors == [], page_errors
        finally:
            await context.close()
