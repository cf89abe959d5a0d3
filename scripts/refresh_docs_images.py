"""Refresh the README's screenshot of the Train tab (docs/train-tab.png) from the real page.

    python scripts/refresh_docs_images.py [--task image] [--out docs/train-tab.png]

Starts ``python app.py`` offline on a free port with a throw-away TL_HOME, opens it in headless Debian Chromium
(/usr/bin/chromium, through Playwright), clicks the task's "Try it with sample data" button, waits until the run
has finished and its charts are drawn, and saves a README-sized copy (960 px wide, 128 colours). Tests never write
into docs/: run this by hand when the page's look changes, and commit the image.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(home: Path, port: int) -> subprocess.Popen:
    """``python app.py`` in its own process group, offline, its output in ``home/app.log``."""
    env = {
        **os.environ,
        "TL_HOME": str(home),
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
    }
    with open(home / "app.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_until_served(url: str, proc: subprocess.Popen, home: Path, timeout_s: float = 90) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("app.py exited:\n" + (home / "app.log").read_text()[-3000:])
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"app.py did not serve {url} within {timeout_s:.0f} s")


def capture_train_tab(url: str, task: str, png: Path) -> None:
    """One click on the sample button, then the Train tab at rest once the run has finished."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url)
        # the page-load events settle the session first (a click before that is refused): wait for their result
        page.wait_for_function("document.querySelector('#model-dd input')?.value", timeout=60_000)
        page.wait_for_timeout(1000)
        page.locator(f"#quick-{task}").click()
        page.wait_for_selector("#run-status .tl-ok, #run-status .tl-error", timeout=300_000)
        if page.locator("#run-status .tl-error").count():
            raise SystemExit("the sample run failed: " + page.locator("#run-status .tl-error").inner_text())
        page.wait_for_function(
            "document.querySelectorAll('#eval-plot .scatterlayer .trace').length > 0", timeout=30_000
        )
        page.mouse.move(VIEWPORT["width"] - 1, VIEWPORT["height"] - 1)  # no button drawn in its hover colour
        page.wait_for_timeout(800)
        page.screenshot(path=str(png))
        browser.close()


def small_png(src: Path, dest: Path) -> None:
    """A README-sized copy: 960 px wide, 128-colour palette."""
    img = Image.open(src).convert("RGB")
    img = img.resize((960, int(img.height * 960 / img.width)), Image.Resampling.LANCZOS)
    dest.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--task", choices=["text", "image", "ner"], default="image", help="whose sample run the screenshot shows"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "train-tab.png")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing (Debian: apt-get install -y chromium)")
    home = Path(tempfile.mkdtemp(prefix="tl-docs-images-"))
    port = free_port()
    proc = start_app(home, port)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_served(url, proc, home)
        capture_train_tab(url, args.task, home / "train-tab-full.png")
        small_png(home / "train-tab-full.png", args.out)
        print(f"wrote {args.out}")
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
