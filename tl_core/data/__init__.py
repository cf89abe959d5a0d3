"""Uploads -> standardised ``datasets.Dataset`` splits, plus a validation report built before any model loads.

Every problem is collected into one :class:`ValidationReport` (errors block a run, warnings do not), so a user
sees all of them at once instead of fixing one stack trace at a time. Output columns per task:
text ``id, text, label``; image ``id, image`` (absolute path, not decoded) ``, label``; ner ``id, tokens, tags``.

One module per step: ``tables`` (+ ``parquet``, ``jsonfiles``), ``images`` (+ ``archives``) and ``ner_formats``
read a task's files into the row table of ``formats``; ``columns`` guesses which column is which; ``validate``
checks; ``split`` splits and encodes. ``limits`` holds what one upload may cost (bytes, rows, columns, line length):
every reader checks it before or while parsing, so a small hostile file cannot take the memory of a shared Space.
The training columns of the file come back in ``report.stats["source_columns"]`` (no second read for the pickers).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import datasets
import pandas as pd

from ..config import DataConfig
from ..errors import DataError
from ..samples import sample_path
from . import hub_datasets
from .archives import safe_extract_zip
from .columns import (
    IMAGE_HINTS,
    LABEL_HINTS,
    MAX_CLASSES,
    TAG_HINTS,
    TEXT_HINTS,
    TOKEN_HINTS,
    detect_columns,
)
from .formats import CONLL_EXTS, IMAGE_EXTS, NER_JSON_EXTS, TABLE_EXTS, _empty_rows
from .images import _read_image, load_rgb
from .ner_formats import _read_ner
from .split import _cap, _hash, _split, _to_dataset, suggest_max_rows
from .tables import _read_text, read_table
from .validate import (
    IMBALANCE_RATIO,
    TRUNCATION_WARN,
    Problem,
    ValidationReport,
    _check_labels,
    _warn_duplicates,
    _warn_overlap,
    add_truncation_stats,
    merge_split_variants,
    sort_labels,
)

__all__ = [
    "CONLL_EXTS",
    "IMAGE_EXTS",
    "IMAGE_HINTS",
    "IMBALANCE_RATIO",
    "LABEL_HINTS",
    "MAX_CLASSES",
    "NER_JSON_EXTS",
    "TABLE_EXTS",
    "TAG_HINTS",
    "TEXT_HINTS",
    "TOKEN_HINTS",
    "TRUNCATION_WARN",
    "Problem",
    "TaskData",
    "ValidationReport",
    "add_truncation_stats",
    "detect_columns",
    "load_rgb",
    "load_task_data",
    "read_table",
    "safe_extract_zip",
    "sort_labels",
]


@dataclass
class TaskData:
    train: datasets.Dataset
    eval: datasets.Dataset
    labels: list[str]  # class names (text/image) or BIO tags with "O" first (ner)
    report: ValidationReport
    columns: dict[str, str]  # source column mapping actually used, e.g. {"text": "review", "label": "sentiment"}
    data_hash: str  # sha256 over normalised train+eval content and labels (feature-cache key)


_READERS = {"text": _read_text, "image": _read_image, "ner": _read_ner}


def load_task_data(
    task: str, data: DataConfig, work_dir: Path | None = None, *, validate_only: bool = False
) -> TaskData:
    """Read, validate, split and encode the data for ``task``.

    Raises one DataError listing every blocking problem, unless ``validate_only`` (then the caller gets whatever
    could be built, possibly empty datasets, plus the report to display).
    """
    if task not in _READERS:
        raise DataError(f"Unknown task '{task}'. Choose one of: {', '.join(_READERS)}.")
    work_dir = Path(work_dir) if work_dir else None
    if hub_datasets.is_hub(data.train_file) or hub_datasets.is_hub(data.eval_file):
        data = hub_datasets.resolve(task, data)  # written once as the files an upload would be, then read as one
    report = ValidationReport()
    train_path = Path(data.train_file).expanduser() if data.train_file else sample_path(task, work_dir)
    stats = report.stats
    stats.update(task=task, source=train_path.name, empty_rows=0, duplicates=0, overlap=0)
    train, eval_rows, columns = _read_splits(task, train_path, data, report, work_dir)
    train = _apply_max_rows(train, data, task, report)
    train = train if train is not None else _empty_rows()
    eval_rows = eval_rows if eval_rows is not None else _empty_rows()
    if task != "ner" and len(train):
        train, eval_rows = merge_split_variants(train, eval_rows, report)
    labels = _check_labels(train, eval_rows, task, report) if len(train) else []
    stats["overlap"] = _warn_overlap(train, eval_rows, report) if len(train) and len(eval_rows) else 0
    stats["splits"] = {"train": len(train), "eval": len(eval_rows)}
    stats["num_labels"] = len(labels)
    train_ds, eval_ds = _to_dataset(train, task, labels), _to_dataset(eval_rows, task, labels)
    result = TaskData(train_ds, eval_ds, labels, report, columns, _hash(task, labels, train, eval_rows))
    if not validate_only:
        report.raise_if_blocking()
    return result


def _read_splits(
    task: str, train_path: Path, data: DataConfig, report: ValidationReport, work_dir: Path | None
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, dict[str, str]]:
    """Training rows, evaluation rows (the eval file, or a held-out share of training) and the columns used."""
    reader, stats = _READERS[task], report.stats
    train, columns = reader(train_path, data, report, work_dir, "training")
    eval_rows: pd.DataFrame | None = None
    if data.eval_file:
        eval_data = _with_columns(data, task, columns)
        eval_rows, _ = reader(Path(data.eval_file).expanduser(), eval_data, report, work_dir, "evaluation")
        stats["eval_source"] = Path(data.eval_file).name
    if train is not None:
        stats["duplicates"] = _warn_duplicates(train, train_path.name, task, report)
    if train is not None and eval_rows is None and not data.eval_file:
        train, eval_rows = _split(train, data, task, report)
        stats["eval_source"] = f"{data.eval_fraction:.0%} of {train_path.name}"
    return train, eval_rows, columns


def _apply_max_rows(
    train: pd.DataFrame | None, data: DataConfig, task: str, report: ValidationReport
) -> pd.DataFrame | None:
    """Cap the training rows at ``data.max_rows`` (after the split, so evaluation keeps its size)."""
    if data.max_rows is not None and data.max_rows < 1:
        report.add_error(
            f"The row cap must be at least 1 (got {data.max_rows}); leave it empty to use all rows.",
            cli_hint="data.max_rows",
        )
    elif train is not None and data.max_rows and len(train) > data.max_rows:
        report.stats["rows_before_max_rows"] = len(train)
        train = _cap(train, data, task)
    offer = suggest_max_rows(task, len(train), data) if train is not None else None
    if offer:  # a suggestion, not a problem: the Data tab shows it with a button that sets max_rows
        report.stats["suggested_max_rows"], report.stats["suggestion"] = offer
    return train


def _with_columns(data: DataConfig, task: str, columns: dict[str, str]) -> DataConfig:
    """The eval file must use the training file's columns; pass them on as explicit choices."""
    if task == "ner":
        return data
    return dataclasses.replace(
        data,
        text_column=columns.get("text", data.text_column),
        label_column=columns.get("label", data.label_column),
        image_column=columns.get("image", data.image_column),
    )
