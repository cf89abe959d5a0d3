"""The files of a run folder, shared by the trainer (writer) and the UI/CLI (readers)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: status writes go unlocked
    fcntl = None  # type: ignore[assignment]

CONFIG = "config.json"
STATUS = "status.json"
METRICS = "metrics.jsonl"
RESULTS = "results.json"
REPORT = "data_report.json"
EVAL_PREDICTIONS = "eval_predictions.jsonl"
LOG = "train.log"
EVENTS = "events.log"  # the run's phases in plain words, one timestamped line each (see eventlog.py)
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


@contextlib.contextmanager
def _status_lock(run_dir: Path) -> Iterator[None]:
    """The app (which records the process it launched) and the run process (its progress) both read, change and
    write status.json: without the lock, the launcher's pid could be lost to a write the run began before it."""
    if fcntl is None:
        yield
        return
    with open(Path(run_dir) / ".status.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def update_status(run_dir: Path, phase: str, **fields: Any) -> dict[str, Any]:
    with _status_lock(run_dir):
        status = read_json(run_dir / STATUS, {}) or {}
        before = status.get("phase")
        status.update(fields)
        status["phase"] = phase
        status["updated"] = time.time()
        write_json(run_dir / STATUS, status)
        if phase != before:  # every writer of the status (app, scheduler, run) goes through here
            from .eventlog import phase_event

            _append_event(run_dir, status["updated"], phase_event(status))
    return status


def _append_event(run_dir: Path, when: float, text: str) -> None:
    """One line of events.log; a full disk or a vanished folder must never fail the status write."""
    # milliseconds: the readable log merges these lines with metrics.jsonl's by time, and phases change fast
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) + f".{int(when % 1 * 1000):03d}"
    try:
        with open(Path(run_dir) / EVENTS, "a", encoding="utf-8") as f:
            f.write(f"{stamp}  {' '.join(text.split())}\n")
    except OSError:
        pass


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


def truncate_metrics(run_dir: Path, last_step: int) -> int:
    """Keep only the metrics records up to ``last_step`` (the checkpoint a resume continues from): the steps after
    it are trained again, and their old records would appear twice. Rewritten atomically; a line cut off by a kill
    is dropped too. Returns how many records were dropped."""
    path = Path(run_dir) / METRICS
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return 0
    kept = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= last_step:
            kept.append(line)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    os.replace(tmp, path)
    return len(lines) - len(kept)


# --- checkpoints ---------------------------------------------------------------------------------------------------
# What transformers' Trainer writes into checkpoints/checkpoint-<step>/, in this order (trainer.py, _save_checkpoint):
# the weights (model.safetensors; adapter_model.safetensors for LoRA; our feature head is a plain module, saved as
# model.safetensors too), optimizer.pt, scheduler.pt, rng_state.pth (rng_state_<rank>.pth with several processes),
# and trainer_state.json last. A kill or a full disk can stop it anywhere.
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_WEIGHTS = ("model.safetensors", "adapter_model.safetensors")
_OTHER_WEIGHTS = ("pytorch_model.bin", "adapter_model.bin", "pytorch_model_fsdp*", "global_step*")
_OPTIMIZER = ("optimizer.pt", "optimizer.bin", "optimizer_*", "global_step*", "rank*-optimizer.pt")


def checkpoint_step(checkpoint: Path) -> int | None:
    match = _CHECKPOINT.match(Path(checkpoint).name)
    return int(match.group(1)) if match else None


def checkpoint_problem(checkpoint: Path) -> str | None:
    """Why ``checkpoint`` cannot be resumed from (None: it is complete)."""
    ckpt = Path(checkpoint)
    state = read_json(ckpt / "trainer_state.json")
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        return "trainer_state.json is missing or cut off"
    if not (_weights_complete(ckpt) or _any(ckpt, _OTHER_WEIGHTS)):
        return "the model weights are missing or cut off"
    if not _any(ckpt, _OPTIMIZER):
        return "the optimizer state is missing"
    if (ckpt / "optimizer.pt").is_file() and not (ckpt / "scheduler.pt").is_file():
        return "the learning-rate schedule is missing"
    if not _any(ckpt, ("rng_state*.pth",)):
        return "the random-number state is missing"
    return None


def _any(folder: Path, patterns: tuple[str, ...]) -> bool:
    return any(next(folder.glob(p), None) is not None for p in patterns)


def _weights_complete(ckpt: Path) -> bool:
    index = read_json(ckpt / "model.safetensors.index.json")
    if isinstance(index, dict) and isinstance(index.get("weight_map"), dict):
        shards = set(index["weight_map"].values())
        return bool(shards) and all(_safetensors_complete(ckpt / str(s)) for s in shards)
    return any(_safetensors_complete(ckpt / name) for name in _WEIGHTS)


def _safetensors_complete(path: Path) -> bool:
    """The file holds every byte its header promises (a write cut short leaves it shorter)."""
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 0 < size < 100_000_000:
                return False
            header = json.loads(f.read(size))
        ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
        return path.stat().st_size >= 8 + size + max(ends, default=0)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False


def _checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Every checkpoint folder of the run, oldest step first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(checkpoint_step(p), p) for p in root.iterdir() if p.is_dir()]
    return sorted((step, p) for step, p in found if step is not None)


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest COMPLETE checkpoint (checkpoint_problem): a newer one that a kill or a full disk cut short is
    passed over, so a resume continues from the one before it."""
    complete = [p for _, p in _checkpoints(run_dir) if checkpoint_problem(p) is None]
    return complete[-1] if complete else None


def discard_torn_checkpoints(run_dir: Path) -> list[Path]:
    """Delete the incomplete checkpoints newer than the last complete one: they cannot be resumed from, hold disk
    space, and a later save at the same step would mix its files with theirs. Call only while no process of the
    run is saving (at resume, before training; after the run's own save failed)."""
    last = last_checkpoint(run_dir)
    floor = checkpoint_step(last) if last is not None else -1
    removed = []
    for step, path in _checkpoints(run_dir):
        if step > floor and checkpoint_problem(path) is not None:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
