"""The page at phone width (390 × 844) in headless Chromium: every tab is one tap away (none behind a "⋯" menu),
nothing is wider than the screen, and a sample run can be followed on the Train tab, scored on Evaluate and tried
in the Playground. A screenshot of each tab goes to tests/screenshots/phone-*.png (ignored by git)."""

from __future__ import annotations

import pytest

from tests.test_browser import (  # noqa: F401
    ARGS,
    CHROMIUM,
    SHOTS,
    app,
    browser,
    headline_row,
    wait_cell_text,
    wait_finished,
    wait_prediction,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]
WIDTH, HEIGHT = 390, 844
# each tab and an element only that tab shows
TABS = {
    "Task & model": "#quick-text",
    "Data": "#data-upload",
    "Method & settings": "#method-radio",
    "Train": "#start-btn",
    "Evaluate": "#metrics-table",
    "Playground": "#play-text",
    "Runs & export": "#runs-table",
}


def fits(page, selector: str) -> None:
    """The element is on screen horizontally: not cut off at the right edge."""
    box = page.locator(selector).first.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH + 1, (selector, box)


def phone_shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"phone-{name}.png"), full_page=True)


def test_every_tab_works_at_phone_width(app, browser) -> None:  # noqa: F811 - the fixtures imported above
    url, _ = app
    ctx = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("#quick-text", timeout=30_000)
    assert (
        page.locator("[aria-label='More tabs']").count() == 0
        or not page.locator("[aria-label='More tabs']").is_visible()
    )
    for name in TABS:
        assert page.get_by_role("tab", name=name).is_visible(), f"tab {name!r} is not reachable at phone width"
    fits(page, "#model-facts")

    # a sample run, followed on the Train tab and tried from it
    page.locator("#quick-text").tap()
    page.wait_for_selector("#run-status .tl-status", timeout=30_000)
    fits(page, "#run-status .tl-status")
    wait_finished(page, 150)
    fits(page, "#run-status .tl-ok")
    page.locator("#try-it-btn").tap()
    wait_prediction(page, "text")
    fits(page, "#play-label")

    for i, (name, selector) in enumerate(TABS.items()):
        tab = page.get_by_role("tab", name=name)
        tab.tap()
        page.wait_for_selector(selector, state="visible", timeout=30_000)
        assert tab.get_attribute("aria-selected") == "true"
        page.wait_for_timeout(300)
        phone_shot(page, f"{i + 1}-{name.split()[0].lower()}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= WIDTH + 1, f"{name}: the page is {width}px wide at a {WIDTH}px screen"
        if name == "Evaluate":
            wait_cell_text(page, "metrics-table", headline_row("text"))
            fits(page, "#metrics-table")
    assert not errors, errors
    ctx.close()
