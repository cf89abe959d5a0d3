"""Tables (CSV, TSV, JSON, JSONL, Parquet) and the text-classification reader built on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import DataConfig
from ..errors import DataError
from .columns import _resolve_columns
from .formats import TABLE_EXTS, _rows
from .validate import ValidationReport, _label_name, _warn_empty


def read_table(path: Path) -> pd.DataFrame:
    """CSV, TSV, JSON (list of records or dict of columns), JSONL or Parquet, chosen by extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise DataError(f"File not found: {path}. Check the path or upload the file again.")
    if suffix not in TABLE_EXTS:
        raise DataError(
            f"Unsupported file type '{suffix or path.name}' for {path.name}. Use CSV, TSV, JSON, JSONL or Parquet."
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path.name} is empty. Upload a file with a header row and at least a few examples.")
    try:
        if suffix in (".csv", ".tsv", ".tab"):
            sep = "," if suffix == ".csv" else "\t"
            try:
                df = pd.read_csv(path, sep=sep, encoding="utf-8")
            except UnicodeDecodeError:
                df = pd.read_csv(path, sep=sep, encoding="latin-1")
        elif suffix in (".jsonl", ".ndjson"):
            df = pd.read_json(path, lines=True, dtype=False)
        elif suffix == ".json":
            df = _json_frame(json.loads(path.read_text(encoding="utf-8-sig")), path)
        else:
            df = pd.read_parquet(path)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name} is empty. Upload a file with a header row and at least a few examples.") from None
    except Exception as err:  # parser errors differ per format; the message is what matters to the user
        kind = suffix.lstrip(".").upper()
        raise DataError(f"Could not read {path.name} as {kind}: {err}. Check that the file is valid {kind}.") from None
    if df.empty:
        raise DataError(f"{path.name} has no data rows. Add examples below the header row.")
    df.columns = [str(c) for c in df.columns]
    return df


def _json_frame(raw: Any, path: Path) -> pd.DataFrame:
    """A JSON list of records, a dict of equal-length columns, or a dict wrapping one list of records."""
    if isinstance(raw, dict):
        lists = [v for v in raw.values() if isinstance(v, list)]
        if len(lists) == 1 and lists[0] and all(isinstance(r, dict) for r in lists[0]):
            raw = lists[0]
        elif lists and len(lists) == len(raw) and len({len(v) for v in lists}) == 1:
            return pd.DataFrame(raw)
    if isinstance(raw, list) and all(isinstance(r, dict) for r in raw):
        return pd.DataFrame.from_records(raw)
    raise DataError(
        f'{path.name} is JSON but not a list of records. Use [{{"text": ..., "label": ...}}, ...] or JSON Lines.'
    )


def _read_table_reported(path: Path, report: ValidationReport) -> pd.DataFrame | None:
    """``read_table``, with a problem in the report instead of an exception (so other checks still run)."""
    try:
        return read_table(path)
    except DataError as err:
        report.add_error(str(err))
        return None


def _read_text(
    path: Path, data: DataConfig, report: ValidationReport, work_dir: Path | None, role: str
) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """The text reader: one row per non-empty text with a label; the text itself is the duplicate key."""
    df = _read_table_reported(path, report)
    if df is None:
        return None, {}
    columns = _resolve_columns(df, "text", data, path, report, role)
    if columns is None:
        return None, {}
    texts = [None if _label_name(v) is None else str(v).strip() for v in df[columns["text"]]]
    labels = [_label_name(v) for v in df[columns["label"]]]
    usable = [bool(t) and y is not None for t, y in zip(texts, labels)]
    keep = [i for i, ok in enumerate(usable) if ok]
    empty = [i for i, ok in enumerate(usable) if not ok]
    _warn_empty(len(empty), empty, path, "text or label", report)
    if not keep:
        report.add_error(
            f"No usable rows in {path.name}: every row has an empty text or label. "
            f"Check that the right columns are selected."
        )
        return None, columns
    texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    return _rows(keep, texts, labels, texts), columns
