"""The real page in a real headless Chromium: `python app.py` on localhost, offline, a temp TL_HOME.

For each task: the first-screen "Try it with sample data" button -> feature-extraction run -> the charts update ->
finished -> the Train tab's "Try it" -> a playground prediction on a sample, counted in clicks (<= 4) and seconds
(< 120) from opening the page; one's own image is one more upload; then the evaluation and the model zip. On the way: the Data tab is filled for the sample, batch scoring returns a
CSV, a confusion-table click lists exactly that cell's mistakes, one image run goes through the form (Data ->
Method -> Start) and is compared with the sample run, and a YAML upload fills the form. A second browser
context must not see the first one's runs. Screenshots of every tab go to tests/screenshots/ (ignored by git);
the test never writes a tracked file (docs/ images are refreshed by scripts/refresh_docs_images.py).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from tests.test_app import start_app
from tl_core.charts import class_order
from tl_core.registry import TASKS, metric_name

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "tests" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# seconds from opening the page to a prediction; on a machine shared by many test runs (load far above its
# cores) the sample training alone takes longer, so the budget can be raised there without editing the test
PATH_BUDGET_S = float(os.environ.get("TL_BROWSER_PATH_S", "120"))

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (apt-get install -y chromium)"
    ),
]


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

    def upload(self, button, path: Path) -> None:
        """One click on an upload button opens the file picker (asserted: it must open), where the file is chosen."""
        with self.page.expect_file_chooser(timeout=10_000) as chooser:
            self.click(button)
        chooser.value.set_files(str(path))


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    page.wait_for_timeout(400)


def shot(page, name: str) -> Path:
    """Screenshot at rest: the pointer is moved off the page first, so no button shows its hover colour."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.mouse.move(1279, 799)
    page.wait_for_timeout(250)
    page.screenshot(path=str(path))
    return path


def set_number(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input").first
    box.fill(value)
    box.press("Tab")


def traces(page, plot_id: str) -> int:
    return page.locator(f"#{plot_id} .scatterlayer .trace").count()


def wait_finished(page, timeout_s: float) -> None:
    page.wait_for_selector("#run-status .tl-ok, #run-status .tl-weak, #run-status .tl-error", timeout=timeout_s * 1000)
    error = page.locator("#run-status .tl-error")
    assert error.count() == 0, f"run failed: {error.inner_text()}"


def headline_row(task: str) -> str:
    """The metrics table's first row names the task's headline metric as the registry does."""
    return metric_name(TASKS[task].main_metric)


def wait_cell_text(page, elem_id: str, text: str, timeout_s: float = 30) -> None:
    """A visible body cell of a Dataframe reads ``text`` (the table also keeps hidden copies of its widest cells
    to measure column widths: a plain text search may find one of those)."""
    page.wait_for_function(
        "([id, t]) => [...document.querySelectorAll(`#${id} [role=gridcell]`)]"
        ".some(c => c.offsetParent !== null && c.innerText.trim() === t)",
        arg=[elem_id, text],
        timeout=timeout_s * 1000,
    )


def check_evaluation(page, task: str) -> None:
    """Evaluate opens on the newest finished run by itself, the headline metric first."""
    open_tab(page, "Evaluate")
    wait_cell_text(page, "metrics-table", headline_row(task))
    assert cell(page, "metrics-table", 0, 0).inner_text().strip() == headline_row(task)
    page.wait_for_selector("#cm-plot .main-svg", timeout=30_000)
    if task == "ner":  # no confusion table for NER: neither a blank box nor instructions that mention one
        assert not page.locator("#cm-table").is_visible()
        assert "confusion" not in page.locator("#eval-help").inner_text().lower()
    else:
        page.wait_for_selector("#cm-table", state="visible", timeout=10_000)
    if task == "image":  # digit names in number order, not four, one, three ...
        classes = [cell(page, "per-class-table", i, 0).inner_text().strip() for i in range(5)]
        assert classes == ["zero", "one", "two", "three", "four"], classes


def download_zip(page, home: Path, tmp: Path) -> None:
    open_tab(page, "Runs & export")
    page.wait_for_function(
        "document.querySelector('#export-run input') && document.querySelector('#export-run input').value !== ''",
        timeout=30_000,
    )
    page.locator("#zip-btn").click()
    link = page.locator("#zip-file a").first
    link.wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as info:
        link.click()
    target = tmp / info.value.suggested_filename
    info.value.save_as(target)
    names = zipfile.ZipFile(target).namelist()
    assert any(n.endswith("/README.md") for n in names) and any(n.endswith("tl_export.json") for n in names)


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
        arg=previous,
        timeout=60_000,
    )
    # the charts fill in from the new run's metrics while it goes on
    page.wait_for_function(
        "document.querySelectorAll('#eval-plot .scatterlayer .trace').length > 0 && "
        "document.querySelectorAll('#loss-plot .scatterlayer .trace').length > 0",
        timeout=max(180, PATH_BUDGET_S) * 1000,
    )
    wait_finished(page, max(180, PATH_BUDGET_S))


PREDICTION = {"text": re.compile("positive|negative"), "image": re.compile("zero|one|two|three|four")}


def wait_prediction(page, task: str) -> None:
    if task == "ner":
        page.wait_for_function("document.querySelector('#play-text textarea').value.trim() !== ''", timeout=30_000)
        first_word = page.locator("#play-text textarea").input_value().split()[0]
        page.locator("#play-ner").get_by_text(first_word).first.wait_for(timeout=60_000)
    else:
        page.locator("#play-label").get_by_text(PREDICTION[task]).first.wait_for(timeout=60_000)


def sample_path_in_clicks(page, url: str, task: str) -> tuple[int, float]:
    """Open the page and reach a prediction on a sample through the first-screen sample button and the Train
    tab's "Try it"; returns (clicks, seconds)."""
    t0 = time.time()
    page.goto(url)
    page.wait_for_selector(f"#quick-{task}", timeout=30_000)
    clicks = Clicks(page)
    clicks.click(page.locator(f"#quick-{task}"))
    # after a reload the Train tab shows the newest (previous task's) finished run: wait for this task's own run
    page.wait_for_function(
        f"(document.querySelector('#run-status')?.innerText || '').includes('-{task}-')", timeout=60_000
    )
    page.wait_for_function(
        "document.querySelectorAll('#loss-plot .scatterlayer .trace').length > 0", timeout=PATH_BUDGET_S * 1000
    )
    wait_finished(page, PATH_BUDGET_S)
    shot(page, f"4-train-{task}")
    try_it = page.locator("#try-it-btn")
    try_it.wait_for(state="visible", timeout=30_000)
    clicks.click(try_it)
    page.wait_for_selector("#play-run", state="visible", timeout=30_000)
    if task == "image":  # an image from the evaluation split is shown with its prediction
        page.wait_for_selector("#play-image img", timeout=30_000)
    wait_prediction(page, task)
    return clicks.n, time.time() - t0


def own_image_in_one_click(page, tmp: Path) -> int:
    """One's own image replaces the sample and is predicted with one upload (no × to clear the sample first)."""
    from PIL import Image, ImageDraw

    path = tmp / "my_digit.png"
    img = Image.new("L", (56, 56), 0)
    ImageDraw.Draw(img).line([(28, 8), (28, 48)], fill=255, width=6)  # a hand-drawn "one"
    img.save(path)
    before = page.locator("#play-image img").first.get_attribute("src")
    page.locator("#play-label").evaluate("el => el.setAttribute('data-before', el.innerText)")
    clicks = Clicks(page)
    clicks.upload(page.locator("#play-upload"), path)
    page.wait_for_function(
        "(src) => { const i = document.querySelector('#play-image img'); return i && i.src !== src; }",
        arg=before,
        timeout=30_000,
    )
    page.locator("#play-label").get_by_text(PREDICTION["image"]).first.wait_for(timeout=60_000)
    return clicks.n


def newest_run(home: Path, task: str) -> Path:
    runs = sorted(p for p in home.glob("sessions/*/runs/*") if f"-{task}-" in p.name)
    return runs[-1]


def check_data_tab_filled(page, task: str) -> None:
    """The sample button also fills the Data tab: source, preview rows, label chart, validation report."""
    open_tab(page, "Data")
    page.get_by_text("No problems found").first.wait_for(timeout=30_000)
    assert "bundled sample" in page.locator("body").inner_text()
    # the column pickers name the columns the check found, not a bare "auto-detect"
    assert page.locator("#text-col input").input_value() == "auto-detect (found: review)"
    shot(page, "2-data-text")
    page.wait_for_function("document.querySelectorAll('#data-preview [role=gridcell]').length >= 6", timeout=15_000)
    page.wait_for_selector("#dist-plot .barlayer .trace", timeout=10_000)


def cell(page, elem_id: str, row: int, col: int):
    """A body cell of a gradio Dataframe (row 0 = first data row; the header row comes first in the grid)."""
    return page.locator(f"#{elem_id} [role=row]").nth(row + 1).locator("[role=gridcell]").nth(col)


def check_button_at_rest(page, elem_id: str) -> None:
    """The primary buttons are enabled and drawn in the theme's primary colour (not the hover/disabled look)."""
    page.mouse.move(1279, 799)  # the pointer rests where the test clicked last: hovering draws indigo-400
    page.wait_for_timeout(300)
    btn = page.locator(f"#{elem_id}")
    assert btn.is_enabled()
    colour = btn.evaluate("b => getComputedStyle(b).backgroundColor")
    assert colour == "rgb(99, 102, 241)", colour  # indigo-500: the Soft theme's primary fill


def check_confusion_click(page, home: Path) -> None:
    """Clicking an off-diagonal confusion-table cell lists exactly those mistakes, with thumbnails."""
    res = json.loads((newest_run(home, "image") / "results.json").read_text())
    cm = res["report"]["confusion_matrix"]
    labels, matrix = cm["labels"], cm["matrix"]
    cells = [(i, j) for i in range(len(labels)) for j in range(len(labels)) if i != j and matrix[i][j]]
    assert cells, "the sample model made no mistakes to analyse"
    i, j = max(cells, key=lambda c: matrix[c[0]][c[1]])
    shown = class_order(labels)  # the page lists classes in display order, results.json in the data's
    row, col = shown.index(labels[i]), shown.index(labels[j])
    cell(page, "cm-table", row, col + 1).click()
    summary = page.locator("#err-summary")
    summary.get_by_text(f"examples of {labels[i]} predicted as {labels[j]}").wait_for(timeout=30_000)
    assert f"Showing {matrix[i][j]} " in summary.inner_text()
    page.wait_for_function(
        f"document.querySelectorAll('#err-gallery img').length === {min(matrix[i][j], 24)}", timeout=30_000
    )
    assert cell(page, "err-table", 0, 1).inner_text().strip() == labels[i]
    assert cell(page, "err-table", 0, 2).inner_text().strip() == labels[j]
    assert page.locator("#err-true input").input_value() == labels[i]
    assert page.locator("#err-pred input").input_value() == labels[j]
    # a row of the per-class table: every mistake of that class, whatever it was predicted as
    cell(page, "per-class-table", row, 0).click()
    summary.get_by_text(f"Showing {sum(matrix[i]) - matrix[i][i]} misclassified examples of {labels[i]}").wait_for(
        timeout=30_000
    )
    assert page.locator("#err-pred input").input_value() == "any"


def check_ner_class_click(page) -> None:
    entity = cell(page, "per-class-table", 0, 0).inner_text().strip()
    cell(page, "per-class-table", 0, 0).click()
    page.locator("#err-summary").get_by_text(re.compile(f"(Showing|No) .*{entity}")).wait_for(timeout=30_000)
    if "Showing" in page.locator("#err-summary").inner_text():
        page.wait_for_selector("#err-ner", state="visible", timeout=10_000)
        assert "✗" in page.locator("#err-ner").inner_text()
        # every tag sits on words: no tag chip on the spaces between them
        tagged = page.locator("#err-ner .token-container").evaluate_all(
            "els => els.filter(e => e.querySelector('.label')).map(e => (e.querySelector('.text') || e).innerText)"
        )
        assert tagged and all(t.strip() for t in tagged), tagged


def check_batch_scoring(page, tmp: Path) -> None:
    """Upload a CSV in the playground and download a CSV with one prediction per row."""
    src = tmp / "to_score.csv"
    reviews = [
        "Absolutely wonderful, I loved every minute of it.",
        "Terrible. Broke after one day, a waste of money.",
        "Great value and fast delivery, highly recommended.",
        "Awful service, I want a refund.",
    ]
    src.write_text("review\n" + "".join(f'"{r}"\n' for r in reviews), encoding="utf-8")
    page.locator("#batch-in input[type=file]").set_input_files(str(src))
    link = page.locator("#batch-out a").first
    link.wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as info:
        link.click()
    target = tmp / info.value.suggested_filename
    info.value.save_as(target)
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [r["review"] for r in rows] == reviews
    assert all(r["prediction"] in ("positive", "negative") and 0 <= float(r["confidence"]) <= 1 for r in rows)
    assert {"p_positive", "p_negative"} <= set(rows[0])


def check_yaml_fills_form(page, tmp: Path) -> None:
    open_tab(page, "Method & settings")
    cfg = tmp / "settings.yaml"
    cfg.write_text(
        "task: image\nmethod: lora\nmodel: bundled:efficientnet-lite0\n"
        "train:\n  epochs: 7\n  learning_rate: 0.0003\n  image_size: 96\n"
        "method_params:\n  r: 4\n",
        encoding="utf-8",
    )
    page.locator("#yaml-upload input[type=file], input[type=file][accept*='.yaml']").first.set_input_files(str(cfg))
    page.wait_for_function("document.querySelector('#method-radio input[value=\"lora\"]').checked", timeout=30_000)
    assert page.locator("#epochs input").first.input_value() == "7"
    assert page.locator("#image-size input").first.input_value() == "96"
    open_tab(page, "Task & model")
    assert page.locator("#task-radio input[value='image']").is_checked()


def check_compare(page) -> None:
    """Tick the newest run (the form's image run) and the sample image run: curves on one chart, settings diff."""
    open_tab(page, "Runs & export")
    page.locator("#compare-sel label").first.click()
    page.locator("#compare-sel label", has_text="sample-image").click()
    page.locator("#compare-btn").click()
    page.wait_for_selector("#compare-plot .scatterlayer .trace", timeout=30_000)
    assert page.locator("#compare-plot .scatterlayer .trace").count() >= 2
    diff = page.locator("#diff-table").inner_text()
    assert "Epochs" in diff and "Row cap" in diff and "train.epochs" not in diff


def check_push_refusal(page) -> None:
    """A refused push is said under the button; the token box stays a token box (no red "Error" pill)."""
    page.get_by_text("Push to the Hugging Face Hub").click()
    page.locator("#push-repo textarea, #push-repo input").first.fill("al/model")
    page.locator("#push-btn").click()
    page.locator("#push-out").get_by_text("Not pushed.").wait_for(timeout=30_000)
    assert "Sign in with Hugging Face, or paste an access token" in page.locator("#push-out").inner_text()
    assert page.locator("#push-token input").is_visible() and "Error" not in page.locator("#push-token").inner_text()


def test_three_tasks_end_to_end_in_chromium(app, browser, tmp_path: Path) -> None:
    url, home = app
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(url)
    page.wait_for_selector("#quick-text", timeout=30_000)
    shot(page, "1-task-and-model")

    # --- every task through the first-screen sample button, counted in clicks and seconds ------------------
    timings = {}
    for task in ("text", "image", "ner"):
        n, elapsed = sample_path_in_clicks(page, url, task)
        timings[task] = (n, round(elapsed))
        assert n <= 4, (task, n)
        assert elapsed < PATH_BUDGET_S, f"{task}: the sample path took {elapsed:.0f}s"
        check_button_at_rest(page, "predict-btn")
        shot(page, f"6-playground-{task}")
        if task == "image":
            assert own_image_in_one_click(page, tmp_path) == 1
            shot(page, "6-playground-own-image")
        if task == "text":
            check_batch_scoring(page, tmp_path)
            shot(page, "6-playground-batch")
            check_data_tab_filled(page, "text")
        check_evaluation(page, task)
        if task == "ner":
            check_ner_class_click(page)
            shot(page, "5-evaluate-ner")
        download_zip(page, home, tmp_path)
    print("sample paths (clicks, seconds):", timings)

    # --- a run through the form (Data -> Method -> Start) with tiny settings, so the model makes mistakes to
    # analyse (the sample run scores 100%); then compare it with the sample run ---------------------------------
    form_run(page, "Image classification", max_rows="60", epochs="3", image_size="64")
    check_button_at_rest(page, "start-btn")
    shot(page, "4-train")
    check_evaluation(page, "image")
    check_confusion_click(page, home)
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "5-evaluate-image")
    page.locator("#err-gallery").scroll_into_view_if_needed()
    shot(page, "5-evaluate-image-errors")
    check_compare(page)
    shot(page, "7-runs-compare")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "7-runs-and-export")
    runs_text = page.locator("#runs-table").inner_text()
    assert runs_text.count("done") >= 4
    check_push_refusal(page)

    for name, tab in (("2-data", "Data"), ("3-method-and-settings", "Method & settings")):
        open_tab(page, tab)
        shot(page, name)
    check_yaml_fills_form(page, tmp_path)

    # --- the identity survives a reload: the same runs are still listed ----------------------------------
    page.reload()
    page.wait_for_selector("#quick-text")
    open_tab(page, "Runs & export")
    page.locator("#runs-table [role=gridcell]", has_text="image-features").first.wait_for(timeout=30_000)
    sessions = [p.name for p in (home / "sessions").iterdir()]
    assert len(sessions) == 1
    mine = sorted(p.name for p in (home / "sessions" / sessions[0] / "runs").iterdir())
    assert len(mine) == 4
    # after a reload Evaluate and Playground are already on the newest finished run: nothing to pick
    check_evaluation(page, "image")
    open_tab(page, "Playground")
    page.wait_for_selector("#play-image img", timeout=30_000)
    open_tab(page, "Train")  # and the Train tab shows the newest run's outcome, not "No run yet"
    page.wait_for_selector("#run-status .tl-ok, #run-status .tl-weak", timeout=30_000)

    # --- a second browser context sees none of them ------------------------------------------------------------
    other = browser.new_context(viewport={"width": 1280, "height": 800})
    p2 = other.new_page()
    p2.goto(url)
    p2.wait_for_selector("#quick-text")
    open_tab(p2, "Runs & export")
    p2.wait_for_timeout(1500)
    # a new user's empty tables and charts say what will appear and how to get it
    assert "No runs yet" in p2.locator("#runs-empty").inner_text() and not p2.locator("#runs-table").is_visible()
    assert all(run not in p2.locator("body").inner_text() for run in mine)
    open_tab(p2, "Evaluate")
    assert "No finished run yet" in p2.locator("#eval-empty").inner_text()
    open_tab(p2, "Playground")
    assert "No model to try yet" in p2.locator("#play-empty").inner_text()
    open_tab(p2, "Evaluate")
    p2.locator("#eval-run").click()
    p2.wait_for_timeout(500)
    assert all(run not in p2.content() for run in mine)
    assert len(list((home / "sessions").iterdir())) == 2
    other.close()

    assert not errors, errors
    ctx.close()
