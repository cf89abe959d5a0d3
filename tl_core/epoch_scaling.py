"""A preset's epochs, scaled to the data: a preset tuned on hundreds of examples gives a 60-row upload only a
handful of optimizer steps (3 epochs of 48 rows in batches of 32 = 6 steps), and such a run ends at chance.

Only the preset's own default scales: epochs the user chose (any value other than the preset's), a step count,
and the CLI's explicit configs are left as they are. The scaled value is written into the run's config.json and
told to the user, so the run stays reproducible and nothing changes silently.
"""

from __future__ import annotations

import dataclasses
import math

from . import fair_use, settings
from .config import RunConfig, load_preset
from .verdict import MIN_STEPS

MAX_SCALED_EPOCHS = 100  # scaling never asks for more than this (a 5-row upload would need hundreds)


def units_per_epoch(cfg: RunConfig, train_ds) -> int:
    """What one batch is made of: examples, or words for the NER feature head (its batches are words)."""
    if cfg.task == "ner" and cfg.method == "features":
        return sum(len(tokens) for tokens in train_ds["tokens"])
    return len(train_ds)


def scale_epochs(cfg: RunConfig, n_units: int) -> tuple[RunConfig, str | None]:
    """``cfg`` with enough epochs for at least MIN_STEPS optimizer steps, when its epochs are the preset's
    default and would give fewer; and the sentence telling the user (None when nothing changed)."""
    tc = cfg.train
    if tc.max_steps > 0 or n_units <= 0 or tc.epochs != load_preset(cfg.task, cfg.method).train.epochs:
        return cfg, None
    per_batch = tc.batch_size * int(getattr(tc, "gradient_accumulation_steps", 1) or 1)
    steps_per_epoch = math.ceil(n_units / per_batch)
    if steps_per_epoch * tc.epochs >= MIN_STEPS:
        return cfg, None
    cap = min(MAX_SCALED_EPOCHS, fair_use.active_limit(settings.MAX_EPOCHS) or MAX_SCALED_EPOCHS)
    epochs = min(math.ceil(MIN_STEPS / steps_per_epoch), int(cap))
    if epochs <= tc.epochs:
        return cfg, None
    scaled = dataclasses.replace(cfg, train=dataclasses.replace(tc, epochs=float(epochs)))
    what = "words" if cfg.task == "ner" and cfg.method == "features" else "training examples"
    note = (
        f"Only {n_units} {what}: the preset's {tc.epochs:g} epochs would be just "
        f"{math.ceil(steps_per_epoch * tc.epochs)} training steps, too few to learn anything. This run trains for "
        f"{epochs} epochs ({steps_per_epoch * epochs} steps) instead. Set Epochs to another value to choose yourself."
    )
    return scaled, note
