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

The model measurements themselves live in ``model_costs.py`` (this module runs them in the calibration process);
the arithmetic on top of these lives in ``estimate.py``; the advisor (``advise.py``) asks for both.
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
from pathlib import Path
from statistics import median
from typing import Any

from . import paths

VERSION = 3  # bump when what is measured changes: old calibrations are then measured again


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
        from .model_costs import measure_model

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


if __name__ == "__main__":  # the calibration process (measure_machine starts it through accelerate launch)
    _child_main(sys.argv[1], sys.argv[2])
    sys.stdout.flush()
    os._exit(0)  # like tl_core.train: skip interpreter teardown, which a run skips too
