"""Five strangers on one public deployment at once: five Chromium contexts (five browsers) against one
`python app.py` with TL_PUBLIC=1. Each uploads its own file and sees only its own upload and run; when they all
press Start together, the queue positions are shown; stopping a waiting run cancels it; Delete run removes a
stopped run from that browser only. Runs are stopped before they train, so the test stays short."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest

from tests.test_app import start_app
from tests.test_browser import ARGS, CHROMIUM, open_tab, set_number

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]
N = 5
FINAL = ("done", "failed", "stopped")


def reviews(path: Path, who: int) -> Path:
    rows = [f'"visitor {who} says this is great, number {i}",positive' for i in range(20)]
    rows += [f'"visitor {who} says this is awful, number {i}",negative' for i in range(20)]
    path.write_text("review,sentiment\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def statuses(home: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in home.glob("sessions/*/runs/*/status.json")]


def kill_leftover_runs(home: Path) -> None:
    """Training processes run in their own process groups: never leave one behind."""
    for st in statuses(home):
        if st.get("pid") and st.get("phase") not in FINAL:
            try:
                os.killpg(os.getpgid(st["pid"]), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def upload_all(pages, url: str, files: list[Path]) -> None:
    """Every browser opens the page and uploads its file; the uploads are sent together (the server checks them
    side by side), then each browser sets a tiny run (30 rows, 1 epoch) and goes to the Train tab."""
    for page in pages:
        page.goto(url)
    for page, data in zip(pages, files):
        page.wait_for_selector("#quick-text", timeout=60_000)
        page.wait_for_function("() => localStorage.getItem('tl_session_id')", timeout=60_000)  # identity settled
        open_tab(page, "Data")
        page.locator("#data-upload input[type=file]").set_input_files(str(data))
    for page, data in zip(pages, files):
        page.get_by_text(data.name).first.wait_for(timeout=90_000)  # "Data: reviews-k.csv (uploaded)"
        set_number(page, "max-rows", "30")
        open_tab(page, "Method & settings")
        set_number(page, "epochs", "1")
        open_tab(page, "Train")


def test_five_browsers_at_once(five_browsers, tmp_path: Path) -> None:
    url, home, contexts = five_browsers
    files = [reviews(tmp_path / f"reviews-{k}.csv", k) for k in range(N)]
    pages = [ctx.new_page() for ctx in contexts]
    errors: list[str] = []
    for page in pages:
        page.on("pageerror", lambda e: errors.append(str(e)))
    upload_all(pages, url, files)
    # each upload landed in its own workspace, and only there
    sessions = sorted((home / "sessions").iterdir())
    assert len(sessions) == N
    for ws in sessions:
        assert len(list(ws.glob("uploads/**/*.csv"))) == 1

    for page in pages:  # everyone presses Start at (nearly) the same moment
        page.locator("#start-btn").click()
    cards = []
    for page in pages:
        page.wait_for_function(
            "() => /position \\d|Loading|Computing|Training|Finished|Stopped|Failed/.test("
            "(document.querySelector('#run-status') || {}).innerText || '')",
            timeout=120_000,
        )
        cards.append(page.locator("#run-status").inner_text())
    positions = sorted(int(m) for card in cards for m in re.findall(r"position (\d+)", card))
    assert positions == list(range(1, N)), cards  # one run holds the accelerator, four wait in order

    # Stop: every waiting run is cancelled at once; then the one holding the accelerator is asked to stop (it
    # stops at its next check; the fixture ends it if it is still going), so no other run starts meanwhile
    waiting = [k for k, card in enumerate(cards) if "position" in card]
    for k in [*waiting, *(k for k in range(N) if k not in waiting)]:
        pages[k].locator("#stop-btn").click()
    for k in waiting:
        pages[k].locator("#run-status").get_by_text("Stopped").first.wait_for(timeout=60_000)

    for page, data in zip(pages, files):  # the run history lists this browser's run and no one else's
        open_tab(page, "Runs & export")
        page.locator("#runs-table [role=gridcell]", has_text=data.name).first.wait_for(timeout=30_000)
        table = page.locator("#runs-table").inner_text()
        assert all(other.name not in table for other in files if other != data), table

    # Delete run frees space in that browser only
    k = waiting[0]
    page = pages[k]  # on Runs & export already, listed after the stop
    page.get_by_text("Delete runs (free space)").click()
    page.locator("#delete-run input").click()
    page.get_by_role("option").first.click()
    page.locator("#delete-run-btn").click()
    page.wait_for_function(
        # the table leaves the page with the workspace's last run (the empty state stands in): absent counts as gone
        f"() => !(document.querySelector('#runs-table') || {{innerText: ''}}).innerText.includes('{files[k].name}')",
        timeout=30_000,
    )
    assert "of the 2.0 GB" in page.locator("#workspace-usage").inner_text()  # the use against the quota
    assert len(list(home.glob("sessions/*/runs/*/config.json"))) == N - 1
    assert not errors, errors


@pytest.fixture
def five_browsers(tmp_path_factory: pytest.TempPathFactory):
    sync_api = pytest.importorskip("playwright.sync_api")
    home = tmp_path_factory.mktemp("tl_five_browsers")
    proc, url = start_app(home, {"TL_PUBLIC": "1"})
    try:
        with sync_api.sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            contexts = [b.new_context(viewport={"width": 1280, "height": 800}) for _ in range(N)]
            yield url, home, contexts
            b.close()
    finally:
        os.killpg(proc.pid, 15)  # first the app (it could start a waiting run), then any run still going
        proc.wait(timeout=20)
        kill_leftover_runs(home)
