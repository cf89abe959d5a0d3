"""Shared bench plumbing: run our real path (runs.start -> accelerate launch subprocess), run a baseline script
in its own process, measure matmul peaks, keep results, print tables."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
WORK = RESULTS / "work"  # run folders of this bench (recreated on each bench run)
QUICK = False  # set by __main__ --quick: fewer rows, fewer epochs
REUSE = False  # set by __main__ --reuse: take finished runs of an earlier bench from WORK when their config matches

_MEMO: dict[str, Any] = {}
SEEDS = 5  # training seeds for the (a) accuracy comparison; --quick uses 1


def memo(key: str, fn: Callable[[], Any]) -> Any:
    """Measure once per bench process: pieces share runs (speed reuses the transfer bench's full/LoRA runs)."""
    if key not in _MEMO:
        _MEMO[key] = fn()
    return _MEMO[key]


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_avg() -> float:
    return os.getloadavg()[0]


def fresh_dir(name: str) -> Path:
    path = WORK / name
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 2**20


# --- our path -----------------------------------------------------------------------------------------------------
def run_ours(
    name: str,
    task: str,
    method: str,
    overrides: list[str],
    *,
    model: str | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One real run: preset + overrides -> runs.create_run -> runs.start (accelerate launch subprocess) -> wait.

    Wall time is from start() to the process exit, so it includes process start, imports, data loading and
    validation, model load, (feature extraction), training, per-epoch evaluation + checkpoint, final evaluation
    and saving. The phase timeline is sampled from status.json every 0.1 s.
    """
    from tl_core import runfiles as rf
    from tl_core import runs
    from tl_core.config import load_preset

    cfg = load_preset(task, method)
    if model:
        overrides = [f"model={model}", *overrides]
    cfg = cfg.with_overrides([o for o in overrides if not o.startswith("model=")])
    if model:
        cfg.model = model
    if REUSE:
        old = _reuse(WORK / name, cfg.to_dict())
        if old is not None:
            say(
                f"ours {name}: reusing the finished run in {WORK / name} (acc {old['accuracy']:.3f}, wall {old['wall_s']:.1f}s)"
            )
            return old
    run_dir = fresh_dir(name)
    runs.create_run(cfg, run_dir=run_dir)
    load0 = load_avg()
    say(f"ours {name}: {task}/{method} {' '.join(overrides)} (load {load0:.1f})")
    t0 = time.time()
    runs.start(run_dir, env=env)
    phases: dict[str, float] = {}
    while True:
        st = rf.read_json(run_dir / rf.STATUS, {}) or {}
        phase = st.get("phase")
        if phase and phase not in phases:
            phases[phase] = time.time() - t0
        if phase in rf.FINAL_PHASES and not runs._alive(st.get("pid")):
            break
        time.sleep(0.1)
    wall = time.time() - t0
    if phase != "done":
        raise RuntimeError(f"{name} ended '{phase}': {st.get('error')} (see {run_dir / rf.LOG})")
    out = run_record(
        run_dir, name, wall, overrides=overrides, phases_s=phases, load_avg_start=load0, load_avg_end=load_avg()
    )
    (run_dir / "bench.json").write_text(json.dumps(out, indent=2, default=str))
    say(f"  -> acc {out['accuracy']:.3f}, wall {wall:.1f}s, train {out['train_s']:.1f}s")
    return out


def fresh_feature_cache(name: str) -> dict[str, str]:
    """An environment that gives a run an empty feature cache of its own, so a features run pays its extraction
    like a first run on new data (the shared cache would otherwise serve every later seed, and the other benches'
    runs on the same data, from the first one's features)."""
    folder = WORK / f"{name}.feature-cache"
    shutil.rmtree(folder, ignore_errors=True)
    return {"TL_FEATURE_CACHE": str(folder)}


def _reuse(run_dir: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The bench record of a finished run with the same config (rebuilt from the run files when an interrupted
    bench left no bench.json: wall from status.json launched -> finished, phases unknown)."""
    from tl_core import runfiles as rf

    if rf.read_json(run_dir / rf.CONFIG) != json.loads(json.dumps(config)):
        return None
    saved = rf.read_json(run_dir / "bench.json")
    if saved:
        return saved
    st, res = rf.read_json(run_dir / rf.STATUS, {}) or {}, rf.read_json(run_dir / rf.RESULTS)
    if st.get("phase") != "done" or not res or not st.get("launched"):
        return None
    return run_record(
        run_dir,
        run_dir.name,
        st["finished"] - st["launched"],
        reused=True,
        phases_s={},
        load_avg_start=None,
        load_avg_end=None,
    )


def run_record(run_dir: Path, name: str, wall_s: float, **extra: Any) -> dict[str, Any]:
    """The bench record of a finished run, from its results.json and metrics.jsonl (one shape for measured and
    reused runs)."""
    from tl_core import runfiles as rf

    res = rf.read_json(run_dir / rf.RESULTS)
    metrics, _ = rf.read_metrics(run_dir)
    return {
        "name": name,
        "kind": "ours",
        "task": res["task"],
        "method": res["method"],
        "wall_s": wall_s,
        "accuracy": res["metrics"]["accuracy"],
        "f1_macro": res["metrics"].get("f1_macro"),
        "train_s": res["timing"]["train_s"],
        "total_s_in_process": res["timing"]["total_s"],
        "bf16": res["bf16"],
        "params": res["params"],
        "peak_memory_mb": res["peak_memory_mb"],
        "artifact_mb": dir_mb(run_dir / rf.MODEL),
        "steps": res["steps"],
        "epochs": res["epochs_run"],
        "n_train": res["data"]["train"],
        "n_eval": res["data"]["eval"],
        "loop_step_s": train_step_seconds(metrics),
        "features": res.get("features"),
        "run_dir": str(run_dir),
        **extra,
    }


def train_step_seconds(records: list[dict[str, Any]]) -> float | None:
    """Mean seconds per optimiser step inside the training loop only (from metrics.jsonl train records, the
    first interval and any interval containing an evaluation/checkpoint excluded)."""
    train = [r for r in records if r.get("phase") == "train"]
    spans = []
    prev = None
    for r in records:
        if r.get("phase") == "eval":
            prev = None  # an evaluation + checkpoint happened in this interval: don't count it
            continue
        if r.get("phase") != "train":
            continue
        if prev is not None and r["step"] > prev["step"]:
            spans.append((r["time"] - prev["time"], r["step"] - prev["step"]))
        prev = r
    if not spans and len(train) < 2:
        return None
    secs, steps = sum(s for s, _ in spans), sum(n for _, n in spans)
    return secs / steps if steps else None


# --- baselines ----------------------------------------------------------------------------------------------------
def run_baseline(name: str, kind: str, args: list[str]) -> dict[str, Any]:
    """``python -m bench.baselines KIND ...`` in its own process; wall from spawn to exit."""
    cmd_args = [kind, *args]
    if REUSE:
        old = json.loads((WORK / name / "bench.json").read_text()) if (WORK / name / "bench.json").is_file() else None
        if old and old.get("cmd_args") == cmd_args:
            say(f"baseline {name}: reusing the earlier result (acc {old['accuracy']:.3f}, wall {old['wall_s']:.1f}s)")
            return old
    work = fresh_dir(name)
    out = work / "result.json"
    cmd = [sys.executable, "-m", "bench.baselines", kind, "--out", str(out), "--work", str(work), *args]
    load0 = load_avg()
    say(f"baseline {name}: {kind} {' '.join(args[:0])}(load {load0:.1f})")
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "TRANSFORMERS_VERBOSITY": "error"}
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=str(PROJECT), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.time() - t0
    (work / "log.txt").write_text(proc.stdout)
    if proc.returncode != 0:
        raise RuntimeError(f"baseline {name} failed:\n{proc.stdout[-3000:]}")
    res = json.loads(out.read_text())
    res.update(
        name=name,
        kind="baseline",
        wall_s=wall,
        load_avg_start=load0,
        load_avg_end=load_avg(),
        artifact_mb=dir_mb(work / "model") if (work / "model").exists() else None,
        cmd_args=cmd_args,
    )
    (work / "bench.json").write_text(json.dumps(res, indent=2, default=str))
    say(f"  -> acc {res['accuracy']:.3f}, wall {wall:.1f}s, train {res['train_s']:.1f}s")
    return res


# --- hardware -----------------------------------------------------------------------------------------------------
def matmul_peaks(n: int = 1024, reps: int = 20) -> dict[str, float]:
    """GFLOP/s of an n^3 matmul in fp32 and bf16 (best of 3 timings), with torch's default thread count."""
    import torch

    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        for _ in range(3):
            a @ b
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(reps):
                a @ b
            best = min(best, time.perf_counter() - t)
        out[f"{name}_gflops"] = 2 * n**3 * reps / best / 1e9
    out["threads"] = torch.get_num_threads()
    return out


# --- output -------------------------------------------------------------------------------------------------------
def save(piece: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{piece}.json"
    data = {
        "piece": piece,
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "quick": QUICK,
        "load_avg": os.getloadavg(),
        "cpus": os.cpu_count(),
        **data,
    }
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    out = [f"\n== {title} ==", line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    text = "\n".join(out)
    print(text, flush=True)
    return text


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None
