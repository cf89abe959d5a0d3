"""Tables (CSV, TSV, JSON, JSONL, Parquet) and the text-classification reader built on them.

Every reader checks the limits in ``limits`` before it parses (file size, line length, header width) and
stops at TL_MAX_ROWS + 1 rows, so no upload costs more than the limits allow; any parser failure becomes one
DataError that names the file and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import DataConfig
from ..errors import DataError, UserError
from . import jsonfiles, limits
from .columns import _resolve_columns
from .formats import TABLE_EXTS, _rows
from .parquet import read_parquet
from .validate import ValidationReport, _label_name, _warn_empty, merge_label_variants

_FIX = {  # what to do when the parser fails, per format
    "CSV": "Save it as UTF-8 CSV (comma-separated, the column names in the first row) and upload again.",
    "TSV": "Save it as UTF-8 TSV (tab-separated, the column names in the first row) and upload again.",
    "JSON": 'Save it as a JSON list of records ([{"text": ..., "label": ...}, ...]) or as JSON Lines.',
    "JSONL": 'Write one JSON object per line, like {"text": ..., "label": ...}, and upload again.',
    "PARQUET": "Save it again as Parquet (for example with pandas' to_parquet) and upload again.",
}


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
    limits.check_file_size(path)
    if path.stat().st_size == 0:
        raise DataError(f"{path.name} is empty. Upload a file with a header row and at least a few examples.")
    kind, reader = _reader(suffix)
    if kind != "PARQUET":
        _refuse_binary(path, kind)
    try:
        df = reader(path)
    except UserError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name} is empty. Upload a file with a header row and at least a few examples.") from None
    except Exception as err:  # parser errors differ per format and library; the message is what matters
        raise DataError(f"{path.name} could not be read as {kind} ({_short(err)}). {_FIX[kind]}") from None
    return _checked(df, path)


_MAGIC = {  # the first bytes of files people upload by mistake, and what they are
    b"PK\x03\x04": "a zip archive or an Excel/Word file (.xlsx, .docx)",
    b"\xd0\xcf\x11\xe0": "an old Excel or Word file (.xls, .doc)",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"PAR1": "a Parquet file",
    b"\x1f\x8b": "a gzip archive",
    b"SQLite format 3": "an SQLite database",
}


def _refuse_binary(path: Path, kind: str) -> None:
    """A table must be text: a binary file (a spreadsheet, an image, an archive) would otherwise reach the parser
    and fail with its own error about fields and lines, which names neither the problem nor the fix."""
    with open(path, "rb") as fh:
        head = fh.read(8192)
    what = next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)
    if what is None:
        if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):  # a text file's byte-order mark
            return
        control = sum(b < 32 and b not in (9, 10, 12, 13) for b in head)
        if b"\x00" not in head and control <= len(head) * 0.05:
            return
        what = "binary data, not text"
    excel = " (In Excel: File > Save As > CSV UTF-8.)" if kind in ("CSV", "TSV") else ""
    raise DataError(f"{path.name} is not a text file: it looks like {what}. {_FIX[kind]}{excel}")


def _reader(suffix: str) -> tuple[str, Callable[[Path], pd.DataFrame]]:
    if suffix in (".csv", ".tsv", ".tab"):
        sep = "," if suffix == ".csv" else "\t"
        return ("CSV" if sep == "," else "TSV"), lambda p: _read_csv(p, sep)
    if suffix in (".jsonl", ".ndjson"):
        return "JSONL", _read_jsonl
    if suffix == ".json":
        return "JSON", _read_json
    return "PARQUET", read_parquet


def _checked(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The frame with string column names, refused when it has no rows, too many or duplicate columns."""
    if df.empty:
        raise DataError(f"{path.name} has no data rows. Add examples below the header row.")
    limits.check_columns(path.name, df.shape[1])
    limits.check_rows(path.name, len(df))
    names = [str(c) for c in df.columns]
    if len(set(names)) < len(names):  # Parquet and JSON-as-columns allow it; df[name] would then be a frame
        twice = next(n for i, n in enumerate(names) if n in names[:i])
        raise DataError(f"{path.name} has two columns named '{twice}'. Rename one of them and upload again.")
    df.columns = names
    for name in names:  # Parquet dictionary columns arrive as Categorical; detection and checks want plain values
        if isinstance(df[name].dtype, pd.CategoricalDtype):
            df[name] = df[name].astype(object)
    return df


def _read_csv(path: Path, sep: str) -> pd.DataFrame:
    """Line lengths and the header's width are checked first; pandas then reads at most TL_MAX_ROWS + 1 rows."""
    lines = limits.check_line_lengths(path)
    _check_header(path, sep)
    cap = limits.max_rows()
    try:
        df = pd.read_csv(path, sep=sep, encoding="utf-8", nrows=cap + 1)
    except UnicodeDecodeError:
        df = pd.read_csv(path, sep=sep, encoding="latin-1", nrows=cap + 1)
    if len(df) > cap:
        raise limits.too_many_rows(path.name, lines - 1, approx=True)
    return df


def _check_header(path: Path, sep: str) -> None:
    """Refuse a too-wide header or first row before pandas sees it: pandas takes minutes over a 3 MB line of
    300,000 fields, and infers an index from a first row wider than the header."""
    with open(path, "rb") as fh:
        head = fh.read(2 * limits.max_line_bytes()).decode("utf-8", errors="replace")
    widths = _record_widths(head, sep)
    if widths:
        limits.check_columns(path.name, max(widths))


_QUOTED = re.compile(r'"(?:[^"]|"")*"')


def _record_widths(text: str, sep: str, wanted: int = 2) -> list[int]:
    """Fields in each of the first ``wanted`` non-blank records, split as pandas' C parser does: a quote opens a
    quoted field only at the start of a field, and a quoted field may hold separators and line breaks."""
    plain = re.compile(f"[^{re.escape(sep)}\r\n]*")
    widths: list[int] = []
    fields, blank, pos, end = 1, True, 0, len(text)
    while pos < end and len(widths) < wanted:
        if text[pos] == '"':
            quoted = _QUOTED.match(text, pos)
            if quoted is None:  # the quoted field runs past the text read
                break
            pos, blank = quoted.end(), False
        field = plain.match(text, pos)
        blank = blank and field.end() == pos
        pos = field.end()
        if pos >= end:
            break
        if text[pos] == sep:
            fields, blank, pos = fields + 1, False, pos + 1
            continue
        pos += 2 if text.startswith("\r\n", pos) else 1
        if not blank:
            widths.append(fields)
        fields, blank = 1, True
    if not blank and len(widths) < wanted:
        widths.append(fields)
    return widths


def _read_json(path: Path) -> pd.DataFrame:
    """A list of records is read one record at a time; any other JSON document only up to TL_MAX_JSON_MB."""
    if jsonfiles.starts_like_array(path):
        return _json_frame(jsonfiles.read_array(path), path)
    return _json_frame(jsonfiles.load_whole(path), path)


def _read_jsonl(path: Path) -> pd.DataFrame:
    """One object per line, read line by line (a file that is one JSON list is read as JSON)."""
    if jsonfiles.starts_like_array(path):
        return _read_json(path)
    values, bad = jsonfiles.read_lines(path)
    if bad:
        raise DataError(
            f"Line {bad[0]} of {path.name} is not valid JSON ({len(bad)} such line{'s' if len(bad) > 1 else ''}). "
            f"{_FIX['JSONL']}"
        )
    not_objects = [n for n, v in values if not isinstance(v, dict)]
    if not_objects:
        raise DataError(f"Line {not_objects[0]} of {path.name} is not a JSON object. {_FIX['JSONL']}")
    return _records_frame([v for _, v in values], path)


def _json_frame(raw: Any, path: Path) -> pd.DataFrame:
    """A JSON list of records, a dict of equal-length columns, or a dict wrapping one list of records."""
    if isinstance(raw, dict):
        lists = [v for v in raw.values() if isinstance(v, list)]
        if len(lists) == 1 and lists[0] and all(isinstance(r, dict) for r in lists[0]):
            raw = lists[0]
        elif lists and len(lists) == len(raw) and len({len(v) for v in lists}) == 1:
            limits.check_columns(path.name, len(raw))
            limits.check_rows(path.name, len(lists[0]))
            return pd.DataFrame(raw)
    if isinstance(raw, list) and all(isinstance(r, dict) for r in raw):
        return _records_frame(raw, path)
    raise DataError(
        f'{path.name} is JSON but not a list of records. Use [{{"text": ..., "label": ...}}, ...] or JSON Lines.'
    )


def _records_frame(records: list[dict[str, Any]], path: Path) -> pd.DataFrame:
    """Records as a frame, refused first when the rows or the keys (one column each) are over the limits: 100,000
    records with a different key each would be a 100,000 x 100,000 frame."""
    limits.check_rows(path.name, len(records))
    keys: dict[str, None] = {}
    for record in records:
        keys.update(dict.fromkeys(record))
        if len(keys) > limits.max_columns():
            limits.check_columns(path.name, len(keys))
    return pd.DataFrame.from_records(records, columns=list(keys)) if records else pd.DataFrame()


def _short(err: Exception, n: int = 160) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= n else text[: n - 1] + "…"


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
    if role == "training":  # the column pickers offer these: no second read of the file
        report.stats["source_columns"] = list(df.columns)
    columns = _resolve_columns(df, "text", data, path, report, role)
    if columns is None:
        return None, {}
    texts = [None if _label_name(v) is None else str(v).strip() for v in df[columns["text"]]]
    labels = merge_label_variants([_label_name(v) for v in df[columns["label"]]], report, path.name)
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
