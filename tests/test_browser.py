"""The real page in a real headless Chromium: `python app.py` on localhost, offline, a temp TL_HOME.

For each task: sample data -> feature-extraction run with tiny settings -> the charts update -> finished ->
evaluation -> a playground prediction -> the model zip downloads. The text task takes the first-screen
"Try it with sample data" path and counts its clicks; image and NER go through the form. A second browser
context must not see the first one's runs. Screenshots of every tab go to tests/screenshots/ (not committed);
docs/train-tab.png (for the README) is written from the Train tab.
"""
from __future__ import annotations

import os
import re
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from tests.test_app import start_app

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "tests" / "screenshots"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian chromium is not installed (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("tl_browser_home")
    proc, url = start_app(home)
    yield url, home
    os.killpg(proc.pid, 15)
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Clicks:
    """Counts the user's clicks on the way to a tested model."""

    def __init__(self, page):
        self.page, self.n = page, 0

    def click(self, locator) -> None:
        self.n += 1
        locator.click()

    def tab(self, name: str) -> None:
        self.click(self.page.get_by_role("tab", name=name))


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    page.wait_for_timeout(400)


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def set_number(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input").first
    box.fill(value)
    box.press("Tab")


def traces(page, plot_id: str) -> int:
    return page.locator(f"#{plot_id} .scatterlayer .trace").count()


def wait_finished(page, timeout_s: float) -> None:
    page.wait_for_selector("#run-status .tl-ok, #run-status .tl-error", timeout=timeout_s * 1000)
    error = page.locator("#run-status .tl-error")
    assert error.count() == 0, f"run failed: {error.inner_text()}"


def check_evaluation(page, clicks: Clicks | None, expect: str) -> None:
    (clicks.tab if clicks else lambda n: open_tab(page, n))("Evaluate")
    table = page.locator("#metrics-table")
    table.get_by_text(expect, exact=True).first.wait_for(timeout=30_000)
    page.wait_for_selector("#cm-plot .main-svg", timeout=30_000)


def download_zip(page, home: Path, tmp: Path) -> None:
    open_tab(page, "Runs & export")
    page.wait_for_function("document.querySelector('#export-run input') && "
                           "document.querySelector('#export-run input').value !== ''", timeout=30_000)
    page.locator("#zip-btn").click()
    link = page.locator("#zip-file a").first
    link.wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as info:
        link.click()
    target = tmp / info.value.suggested_filename
    info.value.save_as(target)
    names = zipfile.ZipFile(target).namelist()
    assert any(n.endswith("/README.md") for n in names) and any(n.endswith("tl_model.json") for n in names)


def form_run(page, task_title: str, *, max_rows: str, epochs: str, image_size: str | None = None) -> None:
    open_tab(page, "Task & model")
    page.locator("#task-radio label", has_text=task_title).click()
    page.wait_for_timeout(800)
    open_tab(page, "Data")
    page.locator("#use-sample").click()
    page.get_by_text("No problems found").first.wait_for(timeout=60_000)
    set_number(page, "max-rows", max_rows)
    open_tab(page, "Method & settings")
    assert page.locator("#method-radio input[value='features']").is_checked()
    set_number(page, "epochs", epochs)
    if image_size:
        set_number(page, "image-size", image_size)
    page.locator("#show-command").click()
    page.locator("#cmd-out").get_by_text("tl_core").first.wait_for(timeout=20_000)
    open_tab(page, "Train")
    previous = page.locator("#run-status .tl-run").inner_text() if page.locator("#run-status .tl-run").count() else ""
    page.locator("#start-btn").click()
    page.wait_for_function(
        "(prev) => { const r = document.querySelector('#run-status .tl-run'); return r && r.innerText !== prev; }",
        arg=previous, timeout=60_000)
    # the charts fill in from the new run's metrics while it goes on
    page.wait_for_function("document.querySelectorAll('#eval-plot .scatterlayer .trace').length > 0 && "
                           "document.querySelectorAll('#loss-plot .scatterlayer .trace').length > 0", timeout=180_000)
    wait_finished(page, 180)


def test_three_tasks_end_to_end_in_chromium(app, browser, tmp_path: Path) -> None:
    url, home = app
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # --- text: the first-screen path, counted in clicks and seconds ---------------------------------------
    t0 = time.time()
    page.goto(url)
    page.wait_for_selector("#quick-text", timeout=30_000)
    shot(page, "1-task-and-model")
    clicks = Clicks(page)
    clicks.click(page.locator("#quick-text"))
    page.wait_for_function("document.querySelectorAll('#loss-plot .scatterlayer .trace').length > 0", timeout=120_000)
    wait_finished(page, 120)
    shot(page, "4-train-text")
    check_evaluation(page, clicks, "accuracy")
    clicks.tab("Playground")
    assert page.locator("#play-text textarea").input_value().strip()  # prefilled from the evaluation split
    clicks.click(page.locator("#predict-btn"))
    page.locator("#play-label").get_by_text(re.compile("positive|negative")).first.wait_for(timeout=60_000)
    elapsed = time.time() - t0
    assert clicks.n <= 5, clicks.n
    assert elapsed < 120, f"sample path took {elapsed:.0f}s"
    shot(page, "6-playground-text")
    download_zip(page, home, tmp_path)

    # --- image and NER through the form ---------------------------------------------------------------------
    form_run(page, "Image classification", max_rows="60", epochs="3", image_size="64")
    shot(page, "4-train-image")
    check_evaluation(page, None, "accuracy")
    page.wait_for_timeout(500)
    shot(page, "5-evaluate-image")
    open_tab(page, "Playground")
    page.wait_for_selector("#predict-btn")
    page.locator("#predict-btn").click()
    page.locator("#play-label").get_by_text(re.compile("zero|one|two|three|four")).first.wait_for(timeout=60_000)
    shot(page, "6-playground-image")
    download_zip(page, home, tmp_path)

    form_run(page, "Named-entity recognition", max_rows="150", epochs="15")
    train_png = shot(page, "4-train")
    check_evaluation(page, None, "f1")
    shot(page, "5-evaluate")
    open_tab(page, "Playground")
    sentence = page.locator("#play-text textarea").input_value()
    assert sentence.strip()
    page.locator("#predict-btn").click()
    page.locator("#play-ner").get_by_text(sentence.split()[0]).first.wait_for(timeout=60_000)
    shot(page, "6-playground")
    download_zip(page, home, tmp_path)
    shot(page, "7-runs-and-export")
    runs_text = page.locator("#runs-table").inner_text()
    assert runs_text.count("done") >= 3

    for name, tab in (("2-data", "Data"), ("3-method-and-settings", "Method & settings")):
        open_tab(page, tab)
        shot(page, name)

    # --- the identity survives a reload: the same runs are still listed ----------------------------------
    page.reload()
    page.wait_for_selector("#quick-text")
    open_tab(page, "Runs & export")
    page.locator("#runs-table").get_by_text("ner-features").first.wait_for(timeout=30_000)
    sessions = [p.name for p in (home / "sessions").iterdir()]
    assert len(sessions) == 1
    mine = sorted(p.name for p in (home / "sessions" / sessions[0] / "runs").iterdir())
    assert len(mine) == 3

    # --- a second browser context sees none of them ------------------------------------------------------------
    other = browser.new_context(viewport={"width": 1280, "height": 800})
    p2 = other.new_page()
    p2.goto(url)
    p2.wait_for_selector("#quick-text")
    open_tab(p2, "Runs & export")
    p2.wait_for_timeout(1500)
    text2 = p2.locator("#runs-table").inner_text()
    assert all(run not in text2 for run in mine)
    open_tab(p2, "Evaluate")
    p2.locator("#eval-run").click()
    p2.wait_for_timeout(500)
    assert all(run not in p2.content() for run in mine)
    assert len(list((home / "sessions").iterdir())) == 2
    other.close()

    _small_png(train_png, ROOT / "docs" / "train-tab.png")
    assert not errors, errors
    ctx.close()


def _small_png(src: Path, dest: Path) -> None:
    """A README-sized copy of the Train tab: 960 px wide, 128-colour palette."""
    from PIL import Image

    dest.parent.mkdir(parents=True, exist_ok=True)
    img = Image.open(src).convert("RGB")
    img = img.resize((960, int(img.height * 960 / img.width)), Image.Resampling.LANCZOS)
    img.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)
