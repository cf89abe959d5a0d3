"""The files of a run folder, shared by the trainer (writer) and the UI/CLI (readers)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

CONFIG = "config.json"
STATUS = "status.json"
METRICS = "metrics.jsonl"
RESULTS = "results.json"
REPORT = "data_report.json"
EVAL_PREDICTIONS = "eval_predictions.jsonl"
LOG = "train.log"
STOP = "STOP"
MODEL = "model"
MERGED = "merged_model"
CHECKPOINTS = "checkpoints"

FINAL_PHASES = ("done", "failed", "stopped")


def write_json(path: Path, data: Any) -> None:
    """Write atomically: readers polling the file never see half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def update_status(run_dir: Path, phase: str, **fields: Any) -> dict[str, Any]:
    status = read_json(run_dir / STATUS, {}) or {}
    status.update(fields)
    status["phase"] = phase
    status["updated"] = time.time()
    write_json(run_dir / STATUS, status)
    return status


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    with open(run_dir / METRICS, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(run_dir: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Metrics lines after byte ``offset`` and the new offset: pollers read only what is new."""
    path = Path(run_dir) / METRICS
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
    except OSError:
        return [], offset
    end = chunk.rfind(b"\n") + 1  # a line still being written stays for the next poll
    records = [json.loads(line) for line in chunk[:end].splitlines() if line.strip()]
    return records, offset + end


def last_checkpoint(run_dir: Path) -> Path | None:
    """Newest COMPLETE checkpoint: Trainer writes trainer_state.json last, so its presence marks completeness."""
    ckpt_root = Path(run_dir) / CHECKPOINTS
    if not ckpt_root.is_dir():
        return None
    done = [p for p in ckpt_root.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)
