"""The dashboard in a real browser (headless Chromium driven by Playwright).

A worker on the embedded broker serves the page; the two seed pages and an
article naming a knowledge-base entity whose display name is HTML are produced
while the page is open. The page must show the seeds' people and places, switch
to Arabic right-to-left, and render the HTML name as text without running it.

Needs Debian's `chromium` at /usr/bin/chromium (`.ci/run` installs it). Without
it the test is skipped on a developer machine and fails in CI (CI=true).
Playwright never downloads a browser of its own here.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import httpx
import orjson
import pytest

from streams import topics
from streams.entities.kb_updates import kb_record

from .conftest import produce
from .test_pipeline_broker import _iso, _seed_payloads

pytestmark = [pytest.mark.broker, pytest.mark.timeout(90)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DATA_TIMEOUT_MS = 60_000  # produced articles must show up on the page within this
UI_TIMEOUT_MS = 10_000    # anything the page does on its own (first render, language switch)

# A knowledge-base entity whose display name is markup: the page must show it as text.
XSS_NAME = '<img src=x onerror="alert(\'xss\')"><b>Blue Rose Festival</b>'
XSS_ID = "misc:blue-rose-festival"
XSS_ALIAS = "مهرجان الوردة الزرقاء"
XSS_BODY = (f"افتتح {XSS_ALIAS} أبوابه اليوم في المدينة بحضور آلاف الزوار. "
            f"وقال المنظمون إن {XSS_ALIAS} يستمر أسبوعاً كاملاً ويضم عروضاً فنية وموسيقية.")

ARABIC = {"PER": "أشخاص", "ORG": "منظمات", "LOC": "أماكن", "MISC": "أخرى"}
ENGLISH = {"PER": "People", "ORG": "Organisations", "LOC": "Places", "MISC": "Other"}


def _browser_or_skip():
    """The Playwright API, or skip (developer machine) / fail (CI) with the reason."""
    problem = None
    try:
        from playwright import async_api
    except ImportError as exc:  # pragma: no cover - the dev extra pins it
        async_api, problem = None, f"Playwright is not installed ({exc}); pip install -e '.[dev]'"
    if problem is None and not os.access(CHROMIUM, os.X_OK):
        problem = f"{CHROMIUM} not found: install Debian's chromium package (apt-get install -y chromium)"
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser test cannot run in CI: {problem}")
        pytest.skip(problem)
    return async_api


async def _wait_for_kb_update(worker, deadline: float) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            metrics = (await client.get(f"{worker.url}/metrics")).text
            if "newsstreams_kb_updates_total 1.0" in metrics:
                return
            await asyncio.sleep(0.3)
    raise AssertionError(f"worker never applied the knowledge-base record\n{worker.log()}")


async def test_dashboard_shows_trending_entities_in_both_languages_and_escapes_names(
    broker, start_worker, tmp_path: Path,
):
    api = _browser_or_skip()
    expect = api.expect
    worker = start_worker(NEWSSTREAMS_PARTITIONS=1)

    async with api.async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, timeout=30_000,
        )
        try:
            page = await context.new_page()
            dialogs: list[str] = []
            page_errors: list[str] = []

            async def _dismiss(dialog):
                dialogs.append(f"{dialog.type}: {dialog.message}")
                await dialog.dismiss()

            page.on("dialog", _dismiss)
            page.on("pageerror", lambda error: page_errors.append(str(error)))

            await page.goto(worker.url + "/", wait_until="domcontentloaded", timeout=UI_TIMEOUT_MS)

            # Before any article: four panels, each saying it is empty, no API error.
            panels = page.locator("section[data-type]")
            await expect(panels).to_have_count(4, timeout=UI_TIMEOUT_MS)
            await expect(page.locator("section[data-type] p.empty")).to_have_count(4, timeout=UI_TIMEOUT_MS)
            windows = httpx.get(f"{worker.url}/trending", params={"top": 1}, timeout=10).json()["windows"]
            assert windows, "the API lists no windows"
            await expect(page.locator("#window option")).to_have_text(windows, timeout=UI_TIMEOUT_MS)
            await expect(page.locator("#status")).to_contain_text("updated", timeout=UI_TIMEOUT_MS)
            for kind, label in ENGLISH.items():
                await expect(page.locator(f'section[data-type="{kind}"] h2')).to_have_text(label)

            # A knowledge-base entity with markup in its name, then the seeds and
            # an article mentioning that entity, all published now.
            await produce(broker, topics.KB, [orjson.dumps(kb_record(XSS_ID, "MISC", XSS_NAME, [XSS_ALIAS]))],
                          keys=[XSS_ID.encode()])
            await _wait_for_kb_update(worker, time.monotonic() + 20)
            published = datetime.now(timezone.utc)
            festival = {"url": "https://example.org/blue-rose", "source": "example", "title": XSS_NAME,
                        "body": XSS_BODY, "published_at": _iso(published)}
            await produce(broker, topics.RAW, [*_seed_payloads(published), orjson.dumps(festival)])

            def row(kind: str, entity_id: str):
                return page.locator(f'section[data-type="{kind}"] tr[data-entity="{entity_id}"] td.name')

            try:
                await expect(row("PER", "per:vladimir-putin")).to_have_text("Vladimir Putin", timeout=DATA_TIMEOUT_MS)
                await expect(row("LOC", "loc:ru")).to_have_text("Russia", timeout=UI_TIMEOUT_MS)
                await expect(row("LOC", "loc:kp")).to_have_text("North Korea", timeout=UI_TIMEOUT_MS)
                # The markup is shown verbatim as the name, not parsed into elements.
                await expect(row("MISC", XSS_ID)).to_have_text(XSS_NAME, timeout=DATA_TIMEOUT_MS)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n--- worker log ---\n{worker.log()}") from None
            assert await page.locator("main img, main b").count() == 0
            # People are not listed as places and vice versa.
            assert await page.locator('section[data-type="LOC"] tr[data-entity^="per:"]').count() == 0
            assert await page.locator('section[data-type="PER"] tr[data-entity^="loc:"]').count() == 0
            putin_mentions = page.locator('section[data-type="PER"] tr[data-entity="per:vladimir-putin"] td.num')
            await expect(putin_mentions).to_have_text(re.compile(r"^[1-9][0-9]* mentions$"))

            # Arabic: right-to-left, Arabic headings and labels, same data.
            await expect(page.locator("#lang")).to_have_text("العربية")
            await page.locator("#lang").click()
            html = page.locator("html")
            await expect(html).to_have_attribute("dir", "rtl", timeout=UI_TIMEOUT_MS)
            await expect(html).to_have_attribute("lang", "ar")
            await expect(page.locator('[data-i18n="title"]')).to_have_text("الأكثر تداولاً الآن")
            await expect(page.locator("#lang")).to_have_text("English")
            for kind, label in ARABIC.items():
                await expect(page.locator(f'section[data-type="{kind}"] h2')).to_have_text(label, timeout=UI_TIMEOUT_MS)
            await expect(putin_mentions).to_have_text(re.compile(r"^[1-9][0-9]* إشارة$"), timeout=UI_TIMEOUT_MS)
            # Names in the reader's language: the knowledge base's Arabic name (issue 21).
            await expect(row("PER", "per:vladimir-putin")).to_have_text("فلاديمير بوتين")
            await expect(row("LOC", "loc:ru")).to_have_text("روسيا")

            # The choice survives a reload (stored in localStorage), and switches back.
            await page.reload(wait_until="domcontentloaded", timeout=UI_TIMEOUT_MS)
            await expect(html).to_have_attribute("dir", "rtl", timeout=UI_TIMEOUT_MS)
            await expect(page.locator('section[data-type="LOC"] h2')).to_have_text(ARABIC["LOC"], timeout=UI_TIMEOUT_MS)
            await page.locator("#lang").click()
            await expect(html).to_have_attribute("dir", "ltr", timeout=UI_TIMEOUT_MS)
            await expect(page.locator('section[data-type="PER"] h2')).to_have_text(ENGLISH["PER"], timeout=UI_TIMEOUT_MS)
            await expect(row("MISC", XSS_ID)).to_have_text(XSS_NAME, timeout=UI_TIMEOUT_MS)

            # A slow answer must not overwrite a newer one: the answer for one
            # window is held back while the user switches to another; when it
            # finally arrives it must not replace what the newer choice shows.
            slow, fast = windows[1], windows[0]
            stale = orjson.dumps({"window": slow, "windows": windows, "items": [
                {"id": "per:stale-answer", "name": "Stale answer", "type": "PER",
                 "mentions": 1, "articles": 1, "sources": 1, "score": 0.0}]}).decode()

            async def _late_answer(route):
                await asyncio.sleep(2.5)
                await route.fulfill(status=200, content_type="application/json", body=stale)

            slow_url = re.compile(r"/trending\?window=" + re.escape(quote(slow, safe="")) + "&")
            await page.route(slow_url, _late_answer)
            await page.locator("#window").select_option(slow)
            await page.locator("#window").select_option(fast)
            await expect(row("PER", "per:vladimir-putin")).to_have_text("Vladimir Putin", timeout=UI_TIMEOUT_MS)
            stale_row = page.locator('tr[data-entity="per:stale-answer"]')
            with pytest.raises(api.TimeoutError):
                await stale_row.first.wait_for(state="attached", timeout=4000)
                raise AssertionError("an older, slower answer replaced the newer one")
            await page.unroute(slow_url)

            # Give a refresh cycle the chance to run anything it wrongly injected.
            await page.wait_for_timeout(3500)
            assert dialogs == [], f"the page ran injected script: {dialogs}"
            assert await page.locator("main img, main b").count() == 0
            assert page_errors == [], f"uncaught errors on the page: {page_errors}"
        finally:
            await context.close()
