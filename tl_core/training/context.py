"""What every step of a run shares: the run folder, and whether this process is the one that writes its files."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import runfiles as rf
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
        if self.stop_requested():
            raise StopRequested

    def stopped(self) -> None:
        """Record a stop: the newest complete checkpoint is what a resume continues from."""
        checkpoint = rf.last_checkpoint(self.path)
        self.status("stopped", checkpoint=str(checkpoint) if checkpoint else None, eta_s=None)
