"""Data at scale: peak memory and time of a run's preparation (load + validate + split + tokenise/decode, i.e.
``tl_core.training.prepare``, everything a run does before training) for growing synthesised data.

    .venv/bin/python -m bench.data_scale                          # 10k/100k/1M texts, 10k/50k images at 224 px
    .venv/bin/python -m bench.data_scale --text 10000,100000 --images 2000,10000 --image-size 64

Each size runs in a fresh process (``--child``), so imports and allocator state never carry over; the child reports
its own peak RSS (VmHWM) and the peak RSS of the worker processes datasets.map started (RUSAGE_CHILDREN).
Ratios are against the smallest size measured in the same run. Results: bench/results/data_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import common as c

DATA = c.RESULTS / "data" / "scale"
WORDS = "good bad great awful plot actor scene film slow fast funny dull story music ending boring moving".split()
CLASSES = ("pos", "neg", "mixed")


def text_csv(rows: int) -> Path:
    """``rows`` short reviews (6-30 words) with 3 labels; seeded and kept between bench runs."""
    path = DATA / f"text-{rows}.csv"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(rows)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        f.write("text,label\n")
        for i in range(rows):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 30)))
            f.write(f"review {i} {words},{CLASSES[i % 3]}\n")  # the number keeps every text unique
    tmp.rename(path)
    return path


def image_folder(count: int) -> Path:
    """``count`` distinct 32x32 noise PNGs in 3 class folders; seeded and kept between bench runs."""
    import numpy as np
    from PIL import Image

    root = DATA / f"images-{count}"
    if root.is_dir():
        return root
    tmp = DATA / f".images-{count}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    rng = np.random.default_rng(count)
    for i in range(count):
        folder = tmp / CLASSES[i % 3]
        if i < 3:
            folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:07d}.png", compress_level=1)
    tmp.rename(root)
    return root


def child(task: str, source: str, image_size: int, run_dir: str) -> dict[str, Any]:
    """In a fresh process: write a run folder's config and run ``prepare`` on it, as the run process does."""
    t0 = time.perf_counter()
    from tl_core.config import DataConfig, RunConfig, TrainConfig
    from tl_core.training.context import RunFolder
    from tl_core.training.prepare import prepare

    imports_s = time.perf_counter() - t0
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    cfg = RunConfig(
        task=task, method="full", data=DataConfig(train_file=source), train=TrainConfig(image_size=image_size)
    )
    cfg.save(run / "config.json")
    t1 = time.perf_counter()
    prep = prepare(RunFolder(run))
    prepare_s = time.perf_counter() - t1
    return {
        "rows": len(prep.train_ds) + len(prep.eval_ds),
        "imports_s": round(imports_s, 2),
        "prepare_s": round(prepare_s, 2),
        "peak_rss_mb": round(_vm_hwm_kb() / 1024, 1),
        "peak_worker_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "cache_files": len(prep.train_ds.cache_files) + len(prep.eval_ds.cache_files),
        "cache_mb": round(c.dir_mb(run / "data" / "prepared"), 1),
    }


def _vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: ru_maxrss (kB on Linux, bytes on macOS)


def measure(task: str, size: int, source: Path, image_size: int) -> dict[str, Any]:
    """One size in its own process; its run folder is deleted afterwards (50k images at 224 px are 7.5 GB)."""
    run_dir = c.WORK / f"data-scale-{task}-{size}"
    shutil.rmtree(run_dir, ignore_errors=True)
    env = {**os.environ, "TL_MAX_ROWS": str(max(2_000_000, size * 2)), "TRANSFORMERS_VERBOSITY": "error"}
    cmd = [sys.executable, "-m", "bench.data_scale", "--child", task, str(source), str(image_size), str(run_dir)]
    load = c.load_avg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=str(c.PROJECT), env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    shutil.rmtree(run_dir, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{task} {size}: child failed\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"task": task, "size": size, "wall_s": round(wall, 2), "load_avg_start": round(load, 2), **result}


def with_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Size, time and memory ratios against the smallest size of the same task in this run."""
    for task in {r["task"] for r in rows}:
        mine = sorted((r for r in rows if r["task"] == task), key=lambda r: r["size"])
        base = mine[0]
        for r in mine:
            r["size_x"] = round(r["size"] / base["size"], 2)
            r["time_x"] = round(r["prepare_s"] / base["prepare_s"], 2)
            r["rss_x"] = round(r["peak_rss_mb"] / base["peak_rss_mb"], 2)
            r["s_per_1k_rows"] = round(1000 * r["prepare_s"] / r["size"], 3)
    return rows


def table(rows: list[dict[str, Any]], image_size: int) -> str:
    head = (
        "| data | rows | prepare s | s / 1k rows | peak RSS MB | worker peak MB | size x | time x | RSS x |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        what = "text CSV" if r["task"] == "text" else f"PNG folder -> {image_size} px"
        lines.append(
            f"| {what} | {r['size']:,} | {r['prepare_s']} | {r['s_per_1k_rows']} | {r['peak_rss_mb']} | "
            f"{r['peak_worker_rss_mb']} | {r['size_x']} | {r['time_x']} | {r['rss_x']} |"
        )
    return "\n".join(lines)


def save(out: Path, rows: list[dict[str, Any]], image_size: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"image_size": image_size, "cpus": os.cpu_count(), "rows": rows}, indent=1))


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.replace("_", "").split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.data_scale", description=__doc__)
    p.add_argument("--text", default="10000,100000,1000000", help="text row counts, comma-separated ('' = none)")
    p.add_argument("--images", default="10000,50000", help="image counts, comma-separated ('' = none)")
    p.add_argument("--image-size", type=int, default=224, help="decode size in px (the default train.image_size)")
    p.add_argument("--out", default=str(c.RESULTS / "data_scale.json"))
    p.add_argument("--child", nargs=4, metavar=("TASK", "SOURCE", "IMAGE_SIZE", "RUN_DIR"), help=argparse.SUPPRESS)
    ns = p.parse_args(argv)
    if ns.child:
        task, source, size, run_dir = ns.child
        print(json.dumps(child(task, source, int(size), run_dir)))
        return 0
    rows = []
    for task, sizes, make in (("text", _sizes(ns.text), text_csv), ("image", _sizes(ns.images), image_folder)):
        for size in sizes:
            c.say(f"{task} {size:,}: synthesising")
            source = make(size)
            c.say(f"{task} {size:,}: preparing in a fresh process")
            rows.append(measure(task, size, source, ns.image_size))
            c.say(f"{task} {size:,}: {rows[-1]}")
            save(Path(ns.out), with_ratios(rows), ns.image_size)  # after every size: a long run keeps what it has
    print(table(with_ratios(rows), ns.image_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
