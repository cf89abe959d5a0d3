"""Several training processes on CPU (torchrun + gloo, see launch_profiles.command): one run, the same result.

Two ranks against one process: the same examples in each step of each epoch (train.batch_size is the global batch),
the same label maps, metrics within a point; only rank 0 writes the run's files, every rank reaches save; feature
extraction is shared between the ranks and gives the one-process cache; stop and resume keep both ranks.
The ranks record what they did through the test-only TL_TRACE_DIR (training/context.trace).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tl_core import runfiles as rf
from tl_core import runs, train
from tl_core.__main__ import main as cli

from .test_training import assets, tiny_config  # noqa: F401 - assets is a fixture

pytestmark = pytest.mark.slow  # every test here starts training processes

FULL_SPEED = {"TL_TRAIN_NICE": "0", "OMP_NUM_THREADS": "1"}  # see test_training: a busy 2-core machine


def _trace(folder: Path, rank: int, event: str) -> list[dict]:
    path = folder / f"rank{rank}.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return [r for r in map(json.loads, lines) if r["event"] == event]


def _steps(trace: Path, ranks: int, per_epoch: int, epochs: int) -> list[list[int]]:
    """The sorted examples of each training step: the union of what the ranks fetched at that step."""
    batches = [[b["indices"] for b in _trace(trace, r, "batch")] for r in range(ranks)]
    assert all(len(b) == per_epoch * epochs for b in batches), [len(b) for b in batches]
    return [sorted(i for b in batches for i in b[s]) for s in range(per_epoch * epochs)]


def _metric_steps(run_dir: Path, phase: str) -> list[int]:
    records = [json.loads(line) for line in (run_dir / rf.METRICS).read_text().splitlines()]
    return [r["step"] for r in records if r["phase"] == phase]


def test_two_ranks_match_one_process(assets, tmp_path, tl_home, monkeypatch):  # noqa: F811
    """`tl train --num-processes 2` on a CPU machine runs two real ranks; the run matches a one-process run."""
    cfg = tiny_config("text", "full", assets, epochs=2, logging_steps=1).with_overrides(["data.eval_fraction=0.2"])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("TL_TRAIN_NICE", "0")

    monkeypatch.setenv("TL_TRACE_DIR", str(tmp_path / "trace1"))
    one = runs.create_run(cfg, run_dir=tmp_path / "one")
    assert train.run(one) == 0, rf.read_json(one / rf.STATUS)

    monkeypatch.setenv("TL_TRACE_DIR", str(tmp_path / "trace2"))
    preset = tmp_path / "config.yaml"
    preset.write_text(cfg.to_yaml())
    code = cli(["train", "--preset", str(preset), "--run-dir", str(tmp_path / "two"), "--num-processes", "2"])
    two = tmp_path / "two"
    assert code == 0, (two / rf.LOG).read_text()[-3000:]
    assert "torchrun --nproc_per_node 2" in rf.read_json(two / rf.STATUS)["command"]

    r1, r2 = rf.read_json(one / rf.RESULTS), rf.read_json(two / rf.RESULTS)
    assert (r1["world_size"], r2["world_size"]) == (1, 2)
    assert r1["data"]["train"] == 48 and r1["steps"] == r2["steps"] == 2 * 6  # 48 examples / global batch 8
    assert r1["labels"] == r2["labels"]
    assert (
        json.loads((one / "model" / "config.json").read_text())["id2label"]
        == json.loads((two / "model" / "config.json").read_text())["id2label"]
    )
    for key in ("accuracy", "f1_macro"):
        assert abs(r1["metrics"][key] - r2["metrics"][key]) <= 0.01, (r1["metrics"], r2["metrics"])

    # Data order: each step of each epoch trains on the same examples (the ranks' halves of the global batch).
    assert _steps(tmp_path / "trace1", 1, 6, 2) == _steps(tmp_path / "trace2", 2, 6, 2)
    first, second = _steps(tmp_path / "trace1", 1, 6, 2)[:6], _steps(tmp_path / "trace1", 1, 6, 2)[6:]
    assert first != second  # a new order each epoch, the same for any process count
    # Rank 0 alone wrote the run's files (each step once); both ranks took part in saving.
    assert _metric_steps(two, "train") == sorted(set(_metric_steps(two, "train")))
    assert len(_metric_steps(two, "eval")) == 2
    assert [e["is_main"] for r in (0, 1) for e in _trace(tmp_path / "trace2", r, "saved")] == [True, False]


def _wait_for_step(run_dir: Path, step: int, timeout_s: float = 240) -> dict:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        st = runs.status(run_dir)
        if st["phase"] == "training" and (st.get("step") or 0) >= step or st["phase"] in rf.FINAL_PHASES:
            return st
        time.sleep(0.2)
    return st


def test_two_ranks_share_feature_extraction_and_stop_and_resume(assets, tmp_path, tl_home, monkeypatch):  # noqa: F811
    """Each rank extracts its share, the cache equals the one-process cache; stop and resume keep two ranks."""
    # eval_batch_size 8: several extraction batches to share (features are computed in eval-size batches)
    same = {"precision": "fp32", "eval_batch_size": 8}
    cfg = tiny_config("text", "features", assets, max_steps=200, logging_steps=20, **same)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("TL_FEATURE_CACHE", str(tmp_path / "cache1"))
    monkeypatch.setenv("TL_TRACE_DIR", str(tmp_path / "trace1"))
    one = runs.create_run(tiny_config("text", "features", assets, epochs=1, **same), run_dir=tmp_path / "one")
    assert train.run(one) == 0

    monkeypatch.setenv("TL_FEATURE_CACHE", str(tmp_path / "cache2"))
    monkeypatch.setenv("TL_TRACE_DIR", str(tmp_path / "trace"))
    run_dir = runs.create_run(cfg, run_dir=tmp_path / "two")
    runs.start(run_dir, env=FULL_SPEED, num_processes=2)
    st = _wait_for_step(run_dir, 6)
    assert st["phase"] == "training", (st, (run_dir / rf.LOG).read_text()[-3000:])
    st = runs.stop(run_dir, grace_s=60)
    assert st["phase"] == "stopped", (st, (run_dir / rf.LOG).read_text()[-3000:])
    stopped_at = rf.checkpoint_step(rf.last_checkpoint(run_dir))
    assert 0 < stopped_at < 200 and not (run_dir / rf.RESULTS).exists()

    # The shuffled (not length-grouped) order of the features head: the same examples per step as one process.
    # 45 examples leave the last step 5 short: two ranks top it up with examples from the epoch's first step
    # (accelerate's even_batches; a rank with nothing to do would leave the other waiting for its gradients).
    two_ranks = [[b["indices"] for b in _trace(tmp_path / "trace", r, "batch")][:6] for r in (0, 1)]
    one_proc, together = _steps(tmp_path / "trace1", 1, 6, 1), [sorted(a + b) for a, b in zip(*two_ranks)]
    assert one_proc[:5] == together[:5] and len(one_proc[5]) == 5 and len(together[5]) == 8
    assert set(one_proc[5]) <= set(together[5]) and set(together[5]) - set(one_proc[5]) <= set(one_proc[0])
    shares = [[(e["examples"], e["total"]) for e in _trace(tmp_path / "trace", r, "extract")] for r in (0, 1)]
    for split in (0, 1):  # train, eval: each rank did a part, together all of it
        (a, total), (b, _) = shares[0][split], shares[1][split]
        assert a + b == total and 0 < a < total and 0 < b < total, shares
    cache1 = {p.name: load_file(str(p)) for p in (tmp_path / "cache1").glob("*.safetensors")}
    cache2 = {p.name: load_file(str(p)) for p in (tmp_path / "cache2").glob("*.safetensors")}
    assert sorted(cache1) == sorted(cache2) and len(cache1) == 2
    for name, tensors in cache1.items():
        assert set(tensors) == set(cache2[name])
        for key, value in tensors.items():
            assert value.equal(cache2[name][key]), (name, key)

    runs.resume(run_dir, env=FULL_SPEED)  # launch.json: the same two ranks
    st = runs.wait(run_dir, timeout_s=300)
    assert st["phase"] == "done", (st, (run_dir / rf.LOG).read_text()[-3000:])
    assert "--nproc_per_node 2" in st["command"] and st["resumed_from"].endswith(f"checkpoint-{stopped_at}")
    results = rf.read_json(run_dir / rf.RESULTS)
    assert results["world_size"] == 2 and results["steps"] == 200
    assert results["features"]["cache_hit"] == {"train": True, "eval": True}  # the resume reused the cache
    steps = _metric_steps(run_dir, "train")
    assert steps == sorted(set(steps)) and max(steps) == 200
    assert len(_trace(tmp_path / "trace", 1, "saved")) == 1  # rank 1 reached save in the resumed run
