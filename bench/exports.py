"""python -m bench.exports: does every task x method export load outside the app and predict like it?

For each task x method on the bundled models and samples (a short run: ``--steps`` optimizer steps), export the
run, load the export with the library its card names (transformers ``pipeline()``, or sentence-transformers for
mean-pooled text features) and count the evaluation rows whose top label equals the app's (the baseline measured
in the same run). Writes bench/results/exports.json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import common as c


def agreement(run_dir: Path, folder: Path, task: str) -> tuple[float, bool]:
    """(share of eval rows where the export's top prediction equals the app's, whether pipeline() loads it)."""
    from tl_core.export import verify
    from tl_core.export.run_info import FinishedRun
    from tl_core.predict import Predictor

    run = FinishedRun.load(run_dir)
    inputs = verify.sample_inputs(run, limit=None)
    app = verify.predictions(Predictor.from_run(run_dir), inputs, run)
    exported = verify.exported_predictions(folder, run, inputs)
    in_pipeline = json.loads((folder / "tl_export.json").read_text())["pipeline_tag"] is not None
    if task == "ner":
        return sum(a == e for a, e in zip(app, exported)) / max(1, len(inputs)), in_pipeline
    return float((app.argmax(-1) == exported.argmax(-1)).mean()), in_pipeline


def one(task: str, method: str, steps: int) -> dict:
    from tl_core import export, runs, train
    from tl_core.config import load_preset

    cfg = load_preset(task, method).with_overrides([f"train.max_steps={steps}"])
    run_dir = runs.create_run(cfg, run_dir=c.WORK / f"export-{task}-{method}")
    t0 = time.time()
    assert train.run(run_dir) == 0, (run_dir / "status.json").read_text()
    train_s = time.time() - t0
    t0 = time.time()
    folder = export.export_model(run_dir, c.WORK / f"export-{task}-{method}-out")
    export_s = time.time() - t0
    share, in_pipeline = agreement(run_dir, folder, task)
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20
    library = json.loads((folder / "tl_export.json").read_text())["library"]
    return {
        "task": task,
        "method": method,
        "library": library,
        "loads_in_pipeline": in_pipeline,
        "agreement_with_app": share,
        "export_mb": round(size, 1),
        "train_s": round(train_s, 1),
        "export_s": round(export_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.exports", description=__doc__)
    p.add_argument("--steps", type=int, default=20, help="optimizer steps per run (default 20)")
    p.add_argument("--tasks", default="text,ner,image", help="comma-separated subset of text,ner,image")
    ns = p.parse_args(argv)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    c.WORK.mkdir(parents=True, exist_ok=True)
    tasks = [t for t in ("text", "ner", "image") if t in ns.tasks.split(",")]
    rows = [one(t, m, ns.steps) for t in tasks for m in ("features", "lora", "full")]
    (c.RESULTS / "exports.json").write_text(json.dumps(rows, indent=2))
    print("| task | method | format | loads in pipeline() | agreement with the app | export MB | export s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['task']} | {r['method']} | {r['library']} | {'yes' if r['loads_in_pipeline'] else 'no (refuses)'}"
            f" | {r['agreement_with_app']:.3f} | {r['export_mb']} | {r['export_s']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
