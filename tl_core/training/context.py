"""What every step of a run shares: the run folder, and whether this process is the one that writes its files."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import runfiles as rf
from .. import settings
from ..errors import UserError


class StopRequested(Exception):
    """A stop request arrived outside the training loop (loading, feature extraction): leave at once."""


class TrainingDiverged(UserError):
    """The training loss became NaN or infinite: the weights are ruined, and the run must not count as done."""


def launcher_rank() -> int:
    """This process's global rank as the launcher (accelerate launch, torchrun) set it.

    Only for the steps before the Trainer exists: accelerate's state is created by TrainingArguments (which resets
    any made earlier), and from then on the Trainer answers (``RunFolder.is_main``)."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))


def launcher_world_size() -> int:
    """Number of processes the launcher started; needed before TrainingArguments exist (see launcher_rank)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def per_device_batch(batch_size: int, world_size: int) -> int:
    """``train.batch_size`` is the GLOBAL batch, whatever the number of processes: each of N processes takes 1/N of
        it, so the steps, the learning-rate schedule and (with the epoch-seeded samplers) the examples of each step are
        those of a one-process run (except an epoch's short last step, which accelerate tops up so every process has a
    batch). A size N does not divide is rounded up: the global batch then grows a little."""
    return max(1, math.ceil(batch_size / max(1, world_size)))


def distributed_ready() -> bool:
    """True when several processes run and their process group exists (a collective can be called)."""
    if launcher_world_size() <= 1:
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def any_rank(flag: bool) -> bool:
    """Whether ``flag`` is true on ANY process (every process must call this, in the same order). Without a
    process group it is ``flag`` itself."""
    if not distributed_ready():
        return flag
    import torch
    import torch.distributed as dist

    cuda = dist.get_backend() == "nccl"  # nccl reduces GPU tensors only
    t = torch.tensor([int(flag)], device=torch.device("cuda", torch.cuda.current_device()) if cuda else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def trace(event: str, **data: Any) -> None:
    """Test-only (TL_TRACE_DIR set): one JSON line per event in TRACE_DIR/rank<R>.jsonl, e.g. the examples each
    step trained on or the share of feature extraction a rank did, to prove what several processes did."""
    folder = settings.TRACE_DIR.get()
    if not folder:
        return
    path = Path(folder) / f"rank{launcher_rank()}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"event": event, **data}) + "\n")


class TracedDataset:
    """Test-only (TL_TRACE_DIR): the training set, tracing the indices of each batch a process fetches, in order.
    Everything else (columns, length) is the wrapped dataset's."""

    def __init__(self, inner: Any):
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):  # a column (the length-grouped sampler reads "input_ids")
            return self.inner[key]
        trace("batch", indices=[int(key)])
        return self.inner[key]

    def __getitems__(self, keys: list[int]) -> list[Any]:
        trace("batch", indices=[int(k) for k in keys])
        many = getattr(self.inner, "__getitems__", None)
        return many(keys) if many else [self.inner[k] for k in keys]


@dataclass
class RunFolder:
    """The run folder as the steps write it. Every process runs every step; only the main one writes status.json,
    metrics.jsonl and the results files, so several ranks never write the same file."""

    path: Path
    is_main: bool = True
    started: float = field(default_factory=time.time)

    def status(self, phase: str, **fields: Any) -> None:
        if self.is_main:
            rf.update_status(self.path, phase, **fields)

    def write_json(self, name: str, data: Any) -> None:
        if self.is_main:
            rf.write_json(self.path / name, data)

    def append_metrics(self, record: dict[str, Any]) -> None:
        if self.is_main:
            rf.append_metrics(self.path, record)

    def stop_requested(self) -> bool:
        return (self.path / rf.STOP).exists()

    def check_stop(self) -> None:
        """Leave on a stop request. With several processes all must leave together (one that leaves alone makes the
        others wait forever): the request counts when any process saw it, and before the process group exists the
        check is left to the training loop, whose first step decides for all (callbacks.RunCallback)."""
        seen = self.stop_requested()
        if launcher_world_size() > 1:
            seen = any_rank(seen) if distributed_ready() else False
        if seen:
            raise StopRequested

    def stopped(self) -> None:
        """Record a stop: the newest complete checkpoint is what a resume continues from."""
        checkpoint = rf.last_checkpoint(self.path)
        self.status("stopped", checkpoint=str(checkpoint) if checkpoint else None, eta_s=None)
