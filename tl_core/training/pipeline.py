"""The run process: its steps in order, the run's status along the way, and what a failure looks like to the user.

prepare (data -> datasets) -> build (model per method) -> trainer (train) -> results.evaluate -> save ->
results.write_results. Each step gets what the one before produced (``Prepared``, ``Built``, ``Trained``).
"""

from __future__ import annotations

import errno
import json
import sys
import traceback
from pathlib import Path

from .. import runfiles as rf
from .. import settings
from ..errors import UserError
from .context import RunFolder, StopRequested, TracedDataset, TrainingDiverged, launcher_rank, trace


def run(run_dir: Path, resume: bool = False) -> int:
    """Train the run in ``run_dir`` (its config.json) to a complete run folder. Returns the process exit code:
    0 done or stopped, 2 a problem the user can fix, 1 anything else (trace in train.log)."""
    folder = RunFolder(Path(run_dir).resolve(), is_main=launcher_rank() == 0)
    try:
        return _run_steps(folder, resume)
    except StopRequested:
        folder.stopped()
        return 0
    except UserError as err:
        # A diverged run is marked so: resuming it would only repeat the divergence (runs.resumable).
        folder.status("failed", error=str(err), cli_hint=err.cli_hint, diverged=isinstance(err, TrainingDiverged))
        print(f"ERROR: {err.for_cli()}", file=sys.stderr)  # one line, no trace: the user can fix this
        return 2
    except Exception as err:  # noqa: BLE001 - anything else: plain summary on the page, trace in train.log
        traceback.print_exc()
        if is_disk_full(err):
            return _disk_full(folder)
        folder.status("failed", error=plain_error(err))
        return 1


def is_disk_full(err: BaseException) -> bool:
    """ENOSPC (or a quota) anywhere in the exception's chain; torch.save and safetensors report it in words."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(err)
        if "No space left on device" in text or "os error 28" in text or "file write failed" in text:
            return True
        err = err.__cause__ or err.__context__
    return False


def _disk_full(folder: RunFolder) -> int:
    """A save ran out of disk space. The checkpoint it was writing is cut off: delete it (it frees space and can
    never be resumed from); the complete ones before it are untouched (transformers deletes old checkpoints only
    after a new one is complete)."""
    if folder.is_main:
        rf.discard_torn_checkpoints(folder.path)
    checkpoint = rf.last_checkpoint(folder.path)
    then = "then resume" if checkpoint is not None else "then start the run again"
    error = (
        "The disk is full: the run could not write its files (a checkpoint, the model or the feature cache). "
        f"Free space (delete runs you no longer need in Runs & export), {then}."
    )
    try:
        folder.status("failed", error=error, cli_hint="fewer checkpoints kept: train.save_total_limit=1")
    except OSError:  # still no room for a new status file: overwrite the old one in place
        status = rf.read_json(folder.path / rf.STATUS, {}) or {}
        (folder.path / rf.STATUS).write_text(json.dumps({**status, "phase": "failed", "error": error}))
    print(f"ERROR: {error}", file=sys.stderr)
    return 1


def _run_steps(folder: RunFolder, resume: bool) -> int:
    folder.status(
        "loading", progress=0.0, started=folder.started, error=None, cli_hint=None, stop_requested=False, diverged=None
    )
    # The steps import torch and transformers (seconds): the status above lets the page say "loading" meanwhile.
    from .build import build
    from .prepare import discard_prepared, prepare
    from .results import evaluate, write_results
    from .save import save
    from .trainer import fit, make_trainer

    prep = prepare(folder)
    folder.check_stop()
    built = build(folder, prep)
    folder.check_stop()
    if settings.TRACE_DIR.get():  # tests: which examples each process trains on, step by step
        built.train_ds = TracedDataset(built.train_ds)
    trainer, progress = make_trainer(folder, prep, built)
    trained = fit(folder, trainer, progress, resume, built.counts)
    if trained.stopped:
        folder.stopped()
        return 0
    evaluation = evaluate(folder, prep, built, trainer, progress)
    save(folder, prep, built, trainer)
    trace("saved", is_main=folder.is_main)  # every process takes part in saving (FSDP/DeepSpeed gather there)
    write_results(folder, prep, built, trainer, trained, evaluation)
    discard_prepared(folder)
    return 0


def plain_error(err: Exception) -> str:
    """What the page shows for an unexpected error: one plain sentence, the trace stays in train.log."""
    text = f"{type(err).__name__}: {err}"
    if "out of memory" in text.lower():
        return (
            "The device ran out of memory. Lower the batch size or the max length / image size, "
            "or use LoRA or feature extraction."
        )
    return f"Training stopped with an unexpected error ({text[:500]}). The full trace is in the raw log (Train tab)."
