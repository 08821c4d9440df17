"""The web console in a real headless Chromium (Debian's package, driven by Playwright).

Screenshots of every view are kept under ``test-artifacts/console/`` for people to look at.
"""

from __future__ import annotations

import pathlib
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

import factstream as fs
from factstream.http import HttpSettings, create_app
from tests.services import REQUIRED
from tests.unit.http.support import (
    TOKEN,
    CounterModel,
    populate,
    sample_dead_letters,
    serving,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "console"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    message = "Chromium is not installed (Debian package 'chromium')"
    if REQUIRED:
        pytest.fail(f"{message}, and FACTSTREAM_REQUIRE_SERVICES=1 requires it")
    pytest.skip(message)


@pytest.fixture
async def browser_page() -> AsyncIterator[Any]:
    executable = _chromium()
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        if REQUIRED:
            pytest.fail("playwright is not installed (pip install playwright)")
        pytest.skip("playwright is not installed")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 860})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        await browser.close()
        assert not errors, f"the console raised JavaScript errors: {errors}"


async def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.slow
async def test_the_console_browses_streams_events_projections_dead_letters_and_the_tail(
    tmp_path: pathlib.Path, browser_page: Any
) -> None:
    page = browser_page
    async with fs.connect(f"sqlite:///{tmp_path}/console.db") as store:
        await populate(store)
        letters = sample_dead_letters()
        async with CounterModel(store) as model:
            app = create_app(
                HttpSettings(token=TOKEN, lag_sample_interval=0.2),
                store,
                projections=model,
                dead_letters=letters,
            )
            async with serving(app) as base:
                # The server has a token: the console asks for it once.
                await page.goto(f"{base}/console")
                await page.locator("#login-token").fill(TOKEN)
                await page.locator("#login-form button").click()
                streams = page.locator("#streams tbody tr")
                await streams.first.wait_for()
                assert await streams.count() == 12 + 5  # orders and stock streams
                await page.locator("#streams").get_by_text("order-1001", exact=True).wait_for()
                await _shot(page, "1-streams")

                await page.locator("#streams a", has_text="order-1001").click()
                await page.locator("h1", has_text="order-1001").wait_for()
                await page.locator("a", has_text="OrderConfirmed").click()
                await page.locator("#event-fields").wait_for()
                assert "checkout-0000" in await page.locator("#event-fields").inner_text()
                await page.get_by_role("heading", name="Caused", exact=True).wait_for()
                caused = page.locator("h2:text-is('Caused') + div")
                assert "StockReserved" in await caused.inner_text()
                await _shot(page, "2-event")

                # Follow the causation link back from the reservation to the confirmation.
                await caused.locator("a", has_text="StockReserved").click()
                await page.locator("h1", has_text="StockReserved").wait_for()
                data = await page.locator("#event-data").inner_text()
                assert '"order_id": "order-1001"' in data
                await page.locator("#causation-link").click()
                await page.locator("h1", has_text="OrderConfirmed").wait_for()

                # The projection falls behind, then catches up: the page follows by itself.
                model.pause()
                for n in range(40):
                    await store.append("load", [fs.NewEvent("Tick", {"n": n})])
                await page.goto(f"{base}/console#/projections")
                row = page.locator("#projections tbody tr", has_text="counters")
                await row.wait_for()
                assert "paused" in await row.inner_text()
                await page.wait_for_timeout(600)  # a few lag samples for the chart (not asserted)
                model.resume()
                await page.locator("#projections tbody tr", has_text="running").wait_for()
                await page.locator("#lag-chart path").first.wait_for(state="attached")
                await _shot(page, "3-projections")

                await page.goto(f"{base}/console#/dead-letters")
                rows = page.locator("#dead-letters tbody tr")
                await rows.first.wait_for()
                assert await rows.count() == 2
                await _shot(page, "4-dead-letters")
                await page.locator("tr[data-id='dl-0001'] button", has_text="Retry").click()
                await page.locator("tr[data-id='dl-0001']").wait_for(state="detached")
                assert letters.done == [("retry", "dl-0001")]
                await page.locator("tr[data-id='dl-0002'] button", has_text="Skip").click()
                await page.get_by_text("No dead letters").wait_for()
                assert letters.done[-1] == ("skip", "dl-0002")

                await page.goto(f"{base}/console#/tail")
                await page.locator("#tail-status", has_text="live").wait_for()
                result = await store.append(
                    "order-2001", [fs.NewEvent("OrderCreated", {"customer_id": "ada"})]
                )
                row = page.locator(f"#tail-rows tr[data-position='{result.position}']")
                await row.wait_for()
                assert "order-2001" in await row.inner_text()
                await store.append("order-2001", [fs.NewEvent("ItemAdded", {"sku": "tea"})])
                await page.locator("#tail-rows tr").nth(1).wait_for()
                assert "ItemAdded" in await page.locator("#tail-rows tr").first.inner_text()
                await _shot(page, "5-live-tail")
                await page.goto("about:blank")  # closes the live feed before the server stops
