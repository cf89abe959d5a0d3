"""python -m bench.advisor: does the advisor's estimate hold? Estimate, then measure, each method on each data set.

Same data and settings as the transfer bench (bench/transfer.py: movie reviews 4,000 / 1,000 on bundled MiniLM,
Fashion-MNIST 2,000 / 500 at 64 px on bundled EfficientNet-Lite0; text full 1, LoRA 1, features 10 epochs, image
1 / 1 / 30). For each method the advisor's cost model estimates the run config (tl_core.advise.estimate_config, the
function behind ``advise``'s per-method estimates), then the real run measures it (bench.common.run_ours:
runs.create_run -> runs.start -> wait), right after, so both see the same machine load. The calibration cache is
emptied first (``--keep-calibration`` keeps it), so the calibration's own cost is part of the record. The advisor's
full recommendation (probe included) runs once per data set, and then its recommended method with its recommended
settings runs for real (``--no-follow`` skips it): does following the advice pay, and does the estimate hold for
the multi-epoch config it proposes? Results: bench/results/advisor.json and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from . import common as c
from . import transfer

METHODS = ("features", "lora", "full")
TARGET = 2.0  # the estimate must be within this factor of the measured wall time


def _dataset(task: str) -> Any:
    from tl_core.config import DataConfig

    train, evals = transfer.text_data() if task == "text" else transfer.image_data()
    return DataConfig(train_file=str(train), eval_file=str(evals))


def _overrides(task: str, method: str) -> list[str]:
    return transfer.text_overrides(method) if task == "text" else transfer.image_overrides(method)


def one_dataset(task: str, methods: tuple[str, ...], follow: bool = True) -> dict[str, Any]:
    """The advice for ``task``'s bench data, then per method: estimate, run, compare."""
    from tl_core import advise, models
    from tl_core.config import load_preset

    data = _dataset(task)
    t = time.time()
    advice = advise.advise(task, data)
    advice_s = time.time() - t
    c.say(f"{task}: advice in {advice_s:.0f}s -> {advice['recommended']['method']}: {advice['reason']}")
    processor = models.load_processor(task, None)
    _, profile = advise.profile_data(task, data, processor)
    rows = {}
    for method in methods:
        cfg = load_preset(task, method).with_overrides(_overrides(task, method))
        load0 = c.load_avg()
        t = time.time()
        e = advise.estimate_config(cfg, profile, processor)
        estimate_s = time.time() - t
        name = f"advisor-{task}-{method}"
        run = c.run_ours(name, task, method, _overrides(task, method), env=c.fresh_feature_cache(name))
        rows[method] = {
            "estimate_wall_s": e["wall_s"],
            "measured_wall_s": run["wall_s"],
            "ratio": e["wall_s"] / run["wall_s"],
            "estimate_peak_mb": e["peak_memory_mb"],
            "measured_peak_mb": run["peak_memory_mb"],
            "estimate_parts_s": e["parts_s"],
            "measured_phases_s": run.get("phases_s"),
            "estimate_took_s": estimate_s,
            "steps": (e["steps"], run["steps"]),
            "accuracy": run["accuracy"],
            "load_avg": (load0, run.get("load_avg_start"), run.get("load_avg_end")),
        }
        c.say(f"  {method}: estimate {e['wall_s']:.0f}s, measured {run['wall_s']:.0f}s")
    advice_out = {k: advice[k] for k in ("recommended", "reason", "probe", "estimates", "warnings", "data")}
    followed = follow_advice(task, advice, rows) if follow else None
    return {"advice": advice_out, "advice_s": advice_s, "methods": rows, "followed": followed}


def follow_advice(task: str, advice: dict[str, Any], rows: dict[str, Any]) -> dict[str, Any]:
    """Run what the advisor recommends, with its settings: does the advice pay (accuracy against the rows just
    measured at the bench's fixed epochs), and does its own estimate hold for the multi-epoch config it proposes?"""
    method, settings = advice["recommended"]["method"], advice["recommended"]["settings"]
    overrides = [*_overrides(task, method), *(f"train.{k}={v}" for k, v in settings.items())]
    name = f"advisor-{task}-recommended"
    run = c.run_ours(name, task, method, overrides, env=c.fresh_feature_cache(name))
    estimate = advice["estimates"][method]["wall_s"]
    best_row = max(rows.items(), key=lambda kv: kv[1]["accuracy"]) if rows else (None, {"accuracy": None})
    c.say(
        f"  recommended {method} {settings}: acc {run['accuracy']:.3f}, estimate {estimate:.0f}s, measured {run['wall_s']:.0f}s"
    )
    return {
        "method": method,
        "settings": settings,
        "accuracy": run["accuracy"],
        "estimate_wall_s": estimate,
        "measured_wall_s": run["wall_s"],
        "ratio": estimate / run["wall_s"],
        "best_fixed_row": {"method": best_row[0], "accuracy": best_row[1]["accuracy"]},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.advisor", description=__doc__)
    p.add_argument("--only", default="text,image", help="text, image or both (comma-separated)")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--keep-calibration", action="store_true", help="use the cached calibration if there is one")
    p.add_argument("--reuse", action="store_true", help="take finished runs of an earlier bench (same config)")
    p.add_argument("--no-follow", action="store_true", help="skip running the advisor's recommended config")
    ns = p.parse_args(argv)
    c.REUSE = ns.reuse
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from tl_core import costmodel

    if not ns.keep_calibration:
        costmodel.cache_path().unlink(missing_ok=True)
    # the advice checks this (empty) cache and every measured run gets an empty one: estimates and runs agree that
    # no features are computed yet, whatever earlier benches left in the shared cache
    os.environ["TL_FEATURE_CACHE"] = c.fresh_feature_cache("advisor")["TL_FEATURE_CACHE"]
    c.say(f"advisor bench; load average {os.getloadavg()} on {os.cpu_count()} cores")
    result: dict[str, Any] = {"target_factor": TARGET}
    earlier = c.RESULTS / "advisor.json"
    if earlier.is_file():  # a bench of one data set keeps the other's last results (a busy machine: run in parts)
        old = json.loads(earlier.read_text())
        result.update({k: old[k] for k in ("text", "image") if k in old})
    methods = tuple(m for m in ns.methods.split(",") if m)
    for task in [x for x in ns.only.split(",") if x]:
        result[task] = one_dataset(task, methods, follow=not ns.no_follow)
    result["calibration"] = costmodel.load_cache()
    rows = []
    for task in ("text", "image"):
        for method, r in (result.get(task) or {}).get("methods", {}).items():
            ok = 1 / TARGET <= r["ratio"] <= TARGET
            rows.append(
                [task, method, r["estimate_wall_s"], r["measured_wall_s"], r["ratio"], "ok" if ok else "MISS",
                 r["estimate_peak_mb"], r["measured_peak_mb"], f"{r['load_avg'][0]:.1f}"]
            )  # fmt: skip
        f = (result.get(task) or {}).get("followed")
        if f:
            ok = 1 / TARGET <= f["ratio"] <= TARGET
            rows.append([task, f"advice: {f['method']}", f["estimate_wall_s"], f["measured_wall_s"], f["ratio"],
                         "ok" if ok else "MISS", "", "", ""])  # fmt: skip
    header = ["data", "method", "est_s", "measured_s", "ratio", "within 2x", "est_MB", "peak_MB", "load"]
    c.table("advisor: estimate vs measured wall time", header, rows)
    for task in ("text", "image"):
        f = (result.get(task) or {}).get("followed")
        if f:
            best = f["best_fixed_row"]
            print(f"{task}: following the advice ({f['method']}, {f['settings']}) scored {f['accuracy']:.3f}; "
                  f"best fixed-epoch row {best['method']} {best['accuracy']:.3f}")  # fmt: skip
    print(f"JSON: {c.save('advisor', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
