"""What a run will cost on THIS machine: measured once, cached, then used to estimate wall time and peak memory.

Two calibrations, both cached under ``$TL_HOME/calibration`` in one file per hardware signature (CPU model, cores,
torch threads, GPU and its memory), so a new machine or a new GPU is measured again and an unchanged one never is:

* ``machine``: what every run pays whatever the model: starting the ``accelerate launch`` process with its imports
  (the same argv as runs.start), transformers' Trainer overhead per step and per epoch (a tiny head trained for two
  epochs with evaluation and checkpoints, in that process: the UI process must never train), disk write speed and
  the resident memory of a freshly started run process.
* ``model``: per model, method and batch shape: seconds of a training step (forward + backward + AdamW) for full
  fine-tuning and LoRA, seconds of an inference forward at the evaluation batch size, activation bytes saved for
  backward per example (measured with saved-tensor hooks, so the same number on CPU and GPU), parameter counts.

The arithmetic on top of these lives in ``estimate.py``; the advisor (``advise.py``) asks for both.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from statistics import median
from typing import Any

from . import paths

VERSION = 3  # bump when what is measured changes: old calibrations are then measured again
TIMED_STEPS = 3  # after one warm-up step; the median of these is kept


# --- the cache ------------------------------------------------------------------------------------------------------
def hardware() -> dict[str, Any]:
    """What makes measured speeds comparable: a change here means a new calibration."""
    import torch

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    gpu_mb = torch.cuda.get_device_properties(0).total_memory / 2**20 if gpu else None
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads(), "gpu": gpu, "gpu_mb": gpu_mb}


def hardware_key(hw: dict[str, Any] | None = None) -> str:
    blob = json.dumps({"v": VERSION, **(hw or hardware())}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_path(hw: dict[str, Any] | None = None) -> Path:
    return paths.home() / "calibration" / f"{hardware_key(hw)}.json"


def load_cache() -> dict[str, Any]:
    path = cache_path()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"hardware": hardware(), "machine": None, "models": {}}


def save_cache(cache: dict[str, Any]) -> None:
    """Atomic write: two advisors at once at worst measure twice, never leave half a file."""
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(cache, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def load_now() -> float:
    """Runnable processes per core right now (1-minute load average / cores)."""
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        return 0.0


def stale(record: dict[str, Any] | None) -> bool:
    """A measurement taken while other work crowded the CPU (load per core above 1.5) overstates every time once
    the machine is quiet again: measure again when the load has since halved. GPU timings are not load-bound."""
    if not record:
        return True
    then = record.get("load_per_core", 0.0)
    return not record.get("gpu") and then > 1.5 and load_now() < then / 2


def shape_key(task: str, method: str, shape: dict[str, Any]) -> str:
    peak = shape.get("peak_length", shape["length"])
    return (
        f"{task}|{method}|b{shape['batch']}|l{shape['length']}|p{peak}|eb{shape['eval_batch']}|"
        f"{'bf16' if shape['bf16'] else 'fp32'}"
    )


def calibrations(specs: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(machine, one model calibration per spec) from the cache; whatever is missing or stale is measured in ONE
    calibration process. A spec: fp (model fingerprint), key (shape_key), task, model, revision, method, shape."""
    cache = load_cache()
    gpu = cache.get("hardware", {}).get("gpu")
    need_machine = stale(cache.get("machine"))
    missing = [s for s in specs if stale({**(cache.get("models", {}).get(s["fp"], {}).get(s["key"]) or {}), "gpu": gpu})
               or not cache.get("models", {}).get(s["fp"], {}).get(s["key"])]  # fmt: skip
    missing = list({(s["fp"], s["key"]): s for s in missing}.values())
    if need_machine or missing:
        found = run_calibration({"machine": need_machine, "models": [{k: v for k, v in s.items()} for s in missing]})
        cache = load_cache()  # another process may have written meanwhile: merge, don't overwrite
        if need_machine:
            cache["machine"] = {**hardware(), **found["machine"], "load_per_core": found["load_per_core"]}
        for spec, measured in zip(missing, found["models"]):
            measured["load_per_core"] = found["load_per_core"]  # what stale() compares with later
            cache.setdefault("models", {}).setdefault(spec["fp"], {})[spec["key"]] = measured
        save_cache(cache)
    return cache["machine"], [cache["models"][s["fp"]][s["key"]] for s in specs]


# --- the calibration process ------------------------------------------------------------------------------------------
def run_calibration(request: dict[str, Any]) -> dict[str, Any]:
    """Start a process exactly as a run starts (runs.launch_command, the run's environment and CPU priority), let
    it measure what ``request`` asks, read its answer. Model errors come back as the UserError the run would raise."""
    from . import launch_profiles as lp
    from . import run_process as rp
    from . import runs, settings
    from .errors import UserError

    with tempfile.TemporaryDirectory(prefix="tl-calib-") as tmp:
        req, out = Path(tmp) / "request.json", Path(tmp) / "answer.json"
        req.write_text(json.dumps(request, default=str))
        gpus = lp.gpu_count()
        lp.save_plan(lp.default_plan(gpus), Path(tmp), gpus)  # as runs.create_run: the launch reads the folder's plan
        cmd = runs.launch_command(tmp)
        at = cmd.index("tl_core.train")
        cmd[at : at + 2] = ["tl_core.costmodel", str(req), str(out)]
        env = rp.child_environment(os.environ, None)
        env.pop("PYTHONSAFEPATH", None)
        env.setdefault(settings.TRAIN_NICE.name, "10")  # as runs.start: measured at the priority runs get
        t0 = time.time()
        proc = subprocess.run(
            cmd, cwd=str(paths.PROJECT_ROOT), env=env, capture_output=True, text=True, timeout=900, check=False
        )
        found = json.loads(out.read_text()) if out.is_file() else {}
    if found.get("user_error"):
        raise UserError(found["user_error"])
    if proc.returncode != 0 or "models" not in found:
        raise RuntimeError(f"calibration process failed: {proc.stderr[-2000:]}")
    if found.get("machine"):
        m = found["machine"]
        m["startup_s"] = m.pop("main_started") - t0
        m["exit_s"] = max(0.0, time.time() - t0 - m["startup_s"] - found["inside_s"])
    return found


def _child_main(request_path: str, out: str) -> None:
    """The calibration process: imports what a run imports, then measures what the request asks."""
    started = time.time()
    import resource

    import torch

    from . import settings
    from .errors import UserError
    from .training import build, prepare, results, save, trainer  # noqa: F401 - what a run imports, timed

    import_s = time.time() - started
    nice = int(settings.TRAIN_NICE.get() or 0)
    if nice > 0:
        os.nice(nice)
    request = json.loads(Path(request_path).read_text())
    answer: dict[str, Any] = {"machine": None, "models": []}
    try:
        if request.get("machine"):
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            answer["machine"] = {"main_started": started, "import_s": import_s, "runtime_rss_mb": rss_mb}
            answer["machine"].update(_machine_costs(torch))
        for spec in request.get("models", []):
            answer["models"].append(
                measure_model(spec["task"], spec["model"], spec["revision"], spec["method"], spec["shape"])
            )
    except UserError as err:
        answer = {"user_error": str(err)}
    answer["load_per_core"] = load_now()
    answer["inside_s"] = time.time() - started
    Path(out).write_text(json.dumps(answer))


def _machine_costs(torch: Any) -> dict[str, float]:
    from safetensors.torch import save_file

    from .features import FeatureDataset, HeadModel

    per_step, per_epoch = _trainer_overhead(torch, FeatureDataset, HeadModel)
    with tempfile.TemporaryDirectory(prefix="tl-disk-") as tmp:
        blob = {"w": torch.zeros(8 * 2**20)}  # 32 MB
        t = time.perf_counter()
        save_file(blob, str(Path(tmp) / "w.safetensors"))
        write_mb_s = 32 / max(time.perf_counter() - t, 1e-3)
    return {"trainer_step_s": per_step, "trainer_epoch_s": per_epoch, "write_mb_s": write_mb_s}


def _trainer_overhead(torch: Any, feature_dataset: Any, head_model: Any) -> tuple[float, float]:
    """(seconds per optimizer step, seconds per epoch) that transformers' Trainer adds around a near-free model:
    a 2-class head on 64 random vectors, batch 8, 2 epochs, evaluated and checkpointed every epoch as runs are."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    n, batch, epochs = 512, 8, 2
    data = {"features": torch.randn(n, 64), "labels": torch.randint(0, 2, (n,))}
    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):  # noqa: ANN001 - transformers' signature
            stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory(prefix="tl-trainer-") as tmp:
        args = TrainingArguments(
            output_dir=tmp,
            per_device_train_batch_size=batch,
            num_train_epochs=epochs,
            eval_strategy="epoch",
            save_strategy="epoch",
            save_total_limit=2,
            report_to="none",
            disable_tqdm=True,
            use_cpu=not torch.cuda.is_available(),
            logging_steps=max(1, n // batch * epochs // 30),
            remove_unused_columns=False,
        )
        ds = feature_dataset(data)
        tr = Trainer(model=head_model(64, 2), args=args, train_dataset=ds, eval_dataset=ds, callbacks=[Stamp()])
        t = time.perf_counter()
        tr.train()
        total = time.perf_counter() - t
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    per_step = median(gaps) if gaps else 0.0
    return per_step, max(0.0, (total - per_step * len(stamps)) / epochs)


# --- a model: step times, forward times, activations ----------------------------------------------------------------------
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


if __name__ == "__main__":  # the calibration process (measure_machine starts it through accelerate launch)
    _child_main(sys.argv[1], sys.argv[2])
    sys.stdout.flush()
    os._exit(0)  # like tl_core.train: skip interpreter teardown, which a run skips too
