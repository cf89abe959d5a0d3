"""One training run at a time per accelerator, across every browser session and UI restart.

State lives in files under ``TL_HOME/queue/`` so it survives a restarted UI:

``<slot>/<ns>-<hex>.json``   a waiting run (``{"run_dir": ...}``); file names sort in submission order
``<slot>.current``           the run folder that holds the accelerator now
``<slot>.lock``              ``flock``-ed while the queue is changed

Nothing runs in the background: ``dispatch()`` is called from the UI's poll ticks (and after each submit) and
starts the next waiting run once the current one has finished. It also enforces stop requests that a run did
not honour in time (e.g. while it was still loading), by terminating its process group.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import paths, runs, settings
from . import runfiles as rf
from .errors import UserError

STOP_GRACE_S = 20.0  # a run that has not stopped this long after the request is terminated


def queue_root() -> Path:
    return paths.queue_root()


def slot_name() -> str:
    """The accelerator a run will use; launch_command gives one run every GPU, so one slot per machine kind."""
    return "gpu" if os.path.exists("/dev/nvidiactl") or settings.SLOT.get() == "gpu" else "cpu"


@contextmanager
def _locked(slot: str) -> Iterator[Path]:
    root = queue_root()
    (root / slot).mkdir(parents=True, exist_ok=True)
    with open(root / f"{slot}.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield root
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _entries(root: Path, slot: str, with_meta: bool = False) -> list[tuple]:
    """(entry file, run folder[, entry dict]) for each waiting run, oldest first."""
    out: list[tuple] = []
    for entry in sorted((root / slot).glob("*.json")):
        try:
            meta = json.loads(entry.read_text(encoding="utf-8"))
            run_dir = Path(meta["run_dir"])
        except (OSError, ValueError, KeyError, TypeError):
            entry.unlink(missing_ok=True)
            continue
        out.append((entry, run_dir, meta) if with_meta else (entry, run_dir))
    return out


def _current(root: Path, slot: str) -> Path | None:
    try:
        text = (root / f"{slot}.current").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return Path(text) if text else None


def _holds_slot(run_dir: Path) -> bool:
    """True while the run's process is alive or it is between launch and its first status write."""
    if not (run_dir / rf.CONFIG).is_file():
        return False
    st = runs.status(run_dir)
    return st.get("phase") not in rf.FINAL_PHASES and bool(st.get("pid")) and runs._alive(st.get("pid"))


def submit(run_dir: Path, start: Callable[..., Any] | None = None, resume: bool = False) -> int:
    """Queue a created run (or a stopped one to resume); returns its position (0 = started now, 1 = next, ...)."""
    run_dir = Path(run_dir).resolve()
    if not (run_dir / rf.CONFIG).is_file():
        raise UserError(f"{run_dir.name} is not a run folder.")
    slot = slot_name()
    if runs.is_active(run_dir) or position(run_dir) is not None:
        raise UserError("This run is already running or waiting in the queue.")
    with _locked(slot) as root:
        name = f"{time.time_ns():020d}-{secrets.token_hex(3)}.json"
        tmp = root / slot / f".{name}.tmp"
        tmp.write_text(
            json.dumps({"run_dir": str(run_dir), "submitted": time.time(), "resume": resume}), encoding="utf-8"
        )
        os.replace(tmp, root / slot / name)
    (run_dir / rf.STOP).unlink(missing_ok=True)
    rf.update_status(run_dir, "queued", queued_at=time.time(), pid=None, error=None, eta_s=None)
    dispatch(start=start)
    pos = position(run_dir)
    return 0 if pos is None else pos


def resume(run_dir: Path, start: Callable[..., Any] | None = None) -> int:
    """Queue a stopped run to continue from its last complete checkpoint; refuse, saying why, any other run."""
    phase = runs.status(Path(run_dir)).get("phase", "unknown")
    if phase != "stopped":
        raise UserError(f"Only a stopped run can be resumed (this one is {phase}).")
    if rf.last_checkpoint(Path(run_dir)) is None:
        raise UserError("This run stopped before its first checkpoint: start it again instead.")
    return submit(run_dir, start=start, resume=True)


def dispatch(start: Callable[..., Any] | None = None) -> Path | None:
    """Start the next waiting run if the accelerator is free; returns the run started, if any."""
    start = start or runs.start
    slot = slot_name()
    with _locked(slot) as root:
        current = _current(root, slot)
        if current is not None:
            if _holds_slot(current):
                _enforce_stop(current)
                return None
            (root / f"{slot}.current").unlink(missing_ok=True)
        for entry, run_dir, meta in _entries(root, slot, with_meta=True):
            entry.unlink(missing_ok=True)
            st = rf.read_json(run_dir / rf.STATUS, {}) or {}
            if not (run_dir / rf.CONFIG).is_file() or st.get("phase") != "queued":
                continue  # deleted or cancelled while waiting
            (root / f"{slot}.current").write_text(str(run_dir), encoding="utf-8")
            try:
                start(run_dir, resume=True) if meta.get("resume") else start(run_dir)
            except UserError as err:
                rf.update_status(run_dir, "failed", error=str(err))
                (root / f"{slot}.current").unlink(missing_ok=True)
                continue
            except Exception as err:  # noqa: BLE001 - a launch failure must not wedge the queue
                rf.update_status(
                    run_dir, "failed", error=f"The run could not be launched ({type(err).__name__}: {err})."
                )
                (root / f"{slot}.current").unlink(missing_ok=True)
                continue
            return run_dir
    return None


def _enforce_stop(run_dir: Path) -> None:
    stop_file = run_dir / rf.STOP
    try:
        requested = stop_file.stat().st_mtime
    except OSError:
        return
    if time.time() - requested > STOP_GRACE_S:
        pid = (rf.read_json(run_dir / rf.STATUS, {}) or {}).get("pid")
        if pid:
            runs.terminate(pid, grace_s=5.0)


def position(run_dir: Path) -> int | None:
    """0 if the run holds the accelerator, k if k-th in line, None if it is not waiting or running here."""
    run_dir = Path(run_dir).resolve()
    slot = slot_name()
    root = queue_root()
    current = _current(root, slot)
    if current is not None and current.resolve() == run_dir:
        return 0
    for i, (_, queued) in enumerate(_entries(root, slot), start=1):
        if queued.resolve() == run_dir:
            return i
    return None


def cancel(run_dir: Path) -> bool:
    """Remove a waiting run from the queue (it is marked stopped); False if it was not waiting."""
    run_dir = Path(run_dir).resolve()
    slot = slot_name()
    with _locked(slot) as root:
        for entry, queued in _entries(root, slot):
            if queued.resolve() == run_dir:
                entry.unlink(missing_ok=True)
                rf.update_status(run_dir, "stopped", error=None, note="Cancelled before it started.")
                return True
    return False


def request_stop(run_dir: Path) -> dict[str, Any]:
    """Stop a run without blocking: cancel it if it waits; else ask it to stop (the trainer saves a checkpoint).

    The trainer also checks the request while loading and extracting features; dispatch() terminates a run that
    has not stopped STOP_GRACE_S after the request.
    """
    run_dir = Path(run_dir)
    if cancel(run_dir):
        return runs.status(run_dir)
    st = runs.status(run_dir)
    if st.get("phase") in rf.FINAL_PHASES:
        return st
    (run_dir / rf.STOP).write_text(str(time.time()))  # honoured at the next step, or while loading / extracting
    return runs.status(run_dir)
