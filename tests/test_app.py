"""The app through its public API (gradio_client against `python app.py`): error paths, stop, isolation.

One app subprocess serves the whole module (offline, temp TL_HOME). Each test uses its own Client, i.e. its
own gradio session, and its own browser identity (the id the page keeps in BrowserState).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from tl_core.errors import UserError  # noqa: E402
from tl_core.workspace import Workspace  # noqa: E402

pytestmark = pytest.mark.slow  # every test talks to a real `python app.py` subprocess


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(home: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        **(extra_env or {}),
        "TL_HOME": str(home),
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
    }
    log = open(home / "app.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("app.py exited:\n" + (home / "app.log").read_text()[-3000:])
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("app.py did not start in 90 s")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("tl_app_home")
    proc, url = start_app(home)
    yield url, home
    os.killpg(proc.pid, 15)
    proc.wait(timeout=20)


def client(url: str) -> tuple[Client, str]:
    c = Client(url, verbose=False)
    sid = c.predict(None, api_name="/init")[0]
    return c, sid


def form(
    task="text",
    model="bundled:minilm",
    method="features",
    epochs=2,
    max_rows=60,
    label_col="",
    text_col="",
    lr=5e-3,
    batch=16,
) -> dict:
    """Every field of the run form by its label, as a user fills it in."""
    return {
        "Task": task,
        "Base model": model,
        "Method": method,
        "Run name (optional)": "",
        "Learning rate": lr,
        "Epochs": epochs,
        "Batch size": batch,
        "Max length (tokens)": 64,
        "Image size (px)": 64,
        "Early-stopping patience": 0,
        "LR schedule": "linear",
        "Warmup": 0.0,
        "Text column": text_col,
        "Label column": label_col,
        "Image column": "",
        "Evaluation share (%)": 20,
        "Stratified split": True,
        "Seed": 42,
        "Max training rows": max_rows,
        "Pooling": "auto",
        "Head dropout": 0.1,
        "LoRA rank": 16,
        "LoRA alpha": 32,
        "LoRA dropout": 0.1,
        "LoRA layers": "auto",
        "Save a merged model": False,
        # the Method tab's Hardware block (components/hardware.py): this machine, one process
        "Hardware profile": "local",
        "Processes per machine": None,
        "Machines": 1,
        "Main machine address": "",
        "Main machine port": 29500,
    }


def submit_form(c: Client, sid: str, api_name: str, fields: dict) -> tuple:
    """Call /start_run or /show_command: the session id, then each form field where the API lists it (by label)."""
    params = c.view_api(print_info=False, return_format="dict")["named_endpoints"][api_name]["parameters"]
    assert {p["label"] for p in params[1:]} == set(fields), "the form's fields changed: update form()"
    return c.predict(sid, *[fields[p["label"]] for p in params[1:]], api_name=api_name)


def test_page_serves_and_identity_is_random_and_validated(app_url) -> None:
    url, home = app_url
    c1, sid1 = client(url)
    c2, sid2 = client(url)
    assert sid1 != sid2 and len(sid1) >= 32
    # an id from the browser survives a reload: sending it back keeps it
    assert c1.predict(sid1, api_name="/init")[0] == sid1
    # a forged id that tries to leave the sessions folder is refused with a plain message
    with pytest.raises(AppError, match="not recognised"):
        c1.predict("../../etc", api_name="/list_runs")
    assert not (home / "etc").exists()


def test_no_file_gives_a_readable_error(app_url) -> None:
    url, _ = app_url
    c, sid = client(url)
    with pytest.raises(AppError, match="No file received"):
        c.predict(sid, "text", None, 20, True, 42, 0, api_name="/upload_data")
    # starting without choosing any data is also refused with what to do
    with pytest.raises(AppError, match="Choose data first"):
        submit_form(c, sid, "/start_run", form())


def test_wrong_column_is_reported_and_blocks_the_start(app_url) -> None:
    url, _ = app_url
    c, sid = client(url)
    out = c.predict(sid, "text", 20, True, 42, 0, api_name="/use_sample")
    assert "No problems found" in out[0]
    problems = c.predict(sid, "text", "", "stars", "", 20, True, 42, 0, api_name="/check_data")[0]
    assert "Blocking problems" in problems and "stars" in problems
    with pytest.raises(AppError, match="label column 'stars' is not in sentiment.csv"):
        submit_form(c, sid, "/start_run", form(label_col="stars"))


def test_single_class_upload_is_blocked(app_url, tmp_path: Path) -> None:
    url, home = app_url
    c, sid = client(url)
    data = tmp_path / "one_class.csv"
    data.write_text("text,label\n" + "".join(f"review number {i} was fine,positive\n" for i in range(30)))
    out = c.predict(sid, "text", handle_file(str(data)), 20, True, 42, 0, api_name="/upload_data")
    assert "Only one class" in out[0]
    # the upload was copied into this session's own folder
    assert list((home / "sessions" / sid / "uploads").rglob("one_class.csv"))
    with pytest.raises(AppError, match="Only one class"):
        submit_form(c, sid, "/start_run", form())


def test_unknown_model_id_is_refused_before_any_run(app_url) -> None:
    url, home = app_url
    c, sid = client(url)
    c.predict(sid, "text", 20, True, 42, 0, api_name="/use_sample")
    with pytest.raises(AppError, match="no-such-org/no-such-model-123"):
        submit_form(c, sid, "/start_run", form(model="no-such-org/no-such-model-123"))
    with pytest.raises(AppError, match="not a valid Hugging Face Hub id"):
        submit_form(c, sid, "/start_run", form(model="bad model id!"))
    assert not any((home / "sessions" / sid / "runs").iterdir())  # nothing was created or launched
    facts = c.predict("text", "no-such-org/no-such-model-123", api_name="/describe_model")
    assert ["Works offline", "no: downloaded from the Hub on first use"] in facts["data"]


def _poll_until(c: Client, sid: str, phases: set[str], timeout: float) -> str:
    deadline = time.time() + timeout
    html = ""
    while time.time() < deadline:
        html = c.predict(sid, api_name="/poll")[0]
        for phase in phases:
            if phase in html:
                return html
        time.sleep(1.0)
    raise AssertionError(f"no {phases} within {timeout}s; last status: {html}")


def test_stop_during_training_then_second_session_cannot_see_it(app_url, monkeypatch: pytest.MonkeyPatch) -> None:
    url, home = app_url
    c, sid = client(url)
    c.predict(sid, "text", 20, True, 42, 0, api_name="/use_sample")
    # many cheap epochs on cached features: long enough to be stopped mid-training
    submit_form(c, sid, "/start_run", form(epochs=400, max_rows=200, batch=8))
    _poll_until(c, sid, {"Training"}, timeout=150)
    c.predict(sid, api_name="/stop_run")
    status = _poll_until(c, sid, {"Stopped", "Finished", "Failed"}, timeout=90)
    assert "Stopped" in status, status
    runs_dir = home / "sessions" / sid / "runs"
    (run,) = [p.name for p in runs_dir.iterdir()]
    table = c.predict(sid, api_name="/list_runs")[0]
    assert [r[0] for r in table["data"]] == [run] and table["data"][0][-1] == "stopped"

    other, other_sid = client(url)
    table2 = other.predict(other_sid, api_name="/list_runs")[0]
    assert all(run not in str(row) for row in table2["data"])
    for api in ("/evaluate", "/download_zip", "/playground_run"):
        with pytest.raises(AppError):  # refused: not one of this session's runs
            other.predict(other_sid, run, api_name=api)
    # the workspace layer refuses it too, whatever the client sends
    monkeypatch.setenv("TL_HOME", str(home))
    with pytest.raises(UserError, match="no run called"):
        Workspace.open(other_sid).run_path(run)
    with pytest.raises(UserError):
        Workspace.open(other_sid).run_path(f"../{sid}/runs/{run}")
    assert Workspace.open(sid).run_path(run).name == run
