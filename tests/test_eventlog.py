"""The readable training log: phases and epochs in plain words; the raw train.log cleaned, one click away."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tl_core import eventlog
from tl_core import runfiles as rf

RAW = (
    "\rMap:   0%|          | 0/40 [00:00<?, ? examples/s]\rMap: 100%|##########| 40/40 [00:00<00:00]\n"
    "[transformers] \x1b[1mBertForSequenceClassification LOAD REPORT\x1b[0m from: bert\n"
    "Key               | Status  | \n"
    "classifier.weight | MISSING | \n"
    "classifier.bias   | MISSING | \n"
    "- MISSING:\tthose params were newly initialized because missing from the checkpoint.\n"
    "{'loss': '0.693', 'grad_norm': '0.05552', 'learning_rate': '0', 'epoch': '0.5'}\n"
)


def _run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    rf.write_json(run / rf.CONFIG, {"task": "text", "method": "lora", "train": {"epochs": 3, "max_steps": -1}})
    rf.update_status(run, "queued")
    rf.update_status(run, "loading", progress=0.0)
    rf.update_status(run, "training", step=1, max_steps=18)
    rf.update_status(run, "training", step=2, max_steps=18)  # no new phase, no new line
    now = time.time() + 0.1
    records = [
        {"time": now, "phase": "train", "step": 6, "epoch": 1.0, "loss": 0.4123},
        {"time": now + 0.1, "phase": "eval", "step": 6, "epoch": 1.0, "eval_loss": 0.5, "eval_f1_macro": 0.85,
         "eval_accuracy": 0.861},
        {"time": now + 0.2, "phase": "train", "step": 12, "epoch": 2.0, "loss": 0.31},
        {"time": now + 0.3, "phase": "eval", "step": 12, "epoch": 2.0, "eval_f1_macro": 0.9, "eval_accuracy": 0.92},
    ]  # fmt: skip
    (run / rf.METRICS).write_text("".join(json.dumps(r) + "\n" for r in records))
    time.sleep(2.1)  # the final phase after the epochs (events.log has whole seconds)
    rf.update_status(run, "done", verdict={"level": "good", "headline": "Clearly better than guessing: accuracy 0.92."})
    (run / rf.LOG).write_text(RAW)
    return run


def test_readable_log_says_what_happened_in_order(tmp_path: Path) -> None:
    text = eventlog.readable_log(_run(tmp_path))
    lines = [line[10:] for line in text.splitlines()]  # without the "HH:MM:SS  " time
    assert lines == [
        "Queued",
        "Loading the data and the model",
        "Training started: 18 steps",
        "Epoch 1/3: training loss 0.41, evaluation macro F1 0.850, accuracy 0.861",
        "Epoch 2/3: training loss 0.31, evaluation macro F1 0.900, accuracy 0.920",
        "Finished. Clearly better than guessing: accuracy 0.92.",
    ]
    assert "{'" not in text and "eval_" not in text


def test_raw_log_is_cleaned_and_explains_the_load_report(tmp_path: Path) -> None:
    raw = eventlog.raw_log(_run(tmp_path))
    assert "\x1b[" not in raw and "\r" not in raw
    assert "| 0/40" not in raw and "| 40/40" in raw  # a progress bar's last state only
    assert "classifier.bias   | MISSING |   <- new classification head created (expected" in raw
    assert "{'loss': '0.693'" in raw  # the raw log stays raw otherwise


def test_failure_is_one_plain_line(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    rf.update_status(run, "failed", error="The device ran out of memory.")
    assert eventlog.readable_log(run).endswith("Failed: The device ran out of memory.")
