"""What one model costs on this device at a run's batch shape: step and forward seconds, activation memory.

Measured in the calibration process (costmodel.py starts it exactly like a run): the model loads as a run loads it
(with LoRA for ``lora``), then synthetic batches of the run's shape time a training step (forward + backward +
AdamW) and an inference forward, count the bytes saved for backward at the longest batch's length, and on a CPU
read how far a real first step raises the resident size.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from statistics import median
from typing import Any

TIMED_STEPS = 3  # after one warm-up step; the median of these is kept


def synthetic_batch(task: str, config: Any, batch: int, length: int, n_labels: int) -> dict[str, Any]:
    """Model inputs of the run's shape: random token ids (not special tokens) or random pixels."""
    import torch

    if task == "image":
        return {"pixel_values": torch.randn(batch, 3, length, length), "labels": torch.randint(0, n_labels, (batch,))}
    vocab = int(getattr(config, "vocab_size", 1000) or 1000)
    ids = torch.randint(min(1000, vocab // 2), vocab, (batch, length))
    shape = (batch, length) if task == "ner" else (batch,)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.randint(0, n_labels, shape)}


def _autocast(bf16: bool) -> Any:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.autocast(device, dtype=torch.bfloat16) if bf16 else nullcontext()


def _to_device(batch: dict[str, Any]) -> dict[str, Any]:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return {k: v.to(device) for k, v in batch.items()}


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def saved_activation_bytes(model: Any, batch: dict[str, Any], bf16: bool) -> int:
    """Bytes that one forward keeps for backward (saved-tensor hooks), weights excluded: the same on CPU and GPU."""
    import torch

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: Any) -> Any:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:  # weights are counted once, as weights, not per example
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), _autocast(bf16):
        loss = model(**batch).loss
    loss.backward()  # frees the graph; nothing is stepped
    model.zero_grad(set_to_none=True)
    return sum(saved.values())


def time_train_step(model: Any, batch: dict[str, Any], bf16: bool) -> tuple[float, int]:
    """(median seconds of forward + backward + AdamW step, bytes of activations saved for backward)."""
    import torch

    act_bytes = saved_activation_bytes(model, batch, bf16)  # doubles as the warm-up step
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)
    times = []
    for _ in range(TIMED_STEPS + 1):  # the first AdamW step allocates its moments: not timed
        _sync()
        t = time.perf_counter()
        with _autocast(bf16):
            loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync()
        times.append(time.perf_counter() - t)
    return median(times[1:]), act_bytes


def _proc_status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            return next(int(ln.split()[1]) / 1024 for ln in f if ln.startswith(field + ":"))
    except (OSError, StopIteration, ValueError):
        return None


def step_rss_growth_mb(model: Any, batch: dict[str, Any], bf16: bool) -> float | None:
    """CPU only: how far the process's resident size rises during one first training step at this shape, measured
    (Linux: the peak is reset through /proc/self/clear_refs first). It holds what the saved-tensor count misses:
    backward's temporaries, the gradients, AdamW's moments and the allocator's slack. None where it can't be read."""
    import gc

    import torch

    if torch.cuda.is_available():
        return None
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
            f.write("5")  # resets VmHWM to the current resident size
    except OSError:
        return None
    before = _proc_status_mb("VmRSS")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)
    model.train()
    with _autocast(bf16):
        loss = model(**batch).loss
    loss.backward()
    opt.step()
    peak = _proc_status_mb("VmHWM")
    model.zero_grad(set_to_none=True)
    del opt, loss
    gc.collect()
    return None if before is None or peak is None else max(0.0, peak - before)


def peak_activations_mb(task: str, model: Any, shape: dict[str, Any], n_labels: int) -> tuple[float, float]:
    """(MB per example, fixed MB) saved for backward at the longest batch's length. Two small batches give the
    slope, so per-step costs that do not grow with the batch (bf16 copies of the weights) stay out of it."""
    length = shape.get("peak_length", shape["length"])
    sizes = (2, 4)
    sizes_mb = [
        saved_activation_bytes(
            model, _to_device(synthetic_batch(task, model.config, b, length, n_labels)), shape["bf16"]
        )
        / 2**20
        for b in sizes
    ]
    per_example = max(0.0, (sizes_mb[1] - sizes_mb[0]) / (sizes[1] - sizes[0]))
    return per_example, max(0.0, sizes_mb[0] - sizes[0] * per_example)


def time_forward(model: Any, batch: dict[str, Any], bf16: bool) -> float:
    """Median seconds of one inference forward (evaluation and feature extraction run this)."""
    import torch

    model.eval()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    times = []
    with torch.inference_mode(), _autocast(bf16):
        for _ in range(TIMED_STEPS + 1):
            _sync()
            t = time.perf_counter()
            model(**inputs)
            _sync()
            times.append(time.perf_counter() - t)
    return median(times[1:])


def measure_model(task: str, model_ref: str | None, revision: str | None, method: str, shape: dict[str, Any]) -> dict:
    """Load the run's model (with LoRA for ``lora``) and time it at the run's batch shape on this device.

    ``shape``: batch, length (tokens, or image side in px), peak_length (the longest batch's), eval_batch, bf16,
    n_labels, method_params."""
    import torch

    from . import models
    from .methods import apply_lora, count_parameters, parse_params
    from .registry import get_task

    n_labels = max(2, int(shape["n_labels"]))
    # the attention a run uses (training/build.py): eager on CPU for text, the default elsewhere
    attn = "eager" if task in ("text", "ner") and not torch.cuda.is_available() else None
    t = time.perf_counter()
    model = models.load_model(task, model_ref, [f"c{i}" for i in range(n_labels)], revision, attn_implementation=attn)
    load_s = time.perf_counter() - t
    if method == "lora":
        model = apply_lora(model, get_task(task).peft_task_type, parse_params("lora", shape.get("method_params") or {}))
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    peak_batch = synthetic_batch(
        task, model.config, shape["batch"], shape.get("peak_length", shape["length"]), n_labels
    )
    step_rss_mb = step_rss_growth_mb(model, _to_device(peak_batch), shape["bf16"])  # first: nothing warm yet
    train = _to_device(synthetic_batch(task, model.config, shape["batch"], shape["length"], n_labels))
    step_s, act_bytes = time_train_step(model, train, shape["bf16"])
    evals = _to_device(synthetic_batch(task, model.config, shape["eval_batch"], shape["length"], n_labels))
    forward_s = time_forward(model, evals, shape["bf16"])
    peak_per_example, fixed_mb = peak_activations_mb(task, model, shape, n_labels)
    counts = count_parameters(model)
    return {
        "load_s": load_s,
        "step_s": step_s,
        "forward_s": forward_s,
        "activation_mb_per_example": act_bytes / 2**20 / shape["batch"],
        "peak_activation_mb_per_example": peak_per_example,
        "activation_fixed_mb": fixed_mb,
        "step_rss_mb": step_rss_mb,
        "batch": shape["batch"],
        "params": counts["total"],
        "trainable": counts["trainable"],
        "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
