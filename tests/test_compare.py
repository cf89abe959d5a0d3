"""Comparing methods in one go: configs from the presets on one split, the queue (public-mode room), the shared
feature cache (location, reuse, pruning), the recommendation's every branch on synthetic rows, and
``python -m tl_core compare`` end to end on the bundled text sample with a tiny model (comparison.json schema,
the second comparison's features come from the cache)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tl_core import compare, feature_cache, paths, scheduler
from tl_core import runfiles as rf
from tl_core.__main__ import main as cli
from tl_core.compare_verdict import majority_baseline, recommend
from tl_core.errors import ConfigError
from tl_core.fair_use import LimitError
from tl_core.stats import wilson_interval

from .run_fakes import spawn_run_process
from .tiny_models import make_tiny_bert

ROOT = Path(__file__).resolve().parent.parent


# --- the recommendation, on synthetic rows ----------------------------------------------------------------------
def fake_row(method: str, value: float | None, n: int = 200, mb: float = 100.0, wall: float = 60.0, phase="done"):
    low, high = wilson_interval(value, n) if value is not None else (None, None)
    return {
        "method": method,
        "phase": phase,
        "metric": {"key": "f1_macro", "name": "macro F1", "value": value, "low": low, "high": high, "n": n},
        "artifact_mb": mb,
        "wall_s": wall,
    }


BASE = {"key": "f1_macro", "value": 0.33, "label": "always predicting 'negative'"}


def test_lora_close_to_full_at_a_fraction_of_the_size_is_recommended() -> None:
    rows = [fake_row("features", 0.80, mb=90, wall=10), fake_row("lora", 0.906), fake_row("full", 0.91, mb=90)]
    rows[1]["artifact_mb"] = 1.3
    rec = recommend(rows, BASE)
    assert rec["method"] == "lora"
    assert rec["reason"].startswith("LoRA: within 0.4 points of full fine-tuning")
    assert "1/69 of the model size" in rec["reason"]


def test_same_size_models_are_told_apart_by_training_time() -> None:
    rows = [fake_row("features", 0.90, mb=90, wall=8), fake_row("full", 0.91, mb=91, wall=120)]
    rec = recommend(rows, BASE)
    assert rec["method"] == "features"
    assert "within 1.0 points of full fine-tuning" in rec["reason"] and "1/15 of the training time" in rec["reason"]


def test_best_is_kept_when_the_cheaper_methods_are_clearly_worse() -> None:
    rows = [fake_row("features", 0.70, n=2000, wall=5), fake_row("full", 0.92, n=2000, wall=300)]
    rec = recommend(rows, BASE)
    assert rec["method"] == "full"
    assert "the best macro F1 (0.920 ± 0.01" in rec["reason"]
    assert "feature extraction is cheaper but 22.0 points lower" in rec["reason"]


def test_best_that_is_also_cheapest() -> None:
    rows = [fake_row("features", 0.95, wall=5), fake_row("full", 0.70, n=2000, wall=300)]
    rec = recommend(rows, BASE)
    assert rec["method"] == "features" and "also the cheapest" in rec["reason"]


def test_within_one_point_counts_as_close_even_with_tight_intervals() -> None:
    rows = [fake_row("lora", 0.905, n=100_000, mb=2), fake_row("full", 0.914, n=100_000)]
    assert recommend(rows, BASE)["method"] == "lora"
    rows = [fake_row("lora", 0.89, n=100_000, mb=2), fake_row("full", 0.914, n=100_000)]
    assert recommend(rows, BASE)["method"] == "full"


def test_no_method_better_than_the_majority_baseline_says_so() -> None:
    rows = [fake_row("features", 0.36, n=40), fake_row("full", 0.40, n=40)]
    rec = recommend(rows, {"key": "f1_macro", "value": 0.333, "label": "always predicting 'negative'"})
    assert rec["method"] is None
    assert "No method is clearly better than always predicting 'negative' (macro F1 0.333)" in rec["reason"]


def test_only_one_finished_and_none_finished() -> None:
    rows = [fake_row("features", 0.9), fake_row("full", None, phase="failed")]
    rec = recommend(rows, BASE)
    assert rec["method"] == "features" and "only method that finished" in rec["reason"]
    assert recommend([fake_row("full", None, phase="failed")], BASE)["method"] is None


def test_majority_baseline_per_metric() -> None:
    results = {"labels": ["a", "b"], "baselines": {"majority": 0.75, "majority_label": "a"}}  # as verdict.py writes
    base = majority_baseline("text", results)
    assert base["value"] == pytest.approx(2 * 0.75 / 1.75 / 2) and "'a'" in base["label"]
    assert majority_baseline("ner", {})["value"] == 0.0
    assert majority_baseline("text", {}) is None


# --- configs: presets, one split, overrides ----------------------------------------------------------------------
def test_configs_share_data_and_model_run_cheapest_first_and_keep_early_stopping(tmp_path: Path) -> None:
    for method in ("features", "lora", "full"):
        text = (ROOT / "presets" / f"text-{method}.yaml").read_text()
        if method == "full":
            text = text.replace("early_stopping_patience: 0", "early_stopping_patience: 2")
        (tmp_path / f"text-{method}.yaml").write_text(text)
    data = {"train_file": "/d/reviews.csv", "seed": 7, "eval_fraction": 0.3, "max_rows": 50}
    configs = compare.method_configs(
        "text",
        ["full", "features", "lora"],
        data,
        "bundled:minilm",
        ["train.max_steps=2", "lora:method_params.r=4"],
        train={"max_length": 64, "epochs": 99},
        presets_dir=tmp_path,
    )
    assert [c.method for c in configs] == ["features", "lora", "full"]
    assert len({json.dumps(c.to_dict()["data"]) for c in configs}) == 1 and configs[0].data.seed == 7
    assert all(c.train.max_steps == 2 and c.train.max_length == 64 for c in configs)
    assert [c.train.epochs for c in configs] == [20, 3, 3]  # epochs stay each preset's: not a shared setting
    assert configs[1].method_params["r"] == 4 and "r" not in configs[0].method_params
    assert configs[2].train.early_stopping_patience == 2  # the best checkpoint is restored in comparisons too
    with pytest.raises(ConfigError, match="Unknown method 'svm'"):
        compare.order_methods(["features", "svm"])
    with pytest.raises(ConfigError, match="not a method"):
        compare.method_configs("text", ["lora"], overrides=["svm:train.epochs=1"])


# --- the queue: a 3-method comparison fits a public workspace, a 4th run does not --------------------------------
@pytest.fixture
def public_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TL_PUBLIC", "1")
    monkeypatch.setenv("TL_SLOT", "cpu")
    for name in ("SPACE_ID", "TL_MAX_QUEUED_PER_WORKSPACE", "TL_MAX_EPOCHS", "TL_MAX_STEPS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def fake_launch(run_dir: Path, resume: bool = False) -> int:
    proc = spawn_run_process(run_dir)
    rf.update_status(run_dir, "training", launched=time.time())
    return proc.pid


def test_public_workspace_queues_a_three_method_comparison_and_refuses_more(public_home: Path) -> None:
    runs_dir = public_home / "sessions" / "ws-a" / "runs"
    configs = compare.method_configs("text", ["features", "lora", "full"])
    run_dirs = compare.submit(configs, runs_dir, start=fake_launch)
    assert [scheduler.position(d) for d in run_dirs] == [0, 1, 2]  # features first, the others wait in order
    with pytest.raises(LimitError, match="may have 3 at a time"):  # a 4th run: the scheduler's own refusal
        scheduler.check_room(configs[0].to_dict(), runs_dir)
    before = sorted(runs_dir.iterdir())
    with pytest.raises(LimitError, match="Comparing 2 methods queues 2 runs, and you already have 3"):
        compare.submit(configs[:2], runs_dir, start=fake_launch)
    assert sorted(runs_dir.iterdir()) == before  # refused before any run folder was made
    for d in run_dirs:
        scheduler.request_stop(d)


# --- the shared feature cache ------------------------------------------------------------------------------------
def test_feature_cache_is_per_workspace_in_the_app_and_per_home_on_the_command_line(tl_home, monkeypatch) -> None:
    monkeypatch.delenv("TL_FEATURE_CACHE", raising=False)
    ws_run = paths.sessions_root() / "abc" / "runs" / "r1"
    assert paths.feature_cache(ws_run) == paths.sessions_root() / "abc" / "feature_cache"
    assert paths.feature_cache(Path("/elsewhere/run")) == paths.home() / "feature_cache"
    monkeypatch.setenv("TL_FEATURE_CACHE", str(tl_home / "shared"))
    assert paths.feature_cache(ws_run) == (tl_home / "shared").resolve()


def test_entries_no_remaining_run_uses_are_pruned(tmp_path: Path) -> None:
    cache, runs_dir = tmp_path / "feature_cache", tmp_path / "runs"
    cache.mkdir()
    for name in ("train-aaa", "eval-aaa", "train-bbb"):
        (cache / f"{name}.safetensors").write_bytes(b"x" * 100)
    stale = cache / ".train-ccc.safetensors.12-ab.tmp"
    stale.write_bytes(b"x")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    run = runs_dir / "r1"
    run.mkdir(parents=True)
    (run / rf.CONFIG).write_text("{}")
    rf.write_json(run / rf.RESULTS, {"features": {"cache_keys": {"train": "train-aaa", "eval": "eval-aaa"}}})
    rf.update_status(run, "done")
    busy = runs_dir / "r2"
    busy.mkdir()
    (busy / rf.CONFIG).write_text("{}")
    rf.update_status(busy, "training")
    assert feature_cache.prune_unused(cache, runs_dir) == 0  # a run is active: it may be about to reuse them
    rf.update_status(busy, "done")
    assert feature_cache.prune_unused(cache, runs_dir) == 101
    assert sorted(p.name for p in cache.iterdir()) == ["eval-aaa.safetensors", "train-aaa.safetensors"]


# --- the command line --------------------------------------------------------------------------------------------
def test_cli_exits_non_zero_with_a_clear_message_when_a_run_fails(tl_home, tmp_path, monkeypatch, capsys) -> None:
    def fail(run_dir: Path, resume: bool = False) -> int:
        rf.update_status(run_dir, "failed", error="The device ran out of memory.")
        return 0

    monkeypatch.setattr("tl_core.runs.start", fail)
    code = cli(["compare", "--task", "text", "--methods", "lora,features", "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 1
    assert "error: features failed: The device ran out of memory." in captured.err
    comparison = json.loads((tmp_path / "out" / compare.COMPARISON).read_text())
    assert [r["method"] for r in comparison["rows"]] == ["features", "lora"]
    assert comparison["recommendation"]["method"] is None


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("models") / "bert")


def run_cli(home: Path, out: Path, bert: Path, methods: str = "features,lora,full") -> subprocess.CompletedProcess:
    args = ["compare", "--task", "text", "--model", str(bert), "--methods", methods, "--out", str(out)]
    args += ["--set", "train.max_steps=3", "--set", "data.max_rows=40", "--set", "train.max_length=32"]
    env = {**os.environ, "TL_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("TL_FEATURE_CACHE", None)
    return subprocess.run(
        [sys.executable, "-m", "tl_core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_cli_compares_three_methods_and_the_second_comparison_hits_the_cache(tiny_bert, tmp_path) -> None:
    home = tmp_path / "home"
    done = run_cli(home, tmp_path / "first", tiny_bert)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "macro F1 (95% interval)" in done.stdout and "Recommendation:" in done.stdout
    comparison = json.loads((tmp_path / "first" / compare.COMPARISON).read_text())
    assert comparison["task"] == "text" and comparison["same_split"] is True
    rows = comparison["rows"]
    assert [r["method"] for r in rows] == ["features", "lora", "full"]
    for r in rows:
        assert Path(r["run_dir"]).is_dir() and r["phase"] == "done"
        assert {"accuracy", "f1_macro"} <= set(r["metrics"])
        assert r["wall_s"] > 0 and r["peak_memory_mb"] > 0 and r["trainable_params"] > 0 and r["artifact_mb"] > 0
        low, high = r["metric"]["low"], r["metric"]["high"]
        assert low <= r["metrics"]["f1_macro"] <= high and r["metric"]["n"] == 80
    assert len({r["data_hash"] for r in rows}) == 1  # the same split, row for row
    assert rows[0]["trainable_params"] < rows[1]["trainable_params"] < rows[2]["trainable_params"]
    assert set(comparison["recommendation"]) == {"method", "reason"} and comparison["recommendation"]["reason"]
    assert rows[0]["cache_hit"] is False
    # a later comparison (here: features only) on the same data and model reuses the features
    again = run_cli(home, tmp_path / "second", tiny_bert, methods="features")
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads((tmp_path / "second" / compare.COMPARISON).read_text())
    assert second["rows"][0]["cache_hit"] is True
    results = rf.read_json(Path(second["rows"][0]["run_dir"]) / rf.RESULTS)
    assert results["features"]["cache_hit"] == {"train": True, "eval": True}
    assert Path(results["features"]["cache_dir"]) == home.resolve() / "feature_cache"


def test_deleting_a_run_frees_the_features_no_other_run_of_the_workspace_uses(tl_home, monkeypatch) -> None:
    from tl_core import dashboard
    from tl_core.workspace import Workspace

    monkeypatch.delenv("TL_FEATURE_CACHE", raising=False)
    ws = Workspace.open("w" * 32)
    cache = paths.feature_cache(ws.runs_dir / "any-run")
    assert cache == ws.root / "feature_cache"  # inside the workspace: its quota and cleanup include it
    cache.mkdir()
    for name, keys in (("r1", ["train-aaa", "eval-aaa"]), ("r2", ["train-aaa", "eval-bbb"])):
        run = ws.runs_dir / name
        run.mkdir()
        (run / rf.CONFIG).write_text("{}")
        rf.update_status(run, "done")
        rf.write_json(run / rf.RESULTS, {"features": {"cache_keys": dict(zip(("train", "eval"), keys))}})
        for key in keys:
            (cache / f"{key}.safetensors").write_bytes(b"x" * 1000)
    used = ws.usage_bytes()
    assert used >= 3000
    dashboard.delete_run(ws, "r1")
    assert sorted(p.name for p in cache.iterdir()) == ["eval-bbb.safetensors", "train-aaa.safetensors"]
    dashboard.delete_run(ws, "r2")
    assert not list(cache.iterdir()) and ws.usage_bytes() < used - 3000


def test_runs_on_different_splits_are_not_compared(tmp_path: Path) -> None:
    dirs = []
    for method, digest, score in (("features", "aaa", 0.9), ("full", "bbb", 0.8)):
        run = tmp_path / method
        run.mkdir()
        (run / rf.CONFIG).write_text(json.dumps({"task": "text", "method": method}))
        rf.update_status(run, "done")
        report = {"per_class": [{"label": "a", "support": 10}, {"label": "b", "support": 10}]}
        results = {"metrics": {"f1_macro": score}, "data": {"eval": 20, "hash": digest}, "report": report}
        rf.write_json(run / rf.RESULTS, results)
        dirs.append(run)
    comparison = compare.summarize(dirs)
    assert comparison["same_split"] is False and comparison["finished"]
    assert comparison["recommendation"]["method"] is None
    assert "did not train on the same split" in comparison["recommendation"]["reason"]
    assert compare.table_lines(comparison)[0].startswith("method")
