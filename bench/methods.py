"""Issue 11's methods bench: which fine-tuning method to choose, measured through our real run path.

Full fine-tuning, full with the bottom half of the blocks frozen, full with layer-wise learning-rate decay, LP-FT
(linear probe first), features (frozen backbone + head) and LoRA, on the movie reviews (bundled MiniLM, 4,000 /
1,000) and Fashion-MNIST (bundled EfficientNet-Lite0, 2,000 / 500 at 64 px), each over several training seeds
(same data split). Every run is a real ``accelerate launch`` subprocess (runs.create_run -> runs.start), with the
transfer bench's epochs (full / LoRA 1, features 10 / 30), so rows compare with bench/transfer.py's. Features runs
get an empty feature cache each, so every seed pays the extraction a first run on new data pays.

    python -m bench.methods [--seeds 5] [--quick] [--reuse] [--only text,image]

Writes bench/results/methods.json; bench/README.md has the last measured table and what it means.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

from . import common as c
from . import transfer

# row -> (method, method_params overrides). Half of the blocks frozen: MiniLM has 6 layers, EfficientNet-Lite0
# 7 stages (its first three hold under 2% of the weights but run at the highest resolution).
ROWS: dict[str, tuple[str, dict[str, list[str]]]] = {
    "full": ("full", {}),
    "freeze-half": (
        "full",
        {"text": ["method_params.freeze_layers=3"], "image": ["method_params.freeze_layers=3"]},
    ),
    "layer-decay 0.8": (
        "full",
        {"text": ["method_params.layer_lr_decay=0.8"], "image": ["method_params.layer_lr_decay=0.8"]},
    ),
    "lp-ft": ("full", {"text": ["method_params.lp_ft=true"], "image": ["method_params.lp_ft=true"]}),
    "features": ("features", {}),
    "lora": ("lora", {}),
}
QUICK_ROWS = ("full", "freeze-half", "lp-ft", "features")


def overrides(task: str, row: str, seed: int) -> list[str]:
    method, extra = ROWS[row]
    base = transfer.text_overrides(method) if task == "text" else transfer.image_overrides(method)
    return [*base, *extra.get(task, []), f"train.seed={seed}"]


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    acc = [r["accuracy"] for r in records]
    wall = [r["wall_s"] for r in records]
    return {
        "accuracy_mean": statistics.fmean(acc),
        "accuracy_sd": statistics.stdev(acc) if len(acc) > 1 else None,
        "wall_s_mean": statistics.fmean(wall),
        "train_s_mean": statistics.fmean(r["train_s"] for r in records),
        "seeds": len(records),
        "trainable_params": records[0]["params"]["trainable"],
        "runs": records,
    }


def run_task(task: str, rows: list[str], seeds: int, result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = result.setdefault(task, {})
    for row in rows:
        method = ROWS[row][0]
        records = []
        for i in range(seeds):
            seed = 42 + i
            name = f"methods-{task}-{row.replace(' ', '')}-s{seed}"
            env = c.fresh_feature_cache(name) if method == "features" else None
            records.append(c.run_ours(name, task, method, overrides(task, row, seed), env=env))
        out[row] = summarise(records)
        c.save("methods", {**result, "partial": True})  # what is done survives an interruption
    return out


def fmt_acc(s: dict[str, Any]) -> str:
    sd = s["accuracy_sd"]
    return f"{s['accuracy_mean']:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.methods", description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=None, help="training seeds per row, 1-5 (default 5, quick 1)")
    p.add_argument("--quick", action="store_true", help="1 seed, 1,000 sentences / 500 images, fewer rows")
    p.add_argument("--reuse", action="store_true", help="reuse finished runs of an earlier bench with the same config")
    p.add_argument("--only", default="text,image", help="comma-separated tasks: text, image")
    ns = p.parse_args(argv)
    c.QUICK, c.REUSE = ns.quick, ns.reuse
    seeds = ns.seeds or (1 if ns.quick else 5)
    if not 1 <= seeds <= 5:
        p.error("--seeds takes 1 to 5")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    rows = list(QUICK_ROWS if ns.quick else ROWS)
    tasks = [t.strip() for t in ns.only.split(",") if t.strip()]
    t0 = time.time()
    c.say(f"methods bench: {tasks} x {rows}, {seeds} seed(s){' (quick)' if ns.quick else ''}")
    result: dict[str, Any] = {"seeds": seeds, "rows": {r: ROWS[r][0] for r in rows}, "epochs": transfer.EPOCHS}
    for task in tasks:
        run_task(task, rows, seeds, result)
        data = "MiniLM, reviews 4000/1000" if task == "text" else "EfficientNet-Lite0, Fashion-MNIST 2000/500 @ 64px"
        table_rows = [
            [row, fmt_acc(s), s["wall_s_mean"], s["train_s_mean"], s["trainable_params"]]
            for row, s in result[task].items()
        ]
        c.table(f"methods: {task} ({data})", ["row", "accuracy", "wall_s", "train_s", "trainable"], table_rows)
    result["total_s"] = time.time() - t0
    path = c.save("methods", result)
    c.say(f"done in {result['total_s']:.0f}s; {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
