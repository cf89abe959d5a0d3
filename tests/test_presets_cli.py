"""Every preset runs on its bundled sample with the bundled model; the CLI drives a real run end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tl_core import runfiles as rf
from tl_core import runs, train
from tl_core.__main__ import main as cli
from tl_core.config import load_preset

pytestmark = pytest.mark.slow  # every test here trains a model or starts a run process

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("task", ["text", "image", "ner"])
@pytest.mark.parametrize("method", ["full", "lora", "features"])
def test_preset_runs_on_its_sample(task, method, tmp_path, tl_home):
    # Two optimiser steps on a slice of the sample: proves preset + bundled model + sample fit together.
    cfg = load_preset(task, method).with_overrides(["train.max_steps=2", "data.max_rows=40", "train.image_size=64"])
    run_dir = runs.create_run(cfg, run_dir=tmp_path / "run")
    assert train.run(run_dir) == 0, rf.read_json(run_dir / rf.STATUS)
    results = rf.read_json(run_dir / rf.RESULTS)
    assert results["data"]["train"] == 40 and results["steps"] == 2
    assert len(results["labels"]) >= 2


def test_cli_train_status_list_and_predict(tmp_path, tl_home, capsys):
    run_dir = tmp_path / "cli-run"
    code = cli(
        [
            "--runs-root",
            str(tmp_path),
            "train",
            "--preset",
            str(ROOT / "presets/text-features.yaml"),
            "--run-dir",
            str(run_dir),
            "--set",
            "train.epochs=2",
            "--set",
            "train.batch_size=32",
            "--set",
            "train.learning_rate=0.01",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert str(run_dir) in out and "metrics:" in out and "100.0%" in out
    cfg = json.loads((run_dir / rf.CONFIG).read_text())
    assert cfg["train"]["epochs"] == 2 and cfg["train"]["batch_size"] == 32 and cfg["train"]["learning_rate"] == 0.01

    assert cli(["--runs-root", str(tmp_path), "runs", "list"]) == 0
    listing = capsys.readouterr().out
    assert "cli-run" in listing and "done" in listing and "macro F1=" in listing

    assert cli(["runs", "status", str(run_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["phase"] == "done"

    assert cli(["predict", str(run_dir), "An absolutely wonderful, moving film."]) == 0
    probs = json.loads(capsys.readouterr().out)
    assert set(probs) == {"positive", "negative"} and abs(sum(probs.values()) - 1) < 1e-4

    batch = tmp_path / "new.csv"
    batch.write_text("comment\nTerrible, a waste of money.\nI loved it, brilliant.\n")
    assert cli(["predict", str(run_dir), str(batch)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("comment,prediction,confidence") and len(lines) == 3


def test_cli_reports_user_errors_without_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tl_core",
            "train",
            "--preset",
            str(ROOT / "presets/text-full.yaml"),
            "--set",
            "train.epoch=1",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "train.epoch" in proc.stderr and "Traceback" not in proc.stderr


def test_tl_console_script_is_the_cli() -> None:
    """The `tl` command that `pip install -e .` (in requirements-test.txt) installs runs the same CLI."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "tl"
    assert script.exists(), "install the project: pip install -r requirements-test.txt"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "export" in done.stdout and "train" in done.stdout
