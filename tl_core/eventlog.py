"""The training log a person reads: what the run did, in plain words, one line per event.

    12:01:03  Loading the data and the model
    12:01:09  Training started: 18 steps
    12:01:12  Epoch 1/3: training loss 0.69, evaluation macro F1 0.33, accuracy 0.50
    12:01:20  Finished. Done, but no better than guessing: ...

Two sources, merged by time: events.log (a line per phase change, appended by runfiles.update_status, so every
writer of the status is covered) and metrics.jsonl (losses and evaluations, written by the trainer). The raw
train.log stays one click away, cleaned for reading: terminal colour codes stripped, progress bars reduced to
their last state, and transformers' load report explained (its "MISSING" rows are the new head, as expected).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from . import runfiles as rf

PHASE_WORDS = {
    "queued": "Queued",
    "loading": "Loading the data and the model",
    "preparing features": "Data and model loaded; computing the frozen model's features (once)",
    "training": "Training started",
    "evaluating": "Evaluating on the evaluation split",
    "saving": "Saving the model",
    "done": "Finished",
    "failed": "Failed",
    "stopped": "Stopped",
}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_MISSING = re.compile(r"^\s*(classifier|score|head|fc|classification_head)[\w.]*\s*\|\s*MISSING\b")
_READ_BYTES = 64 * 1024  # the raw view shows the end of train.log: a long run's log is megabytes of progress bars


def phase_event(status: dict[str, Any]) -> str:
    """The events.log line of a phase the run just entered, with what is known at that moment."""
    phase = status.get("phase", "")
    text = PHASE_WORDS.get(phase, phase.capitalize())
    if phase == "training" and status.get("max_steps"):
        text += f": {status['max_steps']} steps"
    elif phase == "done" and (status.get("verdict") or {}).get("headline"):
        text += ". " + status["verdict"]["headline"]
    elif phase == "failed" and status.get("error"):
        text += ": " + str(status["error"])
    elif phase == "stopped" and status.get("note"):
        text += ": " + str(status["note"])
    return text


def _phase_lines(run_dir: Path) -> list[tuple[float, str]]:
    out = []
    try:
        lines = (run_dir / rf.EVENTS).read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        stamp, _, text = line.partition("  ")
        try:
            when = time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S")) + float(stamp[19:] or 0)
        except ValueError:
            continue
        out.append((when, text.strip()))
    return out


def epoch_lines(records: list[dict[str, Any]], task: str, epochs: float | None) -> list[tuple[float, str]]:
    """One line per evaluation: the epoch, the last training loss before it and the scores, in user terms."""
    from .registry import headline, metric_name  # registry pulls in the tasks: import when used

    out, loss = [], None
    for r in records:
        if r.get("phase") == "train" and isinstance(r.get("loss"), (int, float)):
            loss = r["loss"]
        if r.get("phase") != "eval":
            continue
        epoch = r.get("epoch")
        if isinstance(epoch, (int, float)) and abs(epoch - round(epoch)) < 1e-6:
            where = f"Epoch {round(epoch)}" + (f"/{epochs:g}" if epochs else "")
        elif isinstance(epoch, (int, float)):  # a step limit ended training inside an epoch
            where = f"Evaluation after {epoch:.2g} of an epoch" if epoch < 1 else f"Evaluation at epoch {epoch:.3g}"
        else:
            where = "Evaluation"
        parts = [f"training loss {loss:.2f}"] if loss is not None else []
        key, value = headline(task, r)
        if value is not None:
            parts.append(f"evaluation {metric_name(key)} {value:.3f}")
        if key != "accuracy" and isinstance(r.get("eval_accuracy"), (int, float)):
            parts.append(f"{metric_name('accuracy')} {r['eval_accuracy']:.3f}")
        out.append((float(r.get("time") or 0), f"{where}: {', '.join(parts) or 'evaluated'}"))
    return out


def readable_log(run_dir: Path, records: list[dict[str, Any]] | None = None) -> str:
    """The plain-words log of a run (``records``: its metrics lines, when the caller has them already)."""
    run_dir = Path(run_dir)
    cfg = rf.read_json(run_dir / rf.CONFIG, {}) or {}
    train = cfg.get("train") or {}
    epochs = train.get("epochs") if (train.get("max_steps") or -1) <= 0 else None
    if records is None:
        records = rf.read_metrics(run_dir, 0)[0]
    steps = (rf.read_json(run_dir / rf.STATUS, {}) or {}).get("max_steps")
    phases = [
        (t, f"{text}: {steps} steps" if text == PHASE_WORDS["training"] and steps else text)
        for t, text in _phase_lines(run_dir)
    ]  # the trainer enters "training" before it knows its step count; the status has it by now
    events = phases + epoch_lines(records, cfg.get("task", ""), epochs)
    events.sort(key=lambda e: e[0])
    return "\n".join(f"{time.strftime('%H:%M:%S', time.localtime(t))}  {text}" for t, text in events)


def clean_raw_log(text: str) -> str:
    """train.log made readable: no colour codes, a progress bar's last state only, the load report explained."""
    lines = []
    for line in _ANSI.sub("", text).split("\n"):
        line = line.rstrip("\r").split("\r")[-1]  # a progress bar redraws itself with carriage returns
        if _MISSING.match(line):
            line += "  <- new classification head created (expected: it is what training learns)"
        elif line.startswith("- MISSING:"):
            line += " (Here: the new head for your labels, as expected.)"
        lines.append(line)
    return "\n".join(lines)


def raw_log(run_dir: Path, lines: int = 200) -> str:
    """The last ``lines`` lines of train.log, cleaned for reading."""
    try:
        with open(Path(run_dir) / rf.LOG, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - _READ_BYTES))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(clean_raw_log(text).splitlines()[-lines:])
