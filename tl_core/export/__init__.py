"""Exports: one folder per finished run that works outside the app, used by the zip download, the Hub push and
``python -m tl_core export``; plus a standalone demo app for it.

export_model() writes the model in a standard format (formats.py), the card (card.py), the public config and
results, then refuses the folder unless it is clean (no pickle, no server path) and its predictions equal the
app's (verify.py).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .hub import REPO_ID_RE, push_folder, push_to_hub, zip_folder, zip_model
from .run_info import FinishedRun, public_config, public_results

if TYPE_CHECKING:
    from .formats import Written

# The model-writing parts (formats, card, verify, demo) import torch, transformers and huggingface_hub: they load
# on the first export, not when the page starts.

__all__ = [
    "REPO_ID_RE",
    "FinishedRun",
    "export_demo",
    "export_model",
    "public_config",
    "push_folder",
    "push_to_hub",
    "stage",
    "zip_folder",
    "zip_model",
]


def export_model(run_dir: str | Path, out: str | Path, merge: bool = True, check: bool = True) -> Path:
    """Write the run's portable model folder to ``out`` (replaced if it exists) and return it."""
    from . import verify
    from .formats import write_model

    run = FinishedRun.load(run_dir)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))
    try:
        written = write_model(run, staging, merge)
        _write_extras(run, written, staging)
        verify.drop_pickles(staging)
        verify.scrub_paths(staging)
        verify.check_clean(staging, run)
        if check:
            verify.check_predictions(staging, run, written.library)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _write_extras(run: FinishedRun, written: Written, folder: Path) -> None:
    from .card import model_card

    model_card(run, written).save(str(folder / "README.md"))
    (folder / "training_config.yaml").write_text(yaml.safe_dump(public_config(run), sort_keys=False), encoding="utf-8")
    (folder / "results.json").write_text(json.dumps(public_results(run), indent=2, default=str), encoding="utf-8")
    (folder / "tl_export.json").write_text(
        json.dumps(
            {
                "task": run.task,
                "method": run.method,
                "library": written.library,
                "pipeline_tag": written.pipeline_tag,
                "labels": run.labels,
                "base_model": run.base_hub_id,
            },
            indent=2,
        ),
        encoding="utf-8",
    )


def stage(run_dir: str | Path, dest: str | Path, merge: bool = True) -> Path:
    """The folder a zip or a push carries (kept for callers that named it so)."""
    return export_model(run_dir, dest, merge)


def export_demo(run_dir: str | Path, out: str | Path) -> Path:
    """A standalone demo app for the run (its export in ``model/``), ready to run or to push as a Space."""
    from . import verify
    from .demo import write_demo
    from .formats import Written

    run = FinishedRun.load(run_dir)
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix=".demo-", dir=out.parent if out.parent.exists() else None) as tmp:
        model = export_model(run_dir, Path(tmp) / "model")
        info = json.loads((model / "tl_export.json").read_text())
        written = Written(info["library"], info["pipeline_tag"])
        if out.exists():
            shutil.rmtree(out)
        return write_demo(run, model, written, out, verify.sample_inputs(run, 5))
