"""The advisor's rules: which method, and with which settings. Pure functions of numbers, so each rule is tested on
made-up statistics and each one reads as one sentence to the user.

Thresholds come from this project's benches (bench/README.md): with ~2,000 reviews per class full fine-tuning beat
frozen features by 3 points (3 epochs: 0.850 vs 0.806); on Fashion-MNIST at 200 per class frozen features beat one
epoch of fine-tuning (0.834 vs 0.788) but not the five epochs these rules give it (0.862).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .config import RunConfig, TrainConfig, load_preset

FEW_PER_CLASS = 30  # below this many examples per class, fine-tuning a whole network overfits easily
MANY_PER_CLASS = 200  # from this many per class on, fine-tuning has enough to learn from
STRONG_LIFT = 0.5  # the probe closes at least half the gap between the majority class and perfect
TIME_BUDGET_S = 30 * 60  # longer than this, full fine-tuning must beat strong features by more than we can promise
TARGET_STEPS = {"full": 300, "lora": 400, "features": 1500}  # optimizer steps that train to a plateau on benches
EPOCH_RANGE = {"full": (1, 10), "lora": (1, 15), "features": (10, 100)}
WORKABLE_BATCH = 8  # below this, batch statistics get noisy and steps slow: count the method as not fitting


@dataclass
class Facts:
    """What the rules look at: everything in plain numbers."""

    per_class: float  # median training examples per class
    n_train: int
    majority: float  # share of the most common class (the do-nothing baseline's score)
    probe: float | None  # zero-training probe score on frozen features; None when it could not run
    fits: dict[str, bool]  # method -> trains at a workable batch size in the free memory
    full_wall_s: float | None  # estimated wall time of full fine-tuning


def lift(probe: float, majority: float) -> float:
    """How much of the way from the majority class to a perfect score the frozen features already get."""
    return (probe - majority) / (1 - majority) if majority < 1 else 0.0


def _probe_words(f: Facts) -> str:
    return f"a quick test on the pretrained features scores {f.probe:.0%} against {f.majority:.0%} for always guessing the most common class"


def choose(f: Facts) -> tuple[str, str]:
    """(method, the one-sentence reason), first matching rule wins."""
    if not f.fits.get("lora", True):
        return "features", (
            "Neither fine-tuning method fits in this machine's memory, and training a small layer on frozen "
            "features needs only the model's forward pass."
        )
    if not f.fits.get("full", True):
        return "lora", (
            "Full fine-tuning would not fit in this machine's memory at a workable batch size; LoRA trains far "
            "fewer weights and fits."
        )
    n = f"about {f.per_class:,.0f} examples per class"
    if f.probe is None:
        if f.per_class < FEW_PER_CLASS:
            return "features", f"With only {n}, a small layer on frozen features learns fast and can hardly overfit."
        if f.per_class >= MANY_PER_CLASS:
            return "full", f"With {n} there is enough data to fine-tune every layer of the model."
        return "lora", f"With {n}, LoRA gets close to full fine-tuning while training few weights."
    strong = lift(f.probe, f.majority) >= STRONG_LIFT
    if f.per_class < FEW_PER_CLASS:
        if strong:
            return (
                "features",
                f"With only {n} and {_probe_words(f)}, a small layer on frozen features is the safe choice.",
            )
        return "lora", (
            f"With only {n} while {_probe_words(f)}, the model must adapt, and LoRA does that with few trained "
            f"weights, which overfits less than full fine-tuning."
        )
    if f.per_class >= MANY_PER_CLASS:
        if not strong:
            return "full", f"With {n} while {_probe_words(f)}, full fine-tuning can adapt every layer to this data."
        if f.full_wall_s is not None and f.full_wall_s > TIME_BUDGET_S:
            return "features", (
                f"{_probe_words(f).capitalize()}, and full fine-tuning would take about "
                f"{f.full_wall_s / 60:.0f} minutes: frozen features get most of the way in a fraction of the time."
            )
        return "full", f"With {n} and time to spare, full fine-tuning usually adds a few points over frozen features."
    return "lora", f"With {n}, LoRA gets close to full fine-tuning while training few weights."


def epochs_for(method: str, steps_per_epoch: int) -> int:
    """Enough passes to reach the method's target number of optimizer steps, within sensible bounds."""
    low, high = EPOCH_RANGE[method]
    return int(min(high, max(low, math.ceil(TARGET_STEPS[method] / max(1, steps_per_epoch)))))


def max_length_for(lengths: list[int], preset: int) -> int:
    """Room for 95% of the texts, rounded up to a multiple of 32 (shorter batches, same content)."""
    if not lengths:
        return preset
    ordered = sorted(lengths)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return int(min(512, max(32, math.ceil(p95 / 32) * 32)))


def image_size_for(side: int | None, preset: int) -> int:
    """Small images (e.g. 28 px) gain nothing from 224 px but cost 12x the compute at 64: twice their side, at
    least 64 px, at most the pretrained size."""
    if not side or side * 2 >= preset:
        return preset
    return int(max(64, math.ceil(side * 2 / 32) * 32))


def recommended_config(
    task: str, method: str, model: str | None, n_train: int, lengths: list[int], side: int | None
) -> RunConfig:
    """The method's preset with epochs, max length / image size fitted to the data (batch size: see fit_batch)."""
    cfg = load_preset(task, method)
    if model:
        cfg.model = model
    tc = cfg.train
    steps_per_epoch = max(1, math.ceil(n_train / tc.batch_size))
    changes: dict[str, Any] = {"epochs": float(epochs_for(method, steps_per_epoch))}
    if task == "image":
        changes["image_size"] = image_size_for(side, tc.image_size)
    else:
        changes["max_length"] = max_length_for(lengths, tc.max_length)
    cfg.train = dataclasses.replace(tc, **changes)
    return cfg


def with_batch(train: TrainConfig, batch_size: int) -> TrainConfig:
    """A smaller batch: same number of epochs, learning rate scaled with the square root of the batch ratio (the
    usual rule for Adam), so the smaller batch's noisier steps stay stable."""
    if batch_size >= train.batch_size:
        return train
    lr = train.learning_rate * math.sqrt(batch_size / train.batch_size)
    return dataclasses.replace(train, batch_size=batch_size, learning_rate=float(f"{lr:.3g}"))


def user_settings(cfg: RunConfig) -> dict[str, Any]:
    """The settings shown with a recommendation (what the Method tab's "Use this" fills in)."""
    tc = cfg.train
    out: dict[str, Any] = {"epochs": tc.epochs, "batch_size": tc.batch_size, "learning_rate": tc.learning_rate}
    if cfg.task == "image":
        out["image_size"] = tc.image_size
    else:
        out["max_length"] = tc.max_length
    return out
