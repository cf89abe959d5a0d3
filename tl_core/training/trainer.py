"""Step 3: TrainingArguments from the run's config, our Trainer, its callbacks, and the training loop itself."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch.utils.data import BatchSampler, DataLoader
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments
from transformers.trainer_utils import seed_worker

from .. import runfiles as rf
from ..batching import ShuffledLengthGroupedSampler
from ..config import TrainConfig
from ..errors import UserError
from .build import Built
from .callbacks import PROFILE, PausePoints, RunCallback, StepProfiler, check_finite_loss
from .context import RunFolder, launcher_world_size, per_device_batch
from .prepare import Prepared


class RunTrainer(Trainer):
    """transformers' Trainer whose training batches are length-grouped in shuffled order (batching.py) when
    ``length_grouped`` is set.

    The switch is ours, not ``TrainingArguments(train_sampling_strategy="group_by_length")``: with that one,
    transformers 5 also length-groups evaluation batches, and predictions would no longer line up with the examples
    they belong to. Evaluation keeps transformers' sequential order (build.py pre-sorts the evaluation data)."""

    def __init__(self, *args, length_grouped: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.length_grouped = length_grouped

    def get_train_dataloader(self) -> DataLoader:
        if not self.length_grouped or self.train_dataset is None:
            return super().get_train_dataloader()
        args = self.args
        lengths = [len(ids) for ids in self.train_dataset["input_ids"]]
        # Groups span one optimizer step (x gradient accumulation) of ALL processes, as transformers' own grouping
        # does; seeded per epoch, so every process, and a run with another process count, sees the same order.
        span = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
        order = ShuffledLengthGroupedSampler(lengths, span, seed=args.seed)
        batches = BatchSampler(order, args.train_batch_size, drop_last=args.dataloader_drop_last)
        # The settings Trainer gives its own training DataLoader. No column removal: preprocess() already keeps
        # only model inputs, and training_arguments() sets remove_unused_columns=False.
        loader = DataLoader(
            self.train_dataset,
            batch_sampler=batches,
            collate_fn=self.data_collator,
            num_workers=args.dataloader_num_workers,
            pin_memory=args.dataloader_pin_memory,
            persistent_workers=args.dataloader_persistent_workers,
            multiprocessing_context=args.dataloader_multiprocessing_context,
            prefetch_factor=args.dataloader_prefetch_factor,
            in_order=args.dataloader_in_order,
            worker_init_fn=partial(seed_worker, num_workers=args.dataloader_num_workers, rank=args.process_index),
        )
        return self.accelerator.prepare(loader)


def auto_logging_steps(n_train: int, tc: TrainConfig, world_size: int = 1) -> int:
    """Log about 30 times per run so short runs still draw a curve and long ones don't flood the file."""
    if tc.logging_steps > 0:
        return tc.logging_steps
    per_epoch = math.ceil(n_train / max(1, tc.batch_size * world_size))
    total = tc.max_steps if tc.max_steps > 0 else math.ceil(per_epoch * tc.epochs)
    return max(1, min(50, total // 30))


def training_arguments(folder: RunFolder, prep: Prepared, built: Built) -> TrainingArguments:
    tc = prep.cfg.train
    early = tc.early_stopping_patience > 0
    return TrainingArguments(
        output_dir=str(folder.path / rf.CHECKPOINTS),
        per_device_train_batch_size=per_device_batch(tc.batch_size, launcher_world_size()),
        per_device_eval_batch_size=tc.eval_batch_size,
        num_train_epochs=tc.epochs,
        max_steps=tc.max_steps,
        learning_rate=tc.learning_rate,
        weight_decay=tc.weight_decay,
        warmup_steps=tc.warmup,
        lr_scheduler_type=tc.scheduler,
        eval_strategy="epoch",
        save_strategy="steps" if tc.save_steps > 0 else "epoch",
        save_steps=tc.save_steps if tc.save_steps > 0 else 500,  # 500: transformers' default, unused with "epoch"
        logging_strategy="steps",
        logging_steps=auto_logging_steps(len(built.train_ds), tc),  # train.batch_size is the global batch
        # transformers' default (True) logs a NaN/inf step as the mean of the others, and a run whose every step is
        # NaN as loss 0.0: the divergence check (callbacks.RunCallback) needs the real value.
        logging_nan_inf_filter=False,
        save_total_limit=tc.save_total_limit,
        load_best_model_at_end=early,
        metric_for_best_model=prep.task.main_metric if early else None,
        greater_is_better=True,
        bf16=built.bf16,
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
        seed=tc.seed,
        disable_tqdm=True,
        dataloader_num_workers=0,  # data is pre-tokenised / pre-decoded: workers would only add IPC
        remove_unused_columns=False,  # preprocess() already keeps only model inputs (images: cached "pixels")
    )


def make_trainer(folder: RunFolder, prep: Prepared, built: Built) -> tuple[RunTrainer, RunCallback]:
    """The Trainer and the callback that knows whether a stop request ended training."""
    tc = prep.cfg.train
    progress = RunCallback(folder, tc.batch_size, skip_final=tc.early_stopping_patience <= 0)
    callbacks = [progress]
    if built.yield_flag is not None:
        callbacks.append(PausePoints(built.yield_flag, marks_steps=prep.cfg.method == "features"))
    if tc.profile_steps:
        callbacks.append(StepProfiler(folder.path / PROFILE, tc.profile_steps))
    if tc.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=tc.early_stopping_patience))
    trainer = RunTrainer(
        model=built.model,
        args=training_arguments(folder, prep, built),
        train_dataset=built.train_ds,
        eval_dataset=built.eval_ds,
        data_collator=built.collator,
        compute_metrics=built.compute_metrics,
        processing_class=prep.processor if built.features is None else None,
        callbacks=callbacks,
        length_grouped=built.length_grouped,
    )
    folder.is_main = trainer.is_world_process_zero()  # accelerate's answer from here on
    progress.accelerator = trainer.accelerator
    return trainer, progress


@dataclass
class Trained:
    stopped: bool  # a stop request ended training early (a checkpoint was saved)
    seconds: float
    samples_per_second: float | None


def fit(folder: RunFolder, trainer: RunTrainer, progress: RunCallback, resume: bool, counts: dict) -> Trained:
    checkpoint = _resume_point(folder) if resume else None
    folder.status("training", progress=0.0, resumed_from=str(checkpoint) if checkpoint else None, params=counts)
    t = time.time()
    # The checkpoint is passed by path: transformers' own lookup (resume_from_checkpoint=True) takes the highest
    # step number, even a checkpoint a kill or a full disk cut short.
    out = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    check_finite_loss(out.training_loss, trainer.state.global_step, trainer.args.learning_rate)
    return Trained(progress.stopped, time.time() - t, out.metrics.get("train_samples_per_second"))


def _resume_point(folder: RunFolder) -> Path:
    """The last complete checkpoint; what came after it (cut-off checkpoints, metrics of later steps, which will
    be trained again) is removed first, so the resumed run writes each step once."""
    checkpoint = rf.last_checkpoint(folder.path)
    if checkpoint is None:
        raise UserError("This run has no complete checkpoint to resume from; start it again instead.")
    if folder.is_main:
        for torn in rf.discard_torn_checkpoints(folder.path):
            print(f"Removed the incomplete checkpoint {torn.name} (cut off by a crash or a full disk).", flush=True)
        rf.truncate_metrics(folder.path, rf.checkpoint_step(checkpoint) or 0)
    return checkpoint
