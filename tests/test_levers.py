"""Correctness of the speed levers (their speed is measured in bench/, never asserted here)."""
from __future__ import annotations

import json

import pytest
import torch

from tl_core import runfiles as rf
from tl_core import runs, train
from tl_core.config import TrainConfig
from tl_core.registry import get_task

from .test_training import assets, tiny_config  # noqa: F401  (module fixture reused)
from .tiny_models import make_tiny_bert


def test_dynamic_padding_matches_max_length_padding(tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = make_tiny_bert(tmp_path / "bert")
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2).eval()
    texts = ["great film", "a really very boring and awful story with bad acting", "loved it !"]
    task, cfg = get_task("text"), TrainConfig(max_length=64)
    ds = task.preprocess(Dataset.from_dict({"text": texts, "label": [1, 0, 1], "id": [0, 1, 2]}), tok, cfg)
    dynamic = task.collator(tok, cfg)([ds[i] for i in range(3)])
    fixed = tok(texts, padding="max_length", max_length=64, truncation=True, return_tensors="pt")
    assert dynamic["input_ids"].shape[1] < 64  # the lever: far fewer positions to compute
    with torch.no_grad():
        a = model(**{k: v for k, v in dynamic.items() if k != "labels"}).logits
        b = model(**fixed).logits
    assert torch.allclose(a, b, atol=1e-5)


def test_length_grouping_is_used_for_text_and_keeps_eval_order(assets, tmp_path, tl_home):  # noqa: F811
    run_dir = runs.create_run(tiny_config("text", "full", assets, epochs=1), run_dir=tmp_path / "run")
    assert train.run(run_dir) == 0
    ids = [json.loads(l)["id"] for l in (run_dir / rf.EVAL_PREDICTIONS).read_text().splitlines()]
    from tl_core.data import load_task_data
    from tl_core.config import RunConfig

    data = load_task_data("text", RunConfig.from_file(run_dir / rf.CONFIG).data)
    assert ids == list(data.eval["id"])  # predictions line up with their examples


@pytest.mark.parametrize("precision,expect_bf16", [("bf16", True), ("fp32", False)])
def test_precision_paths_train(precision, expect_bf16, assets, tmp_path, tl_home):  # noqa: F811
    cfg = tiny_config("text", "full", assets, epochs=6, learning_rate=3e-3, precision=precision)
    run_dir = runs.create_run(cfg, run_dir=tmp_path / "run")
    assert train.run(run_dir) == 0
    results = rf.read_json(run_dir / rf.RESULTS)
    assert results["bf16"] is expect_bf16
    losses = [json.loads(l)["loss"] for l in (run_dir / rf.METRICS).read_text().splitlines() if '"train"' in l]
    assert all(l == l for l in losses) and losses[-1] < losses[0]  # finite and falling
