"""The one training entry point: ``accelerate launch -m tl_core.train RUN_DIR [--resume]`` (``python -m`` and, for
several CPU processes, ``torchrun`` work too).

Reads RUN_DIR/config.json, trains with transformers.Trainer (accelerate underneath) and leaves a complete run folder:
status.json, metrics.jsonl, checkpoints/, model/, results.json, eval_predictions.jsonl. The steps live in
tl_core/training/. Runs in its own process, never inside the UI (accelerate state is process-global).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from . import settings
from .training import run

__all__ = ["main", "run"]


def main(argv: list[str] | None = None) -> NoReturn:
    parser = argparse.ArgumentParser(prog="python -m tl_core.train", description=__doc__)
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint")
    ns = parser.parse_args(argv)
    # Training is a background job: a lower CPU priority keeps the UI and playground responsive on small machines.
    nice = int(settings.TRAIN_NICE.get())
    if nice > 0:
        os.nice(nice)
    _use_own_gpu()
    code = run(Path(ns.run_dir), ns.resume)
    # Every file of the run is written and closed by now; tearing down the interpreter (freeing the model,
    # datasets, thread pools) took another ~2 s of a 1-minute run. Flush and leave.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _use_own_gpu() -> None:
    """Each of several processes on one machine takes the GPU of its local rank, before anything touches CUDA: the
    steps before the Trainer (feature extraction) say "cuda", which would otherwise put every process on GPU 0."""
    local = os.environ.get("LOCAL_RANK")
    if local is None or int(os.environ.get("LOCAL_WORLD_SIZE", "1")) <= 1:
        return
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() > int(local):
        torch.cuda.set_device(int(local))


if __name__ == "__main__":
    main()
