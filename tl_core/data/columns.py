"""Which column holds what: guessed by name first, then by content; the user's choices always win."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import DataConfig
from .formats import IMAGE_EXTS
from .validate import ValidationReport

TEXT_HINTS = ("text", "sentence", "review", "comment", "content", "body", "message", "document", "tweet")
LABEL_HINTS = ("label", "labels", "class", "category", "sentiment", "target", "opinion", "rating", "y")
IMAGE_HINTS = ("image", "img", "path", "file", "filename", "filepath", "picture", "photo")
TOKEN_HINTS = ("tokens", "words")
TAG_HINTS = ("tags", "ner_tags", "labels", "label")
MAX_CLASSES = 50  # a content-detected label column has at most this many distinct values
_UNHASHABLE = (list, dict, set, np.ndarray)  # JSON lists and objects, Parquet list columns (numpy arrays)


def _name_rank(column: str, hints: tuple[str, ...]) -> int | None:
    """Lower is better: an exact hint name beats a hint word inside the name (``review_text``, ``reviewText``)."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(column).strip()).lower()
    if name in hints:
        return hints.index(name)
    words = re.split(r"[^a-z0-9]+", name)
    for i, hint in enumerate(hints):
        if hint in words:
            return len(hints) + i
    return None


def _is_string_col(s: pd.Series) -> bool:
    values = s.dropna()
    return len(values) > 0 and values.map(lambda v: isinstance(v, str)).mean() >= 0.9


def _distinct(values: pd.Series) -> int:
    """``nunique`` that counts lists and arrays by their text instead of raising TypeError on them."""
    try:
        return int(values.nunique())
    except TypeError:
        return int(values.map(lambda v: repr(v) if isinstance(v, _UNHASHABLE) else v).nunique())


def _is_labelish(s: pd.Series, strict: bool) -> bool:
    values = s.dropna()
    if len(values) == 0 or values.map(lambda v: isinstance(v, _UNHASHABLE)).any():
        return False
    unique, n = _distinct(values), len(values)
    if strict:
        return 2 <= unique <= MAX_CLASSES and unique <= max(1, n / 2)
    return unique <= MAX_CLASSES or unique <= n / 2


def detect_columns(df: pd.DataFrame, task: str, *, fixed: dict[str, str] | None = None) -> dict[str, str]:
    """Guess the source columns for ``task`` by name, then by content. ``fixed``: roles the user already chose."""
    fixed = dict(fixed or {})
    taken = set(fixed.values())
    found: dict[str, str] = {}
    cols = [c for c in df.columns if c not in taken]
    if task == "ner":
        for role, hints in (("tokens", TOKEN_HINTS), ("tags", TAG_HINTS)):
            ranked = sorted(
                (r, i, c)
                for i, c in enumerate(cols)
                if (r := _name_rank(c, hints)) is not None and c not in found.values()
            )
            if ranked and role not in fixed:
                found[role] = ranked[0][2]
        return found
    main_role = "text" if task == "text" else "image"
    if main_role in fixed:
        main = fixed[main_role]
    else:
        main = _detect_text(df, cols) if task == "text" else _detect_image(df, cols)
        if main:
            found[main_role] = main
    if "label" not in fixed:
        label = _detect_label(df, [c for c in cols if c != main])
        if label:
            found["label"] = label
    return found


def _detect_text(df: pd.DataFrame, cols: list[str]) -> str | None:
    strings = [c for c in cols if _is_string_col(df[c])]

    def mean_len(c: str) -> float:
        return float(df[c].dropna().astype(str).str.len().mean())

    def varied(c: str) -> bool:
        values = df[c].dropna()
        return _distinct(values) >= 0.5 * len(values)

    hinted = [c for c in strings if _name_rank(c, TEXT_HINTS) is not None]
    if hinted:
        return max(hinted, key=lambda c: (varied(c), mean_len(c)))
    content = [c for c in strings if varied(c)]
    return max(content, key=mean_len) if content else None


def _detect_image(df: pd.DataFrame, cols: list[str]) -> str | None:
    strings = [c for c in cols if _is_string_col(df[c])]

    def image_share(c: str) -> float:
        return float(df[c].dropna().astype(str).str.lower().str.endswith(IMAGE_EXTS).mean())

    hinted = sorted((r, c) for c in strings if (r := _name_rank(c, IMAGE_HINTS)) is not None)
    if hinted:
        return hinted[0][1]
    content = [c for c in strings if image_share(c) >= 0.5]
    return max(content, key=image_share) if content else None


def _detect_label(df: pd.DataFrame, cols: list[str]) -> str | None:
    hinted = sorted(
        (r, i, c)
        for i, c in enumerate(cols)
        if (r := _name_rank(c, LABEL_HINTS)) is not None and _is_labelish(df[c], strict=False)
    )
    if hinted:
        return hinted[0][2]
    content = [c for c in cols if _is_labelish(df[c], strict=True)]
    return content[-1] if content else None  # the label is conventionally the last column


def _single_valued(df: pd.DataFrame, cols: list[str]) -> tuple[str, str] | None:
    """A short-valued column (a label-like name first) holding one value on every row: (column, value)."""
    found = []
    for c in cols:
        values = df[c].dropna()
        if len(values) < 2 or values.map(lambda v: isinstance(v, _UNHASHABLE)).any():
            continue
        if _distinct(values.map(lambda v: " ".join(str(v).split()).casefold())) == 1:
            rank = _name_rank(c, LABEL_HINTS)
            found.append((rank is None, rank or 0, c, str(values.iloc[0]).strip()))
    return (min(found)[2], min(found)[3]) if found else None


def _resolve_columns(
    df: pd.DataFrame, task: str, data: DataConfig, path: Path, report: ValidationReport, role: str
) -> dict[str, str] | None:
    """User overrides first, detection for the rest; every missing column is reported."""
    main = "text" if task == "text" else "image"
    overrides = {main: data.text_column if task == "text" else data.image_column, "label": data.label_column}
    available = ", ".join(map(str, df.columns))
    result: dict[str, str] = {}
    ok = True
    same_as = (
        " The evaluation file must use the same column names as the training file." if role == "evaluation" else ""
    )
    for key, name in overrides.items():
        if name and name not in df.columns:
            report.add_error(
                f"The {key} column '{name}' is not in {path.name} (columns: {available}). "
                f"Pick one of these in the Data tab.{same_as}",
                cli_hint=f"data.{key}_column=NAME",
            )
            ok = False
        elif name:
            result[key] = name
    detected = detect_columns(df, task, fixed=result)
    what = {"text": "text", "image": "image path", "label": "label"}
    for key in overrides:
        if key in result or (not ok and overrides[key]):
            continue
        if key in detected:
            result[key] = detected[key]
        elif key == "label" and (single := _single_valued(df, [c for c in df.columns if c not in result.values()])):
            # the likely label column exists but holds one value: that, not the column, is the problem
            column, value = single
            report.add_error(
                f"Only one class ('{value}') in {path.name}: every row of column '{column}' has the same value. "
                f"Classification needs at least two classes: add examples of other classes, or pick a "
                f"different label column in the Data tab.",
                cli_hint="data.label_column=NAME",
            )
            ok = False
        else:
            report.add_error(
                f"No {what[key]} column found in {path.name} (columns: {available}). "
                f"Pick the {what[key]} column in the Data tab.",
                cli_hint=f"data.{key}_column=NAME",
            )
            ok = False
    if ok and result[main] == result["label"]:
        report.add_error(
            f"Column '{result[main]}' of {path.name} is used as both {main} and label. "
            f"Pick two different columns in the Data tab."
        )
        ok = False
    return result if ok else None
