"""From checked rows to datasets: the seeded (stratified) evaluation split, the row cap, encoding, the data hash."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter

import datasets
import numpy as np
import pandas as pd

from ..config import DataConfig
from .validate import ValidationReport, sort_labels


def _can_stratify(y: list[str], n_eval: int, n_train: int) -> str | None:
    """None if a stratified split is possible, else why not (in words)."""
    counts = Counter(y)
    rare = [label for label, n in counts.items() if n < 2]
    if rare:
        return f"class '{sort_labels(rare)[0]}' has only 1 example"
    if n_eval < len(counts) or n_train < len(counts):
        return f"a split of {min(n_eval, n_train)} examples cannot hold all {len(counts)} classes"
    return None


def _split(
    rows: pd.DataFrame, data: DataConfig, task: str, report: ValidationReport
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out ``eval_fraction`` (stratified by class where possible), seeded and in source order."""
    from sklearn.model_selection import train_test_split

    report.stats["stratified"] = False
    if not 0 < data.eval_fraction < 1:
        report.add_error(
            f"The evaluation share must be between 0% and 100% (got {data.eval_fraction:.0%}). "
            f"Use e.g. 20%, or upload a separate evaluation file.",
            cli_hint="data.eval_fraction (e.g. 0.2) or data.eval_file",
        )
        return rows, rows.iloc[:0]
    n = len(rows)
    if n < 2:
        report.add_error(
            f"Only {n} usable example{'s' if n != 1 else ''}: at least 2 are needed (one to train on, "
            f"one to evaluate). Add more examples."
        )
        return rows, rows.iloc[:0]
    n_eval = min(max(1, math.ceil(n * data.eval_fraction)), n - 1)
    stratify = None
    if task != "ner" and data.stratify:
        y = list(rows["y"])
        why_not = _can_stratify(y, n_eval, n - n_eval)
        if why_not is None:
            stratify = y
            report.stats["stratified"] = True
        elif len(set(y)) > 1:
            report.add_warning(
                f"The evaluation split is random, not stratified, because {why_not}. "
                f"Add more examples of rare classes or provide a separate evaluation file."
            )
    train_idx, eval_idx = train_test_split(np.arange(n), test_size=n_eval, random_state=data.seed, stratify=stratify)
    return rows.iloc[np.sort(train_idx)].reset_index(drop=True), rows.iloc[np.sort(eval_idx)].reset_index(drop=True)


def _cap(rows: pd.DataFrame, data: DataConfig, task: str) -> pd.DataFrame:
    """Keep ``max_rows`` training rows, stratified by class where possible (seeded)."""
    from sklearn.model_selection import train_test_split

    y = list(rows["y"])
    keep = data.max_rows
    stratify = y if task != "ner" and _can_stratify(y, len(rows) - keep, keep) is None else None
    idx, _ = train_test_split(np.arange(len(rows)), train_size=keep, random_state=data.seed, stratify=stratify)
    return rows.iloc[np.sort(idx)].reset_index(drop=True)


# Above these many training rows a first run on everything is slow on a small machine: on 2 CPU cores a MiniLM
# epoch over 20,000 texts takes ~7 min, and EfficientNet-Lite0 over 5,000 images at 224 px about as long
# (bench/README.md, speed). A seeded, stratified sample (``max_rows``) answers "does this work at all?" in minutes.
SUGGEST_SAMPLE_ABOVE = {"text": 20_000, "ner": 20_000, "image": 5_000}
SUGGESTED_SAMPLE = {"text": 5_000, "ner": 5_000, "image": 1_000}


def suggest_max_rows(task: str, n_train: int, data: DataConfig) -> tuple[int, str] | None:
    """(rows, message) offering a ``max_rows`` sample for a quick first run when the training data is big and no
    smaller cap is set; None otherwise."""
    above, rows = SUGGEST_SAMPLE_ABOVE.get(task), SUGGESTED_SAMPLE.get(task)
    if above is None or rows is None or n_train <= above or (data.max_rows and data.max_rows <= above):
        return None
    what = "images" if task == "image" else "sentences" if task == "ner" else "texts"
    message = (
        f"This is a lot of data: {n_train:,} training {what}. Training on all of them can take hours on a small "
        f"machine. For a quick first run, use a sample of {rows:,} (max_rows = {rows}): the same class mix, the same "
        f"evaluation split, and minutes instead of hours. Once that works, train on everything."
    )
    return rows, message


def _to_dataset(rows: pd.DataFrame, task: str, labels: list[str]) -> datasets.Dataset:
    index = {label: i for i, label in enumerate(labels)}
    ids = [int(i) for i in rows["id"]]
    class_label = datasets.ClassLabel(names=labels) if labels else datasets.Value("int64")
    if task == "ner":
        features = datasets.Features(
            {
                "id": datasets.Value("int64"),
                "tokens": datasets.List(datasets.Value("string")),
                "tags": datasets.List(class_label),
            }
        )
        body = {"tokens": list(rows["x"]), "tags": [[index[t] for t in tags] for tags in rows["y"]]}
    else:
        key = "text" if task == "text" else "image"
        features = datasets.Features(
            {"id": datasets.Value("int64"), key: datasets.Value("string"), "label": class_label}
        )
        body = {key: list(rows["x"]), "label": [index[y] for y in rows["y"]]}
    return datasets.Dataset.from_dict({"id": ids, **body}, features=features)


def _hash(task: str, labels: list[str], train: pd.DataFrame, eval_rows: pd.DataFrame) -> str:
    """Content hash (not paths or ids): same data, split and labels -> same hash, any change -> a new one."""
    digest = hashlib.sha256(json.dumps({"task": task, "labels": labels}).encode())
    for split, rows in (("train", train), ("eval", eval_rows)):
        digest.update(f"\n#{split}\n".encode())
        for key, y in zip(rows["key"], rows["y"]):
            digest.update(json.dumps([key, y], ensure_ascii=False).encode())
            digest.update(b"\n")
    return digest.hexdigest()
