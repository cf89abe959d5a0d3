"""Compare methods in one click, in a real headless Chromium against `python app.py` (offline, a temp TL_HOME).

Text sample, a tiny local BERT (typed into the model picker) and 40 training rows, so three real training
subprocesses finish in about a minute: the Method tab's Compare button queues features, LoRA and full
fine-tuning; the table shows the first answer while the others still wait or train, then every row and a
recommendation; the chart draws a bar per method; a row's click opens its run in Evaluate (Playground and export
set to it); a reloaded page shows the comparison again. No server path or workspace id appears on the page.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# app and browser are pytest fixtures: imported to be found by name (the same app start and Chromium flags)
from tests.test_browser import CHROMIUM, app, browser, cell, open_tab, set_number, shot  # noqa: F401
from tests.tiny_models import make_tiny_bert

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]

ROWS = "#method-compare-table [role=row]"


def status_cells(page) -> list[str]:
    """The status column of the comparison table, one entry per method row."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#method-compare-table [role=row]')].slice(1)
              .map(r => [...r.querySelectorAll('[role=gridcell]')].map(c => c.innerText.trim()))
              .filter(cells => cells.length >= 8).map(cells => cells[6])"""
    )


def wait_for_partial_then_all(page, timeout_s: float = 600) -> bool:
    """Poll the table until every row is done; True if a moment was seen with the first row done and another not
    (the table fills in as runs finish)."""
    seen_partial = False
    for _ in range(int(timeout_s * 4)):
        statuses = status_cells(page)
        if len(statuses) == 3:
            assert "failed" not in statuses, statuses
            if statuses[0] == "done" and any(s != "done" for s in statuses[1:]):
                seen_partial = True
            if all(s == "done" for s in statuses):
                return seen_partial
        page.wait_for_timeout(250)
    raise AssertionError(f"the comparison did not finish: {status_cells(page)}")


def test_compare_button_fills_the_table_and_a_row_opens_its_run(app, browser, tmp_path_factory) -> None:  # noqa: F811
    url, home = app
    bert = make_tiny_bert(tmp_path_factory.mktemp("models") / "bert")
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("#quick-text", timeout=30_000)

    box = page.locator("#model-dd input").first
    box.fill(str(bert))
    box.press("Enter")
    page.wait_for_timeout(800)
    open_tab(page, "Data")
    page.locator("#use-sample").click()
    page.get_by_text("No problems found").first.wait_for(timeout=60_000)
    set_number(page, "max-rows", "40")
    open_tab(page, "Method & settings")
    set_number(page, "max-length", "32")
    page.locator("#method-compare-btn").click()

    page.wait_for_function(
        f"document.querySelectorAll('{ROWS}').length >= 4", timeout=120_000
    )  # header + one row per method, at once
    assert wait_for_partial_then_all(page), "the first answer never showed while other methods were still going"
    summary = page.locator("#method-compare-summary")
    summary.get_by_text("Recommendation.").wait_for(timeout=30_000)
    assert "same split" in summary.inner_text()
    page.wait_for_selector("#method-compare-chart .barlayer .trace", timeout=30_000)
    table_text = page.locator("#method-compare-table").inner_text()
    for words in ("Feature extraction", "LoRA", "Full fine-tuning", "macro F1"):
        assert words in table_text
    runs_dir = next((home / "sessions").iterdir()) / "runs"
    shot(page, "3-method-compare")
    body = page.locator("body").inner_text()
    assert str(home) not in body and runs_dir.parent.name not in body  # no server path, no workspace id

    # follow the LoRA row's link: its run opens in Evaluate, and Playground and export are set to it
    run_name = cell(page, "method-compare-table", 1, 7).inner_text().strip()
    assert "-text-lora-" in run_name and (runs_dir / run_name / "results.json").is_file()
    cell(page, "method-compare-table", 1, 0).click()
    page.wait_for_function(
        "(name) => document.querySelector('#eval-run input') && "
        "document.querySelector('#eval-run input').value.includes(name)",
        arg=run_name,
        timeout=30_000,
    )
    assert page.get_by_role("tab", name="Evaluate").get_attribute("aria-selected") == "true"
    page.locator("#metrics-table").get_by_text("accuracy", exact=True).first.wait_for(timeout=30_000)
    open_tab(page, "Playground")
    assert run_name in page.locator("#play-run input").input_value()

    # the features came from (and went into) the workspace's own cache
    features_run = next(runs_dir.glob("*-text-features-*"))
    cache_dir = json.loads((features_run / "results.json").read_text())["features"]["cache_dir"]
    assert Path(cache_dir) == runs_dir.parent / "feature_cache"

    # a reloaded page finds the comparison again
    page.reload()
    page.wait_for_selector("#quick-text", timeout=30_000)
    open_tab(page, "Method & settings")
    page.wait_for_function(f"document.querySelectorAll('{ROWS}').length >= 4", timeout=30_000)
    assert status_cells(page) == ["done", "done", "done"]
    assert not errors, errors
    ctx.close()
