"""The advisor: its rules on made-up statistics, the probe on separable and random features, memory warnings, the
calibration cache, and the ``advise --json`` interface end to end on a tiny model."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tl_core import advise, costmodel, model_costs, recommend
from tl_core import estimate as est
from tl_core.config import TrainConfig
from tl_core.errors import UserError

from .tiny_models import make_tiny_bert

FITS = {"features": True, "lora": True, "full": True}


def facts(per_class: float, probe: float | None, majority: float = 0.5, fits=None, full_wall_s: float = 600.0):
    return recommend.Facts(per_class, int(per_class * 2), majority, probe, fits or FITS, full_wall_s)


@pytest.mark.parametrize(
    ("f", "method", "says"),
    [
        (facts(10, 0.9), "features", "only about 10 examples per class"),  # few + strong probe
        (facts(10, 0.55), "lora", "must adapt"),  # few + weak probe
        (facts(1000, 0.6), "full", "adapt every layer"),  # many + weak probe
        (facts(1000, 0.95), "full", "time to spare"),  # many + strong + affordable
        (facts(1000, 0.95, full_wall_s=3 * 3600), "features", "180 minutes"),  # many + strong + too slow
        (facts(100, 0.8), "lora", "close to full fine-tuning"),  # in between
        (facts(1000, 0.6, fits={"full": False, "lora": True}), "lora", "would not fit"),  # memory tight
        (facts(1000, 0.6, fits={"full": False, "lora": False}), "features", "Neither fine-tuning"),
        (facts(10, None), "features", "hardly overfit"),  # no probe: counts alone
        (facts(1000, None), "full", "enough data"),
    ],
)
def test_each_rule_gives_its_method_and_one_plain_sentence(f, method, says):
    chosen, reason = recommend.choose(f)
    assert chosen == method
    assert says in reason
    assert reason.count(". ") == 0 and reason.endswith(".")  # one sentence
    assert "_" not in reason and "--" not in reason  # user words: no config keys or flags


def test_settings_scale_epochs_to_steps_and_fit_lengths():
    assert recommend.epochs_for("full", 125) == 3  # 300 steps at 125 per epoch
    assert recommend.epochs_for("features", 125) == 12
    assert recommend.epochs_for("full", 10_000) == 1
    assert recommend.max_length_for([10] * 90 + [40] * 10, 128) == 64
    assert recommend.image_size_for(28, 224) == 64
    assert recommend.image_size_for(300, 224) == 224
    smaller = recommend.with_batch(TrainConfig(batch_size=32, learning_rate=1e-4), 8)
    assert smaller.batch_size == 8 and smaller.learning_rate == pytest.approx(5e-5)


def test_probe_beats_majority_on_separable_features_and_not_on_random_ones():
    rng = np.random.default_rng(0)
    y_train, y_eval = rng.integers(0, 3, 300), rng.integers(0, 3, 150)
    centers = rng.normal(0, 4, (3, 16))
    x_train = centers[y_train] + rng.normal(0, 1, (300, 16))
    x_eval = centers[y_eval] + rng.normal(0, 1, (150, 16))
    score, majority, metric = advise.fit_probe(x_train, y_train, x_eval, y_eval)
    assert metric == "accuracy" and score > 0.95 and score > majority + 0.5
    score, majority, _ = advise.fit_probe(rng.normal(size=(300, 16)), y_train, rng.normal(size=(150, 16)), y_eval)
    assert score < majority + 0.15


def test_ner_probe_scores_entity_words_only():
    y = np.array([0] * 80 + [1] * 10 + [2] * 10)
    x = np.eye(3)[y] * 5 + np.random.default_rng(1).normal(0, 0.1, (100, 3))
    score, majority, metric = advise.fit_probe(x, y, x, y, ner=True)
    assert metric == "word_f1" and majority == 0.0 and score > 0.9


MACHINE = {"startup_s": 8.0, "exit_s": 1.0, "runtime_rss_mb": 800.0, "trainer_step_s": 0.01, "trainer_epoch_s": 0.5,
           "write_mb_s": 200.0, "gpu": None}  # fmt: skip
MODEL = {"load_s": 1.0, "step_s": 0.3, "forward_s": 0.1, "activation_mb_per_example": 50.0, "batch": 32,
         "params": 22_000_000, "trainable": 22_000_000}  # fmt: skip


def profile(n_train: int = 4000, n_eval: int = 1000) -> est.DataProfile:
    return est.DataProfile("text", n_train, n_eval, ["neg", "pos"], {"neg": n_train // 2, "pos": n_train // 2},
                           lengths=[30] * 100, prep_s_per_example={"tokens": 1e-4})  # fmt: skip


def test_estimate_counts_steps_evaluations_and_saves():
    tc = TrainConfig(epochs=2, batch_size=32, eval_batch_size=64)
    e = est.estimate_run("full", tc, profile(), MACHINE, MODEL)
    assert e["steps"] == 250
    assert e["parts_s"]["train"] == pytest.approx(250 * 0.31 + 2 * (16 * 0.1 + 22e6 * 16 / 2**20 / 200 + 0.5), 0.01)
    features = est.estimate_run("features", TrainConfig(epochs=10, batch_size=32), profile(), MACHINE, MODEL)
    assert features["wall_s"] < e["wall_s"] / 2  # one forward pass instead of backward passes every epoch


def test_memory_warning_names_the_batch_size_that_fits():
    tc = TrainConfig(batch_size=64)
    need = est.peak_memory_mb("full", tc, profile(), MACHINE, MODEL)
    free = 2500.0
    assert need > free
    fit = est.batch_that_fits("full", tc, profile(), MACHINE, MODEL, free)
    assert fit == 16  # (2500 * 0.85 - 800 - 4 x 84 MB of weights, grads, moments) / 50 MB -> 19 -> power of two
    assert est.peak_memory_mb("full", TrainConfig(batch_size=fit), profile(), MACHINE, MODEL) < free
    e = {"batch_size": 64, "batch_size_that_fits": fit, "peak_memory_mb": need, "free_memory_mb": free}
    text = advise.memory_warning("full", e)
    assert "batch size 16 fits" in text and "Full fine-tuning with batch size 64" in text
    assert advise.memory_warning("full", {**e, "batch_size_that_fits": 64}) is None
    none_fit = advise.memory_warning("full", {**e, "batch_size_that_fits": 0})
    assert "does not fit even with batch size 1" in none_fit


def fake_process(calls: dict[str, int], measure_models: bool = False):
    """run_calibration without the process: counts what it was asked, answers fixed (or in-process) numbers."""

    def run(request):
        calls["processes"] += 1
        calls["models"] += len(request["models"])
        models = [
            model_costs.measure_model(s["task"], s["model"], s["revision"], s["method"], s["shape"])
            if measure_models
            else dict(MODEL)
            for s in request["models"]
        ]
        return {"machine": dict(MACHINE) if request["machine"] else None, "models": models, "load_per_core": 0.1}

    return run


def test_calibration_is_cached_per_hardware_and_reused(tl_home, monkeypatch):
    calls = {"processes": 0, "models": 0}
    monkeypatch.setattr(costmodel, "run_calibration", fake_process(calls))
    monkeypatch.setattr(costmodel, "load_now", lambda: 0.1)
    from tl_core.config import load_preset

    cfg = load_preset("text", "full")
    for _ in range(2):
        machine, model = advise.calibration_for(cfg, profile())
    assert calls == {"processes": 1, "models": 1}
    assert model["step_s"] == MODEL["step_s"] and machine["startup_s"] == MACHINE["startup_s"]
    saved = json.loads(costmodel.cache_path().read_text())
    assert costmodel.cache_path().parent == tl_home / "calibration"
    assert saved["machine"]["startup_s"] == 8.0 and len(saved["models"]) == 1
    advise.calibration_for(load_preset("text", "lora"), profile())
    assert calls == {"processes": 2, "models": 2}  # another method is another measurement; the machine's stays
    advise.calibration_for(load_preset("text", "features"), profile())  # the full model's forward: cached
    assert calls["processes"] == 2


def test_a_model_calibration_taken_under_load_is_measured_again_when_quiet(tl_home, monkeypatch):
    calls = {"processes": 0, "models": 0}
    monkeypatch.setattr(costmodel, "run_calibration", lambda r: {**fake_process(calls)(r), "load_per_core": 6.0})
    from tl_core.config import load_preset

    monkeypatch.setattr(costmodel, "load_now", lambda: 6.0)
    advise.calibration_for(load_preset("text", "full"), profile())
    advise.calibration_for(load_preset("text", "full"), profile())
    assert calls["models"] == 1  # still as busy: the measurement stands
    monkeypatch.setattr(costmodel, "load_now", lambda: 1.0)
    advise.calibration_for(load_preset("text", "full"), profile())
    assert calls["models"] == 2  # quiet now: measured again


def test_a_calibration_taken_under_heavy_load_is_measured_again_when_quiet(monkeypatch):
    monkeypatch.setattr(costmodel, "load_now", lambda: 0.5)
    assert costmodel.stale({"load_per_core": 5.0})
    assert not costmodel.stale({"load_per_core": 0.8})
    assert not costmodel.stale({"load_per_core": 5.0, "gpu": "H200"})


def test_the_real_measurement_of_a_tiny_model(tmp_path):
    model = make_tiny_bert(tmp_path / "bert")
    shape = {"batch": 4, "length": 16, "eval_batch": 8, "bf16": False, "n_labels": 2}
    m = model_costs.measure_model("text", str(model), None, "lora", shape)
    assert m["step_s"] > 0 and m["forward_s"] > 0 and m["activation_mb_per_example"] > 0
    assert 0 < m["trainable"] < m["params"]


def test_peak_memory_is_measured_at_the_longest_batch_not_the_mean_one(tmp_path):
    long_tail = est.DataProfile("text", 4000, 1000, ["neg", "pos"], {"neg": 2000, "pos": 2000},
                                lengths=[30] * 99 + [300])  # fmt: skip
    assert est.shape_length(long_tail, TrainConfig(max_length=128)) == 40  # speed: the mean batch (31 tokens + 5%)
    assert est.peak_length(long_tail, TrainConfig(max_length=128)) == 128  # memory: truncated at max_length
    assert est.peak_length(long_tail, TrainConfig(max_length=64)) == 64
    assert est.peak_length(profile(), TrainConfig(max_length=128)) == 32  # no long texts: the same batch
    model = make_tiny_bert(tmp_path / "bert")
    shape = {"batch": 4, "length": 16, "peak_length": 128, "eval_batch": 8, "bf16": False, "n_labels": 2}
    m = model_costs.measure_model("text", str(model), None, "full", shape)
    # 8x the tokens: at least 8x the activations per example (attention scores grow with the square)
    assert m["peak_activation_mb_per_example"] > 8 * m["activation_mb_per_example"] * 0.9
    tc = TrainConfig(batch_size=32, max_length=128)
    measured_only_at_mean = ("peak_activation_mb_per_example", "activation_fixed_mb", "step_rss_mb")
    mean_only = {k: v for k, v in m.items() if k not in measured_only_at_mean}
    assert (
        est.peak_memory_mb("full", tc, long_tail, MACHINE, m)
        > est.peak_memory_mb("full", tc, long_tail, MACHINE, mean_only) + 31 * m["activation_mb_per_example"] * 6
    )
    # on a CPU the calibration also measures how far a real first step at that batch raises the resident size
    assert m["step_rss_mb"] is None or m["step_rss_mb"] > 0
    grown = {**m, "step_rss_mb": 4000.0, "batch": 4}  # a step that grew by more than the saved tensors say
    assert (
        est.peak_memory_mb("full", tc, long_tail, MACHINE, grown)
        > est.peak_memory_mb("full", tc, long_tail, MACHINE, m) + 32 * 500
    )
    assert costmodel.shape_key("text", "full", shape) != costmodel.shape_key(
        "text", "full", {**shape, "peak_length": 16}
    )


def test_advise_json_schema_end_to_end(tl_home, tmp_path, monkeypatch, capsys):
    calls = {"processes": 0, "models": 0}  # the process start is the slow test's: measure in this process here
    monkeypatch.setattr(costmodel, "run_calibration", fake_process(calls, measure_models=True))
    model = make_tiny_bert(tmp_path / "bert")
    rows = ["text,label"] + [f"great good {i % 7} movie,pos" for i in range(40)]
    rows += [f"awful bad {i % 7} film,neg" for i in range(40)]
    data = tmp_path / "reviews.csv"
    data.write_text("\n".join(rows) + "\n")
    from tl_core.__main__ import main

    argv = ["advise", "--task", "text", "--data", str(data), "--model", str(model), "--json"]
    assert main([*argv, "--method", "full", "--set", "train.batch_size=8"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["recommended"]["method"] in ("features", "lora", "full")
    assert {"epochs", "batch_size", "learning_rate", "max_length"} <= set(out["recommended"]["settings"])
    assert isinstance(out["reason"], str) and out["reason"]
    assert out["probe"]["metric"] == "accuracy" and 0 <= out["probe"]["value"] <= 1
    for method in ("features", "lora", "full"):
        e = out["estimates"][method]
        assert e["wall_s"] > 0 and e["peak_memory_mb"] > 0
    assert out["current"]["batch_size"] == 8
    assert main(argv) == 0  # the second time everything comes from the caches
    again = json.loads(capsys.readouterr().out)
    assert again["probe"]["cached"] is True
    assert calls["processes"] == 1  # all methods (and the --method check) measured in one process, once


@pytest.mark.slow
def test_the_calibration_process_starts_like_a_run_and_measures(tl_home, tmp_path):
    model = make_tiny_bert(tmp_path / "bert")
    shape = {"batch": 4, "length": 16, "eval_batch": 8, "bf16": False, "n_labels": 2}
    spec = {"task": "text", "model": str(model), "revision": None, "method": "full", "shape": shape}
    found = costmodel.run_calibration({"machine": True, "models": [spec]})
    machine, (measured,) = found["machine"], found["models"]
    assert machine["startup_s"] > 0 and machine["trainer_step_s"] > 0 and machine["write_mb_s"] > 0
    assert measured["step_s"] > 0 and measured["params"] > 0
    with pytest.raises(UserError):
        costmodel.run_calibration({"machine": False, "models": [{**spec, "model": str(tmp_path / "nothing")}]})


@pytest.mark.slow  # the whole page, a real probe and real model timings (in this process)
def test_the_panel_advises_then_use_this_fills_the_method_tab(tl_home, tmp_path, monkeypatch):
    import gradio as gr

    from tests.security.test_identity import call, request
    from tl_core import dashboard, ratelimit
    from webui.interface import create_page

    calls = {"processes": 0, "models": 0}
    monkeypatch.setattr(costmodel, "run_calibration", fake_process(calls, measure_models=True))
    model = str(make_tiny_bert(tmp_path / "bert"))
    demo, page = create_page(oauth=False)
    sid = call(demo, "init", {page.session.sid: None}, request(None))[page.session.sid]
    (fn,) = [d for d in demo.fns.values() if d.api_name == "advise"]
    given = {c: getattr(c, "value", None) for c in fn.inputs}
    given.update({page.session.sid: sid, page.session.data_choice: dashboard.SAMPLE, page.task_model.task: "text"})
    given.update({page.task_model.model: model, page.method.method: "full"})
    panel = page.data.advisor
    out = call(demo, "advise", given, request(None))
    shown = out[panel.result]
    assert shown.startswith("### Recommended:") and "Quick test without training" in shown
    assert not re.search(r"batch_size|learning_rate|--[a-z]|train\.", shown)  # the page's words, no keys or flags
    assert out[panel.apply_btn]["interactive"] is True
    advice = out[panel.advice]
    applied = call(demo, "advise_apply", {panel.advice: advice}, request(None))
    assert applied[page.method.method] == advice["method"]
    epochs = applied[page.method.train.components["epochs"]]
    assert (epochs["value"] if isinstance(epochs, dict) else epochs) == advice["settings"]["epochs"]
    assert applied[page.tabs]["selected"] == "method"
    # the Method tab's panel also checks the settings chosen so far
    given[page.method.train.components["batch_size"]] = 4
    method_out = call(demo, "method_advise", given, request(None))
    assert method_out[page.method.advisor.result].startswith("### Recommended:")
    # a public deployment limits advice per workspace per minute
    monkeypatch.setenv("TL_PUBLIC", "1")
    monkeypatch.setenv("TL_RATE_ADVISE", "1")
    ratelimit.BUCKETS.clear()
    call(demo, "advise", given, request(None))
    with pytest.raises(gr.Error, match="Too many advice requests"):
        call(demo, "advise", given, request(None))
    ratelimit.BUCKETS.clear()


def _reviews_csv(path):
    rows = ["text,label"] + [f"great good {i % 7} movie,pos" for i in range(40)]
    rows += [f"awful bad {i % 7} film,neg" for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.slow
def test_features_already_cached_by_a_run_are_estimated_without_the_extraction_pass(tl_home, tmp_path, monkeypatch):
    """The advisor and a real run name the shared cache's entries the same way: after a features run on the same
    data, model and length, the advisor knows the extraction is paid and says so."""
    import os
    import subprocess
    import sys

    from tl_core.config import DataConfig

    monkeypatch.setattr(costmodel, "run_calibration", fake_process({"processes": 0, "models": 0}, True))
    monkeypatch.delenv("TL_FEATURE_CACHE", raising=False)
    model, data = make_tiny_bert(tmp_path / "bert"), _reviews_csv(tmp_path / "reviews.csv")
    first = advise.advise("text", DataConfig(train_file=str(data)), str(model))
    before = first["estimates"]["features"]
    assert before["features_cached"] is False and before["parts_s"]["extract"] > 0
    assert first["data"]["tokens"]["p95"] <= 32
    max_length = 32  # what the advisor's features settings use for texts this short (recommend.max_length_for)
    args = ["compare", "--task", "text", "--model", str(model), "--data", str(data), "--methods", "features"]
    args += ["--set", "train.max_steps=2", "--set", f"train.max_length={max_length}", "--out", str(tmp_path / "c")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("TL_FEATURE_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-m", "tl_core", *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    after = advise.advise("text", DataConfig(train_file=str(data)), str(model))
    e = after["estimates"]["features"]
    assert e["features_cached"] is True and e["parts_s"]["extract"] == 0
    assert e["wall_s"] == pytest.approx(before["wall_s"] - before["parts_s"]["extract"], abs=0.2)
    assert "features already computed for this data" in advise.format_advice(after)
    # another workspace's cache (the app passes each workspace's own) does not count
    elsewhere = advise.advise("text", DataConfig(train_file=str(data)), str(model), feature_cache=tmp_path / "other")
    assert elsewhere["estimates"]["features"]["features_cached"] is False
