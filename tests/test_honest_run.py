"""A real (tiny) run, end to end: one optimizer step on a 60-row two-class CSV is judged no better than guessing,
and its log reads in plain words."""

from __future__ import annotations

import pytest

from tl_core import runfiles as rf
from tl_core import runs, train
from tl_core.eventlog import readable_log

from .test_training import assets, tiny_config  # noqa: F401 - the module's fixture, reused

pytestmark = pytest.mark.slow


def test_one_step_run_on_60_rows_is_weak(assets, tmp_path, tl_home):  # noqa: F811
    run_dir = runs.create_run(tiny_config("text", "lora", assets, max_steps=1), run_dir=tmp_path / "run")
    assert train.run(run_dir) == 0, rf.read_json(run_dir / rf.STATUS)
    results = rf.read_json(run_dir / rf.RESULTS)
    base = results["baselines"]
    assert base["metric"] == "accuracy" and base["chance"] == 0.5 and 0.4 <= base["majority"] <= 0.6
    assert results["verdict"]["level"] == "weak"
    assert "only 1 optimizer step" in results["verdict"]["cause"]
    status = rf.read_json(run_dir / rf.STATUS)
    assert status["phase"] == "done" and status["verdict"]["level"] == "weak"
    log = readable_log(run_dir)
    assert "Loading the data and the model" in log and "Finished. Done, but no better than guessing" in log
