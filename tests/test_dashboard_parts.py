"""Dashboard building blocks without a browser: workspace isolation, the run queue, export, charts."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tl_core import runfiles as rf
from tl_core.errors import UserError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def make_run(root: Path, name: str, phase: str = "queued", finished: bool = False) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / rf.CONFIG).write_text(json.dumps({"task": "text", "method": "features", "model": "bundled:minilm",
                                             "name": name, "data": {"train_file": "/srv/private/reviews.csv"},
                                             "train": {"epochs": 2}, "method_params": {}}))
    rf.update_status(run, phase, command=f"accelerate launch -m tl_core.train {run}")
    if finished:
        (run / rf.MODEL).mkdir()
        (run / rf.MODEL / "model.safetensors").write_bytes(b"weights")
        rf.write_json(run / rf.RESULTS, {"task": "text", "labels": ["neg", "pos"],
                                         "metrics": {"accuracy": 0.91, "f1_macro": 0.9},
                                         "params": {"trainable": 770, "total": 22_714_498},
                                         "timing": {"total_s": 12.0}, "epochs_run": 2, "steps": 8,
                                         "peak_memory_mb": 900, "data": {"train": 320, "eval": 80}})
        rf.write_json(run / rf.REPORT, {"stats": {"source": "reviews.csv", "splits": {"train": 320, "eval": 80},
                                                  "eval_source": "20% of reviews.csv"}})
    return run


# --- workspace -------------------------------------------------------------------------------------------------
def test_workspace_ids_are_strict_and_runs_are_private(home: Path) -> None:
    from tl_core.workspace import Workspace, is_valid_id, new_session_id, user_session_id

    a, b = Workspace.open(new_session_id()), Workspace.open(new_session_id())
    for bad in (None, "", "short", "../" * 12, "a" * 31, "a" * 30 + "/.", "x" * 65, 42):
        assert not is_valid_id(bad)
        with pytest.raises(UserError):
            Workspace.open(bad)
    assert is_valid_id(user_session_id("alice")) and user_session_id("alice") != user_session_id("bob")
    make_run(a.runs_dir, "run-a", finished=True)
    assert [Path(r["run_dir"]).name for r in a.list_runs()] == ["run-a"]
    assert b.list_runs() == []
    with pytest.raises(UserError, match="no run called"):
        b.run_path("run-a")
    for sneaky in ("../run-a", "/etc/passwd", f"../../{a.id}/runs/run-a", ".."):
        with pytest.raises(UserError):
            b.run_path(sneaky)
    with pytest.raises(UserError):
        a.upload_path("../../../etc/passwd")


def test_browser_secret_is_persisted(home: Path) -> None:
    from tl_core.workspace import browser_secret

    first = browser_secret()
    assert browser_secret() == first and len(first) >= 32
    assert (home / ".browser_secret").stat().st_mode & 0o077 == 0


# --- scheduler -------------------------------------------------------------------------------------------------
class FakeLauncher:
    """Stands in for runs.start: marks the run as running under this (live) process id."""

    def __init__(self) -> None:
        self.started: list[tuple[str, bool]] = []

    def __call__(self, run_dir: Path, resume: bool = False) -> int:
        import os

        self.started.append((run_dir.name, resume))
        rf.update_status(run_dir, "training", pid=os.getpid())
        return os.getpid()


def test_queue_runs_one_at_a_time_in_order_and_survives_restarts(home: Path) -> None:
    from tl_core import scheduler

    launch = FakeLauncher()
    runs = [make_run(home / "sessions" / f"s{i}", f"run-{i}") for i in range(3)]
    assert scheduler.submit(runs[0], start=launch) == 0
    assert scheduler.submit(runs[1], start=launch) == 1
    assert scheduler.submit(runs[2], start=launch) == 2
    assert launch.started == [("run-0", False)]
    with pytest.raises(UserError, match="already running or waiting"):
        scheduler.submit(runs[1], start=launch)
    # a "restarted UI" only has the files: positions and the slot holder come back from disk
    assert [scheduler.position(r) for r in runs] == [0, 1, 2]
    assert scheduler.dispatch(start=launch) is None  # run-0 still holds the accelerator
    rf.update_status(runs[0], "done")
    assert scheduler.dispatch(start=launch) == runs[1].resolve()
    assert [scheduler.position(r) for r in runs] == [None, 0, 1]
    # cancelling a waiting run removes it from the line and marks it stopped
    assert scheduler.cancel(runs[2]) is True
    assert rf.read_json(runs[2] / rf.STATUS)["phase"] == "stopped"
    rf.update_status(runs[1], "failed")
    assert scheduler.dispatch(start=launch) is None
    assert [name for name, _ in launch.started] == ["run-0", "run-1"]


def test_resume_goes_through_the_queue(home: Path) -> None:
    from tl_core import scheduler

    launch = FakeLauncher()
    run = make_run(home / "sessions" / "s", "run-r", phase="stopped")
    (run / rf.STOP).write_text("1")
    assert scheduler.submit(run, start=launch, resume=True) == 0
    assert launch.started == [("run-r", True)] and not (run / rf.STOP).exists()


def test_a_launch_failure_does_not_wedge_the_queue(home: Path) -> None:
    from tl_core import scheduler

    def broken(run_dir: Path, resume: bool = False) -> int:
        raise UserError("no such file")

    run = make_run(home / "sessions" / "s", "run-x")
    scheduler.submit(run, start=broken)
    assert rf.read_json(run / rf.STATUS)["phase"] == "failed"
    ok = make_run(home / "sessions" / "s", "run-y")
    launch = FakeLauncher()
    assert scheduler.submit(ok, start=launch) == 0


# --- export ----------------------------------------------------------------------------------------------------
def test_zip_and_model_card(home: Path) -> None:
    from tl_core import export

    run = make_run(home / "runs", "finished", phase="done", finished=True)
    card = export.model_card(run)
    for needle in ("sentence-transformers/all-MiniLM-L6-v2", "feature extraction", "320 training, 80 evaluation",
                   "| accuracy | 0.9100 |", "python -m tl_core train --preset training_config.yaml --data reviews.csv",
                   "pipeline_tag: text-classification"):
        assert needle in card, needle
    assert "/srv/private" not in card  # server paths never leak into a public card
    z = export.zip_model(run, home / "downloads")
    names = zipfile.ZipFile(z).namelist()
    assert "finished/model.safetensors" in names and "finished/README.md" in names
    unfinished = make_run(home / "runs", "unfinished")
    with pytest.raises(UserError, match="no finished model"):
        export.zip_model(unfinished, home / "downloads")


def test_push_stages_card_and_never_leaks_the_token(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    from tl_core import export

    run = make_run(home / "runs", "finished", phase="done", finished=True)
    token = "hf_SECRETtoken1234567890"
    seen = {}

    def fake_upload(folder: Path, repo_id: str, tok: str, private: bool) -> str:
        seen.update(files=sorted(p.name for p in folder.iterdir()), repo=repo_id, private=private, tok=tok)
        return f"https://huggingface.co/{repo_id}"

    url = export.push_to_hub(run, "me/my-model", token, private=True, upload=fake_upload)
    assert url == "https://huggingface.co/me/my-model" and token not in url
    assert seen["files"] == ["README.md", "model.safetensors", "results.json", "training_config.yaml"]
    assert seen["tok"] == token and seen["private"] is True

    def failing(folder: Path, repo_id: str, tok: str, private: bool) -> str:
        raise RuntimeError(f"HTTP 500 while using token {tok}")

    with pytest.raises(UserError) as err:
        export.push_to_hub(run, "me/my-model", token, upload=failing)
    assert token not in str(err.value) and "***" in str(err.value)
    for bad_repo in ("", "no-namespace", "../x/y"):
        with pytest.raises(UserError, match="your-name/model-name"):
            export.push_to_hub(run, bad_repo, token, upload=fake_upload)
    with pytest.raises(UserError, match="access token"):
        export.push_to_hub(run, "me/my-model", "  ", upload=fake_upload)
    on_disk = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert token.encode() not in on_disk and token not in caplog.text


# --- charts ----------------------------------------------------------------------------------------------------
def test_charts_from_metrics_records() -> None:
    from tl_core import charts

    records = [{"phase": "train", "step": s, "epoch": s / 4, "loss": 1 / s, "learning_rate": 1e-3 * (1 - s / 9)}
               for s in range(1, 9)]
    records += [{"phase": "eval", "step": 4 * e, "epoch": e, "eval_loss": 0.5 / e, "eval_f1_macro": 0.6 + e / 10}
                for e in (1, 2)]
    loss = charts.loss_figure(records)
    assert list(loss.data[0].y) == [1 / s for s in range(1, 9)]
    ev = charts.eval_figure(records)
    assert [t.name for t in ev.data] == ["eval loss", "f1_macro"] and list(ev.data[1].y) == [0.7, 0.8]
    assert len(charts.lr_figure(records).data[0].x) == 8
    assert not charts.loss_figure([]).data  # empty state: a message, no traces
    cm = charts.confusion_figure(["a", "b"], [[3, 1], [0, 4]])
    assert [list(row) for row in cm.data[0].z] == [[3, 1], [0, 4]]
    dist = charts.label_distribution({"train": {"a": 5, "b": 3}, "eval": {"a": 1, "b": 1}})
    assert [t.name for t in dist.data] == ["train", "eval"]
    comp = charts.compare_figure([("r1", records), ("r2", records[:4])])
    assert {t.name for t in comp.data} >= {"r1", "r2"}
