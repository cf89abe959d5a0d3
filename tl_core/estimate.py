"""Wall time and peak memory of a run before it starts: the calibration (costmodel.py) times the data's counts.

The parts follow a run's steps (training/pipeline.py): process start, data loading and validation, tokenising or
decoding, model load, then per method the optimizer steps (or, for features, one extraction pass and a head on
cached vectors), one evaluation pass and one checkpoint per epoch, and saving. Every number is either measured on
this machine (calibration, the advisor's own data load) or counted (examples, steps, parameters), so the estimate
moves with the hardware instead of with guesses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

MB = 2**20
MEMORY_HEADROOM = 0.85  # plan a run to use at most this share of the free memory: allocators fragment, others run


@dataclass
class DataProfile:
    """What the advisor learned about the data (counts measured, lengths sampled, costs timed)."""

    task: str
    n_train: int
    n_eval: int
    labels: list[str]
    per_class: dict[str, int]  # training examples (NER: words tagged) per class
    load_s: float = 0.0  # reading + validating + splitting, as the run will do it
    lengths: list[int] = field(default_factory=list)  # tokens per sampled text (untruncated, specials included)
    image_side: int | None = None  # median shorter side of sampled images, px
    prep_s_per_example: dict[str, float] = field(default_factory=dict)  # "tokens" or image size -> s/example
    image_sample: list[str] = field(default_factory=list)  # sampled image paths (decode timing per size)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    @property
    def min_per_class(self) -> int:
        return min(self.per_class.values()) if self.per_class else 0

    @property
    def median_per_class(self) -> float:
        counts = sorted(self.per_class.values())
        return float(counts[len(counts) // 2]) if counts else 0.0

    @property
    def majority_share(self) -> float:
        total = sum(self.per_class.values())
        return max(self.per_class.values()) / total if total else 0.0

    def mean_tokens(self, max_length: int) -> float:
        if not self.lengths:
            return float(max_length)
        return sum(min(n, max_length) for n in self.lengths) / len(self.lengths)

    def length_quantile(self, q: float) -> int:
        ordered = sorted(self.lengths)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0


def shape_length(profile: DataProfile, train: Any) -> int:
    """The batch length a run computes: image side, or the mean tokens of length-grouped batches (padding there
    added about 4% in the bench), rounded up to a multiple of 8 so nearby lengths share a calibration."""
    if profile.task == "image":
        return int(train.image_size)
    return max(8, int(math.ceil(profile.mean_tokens(train.max_length) * 1.05 / 8) * 8))


def peak_length(profile: DataProfile, train: Any) -> int:
    """The length of the run's LONGEST batch, where activation memory peaks: length grouping packs the longest
    texts together, so that batch is padded to the longest text (truncated at max_length); images are one size."""
    if profile.task == "image":
        return int(train.image_size)
    longest = min(max(profile.lengths, default=train.max_length), train.max_length)
    return max(shape_length(profile, train), int(math.ceil(longest / 8) * 8))


def steps_of(n_train: int, train: Any) -> tuple[int, int, int]:
    """(optimizer steps, steps per epoch, epochs started) as transformers counts them (world size 1)."""
    per_epoch = max(1, math.ceil(n_train / train.batch_size))
    steps = train.max_steps if train.max_steps > 0 else math.ceil(per_epoch * train.epochs)
    return steps, per_epoch, max(1, math.ceil(steps / per_epoch))


def estimate_run(
    method: str,
    train: Any,
    profile: DataProfile,
    machine: dict[str, Any],
    model: dict[str, Any],
    features_cached: bool = False,
) -> dict[str, Any]:
    """Seconds and peak MB of one run of ``method`` with TrainConfig ``train``; ``model`` is the full (or LoRA)
    calibration at ``train``'s batch shape (for features, the full model's: its forward is the backbone's).
    ``features_cached``: the shared cache already holds this run's features, so it skips the extraction pass."""
    steps, per_epoch, epochs = steps_of(profile.n_train, train)
    examples = profile.n_train + profile.n_eval
    prep_key = str(train.image_size) if profile.task == "image" else "tokens"
    parts = {
        "start": machine["startup_s"] + machine.get("exit_s", 0.0),
        "data": profile.load_s + examples * profile.prep_s_per_example.get(prep_key, 0.0),
        "model_load": model["load_s"],
    }
    eval_batches = math.ceil(profile.n_eval / train.eval_batch_size)
    write = max(machine["write_mb_s"], 1.0)
    weights_mb = model["params"] * 4 / MB
    if method == "features":
        train_batches = math.ceil(profile.n_train / train.eval_batch_size)
        parts["extract"] = 0.0 if features_cached else (train_batches + eval_batches) * model["forward_s"]
        parts["train"] = steps * machine["trainer_step_s"] + epochs * machine["trainer_epoch_s"]
        parts["save"] = weights_mb / write
    else:
        step = model["step_s"] * train.batch_size / model.get("batch", train.batch_size)
        checkpoint_mb = (weights_mb if method == "full" else 0.0) + model["trainable"] * (4 + 8) / MB
        per_epoch_s = eval_batches * model["forward_s"] + checkpoint_mb / write + machine["trainer_epoch_s"]
        parts["train"] = steps * (step + machine["trainer_step_s"]) + epochs * per_epoch_s
        parts["save"] = weights_mb / write * (2 if method == "lora" else 1)  # LoRA also writes the merged model
    return {
        "wall_s": sum(parts.values()),
        "features_cached": method == "features" and features_cached,
        "peak_memory_mb": peak_memory_mb(method, train, profile, machine, model),
        "steps": steps,
        "steps_per_epoch": per_epoch,
        "parts_s": {k: round(v, 2) for k, v in parts.items()},
    }


def _fixed_and_per_example_mb(
    method: str, train: Any, profile: DataProfile, machine: dict[str, Any], model: dict[str, Any]
) -> tuple[float, float]:
    """Peak memory as fixed MB + MB per example of the batch (activations kept for backward)."""
    on_gpu = bool(machine.get("gpu"))
    weights = model["params"] * 4 / MB
    trainable = model["trainable"] * 4 / MB
    if on_gpu:  # torch's allocator peak: model state and activations only
        base = 0.0
    else:  # the process's peak resident memory: interpreter + libraries + the data held in memory
        side = int(train.image_size)
        per_row = 3 * side * side if profile.task == "image" else 8 * profile.mean_tokens(train.max_length) * 3
        base = machine["runtime_rss_mb"] + (profile.n_train + profile.n_eval) * per_row / MB
    # the longest batch's activations (measured at that length), not the mean batch's: that is where RSS peaks
    act = model.get("peak_activation_mb_per_example", model["activation_mb_per_example"])
    if method == "features":  # inference only: one layer's activations live at a time, for the eval batch
        return base + weights, act * train.eval_batch_size / max(train.batch_size, 1) * 0.25
    optimizer = 2 * trainable  # AdamW: two moments per trainable weight
    grads = trainable
    fixed = grads + optimizer + model.get("activation_fixed_mb", 0.0)
    if not on_gpu and model.get("step_rss_mb") is not None:
        # the resident growth of a real first step at the longest batch (calibration) also holds backward's
        # temporaries and the allocator's slack, which counting saved tensors misses: per example, whichever is more
        act = max(act, (model["step_rss_mb"] - fixed) / max(model.get("batch", train.batch_size), 1))
    return base + weights + fixed, act


def peak_memory_mb(
    method: str, train: Any, profile: DataProfile, machine: dict[str, Any], model: dict[str, Any]
) -> float:
    fixed, per_example = _fixed_and_per_example_mb(method, train, profile, machine, model)
    return fixed + per_example * train.batch_size


def batch_that_fits(
    method: str, train: Any, profile: DataProfile, machine: dict[str, Any], model: dict[str, Any], free_mb: float
) -> int:
    """The largest power-of-two batch size (at most the chosen one) whose peak stays under the headroom; 0 when
    not even a batch of 1 fits."""
    fixed, per_example = _fixed_and_per_example_mb(method, train, profile, machine, model)
    budget = free_mb * MEMORY_HEADROOM - fixed
    if budget < per_example:
        return 0
    fits = int(budget // per_example) if per_example > 0 else train.batch_size
    if fits >= train.batch_size:
        return int(train.batch_size)
    return 2 ** int(math.log2(fits))


def free_memory_mb(machine: dict[str, Any]) -> float:
    """What a run may use: the GPU's memory, else the memory the system has free now (shared machines)."""
    if machine.get("gpu_mb"):
        return float(machine["gpu_mb"])
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            info = {ln.split(":")[0]: ln.split(":")[1] for ln in f}
        return int(info["MemAvailable"].split()[0]) / 1024
    except (OSError, KeyError, ValueError, IndexError):
        import os

        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / MB
