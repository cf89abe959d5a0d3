"""One training run at a time per accelerator, across every browser session and UI restart.

State lives in files under ``TL_HOME/queue/`` so it survives a restarted UI:

``<slot>/<ns>-<hex>.json``   a waiting run (``{"run_dir": ...}``); file names sort in submission order
``<slot>.current``           the run folder that holds the accelerator now
``<slot>.served``            when each workspace last got the accelerator (the fair order reads it)
``<slot>.lock``              ``flock``-ed while the queue is changed

Nothing runs in the background: ``dispatch()`` is called from the UI's poll ticks (and after each submit) and
starts the next waiting run once the current one has finished. It also enforces stop requests that a run did
not honour in time (e.g. while it was still loading), by terminating its process group.

Public mode (fair_use.py) adds: a limit on each workspace's waiting runs, a check of epochs and steps at submit,
a fair order (workspaces take turns, the one served longest ago first, instead of first come first served), and
a wall-time limit per run that dispatch() enforces through the same stop request a user makes.
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

from . import fair_use, paths, runs, settings
from . import runfiles as rf
from .errors import UserError
from .fair_use import LimitError, owner_of

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
    return runs.is_active(run_dir)


def submit(run_dir: Path, start: Callable[..., Any] | None = None, resume: bool = False) -> int:
    """Queue a created run (or a stopped one to resume); returns its position (0 = started now, 1 = next, ...).

    In public mode a run above a fair-use limit is refused (LimitError, saying which and what to do); a new run
    refused here is marked failed with that message, a stopped one stays stopped and can be resumed later.
    """
    run_dir = Path(run_dir).resolve()
    if not (run_dir / rf.CONFIG).is_file():
        raise UserError(f"{run_dir.name} is not a run folder.")
    slot = slot_name()
    if runs.is_active(run_dir) or position(run_dir) is not None:
        raise UserError("This run is already running or waiting in the queue.")
    with _locked(slot) as root:
        try:
            _admit(root, slot, run_dir, rf.read_json(run_dir / rf.CONFIG, {}) or {})
        except LimitError as err:
            if runs.status(run_dir).get("phase") == "queued":  # a new run that never started
                rf.update_status(run_dir, "failed", error=str(err))
            raise
        # marked queued before the entry exists: a dispatch() in between must not take it for a cancelled run
        (run_dir / rf.STOP).unlink(missing_ok=True)
        rf.update_status(
            run_dir, "queued", queued_at=time.time(), pid=None, error=None, eta_s=None, note=None, stop_reason=None
        )
        name = f"{time.time_ns():020d}-{secrets.token_hex(3)}.json"
        tmp = root / slot / f".{name}.tmp"
        tmp.write_text(
            json.dumps({"run_dir": str(run_dir), "submitted": time.time(), "resume": resume}), encoding="utf-8"
        )
        os.replace(tmp, root / slot / name)
    dispatch(start=start)
    pos = position(run_dir)
    return 0 if pos is None else pos


def check_room(config: dict[str, Any], runs_root: Path) -> None:
    """Refuse, before its folder is made, a run that submit() would refuse (public mode): the same checks for a
    run that would live in ``runs_root``."""
    slot = slot_name()
    with _locked(slot) as root:
        _admit(root, slot, Path(runs_root) / "new-run", config)


def _admit(root: Path, slot: str, run_dir: Path, config: dict[str, Any]) -> None:
    """The fair-use checks of a run about to join the queue (nothing in local mode); called under the lock."""
    if not fair_use.public_mode():
        return
    fair_use.check_run_length(config)
    owner = owner_of(run_dir)
    load = sum(1 for _, queued, _ in _live(root, slot) if owner_of(queued) == owner)
    current = _current(root, slot)
    if current is not None and owner_of(current) == owner and _holds_slot(current):
        load += 1
    fair_use.check_queue_room(load)


def resume(run_dir: Path, start: Callable[..., Any] | None = None) -> int:
    """Queue a stopped or failed run to continue from its last complete checkpoint; refuse, saying why, any other
    run (runs.resumable is the one judge, for the CLI too)."""
    ok, why = runs.resumable(Path(run_dir))
    if not ok:
        raise UserError(why)
    return submit(run_dir, start=start, resume=True)


def dispatch(start: Callable[..., Any] | None = None) -> Path | None:
    """Start the next waiting run if the accelerator is free; returns the run started, if any.

    While a run holds the accelerator, this enforces stop requests it ignores and, in public mode, its wall-time
    limit. Waiting runs start in the fair order of ``_ordered``.
    """
    start = start or runs.start
    slot = slot_name()
    with _locked(slot) as root:
        current = _current(root, slot)
        if current is not None:
            if _holds_slot(current):
                _enforce_time_limit(current)
                _enforce_stop(current)
                return None
            _note_time_limit(current)
            (root / f"{slot}.current").unlink(missing_ok=True)
        for entry, run_dir, meta in _ordered(root, slot, prune=True):
            entry.unlink(missing_ok=True)
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
            _mark_served(root, slot, owner_of(run_dir))
            return run_dir
    return None


def _live(root: Path, slot: str, prune: bool = False) -> list[tuple[Path, Path, dict]]:
    """The waiting runs that can still start, in submission order. Entries of runs deleted or stopped while they
    waited are skipped, and with ``prune`` (only under the lock) removed."""
    out = []
    for entry, run_dir, meta in _entries(root, slot, with_meta=True):
        st = rf.read_json(run_dir / rf.STATUS, {}) or {}
        if (run_dir / rf.CONFIG).is_file() and st.get("phase") == "queued":
            out.append((entry, run_dir, meta))
        elif prune:
            entry.unlink(missing_ok=True)
    return out


def _ordered(root: Path, slot: str, prune: bool = False) -> list[tuple[Path, Path, dict]]:
    """The waiting runs in the order they get the accelerator: first come first served, or in public mode the
    fair order between workspaces (fair_use.fair_order)."""
    live = _live(root, slot, prune)
    if not fair_use.public_mode():
        return live
    served = rf.read_json(root / f"{slot}.served", {}) or {}
    order = fair_use.fair_order([(entry.name, owner_of(run_dir)) for entry, run_dir, _ in live], served)
    return [live[i] for i in order]


SERVED_KEPT = 1000  # workspaces remembered in <slot>.served; one forgotten just counts as never served


def _mark_served(root: Path, slot: str, owner: str) -> None:
    served = rf.read_json(root / f"{slot}.served", {}) or {}
    served[owner] = time.time()
    newest = sorted(served.items(), key=lambda kv: kv[1])[-SERVED_KEPT:]
    rf.write_json(root / f"{slot}.served", dict(newest))


def _enforce_time_limit(run_dir: Path) -> None:
    """Public mode: ask a run that has trained past the wall-time limit to stop, as a user's Stop does (it saves a
    checkpoint; _enforce_stop terminates it STOP_GRACE_S later if it does not)."""
    limit = fair_use.run_time_limit_s()
    stop_file = run_dir / rf.STOP
    if limit is None or stop_file.exists():
        return
    launched = (rf.read_json(run_dir / rf.STATUS, {}) or {}).get("launched")
    if isinstance(launched, (int, float)) and time.time() - launched > limit:
        stop_file.write_text(f"{time.time()} {fair_use.TIME_LIMIT_MARK}")


def _note_time_limit(run_dir: Path) -> None:
    """A run the time limit stopped says so in its status (written once the process is gone: no writer races)."""
    try:
        stopped_by_limit = fair_use.TIME_LIMIT_MARK in (run_dir / rf.STOP).read_text(encoding="utf-8")
    except OSError:
        return
    if stopped_by_limit and runs.status(run_dir).get("phase") == "stopped":
        rf.update_status(run_dir, "stopped", note=fair_use.time_limit_note(), stop_reason="time limit")


def _enforce_stop(run_dir: Path) -> None:
    stop_file = run_dir / rf.STOP
    try:
        requested = stop_file.stat().st_mtime
    except OSError:
        return
    if time.time() - requested > STOP_GRACE_S:
        runs.terminate(run_dir, grace_s=5.0)  # only the run's own process: never a reused pid


def position(run_dir: Path) -> int | None:
    """0 if the run holds the accelerator, k if k-th in line, None if it is not waiting or running here."""
    run_dir = Path(run_dir).resolve()
    slot = slot_name()
    root = queue_root()
    current = _current(root, slot)
    if current is not None and current.resolve() == run_dir:
        return 0
    for i, (_, queued, _) in enumerate(_ordered(root, slot), start=1):
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
