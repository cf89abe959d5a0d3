"""Compare and config views in user terms, and one headline metric named the same on every screen."""

from __future__ import annotations

import json
from pathlib import Path

from tl_core import charts, dashboard
from tl_core.config import load_preset
from tl_core.config_view import readable_settings
from webui import presenters


def _run(tmp_path: Path, name: str, overrides: list[str], train_file: str | None) -> Path:
    cfg = load_preset("text", "lora").with_overrides(overrides).to_dict()
    cfg["data"]["train_file"] = train_file
    run = tmp_path / name
    run.mkdir()
    (run / "config.json").write_text(json.dumps(cfg))
    return run


def test_compare_runs_shows_labels_and_file_names_only(tmp_path: Path) -> None:
    server = "/home/tl/sessions/ws-3f9a8b7c6d5e/uploads/reviews.csv"
    a = _run(tmp_path, "run-a", ["train.epochs=3", "method_params.r=8"], server)
    b = _run(tmp_path, "run-b", ["train.epochs=5", "method_params.r=16"], None)
    headers, rows = dashboard.config_diff([a, b])
    assert headers == ["setting", "run-a", "run-b"]
    shown = {row[0]: row[1:] for row in rows}
    assert shown["Epochs"] == ["3", "5"] and shown["LoRA rank"] == ["8", "16"]
    assert shown["Training data"] == ["reviews.csv", "bundled sample"]
    text = json.dumps(rows)
    for raw in ("train.", "method_params", "data.", "/home/", "ws-3f9a", "None"):
        assert raw not in text, raw


def test_config_view_words() -> None:
    view = readable_settings(load_preset("text", "lora").to_dict())
    assert view["Task"] == "Text classification" or "text" in view["Task"].lower()
    assert view["Training data"] == "bundled sample" and view["Label column"] == "auto-detected"
    assert view["Evaluation share"] == "20%" and view["LoRA alpha"] == "32"


def test_one_headline_metric_named_the_same_everywhere() -> None:
    task_tab = presenters.task_text("text")
    assert "Main metric: **macro F1**" in task_tab and "equal weight" in task_tab and "f1_macro" not in task_tab
    res = {"task": "text", "metrics": {"f1_macro": 0.81, "accuracy": 0.9}}
    assert "Done: macro F1 0.810" in presenters.status_html("r", {"phase": "done"}, [], results=res)
    row = {"run_dir": "/x/r", "name": "r", "task": "text", "method": "lora", "phase": "done", "metrics": res["metrics"]}
    assert "macro F1 0.810" in presenters.runs_table([row], {}).iloc[0]["metric"]
    records = [{"phase": "eval", "epoch": 1, "eval_loss": 0.5, "eval_f1_macro": 0.8}]
    fig = charts.eval_figure(records)
    assert "macro F1" in [t.name for t in fig.data]
    assert "macro F1" in [r[0] for r in presenters.metrics_rows(res)]


def test_runs_table_says_when_a_run_is_no_better_than_guessing(tmp_path) -> None:
    from tl_core import runfiles as rf
    from tl_core import runs

    run_dir = tmp_path / "20261202-weak"
    run_dir.mkdir()
    rf.write_json(run_dir / rf.CONFIG, {"task": "text", "method": "lora", "data": {}})
    rf.write_json(run_dir / rf.STATUS, {"phase": "done"})
    rf.write_json(run_dir / rf.RESULTS, {"metrics": {"f1_macro": 0.5}, "verdict": {"level": "weak"}})
    (row,) = runs.list_runs(tmp_path)
    assert presenters.runs_table([row], {}).iloc[0]["status"] == "done, no better than guessing"
    row["verdict"] = "good"
    assert presenters.runs_table([row], {}).iloc[0]["status"] == "done"
