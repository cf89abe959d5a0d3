"""python -m bench.gpu_check (run it through bench/gpu_check.sh): the three full-fine-tuning presets on their bundled
weights, on this machine's GPU, in bf16 with SDPA attention, each a real run (runs.start -> accelerate launch).

Per preset: training samples/s (the median of the logged intervals, so the per-epoch evaluations don't count),
MFU = useful FLOPs/s over the card's dense bf16 peak, and the training process's peak GPU memory. Useful FLOPs are
3 x the forward FLOPs (torch's FlopCounterMode) of single, unpadded examples of the run's data, so padding is not
counted as work.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

PRESETS = (("text", "full"), ("image", "full"), ("ner", "full"))
# Dense (no sparsity) bf16 tensor-core peaks from the vendors' datasheets, TFLOP/s; the first name found in
# torch.cuda.get_device_name() wins, so the more specific names come first.
PEAK_BF16_TFLOPS = (
    ("GB200", 2500.0),
    ("B200", 2250.0),
    ("H200", 989.0),
    ("GH200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("H800", 989.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A6000", 155.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
    ("RTX 3090", 71.0),
)
OUT = Path(__file__).parent / "results" / "gpu_check.json"


def peak_tflops() -> tuple[float, str]:
    """The card's bf16 peak from the table, else a measured large bf16 matmul (a lower bound of the real peak)."""
    import torch

    name = torch.cuda.get_device_name(0)
    for key, tflops in PEAK_BF16_TFLOPS:
        if key.lower() in name.lower():
            return tflops, f"{name}: datasheet ({key})"
    return measured_matmul_tflops(), f"{name}: not in the table, measured bf16 matmul"


def measured_matmul_tflops(n: int = 8192, reps: int = 20) -> float:
    import torch

    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 * reps / best / 1e12


def run_preset(task: str, method: str, steps: int, batch_size: int | None, root: Path) -> Path:
    from tl_core import runfiles as rf
    from tl_core import runs
    from tl_core.config import load_preset

    overrides = ["train.precision=bf16", f"train.max_steps={steps}", "train.logging_steps=10"]
    if batch_size:
        overrides.append(f"train.batch_size={batch_size}")
    run_dir = root / f"{task}-{method}"
    runs.create_run(load_preset(task, method).with_overrides(overrides), run_dir=run_dir)
    runs.start(run_dir)
    st = runs.wait(run_dir)
    if st["phase"] != "done":
        raise RuntimeError(f"{task}/{method} ended '{st['phase']}': {st.get('error')} (see {run_dir / rf.LOG})")
    return run_dir


def flops_per_sample(run_dir: Path, n: int = 16, device: str = "cuda") -> float:
    """Training FLOPs of one example: 3 x its forward FLOPs (backward ~ 2 x forward, the usual MFU convention),
    averaged over ``n`` single unpadded examples of the run's data. Forward only is counted: FlopCounterMode's
    convolution backward ignores groups and counted EfficientNet's depthwise backward ~13x too high."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from tl_core import runfiles as rf
    from tl_core.config import RunConfig
    from tl_core.predict import Predictor

    cfg = RunConfig.from_file(run_dir / rf.CONFIG)
    model = Predictor.from_run(run_dir).model.to(device).eval()
    examples = [json.loads(line) for line in (run_dir / rf.EVAL_PREDICTIONS).read_text().splitlines()[:n]]
    inputs = [_one_input(cfg, run_dir, ex) for ex in examples]
    total = 0.0
    for batch in inputs:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(**{k: v.to(device) for k, v in batch.items()})
        total += 3 * counter.get_total_flops()
    return total / max(1, len(inputs))


def _one_input(cfg: Any, run_dir: Path, example: dict[str, Any]) -> dict[str, Any]:
    import torch
    from transformers import AutoTokenizer

    from tl_core import runfiles as rf

    if cfg.task == "image":
        size = cfg.train.image_size
        return {"pixel_values": torch.randn(1, 3, size, size)}
    tok = AutoTokenizer.from_pretrained(str(run_dir / rf.MODEL))
    if cfg.task == "ner":
        return dict(
            tok(
                [example["tokens"]],
                is_split_into_words=True,
                truncation=True,
                max_length=cfg.train.max_length,
                return_tensors="pt",
            )
        )
    return dict(tok([example["input"]], truncation=True, max_length=cfg.train.max_length, return_tensors="pt"))


def measure(run_dir: Path, peak: float) -> dict[str, Any]:
    from tl_core import runfiles as rf

    results = rf.read_json(run_dir / rf.RESULTS)
    logged = [json.loads(line) for line in (run_dir / rf.METRICS).read_text().splitlines()]
    rates = [r["samples_per_second"] for r in logged if r.get("phase") == "train" and r.get("samples_per_second")]
    rate = statistics.median(rates) if rates else results["timing"]["train_samples_per_second"]
    flops = flops_per_sample(run_dir)
    gpus = results.get("world_size", 1)
    return {
        "samples_per_second": rate,
        "gflops_per_sample": flops / 1e9,
        "mfu": rate * flops / (peak * 1e12 * gpus),
        "peak_memory_mb": results["peak_memory_mb"],
        "bf16": results["bf16"],
        "world_size": gpus,
        "steps": results["steps"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/gpu_check.sh", description=__doc__)
    p.add_argument("--steps", type=int, default=200, help="training steps per preset (default 200)")
    p.add_argument("--batch-size", type=int, default=None, help="global batch (default: the preset's)")
    p.add_argument("--work", type=Path, default=Path(__file__).parent / "results" / "gpu_check_runs")
    ns = p.parse_args(argv)
    import shutil

    peak, source = peak_tflops()
    print(f"bf16 peak {peak:.0f} TFLOP/s ({source})")
    shutil.rmtree(ns.work, ignore_errors=True)
    ns.work.mkdir(parents=True)
    table = {}
    for task, method in PRESETS:
        name = f"{task}-{method}"
        table[name] = measure(run_preset(task, method, ns.steps, ns.batch_size, ns.work), peak)
        row = table[name]
        print(
            f"{name:<12} {row['samples_per_second']:9.1f} samples/s  MFU {row['mfu'] * 100:5.1f}%  "
            f"peak memory {row['peak_memory_mb']:8.0f} MB  ({row['gflops_per_sample']:.2f} GFLOP/sample, "
            f"bf16={row['bf16']})"
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"peak_tflops": peak, "peak_source": source, "presets": table}, indent=2))
    print(f"written: {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
