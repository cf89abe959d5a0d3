"""An analyst's own 60-row CSV through the form, in a real headless Chromium: a run that cannot learn (one optimizer
step, labels unrelated to the words) must finish amber, "no better than guessing", with a cause and a next step,
and the runs table must say the same; never a green "Done"."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from tests.test_browser import app, browser, open_tab, set_number, shot, wait_finished  # noqa: F401 (fixtures)

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau".split()


def unlearnable_csv(path: Path, rows: int = 60) -> Path:
    """Two balanced classes whose texts are random draws from one vocabulary: nothing to learn in any case."""
    rng = random.Random(0)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["comment", "verdict"])
        for i in range(rows):
            w.writerow([" ".join(rng.choices(WORDS, k=8)), "keep" if i % 2 else "drop"])
    return path


def test_own_csv_that_cannot_learn_finishes_amber(app, browser, tmp_path: Path) -> None:  # noqa: F811
    url, _home = app
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(url)
    page.wait_for_selector("#quick-text", timeout=30_000)
    page.locator("#task-radio label", has_text="Text classification").click()
    open_tab(page, "Data")
    page.locator("#data-upload input[type=file]").set_input_files(str(unlearnable_csv(tmp_path / "mine.csv")))
    page.locator("#data-preview").get_by_text("alpha").first.wait_for(timeout=60_000)
    open_tab(page, "Method & settings")
    page.locator("#method-radio input[value='lora']").check()
    page.wait_for_timeout(800)
    set_number(page, "epochs", "1")
    set_number(page, "batch-size", "64")  # 48 training rows, one batch: a single optimizer step
    open_tab(page, "Train")
    page.locator("#start-btn").click()
    wait_finished(page, 600)
    status = page.locator("#run-status")
    assert status.locator(".tl-weak").count() == 1 and status.locator(".tl-ok").count() == 0
    text = status.inner_text()
    assert "no better than guessing" in text
    assert "optimizer step" in text and "epochs" in text.lower()  # the cause (too few steps) and the next step
    assert "train.epochs" not in text and "method_params" not in text  # page words, no config keys
    shot(page, "4-train-weak-own-csv")
    open_tab(page, "Runs & export")
    page.locator("#refresh-runs").click()
    page.wait_for_function(
        "(document.querySelector('#runs-table') || {innerText: ''}).innerText.includes('no better than guessing')",
        timeout=30_000,
    )
