"""Start / stop / resume / inspect runs. A run is a folder; training is an ``accelerate launch`` subprocess.

The subprocess gets its own process group (no shell), so the UI never blocks on it, a crash cannot take
the UI down, and stopping can always reach every worker process.
"""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import paths, settings
from . import runfiles as rf
from .config import RunConfig
from .errors import UserError

PROJECT_ROOT = paths.PROJECT_ROOT


def default_runs_root() -> Path:
    return paths.runs_root()


def create_run(config: RunConfig, runs_root: Path | None = None, run_dir: Path | None = None) -> Path:
    """Make the run folder with its resolved config; nothing is launched yet."""
    if run_dir is None:
        root = Path(runs_root or default_runs_root())
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = root / f"{stamp}-{config.task}-{config.method}-{secrets.token_hex(2)}"
    run_dir = Path(run_dir).resolve()
    if (run_dir / rf.CONFIG).exists():
        raise UserError(f"{run_dir} already holds a run. Pick another --run-dir or resume that run.")
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / rf.CONFIG)
    rf.update_status(run_dir, "queued", progress=0.0, created=time.time())
    return run_dir


def launch_command(
    run_dir: Path | str, resume: bool = False, num_processes: int | None = None, num_machines: int = 1
) -> list[str]:
    """The exact argv ``start()`` runs (from the project folder): ``accelerate launch`` of ``-m tl_core.train``.

    ``num_processes`` defaults to one per GPU (one on a CPU-only machine). With ``num_machines`` > 1, accelerate
    also needs ``--machine_rank`` and ``--main_process_ip`` on each machine: add them to the shown command.
    Precision is not set here: the trainer chooses it (bf16 where the hardware runs it fast)."""
    import torch

    gpus = torch.cuda.device_count()
    n = num_processes or max(1, gpus)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(n)]
    cmd += ["--num_machines", str(num_machines), "--mixed_precision", "no", "--dynamo_backend", "no"]
    if gpus == 0:
        cmd.append("--cpu")
    elif n > 1 or num_machines > 1:
        cmd.append("--multi_gpu")
    cmd += ["-m", "tl_core.train", str(run_dir)]
    if resume:
        cmd.append("--resume")
    return cmd


def show_command(
    run: Path | str | RunConfig = "RUN_DIR", num_processes: int | None = None, resume: bool = False
) -> str:
    """The launch command as a user types it in the project folder (``accelerate launch ...``), for a run folder,
    or for a config not yet started (then ``RUN_DIR`` stands for the folder holding its config.json)."""
    run_dir = "RUN_DIR" if isinstance(run, RunConfig) else run
    return _as_typed(launch_command(run_dir, resume, num_processes))


def _as_typed(cmd: list[str]) -> str:
    """``python -m accelerate.commands.launch ARGS`` is what the ``accelerate launch`` console script runs."""
    return "accelerate launch " + shlex.join(cmd[3:])


def start(
    run_dir: Path, resume: bool = False, env: dict[str, str] | None = None, num_processes: int | None = None
) -> int:
    """Launch training for ``run_dir`` in the background; returns the process id."""
    run_dir = Path(run_dir).resolve()
    if not (run_dir / rf.CONFIG).is_file():
        raise UserError(f"{run_dir} is not a run folder (no {rf.CONFIG}).")
    if is_active(run_dir):
        raise UserError("This run is still active. Stop it first, or wait for it to finish.")
    (run_dir / rf.STOP).unlink(missing_ok=True)
    cmd = launch_command(run_dir, resume, num_processes)
    child_env = {**os.environ, **(env or {})}
    # No PYTHONPATH needed: the child runs ``-m tl_core.train`` with the project folder as its working directory,
    # and ``python -m`` puts the working directory on sys.path (unless PYTHONSAFEPATH says not to).
    child_env.pop("PYTHONSAFEPATH", None)
    child_env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    child_env.setdefault(settings.TRAIN_NICE.name, "10")  # see train.main: the UI keeps priority over a run
    child_env.pop("HF_TOKEN", None)  # training never needs the user's token; keep it out of child processes
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
    rf.update_status(
        run_dir, "loading", pid=proc.pid, error=None, command=_as_typed(cmd), launched=time.time(), resumed=resume
    )
    _CHILDREN[proc.pid] = proc
    return proc.pid


_CHILDREN: dict[int, subprocess.Popen] = {}  # reaped on poll so finished runs leave no zombies


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    proc = _CHILDREN.get(pid)
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, unreaped) counts as dead
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def status(run_dir: Path) -> dict[str, Any]:
    """status.json, corrected when the process died without saying so (killed, out of memory)."""
    run_dir = Path(run_dir)
    st = rf.read_json(run_dir / rf.STATUS, {}) or {}
    phase = st.get("phase", "queued")
    if phase not in rf.FINAL_PHASES and st.get("pid") and not _alive(st["pid"]):
        if (run_dir / rf.STOP).exists():
            st = rf.update_status(run_dir, "stopped", checkpoint=str(rf.last_checkpoint(run_dir) or "") or None)
        else:
            st = rf.update_status(
                run_dir,
                "failed",
                error=st.get("error")
                or "The training process ended unexpectedly (killed or out of memory). See train.log; "
                "try a smaller batch size.",
            )
    st.setdefault("phase", phase)
    st["run_dir"] = str(run_dir)
    return st


def is_active(run_dir: Path) -> bool:
    st = status(run_dir)
    return st["phase"] not in rf.FINAL_PHASES and _alive(st.get("pid"))


def stop(run_dir: Path, grace_s: float = 30.0, wait: bool = True) -> dict[str, Any]:
    """Ask the run to stop at its next step (it saves a checkpoint); terminate it if it ignores the request."""
    run_dir = Path(run_dir)
    (run_dir / rf.STOP).write_text(str(time.time()))
    pid = (rf.read_json(run_dir / rf.STATUS, {}) or {}).get("pid")
    if not wait:
        return status(run_dir)
    deadline = time.time() + grace_s
    while time.time() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        terminate(pid)
    return status(run_dir)


def terminate(pid: int, grace_s: float = 10.0) -> None:
    """SIGTERM the whole process group, then SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(os.getpgid(pid), sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.time() + grace_s
        while time.time() < deadline and _alive(pid):
            time.sleep(0.2)
        if not _alive(pid):
            return


def resume(run_dir: Path, env: dict[str, str] | None = None) -> int:
    run_dir = Path(run_dir)
    if rf.last_checkpoint(run_dir) is None:
        raise UserError("This run has no complete checkpoint to resume from; start it again instead.")
    return start(run_dir, resume=True, env=env)


def wait(run_dir: Path, timeout_s: float | None = None, poll_s: float = 0.5) -> dict[str, Any]:
    deadline = time.time() + timeout_s if timeout_s else None
    while True:
        st = status(run_dir)
        if st["phase"] in rf.FINAL_PHASES and not _alive(st.get("pid")):
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
