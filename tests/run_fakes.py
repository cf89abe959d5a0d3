"""Stand-ins for the parts of a run that tests of the queue, the pages and the fault handling need without training:
a process that runs.py recognises as a run's own, and a checkpoint that runfiles.last_checkpoint counts as complete.
"""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from tl_core import run_process
from tl_core import runfiles as rf

_SPAWNED: list[subprocess.Popen] = []


@atexit.register
def _end_spawned() -> None:
    """Processes a test did not end itself end with the test session."""
    for proc in _SPAWNED:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def spawn_run_process(run_dir: Path, phase: str = "training", seconds: int = 60) -> subprocess.Popen:
    """A sleeping process recorded in status.json the way runs.start records the real one: its pid, its start
    time, and a command line naming the run folder. Kill it when done; any left end with the test session."""
    run_dir = Path(run_dir).resolve()
    argv = [sys.executable, "-c", f"import time; time.sleep({seconds})", "-m", "tl_core.train", str(run_dir)]
    proc = subprocess.Popen(argv, start_new_session=True)
    _SPAWNED.append(proc)
    rf.update_status(run_dir, phase, pid=proc.pid, proc_start=run_process.process_start(proc.pid))
    return proc


def write_complete_checkpoint(run_dir: Path, step: int) -> Path:
    """checkpoints/checkpoint-<step> with every file transformers' Trainer writes for a full-model checkpoint."""
    ckpt = Path(run_dir) / rf.CHECKPOINTS / f"checkpoint-{step}"
    ckpt.mkdir(parents=True, exist_ok=True)
    save_file({"weight": np.zeros((4, 4), dtype=np.float32)}, str(ckpt / "model.safetensors"))
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (ckpt / name).write_bytes(b"stand-in")
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": []}))
    return ckpt
