"""A run's settings as a person reads them: labelled ("LoRA rank", not ``method_params.r``), file names only (never
a server path or a workspace folder), "bundled sample" instead of an empty data file.

Labels come from the ``setting()`` metadata of the config and method dataclasses (config.field_label), so the
form, the error messages and the comparison all call a setting the same thing.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from .config import DataConfig, TrainConfig, field_label
from .methods import METHODS

TOP = {"task": "Task", "method": "Method", "model": "Base model", "revision": "Model revision", "name": "Run name"}
DATA_LABELS = {  # the Data tab's own words for its fields
    "train_file": "Training data",
    "eval_file": "Evaluation data",
    "text_column": "Text column",
    "label_column": "Label column",
    "image_column": "Image column",
    "eval_fraction": "Evaluation share",
    "stratify": "Same class mix in both splits",
    "seed": "Split seed",
    "max_rows": "Row cap",
}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _data_value(name: str, value: Any) -> str:
    if name == "train_file":
        return Path(value).name if value else "bundled sample"
    if name == "eval_file":
        return Path(value).name if value else "a share of the training data"
    if name.endswith("_column"):
        return value or "auto-detected"
    if name == "eval_fraction" and isinstance(value, (int, float)):
        return f"{value:.0%}"
    if name == "max_rows":
        return "all rows" if not value else str(value)
    return _value(value)


def readable_settings(raw: dict[str, Any]) -> dict[str, str]:
    """A run config (config.json as a dict) -> {label: value}, in the page's order: task and model, data,
    training, then the method's own settings."""
    from .registry import method_title, task_title  # registry pulls in the tasks: import when used

    out: dict[str, str] = {
        "Task": task_title(raw.get("task", "")),
        "Method": method_title(raw.get("method", "")),
        "Base model": raw.get("model") or "the task's default",
    }
    for key in ("revision", "name"):
        if raw.get(key):
            out[TOP[key]] = str(raw[key])
    data = raw.get("data") or {}
    for f in dataclasses.fields(DataConfig):
        if f.name in data:
            out[DATA_LABELS.get(f.name, field_label(f))] = _data_value(f.name, data[f.name])
    train = raw.get("train") or {}
    for f in dataclasses.fields(TrainConfig):
        if f.name in train:
            out[field_label(f)] = _value(train[f.name])
    method = METHODS.get(raw.get("method", ""))
    params = raw.get("method_params") or {}
    if method is not None:
        for f in dataclasses.fields(method.params):
            if f.name in params:
                out[field_label(f)] = _value(params[f.name])
    return out


def settings_diff(configs: list[dict[str, Any]], names: list[str]) -> tuple[list[str], list[list[str]]]:
    """The settings that differ between runs: (headers, rows), one row per labelled setting, a column per run."""
    views = [readable_settings(c) for c in configs]
    labels: list[str] = []
    for view in views:
        labels += [k for k in view if k not in labels]
    rows = [[label] + [v.get(label, "–") for v in views] for label in labels]
    differ = [row for row in rows if len(set(row[1:])) > 1]
    return ["setting", *names], differ
