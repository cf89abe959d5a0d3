"""Start / stop / resume / inspect runs. A run is a folder; training is an ``accelerate launch`` subprocess.

The subprocess gets its own process group (no shell), so the UI never blocks on it, a crash cannot take
the UI down, and stopping can always reach every worker process.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from . import launch_profiles as lp
from . import paths, settings
from . import run_process as rp
from . import runfiles as rf
from .config import RunConfig
from .errors import UserError

PROJECT_ROOT = paths.PROJECT_ROOT


def default_runs_root() -> Path:
    return paths.runs_root()


def create_run(
    config: RunConfig,
    runs_root: Path | None = None,
    run_dir: Path | None = None,
    plan: lp.LaunchPlan | None = None,
    accelerate_config: Path | None = None,
) -> Path:
    """Make the run folder with its resolved config and its launch plan (launch_profiles: this machine unless a
    plan or the user's own accelerate config file is given); nothing is launched yet."""
    gpus = lp.gpu_count()
    chosen = plan or lp.default_plan(gpus)
    lp.check_public(chosen, gpus)  # refused before anything is made
    if run_dir is None:
        root = Path(runs_root or default_runs_root())
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = root / f"{stamp}-{config.task}-{config.method}-{secrets.token_hex(2)}"
    run_dir = Path(run_dir).resolve()
    if (run_dir / rf.CONFIG).exists():
        raise UserError(f"{run_dir} already holds a run. Pick another --run-dir or resume that run.")
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / rf.CONFIG)
    lp.save_plan(chosen, run_dir, gpus, custom_file=accelerate_config)
    rf.update_status(run_dir, "queued", progress=0.0, created=time.time())
    return run_dir


def _resolve_plan(
    run_dir: Path | str, plan: lp.LaunchPlan | None, num_processes: int | None, num_machines: int
) -> lp.LaunchPlan:
    """The plan given, else the one stored with the run (this machine when none), with the counts given."""
    if plan is not None:
        return plan
    chosen = lp.load_plan(run_dir) if str(run_dir) != "RUN_DIR" else lp.default_plan()
    if num_processes:
        chosen = dataclasses.replace(chosen, num_processes=num_processes)
    if num_machines > 1:
        chosen = dataclasses.replace(chosen, num_machines=num_machines)
    return chosen


def launch_command(
    run_dir: Path | str,
    resume: bool = False,
    num_processes: int | None = None,
    num_machines: int = 1,
    plan: lp.LaunchPlan | None = None,
) -> list[str]:
    """The exact argv ``start()`` runs on this machine (from the project folder) for the run's launch plan
    (launch_profiles.command: ``accelerate launch`` with the run's accelerate config, torchrun for several CPU
    processes). Precision is not set here: the trainer chooses it (bf16 where the hardware runs it fast)."""
    chosen = _resolve_plan(run_dir, plan, num_processes, num_machines)
    return lp.command(chosen, str(run_dir), resume, lp.gpu_count())[0]


def show_command(
    run: Path | str | RunConfig = "RUN_DIR",
    num_processes: int | None = None,
    resume: bool = False,
    plan: lp.LaunchPlan | None = None,
) -> str:
    """The launch command as a user types it in the project folder (``accelerate launch ...`` or, for several CPU
    processes, ``ACCELERATE_USE_CPU=true torchrun ...``): one line, or one per machine for several machines. For a
    config not yet started ``RUN_DIR`` stands for the folder holding its config.json and accelerate_config.yaml."""
    run_dir = "RUN_DIR" if isinstance(run, RunConfig) else str(run)
    chosen = _resolve_plan(run_dir, plan, num_processes, 1)
    return lp.commands_per_machine(chosen, run_dir, resume, lp.gpu_count())


def start(
    run_dir: Path,
    resume: bool = False,
    env: dict[str, str] | None = None,
    num_processes: int | None = None,
    plan: lp.LaunchPlan | None = None,
) -> int:
    """Launch training for ``run_dir`` in the background; returns the process id. A plan (or process count) given
    here is stored with the run first (launch.json + accelerate_config.yaml), so a resume launches the same way.

    The process gets only the allow-listed part of this process's environment (run_process.child_environment):
    the app's secrets (HF_TOKEN, OAuth and cloud keys) never reach the code that trains a user's model."""
    run_dir = Path(run_dir).resolve()
    if not (run_dir / rf.CONFIG).is_file():
        raise UserError(f"{run_dir} is not a run folder (no {rf.CONFIG}).")
    if is_active(run_dir):
        raise UserError("This run is still active. Stop it first, or wait for it to finish.")
    (run_dir / rf.STOP).unlink(missing_ok=True)
    gpus = lp.gpu_count()
    chosen = _resolve_plan(run_dir, plan, num_processes, 1)
    lp.check_public(chosen, gpus)
    if plan is not None or num_processes or not (run_dir / lp.CONFIG_NAME).is_file():
        lp.save_plan(chosen, run_dir, gpus)
    cmd, launch_env = lp.command(chosen, str(run_dir), resume, gpus)
    child_env = rp.child_environment(os.environ, {**launch_env, **(env or {})})
    # No PYTHONPATH needed: the child runs ``-m tl_core.train`` with the project folder as its working directory,
    # and ``python -m`` puts the working directory on sys.path (unless PYTHONSAFEPATH says not to).
    child_env.pop("PYTHONSAFEPATH", None)
    child_env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    child_env.setdefault(settings.TRAIN_NICE.name, "10")  # see train.main: the UI keeps priority over a run
    log = open(run_dir / rf.LOG, "ab")
    proc = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=str(PROJECT_ROOT),
        env=child_env,
        start_new_session=True,
    )
    log.close()
    for pid in [pid for pid, child in _CHILDREN.items() if child.poll() is not None]:
        del _CHILDREN[pid]  # reaped: their pids may be reused, and status() no longer needs them
    _CHILDREN[proc.pid] = proc
    rf.update_status(
        run_dir,
        "loading",
        pid=proc.pid,
        proc_start=rp.process_start(proc.pid),  # with the pid, tells this process from a later one given its pid
        error=None,
        command=lp.as_typed(cmd, launch_env),
        launched=time.time(),
        resumed=resume,
    )
    return proc.pid


_CHILDREN: dict[int, subprocess.Popen] = {}  # reaped on poll so finished runs leave no zombies


def exit_code(pid: int) -> int:
    """Wait for a training process this process started and return its exit code (1 if it is not ours)."""
    proc = _CHILDREN.get(pid)
    return proc.wait() if proc is not None else 1


def _alive(pid: int | None) -> bool:
    """Whether ``pid`` runs at all. Says nothing about WHOSE process it is: use it only on a pid that status()
    has just confirmed as the run's (it checks the start time and command line); is_active() does both."""
    if not pid:
        return False
    proc = _CHILDREN.get(pid)
    if proc is not None:
        return proc.poll() is None
    return rp.process_start(pid) is not None


def _process_state(run_dir: Path, st: dict[str, Any]) -> str:
    """ALIVE / GONE / OTHER (run_process) for the process recorded in the run's status."""
    pid = st.get("pid")
    proc = _CHILDREN.get(pid) if pid else None
    if proc is not None and proc.poll() is None:  # our child, not reaped yet: its pid cannot have been reused
        return rp.ALIVE
    # Exited (its pid may since belong to anyone) or never ours: the start time and command line decide.
    return rp.identify(pid, st.get("proc_start"), run_dir)


RESTARTED = "The app restarted while this run was training."
DIED = "The training process ended unexpectedly (killed or out of memory). See train.log; try a smaller batch size."


def _ended_message(run_dir: Path, first: str) -> str:
    if rf.last_checkpoint(run_dir) is not None:
        return f"{first} Resume it from its last checkpoint."
    return f"{first} It had not saved a checkpoint yet: start it again."


def _settle(run_dir: Path, st: dict[str, Any], restarted: bool = False) -> tuple[dict[str, Any], str]:
    """The status corrected when the run's process is gone (or its pid is now another process's): ``stopped``
    after a stop request, else ``failed`` with a message saying what happened and what to do."""
    phase = st.get("phase", "queued")
    if phase in rf.FINAL_PHASES or not st.get("pid"):
        return st, rp.GONE
    state = _process_state(run_dir, st)
    if state == rp.ALIVE:
        return st, state
    # A run that ended normally wrote its final phase before exiting: read again, or a poll that read "training"
    # just before the exit would overwrite "done" with "failed".
    st = rf.read_json(run_dir / rf.STATUS, {}) or {}
    if st.get("phase") in rf.FINAL_PHASES:
        return st, state
    if (run_dir / rf.STOP).exists():
        return rf.update_status(run_dir, "stopped", checkpoint=str(rf.last_checkpoint(run_dir) or "") or None), state
    if restarted or state == rp.OTHER:  # the pid was given to another process: the app or machine restarted
        error = _ended_message(run_dir, RESTARTED)
    else:
        error = st.get("error") or _ended_message(run_dir, DIED)
    return rf.update_status(run_dir, "failed", error=error), state


def status(run_dir: Path) -> dict[str, Any]:
    """status.json, corrected when the process died without saying so (killed, out of memory, app restarted)."""
    run_dir = Path(run_dir)
    st, _ = _settle(run_dir, rf.read_json(run_dir / rf.STATUS, {}) or {})
    st.setdefault("phase", "queued")
    st["run_dir"] = str(run_dir)
    return st


def is_active(run_dir: Path) -> bool:
    """True while the run's own process (same pid, start time and command line) is running."""
    run_dir = Path(run_dir)
    st, state = _settle(run_dir, rf.read_json(run_dir / rf.STATUS, {}) or {})
    return st.get("phase") not in rf.FINAL_PHASES and state == rp.ALIVE


def reconcile_stale(root: Path | None = None) -> list[Path]:
    """At app start: every run under ``root`` (default TL_HOME) that claims to be loading or training but whose
    process is gone, or is now someone else's, becomes ``failed`` ("The app restarted while this run was
    training. ..."), or ``stopped`` when a stop was requested. Returns the runs changed. Queued runs (no process
    yet) are the scheduler's and stay as they are."""
    changed = []
    for run_dir in _run_dirs(Path(root) if root else paths.home()):
        st = rf.read_json(run_dir / rf.STATUS, {}) or {}
        new, state = _settle(run_dir, st, restarted=True)
        if state != rp.ALIVE and new.get("phase") != st.get("phase"):
            changed.append(run_dir)
    return changed


def _run_dirs(root: Path, depth: int = 4) -> list[Path]:
    """Run folders (with config.json and status.json) down to ``depth`` levels under ``root``, e.g.
    sessions/<id>/runs/<run>; a run folder's own subfolders are not searched."""
    if (root / rf.CONFIG).is_file() and (root / rf.STATUS).is_file():
        return [root]
    if depth == 0 or not root.is_dir():
        return []
    found = []
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []
    for child in children:
        found += _run_dirs(child, depth - 1)
    return found


def stop(run_dir: Path, grace_s: float = 30.0, wait: bool = True) -> dict[str, Any]:
    """Ask the run to stop at its next step (it saves a checkpoint); terminate it if it ignores the request.
    Only the run's own process is ever signalled (see terminate)."""
    run_dir = Path(run_dir)
    (run_dir / rf.STOP).write_text(str(time.time()))
    if not wait:
        return status(run_dir)
    deadline = time.time() + grace_s
    while time.time() < deadline and is_active(run_dir):
        time.sleep(0.2)
    if is_active(run_dir):
        terminate(run_dir)
    return status(run_dir)


def terminate(target: Path | str | int, grace_s: float = 10.0) -> bool:
    """SIGTERM the run's process group, then SIGKILL what is left. Returns whether anything was signalled.

    ``target`` is the run folder: its process is signalled only while it is the run's own (pid, start time and
    command line match), never a process that inherited the pid after a restart. A bare pid (older callers) is
    signalled only if its command line is a training process (``tl_core.train``)."""
    if isinstance(target, int):
        pid = target

        def ours() -> bool:
            proc = _CHILDREN.get(pid)
            if proc is not None:
                return proc.poll() is None
            return rp.process_start(pid) is not None and "tl_core.train" in (rp.command_line(pid) or [])
    else:
        run_dir = Path(target)
        pid = (rf.read_json(run_dir / rf.STATUS, {}) or {}).get("pid")

        def ours() -> bool:
            return is_active(run_dir)

    signalled = False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not pid or not ours():
            return signalled
        try:
            os.killpg(os.getpgid(pid), sig)
            signalled = True
        except (ProcessLookupError, PermissionError):
            return signalled
        deadline = time.time() + grace_s
        while time.time() < deadline and _alive(pid):
            time.sleep(0.2)
        if not _alive(pid):
            return signalled
    return signalled


def resumable(run_dir: Path) -> tuple[bool, str]:
    """Whether ``resume`` would continue this run, and the sentence to show either way."""
    run_dir = Path(run_dir)
    if is_active(run_dir):
        return False, "This run is still active. Stop it first, or wait for it to finish."
    st = status(run_dir)
    phase = st.get("phase")
    if phase == "done":
        return False, "This run has finished; there is nothing to resume."
    if st.get("diverged"):
        return (
            False,
            "This run's loss diverged; resuming would repeat that. Start a new run with a lower learning rate.",
        )
    checkpoint = rf.last_checkpoint(run_dir)
    if checkpoint is None:
        return False, "This run has no complete checkpoint to resume from; start it again instead."
    if phase not in ("failed", "stopped"):
        return False, f"This run is {phase}; only a stopped or failed run can be resumed."
    return True, f"Resumes from step {rf.checkpoint_step(checkpoint)}, its last complete checkpoint."


def resume(run_dir: Path, env: dict[str, str] | None = None) -> int:
    """Continue a stopped or failed run from its last complete checkpoint (refused, saying why, otherwise)."""
    ok, why = resumable(Path(run_dir))
    if not ok:
        raise UserError(why)
    return start(run_dir, resume=True, env=env)


def wait(run_dir: Path, timeout_s: float | None = None, poll_s: float = 0.5) -> dict[str, Any]:
    deadline = time.time() + timeout_s if timeout_s else None
    while True:
        st = status(run_dir)
        if st["phase"] in rf.FINAL_PHASES and _process_state(Path(run_dir), st) != rp.ALIVE:
            return st
        if deadline and time.time() > deadline:
            return st
        time.sleep(poll_s)


def list_runs(runs_root: Path | None = None) -> list[dict[str, Any]]:
    """Every run under ``runs_root``, newest first, with config and headline results."""
    root = Path(runs_root or default_runs_root())
    rows = []
    for run_dir in sorted(root.glob("*/"), reverse=True):
        cfg = rf.read_json(run_dir / rf.CONFIG)
        if not cfg:
            continue
        st = status(run_dir)
        res = rf.read_json(run_dir / rf.RESULTS, {}) or {}
        rows.append(
            {
                "run_dir": str(run_dir),
                "name": cfg.get("name") or run_dir.name,
                "task": cfg["task"],
                "method": cfg["method"],
                "model": cfg.get("model"),
                "data": (cfg.get("data") or {}).get("train_file"),
                "phase": st.get("phase"),
                "metrics": res.get("metrics") or {},
                "duration_s": (res.get("timing") or {}).get("total_s"),
                "created": st.get("created"),
            }
        )
    return rows
