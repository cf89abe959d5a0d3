"""Trainer callbacks of a run: progress files and stop requests, pause points for the playground, the profiler."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from ..cpu_yield import YieldFlag
from .context import RunFolder, TrainingDiverged

PROFILE = "profile.txt"


def check_finite_loss(loss: Any, step: int, learning_rate: float) -> None:
    """Raise TrainingDiverged when ``loss`` is NaN or infinite. Every process sees the same logged loss (it is
    averaged over processes), so all of them leave together."""
    if loss is None or math.isfinite(loss):
        return
    kind = "NaN (not a number)" if math.isnan(loss) else "infinite"
    raise TrainingDiverged(
        f"The training loss became {kind} at step {step}: training diverged, most often because the learning rate "
        f"({learning_rate:g}) is too high for this model. Start a new run with a lower learning rate "
        f"(e.g. {learning_rate / 10:g}).",
        cli_hint=f"--set train.learning_rate={learning_rate / 10:g}",
    )


class RunCallback(TrainerCallback):
    """Writes metrics.jsonl and status.json (main process only) and honours stop requests at the next step."""

    def __init__(self, folder: RunFolder, batch_size: int, skip_final: bool):
        self.folder, self.batch_size = folder, batch_size
        self.accelerator: Any = None  # the Trainer's, set once it exists: several processes must agree to stop
        # The last epoch's evaluation and checkpoint would duplicate the final predict() and save_model(): skip
        # them (results.py logs the final evaluation instead). Early stopping needs them, so it turns this off.
        self.skip_final = skip_final
        self.stopped = False
        self.t_start = self.t_last_log = time.time()
        self.t_status = 0.0
        self.first_step = self.step_last_log = 0

    def on_train_begin(self, args, state, control, **kw):
        self.t_start = self.t_last_log = time.time()
        self.first_step = self.step_last_log = state.global_step

    def on_step_end(self, args, state, control, **kw):
        if self._stop_requested():
            self.stopped = control.should_training_stop = control.should_save = True
        elif self.skip_final and state.global_step >= state.max_steps:
            control.should_save = False  # a step checkpoint (train.save_steps) at the end would duplicate save()
        now = time.time()
        if now - self.t_status > 1.0 or self.stopped:
            self.t_status = now
            done, left = state.global_step - self.first_step, state.max_steps - state.global_step
            self.folder.status(
                "training",
                progress=state.global_step / max(1, state.max_steps),
                step=state.global_step,
                max_steps=state.max_steps,
                epoch=state.epoch,
                eta_s=(now - self.t_start) / done * left if done else None,
                stop_requested=self.stopped,
            )

    def _stop_requested(self) -> bool:
        """With several processes, all must stop at the same step, or the others wait forever for the gradients of
        the one that left: whoever sees the stop file sets accelerate's trigger, and all read it back together."""
        seen = self.folder.stop_requested()
        if self.accelerator is None or self.accelerator.num_processes == 1:
            return seen
        if seen:
            self.accelerator.set_trigger()
        return self.accelerator.check_trigger()

    def on_epoch_end(self, args, state, control, **kw):
        if self.skip_final and state.global_step >= state.max_steps and not self.stopped:
            control.should_evaluate = control.should_save = False

    def on_log(self, args, state, control, logs=None, **kw):
        if not logs:
            return
        now = time.time()
        record: dict[str, Any] = {"time": now, "step": state.global_step, "epoch": state.epoch}
        if "loss" in logs:
            check_finite_loss(logs["loss"], state.global_step, args.learning_rate)  # before it reaches the charts
            steps = state.global_step - self.step_last_log
            samples = steps * args.train_batch_size * args.world_size  # per-process share x processes
            record.update(
                phase="train",
                loss=logs["loss"],
                learning_rate=logs.get("learning_rate"),
                grad_norm=logs.get("grad_norm"),
                samples_per_second=samples / max(now - self.t_last_log, 1e-9),
            )
            self.t_last_log, self.step_last_log = now, state.global_step
        elif any(k.startswith("eval_") for k in logs):
            record.update(phase="eval", **{k: v for k, v in logs.items() if k.startswith("eval_")})
        else:
            return  # the end-of-training summary goes to results.json instead
        self.folder.append_metrics(record)


class PausePoints(TrainerCallback):
    """Pause points (cpu_yield.py) between the parts of a step that the model's own hooks don't cover: before the
    step, after backward and clipping, after the optimizer."""

    def __init__(self, flag: YieldFlag, marks_steps: bool = False):
        # marks_steps: the trained model carries no pause hooks of its own (a head on cached features), so each
        # Trainer step is a new step for the once-per-step cap; a hooked model starts its steps in its forward.
        self.flag, self.marks_steps = flag, marks_steps

    def on_step_begin(self, args, state, control, **kw):
        if self.marks_steps:
            self.flag.new_step()
        self.flag.wait()

    def on_pre_optimizer_step(self, args, state, control, **kw):
        self.flag.wait()

    def on_optimizer_step(self, args, state, control, **kw):
        self.flag.wait()


class StepProfiler(TrainerCallback):
    """``train.profile_steps`` = N: torch.profiler over N training steps from the 10th (past the warm-up), its op
    table written to RUN_DIR/profile.txt. Main process only."""

    WARMUP_STEPS = 10

    def __init__(self, path: Path, steps: int):
        self.path, self.steps = path, steps
        self.profiler: Any = None
        self.done = False
        self.start_step = 0
        self.t_start = 0.0

    def on_train_begin(self, args, state, control, **kw):
        self.start_step = state.global_step + self.WARMUP_STEPS
        self.done = not state.is_world_process_zero

    def on_step_begin(self, args, state, control, **kw):
        if not self.done and self.profiler is None and state.global_step == self.start_step:
            from torch.profiler import ProfilerActivity, profile

            gpu = [ProfilerActivity.CUDA] if torch.cuda.is_available() else []
            self.profiler = profile(activities=[ProfilerActivity.CPU, *gpu])
            self.profiler.__enter__()
            self.t_start = time.time()

    def on_step_end(self, args, state, control, **kw):
        if self.profiler is None or self.done:
            return
        if state.global_step >= self.start_step + self.steps or state.global_step >= state.max_steps:
            self._write(state.global_step - self.start_step)

    def _write(self, steps: int) -> None:
        self.profiler.__exit__(None, None, None)
        self.done = True
        table = self.profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=40)
        per_step = (time.time() - self.t_start) / max(steps, 1)
        self.path.write_text(
            f"torch.profiler over {steps} training steps ({per_step:.3f} s/step under the profiler), "
            f"from step {self.start_step}\n\n{table}"
        )
