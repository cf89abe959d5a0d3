"""App cold start: ``python app.py`` spawn -> first page served (HTTP 200 on /), vs a bare gradio Blocks app.

Each app runs in a fresh process with a throw-away TL_HOME; the two are alternated ``REPEATS`` times and the
medians compared, so a burst of load on the machine hits both."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

from . import common as c

BARE = """import gradio as gr
with gr.Blocks() as demo:
    gr.Markdown("# bare")
    box = gr.Textbox()
    box.submit(lambda x: x, box, box)
demo.launch()
"""
REPEATS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_first_page(cmd: list[str], timeout: float = 120.0) -> float:
    port = _free_port()
    home = tempfile.mkdtemp(prefix="tl-bench-app-")
    env = {
        **os.environ,
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "TL_HOME": home,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONPATH": str(c.PROJECT),
    }
    t0 = time.time()
    proc = subprocess.Popen(
        cmd, cwd=str(c.PROJECT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        while time.time() - t0 < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode} before serving a page")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    if r.status == 200 and r.read(1):
                        return time.time() - t0
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"no page within {timeout}s")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> dict[str, Any]:
    app = c.PROJECT / "app.py"
    bare = c.RESULTS / "bare_app.py"
    bare.parent.mkdir(parents=True, exist_ok=True)
    bare.write_text(BARE)
    if not app.is_file():
        c.say("app.py not found: app start skipped")
        return {"skipped": "no app.py"}
    times: dict[str, list[float]] = {"app": [], "bare": []}
    for _ in range(REPEATS):
        times["bare"].append(time_to_first_page([sys.executable, str(bare)]))
        times["app"].append(time_to_first_page([sys.executable, str(app)]))
    med = {k: statistics.median(v) for k, v in times.items()}
    res = {"times_s": times, "median_s": med, "ratio": med["app"] / med["bare"]}
    c.table(
        f"app cold start (spawn -> first page, median of {REPEATS})",
        ["app", "seconds", "ratio", "target"],
        [["bare gr.Blocks", med["bare"], 1.0, ""], ["python app.py", med["app"], res["ratio"], "<= 1.3"]],
    )
    c.save("app_start", res)
    return res
