"""Uploads -> standardised ``datasets.Dataset`` splits, plus a validation report built before any model loads.

Every problem is collected into one :class:`ValidationReport` (errors block a run, warnings do not), so a user
sees all of them at once instead of fixing one stack trace at a time. Output columns per task:
text ``id, text, label``; image ``id, image`` (absolute path, not decoded) ``, label``; ner ``id, tokens, tags``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Literal

import datasets
import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from .config import DataConfig
from .errors import DataError
from . import paths
from .samples import sample_path
from .tasks.token_classification import bio_spans

TABLE_EXTS = (".csv", ".tsv", ".tab", ".json", ".jsonl", ".ndjson", ".parquet", ".pq")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")
CONLL_EXTS = (".conll", ".txt", ".bio", ".iob", ".tsv")
NER_JSON_EXTS = (".jsonl", ".json", ".ndjson")
TEXT_HINTS = ("text", "sentence", "review", "comment", "content", "body", "message", "document", "tweet")
LABEL_HINTS = ("label", "labels", "class", "category", "sentiment", "target", "opinion", "rating", "y")
IMAGE_HINTS = ("image", "img", "path", "file", "filename", "filepath", "picture", "photo")
TOKEN_HINTS = ("tokens", "words")
TAG_HINTS = ("tags", "ner_tags", "labels", "label")
MAX_CLASSES = 50  # a content-detected label column has at most this many distinct values
IMBALANCE_RATIO = 10
TRUNCATION_WARN = 0.05
_BOMB_MIN_BYTES = 100 * 1024**2  # zips larger than this (uncompressed) must not compress better than _BOMB_RATIO
_BOMB_RATIO = 100


# --- report ----------------------------------------------------------------------------------------------------
@dataclass
class Problem:
    level: Literal["error", "warning"]
    message: str  # plain language: what is wrong and how to fix it


@dataclass
class ValidationReport:
    """All problems found in the data (errors block a run) and JSON-serialisable statistics."""

    problems: list[Problem] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_error(self, message: str) -> None:
        self.problems.append(Problem("error", message))

    def add_warning(self, message: str) -> None:
        self.problems.append(Problem("warning", message))

    def raise_if_blocking(self) -> None:
        """Raise one DataError listing every error, so the user can fix them all in one go."""
        errors = self.errors
        if errors:
            lines = "\n".join(f"- {p.message}" for p in errors)
            plural = "s" if len(errors) > 1 else ""
            raise DataError(f"The data cannot be used yet ({len(errors)} problem{plural}):\n{lines}")

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": [asdict(p) for p in self.problems], "stats": self.stats}


@dataclass
class TaskData:
    train: datasets.Dataset
    eval: datasets.Dataset
    labels: list[str]  # class names (text/image) or BIO tags with "O" first (ner)
    report: ValidationReport
    columns: dict[str, str]  # source column mapping actually used, e.g. {"text": "review", "label": "sentiment"}
    data_hash: str  # sha256 over normalised train+eval content and labels (feature-cache key)


# --- entry point -----------------------------------------------------------------------------------------------
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
    report = ValidationReport()
    train_path = Path(data.train_file).expanduser() if data.train_file else sample_path(task, work_dir)
    stats = report.stats
    stats.update(task=task, source=train_path.name, empty_rows=0, duplicates=0, overlap=0)
    reader = _READERS[task]
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
    if data.max_rows is not None and data.max_rows < 1:
        report.add_error(f"data.max_rows must be at least 1 (got {data.max_rows}); leave it empty to use all rows.")
    elif train is not None and data.max_rows and len(train) > data.max_rows:
        stats["rows_before_max_rows"] = len(train)
        train = _cap(train, data, task)
    train = train if train is not None else _empty_rows()
    eval_rows = eval_rows if eval_rows is not None else _empty_rows()
    labels = _check_labels(train, eval_rows, task, report) if len(train) else []
    stats["overlap"] = _warn_overlap(train, eval_rows, report) if len(train) and len(eval_rows) else 0
    stats["splits"] = {"train": len(train), "eval": len(eval_rows)}
    stats["num_labels"] = len(labels)
    train_ds, eval_ds = _to_dataset(train, task, labels), _to_dataset(eval_rows, task, labels)
    result = TaskData(train_ds, eval_ds, labels, report, columns, _hash(task, labels, train, eval_rows))
    if not validate_only:
        report.raise_if_blocking()
    return result


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


def _empty_rows() -> pd.DataFrame:
    """Internal row table: id (source row), x (text / image path / tokens), y (label / tags), key (for dedup)."""
    return pd.DataFrame({"id": pd.Series(dtype="int64"), "x": [], "y": [], "key": []})


def _rows(ids: list[int], xs: list[Any], ys: list[Any], keys: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({"id": pd.Series(ids, dtype="int64"), "x": pd.Series(xs, dtype=object),
                          "y": pd.Series(ys, dtype=object), "key": pd.Series(keys, dtype=object)})
    return frame


# --- tables and column detection -------------------------------------------------------------------------------
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
        f"{path.name} is JSON but not a list of records. Use [{{\"text\": ..., \"label\": ...}}, ...] or JSON Lines."
    )


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


def _hashable_nunique(s: pd.Series) -> int:
    return s.dropna().map(lambda v: json.dumps(v, default=str) if isinstance(v, (list, dict)) else v).nunique()


def _is_labelish(s: pd.Series, strict: bool) -> bool:
    values = s.dropna()
    if len(values) == 0 or values.map(lambda v: isinstance(v, (list, dict))).any():
        return False
    unique, n = values.nunique(), len(values)
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
            ranked = sorted((r, i, c) for i, c in enumerate(cols) if (r := _name_rank(c, hints)) is not None
                            and c not in found.values())
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
        return values.nunique() >= 0.5 * len(values)

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
    hinted = sorted((r, i, c) for i, c in enumerate(cols)
                    if (r := _name_rank(c, LABEL_HINTS)) is not None and _is_labelish(df[c], strict=False))
    if hinted:
        return hinted[0][2]
    content = [c for c in cols if _is_labelish(df[c], strict=True)]
    return content[-1] if content else None  # the label is conventionally the last column


def _resolve_columns(df: pd.DataFrame, task: str, data: DataConfig, path: Path, report: ValidationReport,
                     role: str) -> dict[str, str] | None:
    """User overrides first, detection for the rest; every missing column is reported."""
    main = "text" if task == "text" else "image"
    overrides = {main: data.text_column if task == "text" else data.image_column, "label": data.label_column}
    available = ", ".join(map(str, df.columns))
    result: dict[str, str] = {}
    ok = True
    same_as = " The evaluation file must use the same column names as the training file." if role == "evaluation" else ""
    for key, name in overrides.items():
        if name and name not in df.columns:
            report.add_error(f"The {key} column '{name}' is not in {path.name} (columns: {available}). "
                             f"Pick one of these in the Data tab or pass data.{key}_column=NAME.{same_as}")
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
        else:
            report.add_error(f"No {what[key]} column found in {path.name} (columns: {available}). "
                             f"Pick the {what[key]} column in the Data tab or pass data.{key}_column=NAME.")
            ok = False
    if ok and result[main] == result["label"]:
        report.add_error(f"Column '{result[main]}' of {path.name} is used as both {main} and label. "
                         f"Pick two different columns in the Data tab.")
        ok = False
    return result if ok else None


def _read_table_reported(path: Path, report: ValidationReport) -> pd.DataFrame | None:
    try:
        return read_table(path)
    except DataError as err:
        report.add_error(str(err))
        return None


# --- labels ----------------------------------------------------------------------------------------------------
def _label_name(value: Any) -> str | None:
    """Labels as strings; ints (and int-valued floats from pandas) become their decimal names; blanks are None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value).strip()
    return text or None


def sort_labels(labels: set[str] | list[str]) -> list[str]:
    """Numeric names sort numerically (2 before 10), others alphabetically."""
    labels = set(labels)
    if labels and all(re.fullmatch(r"-?\d+", label) for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def _ner_label_order(tag: str) -> tuple[int, str, int, str]:
    if tag == "O":
        return (0, "", 0, "")
    prefix, _, kind = tag.partition("-")
    if not kind:
        return (1, tag, 0, "")
    return (1, kind, "BIESLU".find(prefix[:1]) if prefix[:1] in "BIESLU" else 9, prefix)


def _missing_examples(ids: list[int], what: str) -> str:
    shown = ", ".join(str(i + 1) for i in ids[:5])
    return f"{what} {shown}{', ...' if len(ids) > 5 else ''}"


# --- text ------------------------------------------------------------------------------------------------------
def _read_text(path: Path, data: DataConfig, report: ValidationReport, work_dir: Path | None,
               role: str) -> tuple[pd.DataFrame | None, dict[str, str]]:
    df = _read_table_reported(path, report)
    if df is None:
        return None, {}
    columns = _resolve_columns(df, "text", data, path, report, role)
    if columns is None:
        return None, {}
    texts = [None if _label_name(v) is None else str(v).strip() for v in df[columns["text"]]]
    labels = [_label_name(v) for v in df[columns["label"]]]
    keep = [i for i, (t, y) in enumerate(zip(texts, labels)) if t and y is not None]
    _warn_empty(len(df) - len(keep), [i for i in range(len(df)) if not (texts[i] and labels[i] is not None)],
                path, "text or label", report)
    if not keep:
        report.add_error(f"No usable rows in {path.name}: every row has an empty text or label. "
                         f"Check that the right columns are selected.")
        return None, columns
    rows = _rows(keep, [texts[i] for i in keep], [labels[i] for i in keep], [texts[i] for i in keep])
    return rows, columns


def _warn_empty(count: int, ids: list[int], path: Path, what: str, report: ValidationReport) -> None:
    if count:
        report.stats["empty_rows"] = report.stats.get("empty_rows", 0) + count
        report.add_warning(f"{count} row{'s' if count > 1 else ''} of {path.name} with an empty {what} "
                           f"{'were' if count > 1 else 'was'} skipped ({_missing_examples(ids, 'row')}). "
                           f"Fill them in or remove them to silence this warning.")


# --- image -----------------------------------------------------------------------------------------------------
def load_rgb(source: str | Path | bytes | BinaryIO | Image.Image) -> Image.Image:
    """Any image as 8-bit RGB: EXIF rotation applied, alpha composited on white, 16-bit scaled, palettes expanded."""
    if isinstance(source, Image.Image):
        img = ImageOps.exif_transpose(source)
    else:
        with Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source) as opened:
            img = ImageOps.exif_transpose(opened)  # a loaded copy, so the file can close
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        if img.mode == "F" and arr.max(initial=0) <= 1.0:
            top = 1.0
        img = Image.fromarray((arr * (255.0 / top)).round().clip(0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode in ("L", "RGB") and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB") if img.mode != "RGB" else img


def _image_digest(path: str) -> str | None:
    """sha1 of the file if PIL can decode it, else None (draft mode keeps big JPEG checks cheap)."""
    try:
        raw = Path(path).read_bytes()
        with Image.open(io.BytesIO(raw)) as img:
            img.draft(img.mode, (64, 64))
            img.load()
        return hashlib.sha1(raw).hexdigest()
    except Exception:  # any decode failure means "unreadable"; the report names the file
        return None


def safe_extract_zip(zip_path: Path, dest: Path, max_total_bytes: int = 2 * 1024**3,
                     max_files: int = 200_000) -> Path:
    """Extract ``zip_path`` into ``dest`` after rejecting absolute paths, '..', symlinks and zip bombs."""
    zip_path, dest = Path(zip_path), Path(dest)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{zip_path.name} is not a readable zip file ({err}). Re-create the zip and upload it again.")
    with archive:
        infos = [i for i in archive.infolist() if not i.filename.replace("\\", "/").startswith("__MACOSX/")]
        if len(infos) > max_files:
            raise DataError(f"{zip_path.name} holds {len(infos):,} files, more than the limit of {max_files:,}. "
                            f"Upload a smaller subset.")
        total = compressed = 0
        for info in infos:
            name = info.filename.replace("\\", "/")
            if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
                raise DataError(f"{zip_path.name} contains an absolute path ('{info.filename}'), which is not allowed."
                                f" Zip the folder with relative paths and upload it again.")
            if ".." in PurePosixPath(name).parts:
                raise DataError(f"{zip_path.name} contains a path that points outside the folder "
                                f"('{info.filename}'). Zip the folder without '..' in paths.")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DataError(f"{zip_path.name} contains a symbolic link ('{info.filename}'), which is not allowed."
                                f" Zip the real files instead.")
            total += info.file_size
            compressed += info.compress_size
        if total > max_total_bytes:
            raise DataError(f"{zip_path.name} would unpack to {total / 1024**3:.2f} GiB, more than the limit of "
                            f"{max_total_bytes / 1024**3:.2f} GiB. Upload a smaller subset.")
        if total > _BOMB_MIN_BYTES and total > _BOMB_RATIO * max(compressed, 1):
            raise DataError(f"{zip_path.name} looks like a zip bomb (it expands {total / max(compressed, 1):.0f}x). "
                            f"Upload the real image files.")
        root = dest.resolve()
        root.mkdir(parents=True, exist_ok=True)
        for info in infos:
            target = (root / info.filename.replace("\\", "/")).resolve()
            if not target.is_relative_to(root):
                raise DataError(f"{zip_path.name} contains a path that points outside the folder "
                                f"('{info.filename}').")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
    return dest


def _extract_cached(zip_path: Path, work_dir: Path | None) -> Path:
    """Extract once per zip content into ``work_dir/extracted``; temp dir + rename keeps it atomic."""
    digest = hashlib.sha256()
    with open(zip_path, "rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(block)
    base = work_dir / "extracted" if work_dir else paths.extracted_root()
    dest = base / f"{zip_path.stem}-{digest.hexdigest()[:16]}"
    if dest.is_dir():
        return dest
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unzip-", dir=base))
    try:
        safe_extract_zip(zip_path, tmp)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not dest.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX")


def _is_image_file(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")


def _descend(root: Path) -> Path:
    """Skip wrapper folders (``data.zip -> data/cats/...``) down to the folder holding the class folders."""
    while True:
        entries = _visible(root)
        if len(entries) == 1 and entries[0].is_dir() and not any(_is_image_file(p) for p in entries[0].iterdir()):
            root = entries[0]
        else:
            return root


def _read_image(path: Path, data: DataConfig, report: ValidationReport, work_dir: Path | None,
                role: str) -> tuple[pd.DataFrame | None, dict[str, str]]:
    if not path.exists():
        report.add_error(f"File not found: {path}. Check the path or upload the {role} data again.")
        return None, {}
    base: Path
    if path.is_dir() or path.suffix.lower() == ".zip":
        try:
            root = _descend(path if path.is_dir() else _extract_cached(path, work_dir))
        except DataError as err:
            report.add_error(str(err))
            return None, {}
        classes = [p for p in _visible(root) if p.is_dir() and any(_is_image_file(f) for f in p.rglob("*"))]
        if classes:
            return _image_folder_rows(root, classes, path, report), {}
        tables = [p for p in _visible(root) if p.suffix.lower() in TABLE_EXTS]
        if not tables:
            report.add_error(f"No images found in {path.name}. Put the images in one sub-folder per class "
                             f"(e.g. cats/1.jpg, dogs/2.jpg), or add a CSV with an image path and a label column.")
            return None, {}
        index, base = tables[0], root
    elif path.suffix.lower() in TABLE_EXTS:
        index, base = path, path.parent
    else:
        report.add_error(f"Unsupported file type '{path.suffix}' for {path.name}. For images upload a zip or folder "
                         f"with one sub-folder per class, or a CSV/JSONL listing image paths and labels.")
        return None, {}
    report.stats["format"] = "index"
    df = _read_table_reported(index, report)
    if df is None:
        return None, {}
    columns = _resolve_columns(df, "image", data, index, report, role)
    if columns is None:
        return None, {}
    paths, labels, ids, empty = [], [], [], []
    for i, (p, y) in enumerate(zip(df[columns["image"]], df[columns["label"]])):
        label = _label_name(y)
        if _label_name(p) is None or label is None:
            empty.append(i)
            continue
        full = Path(str(p).strip())
        paths.append(str((full if full.is_absolute() else base / full).resolve()))
        labels.append(label)
        ids.append(i)
    _warn_empty(len(empty), empty, index, "image path or label", report)
    return _check_images(ids, paths, labels, path, report), columns


def _image_folder_rows(root: Path, classes: list[Path], source: Path,
                       report: ValidationReport) -> pd.DataFrame | None:
    report.stats["format"] = "folders"
    loose = [p.name for p in _visible(root) if _is_image_file(p)]
    if loose:
        report.add_warning(f"{len(loose)} image{'s' if len(loose) > 1 else ''} directly in {source.name} "
                           f"(not in a class folder) {'were' if len(loose) > 1 else 'was'} ignored, e.g. {loose[0]}. "
                           f"Move them into the folder of their class.")
    paths, labels = [], []
    for folder in classes:
        for file in sorted(f for f in folder.rglob("*") if _is_image_file(f)):
            paths.append(str(file.resolve()))
            labels.append(folder.name)
    return _check_images(list(range(len(paths))), paths, labels, source, report)


def _check_images(ids: list[int], paths: list[str], labels: list[str], source: Path,
                  report: ValidationReport) -> pd.DataFrame | None:
    """Open every image once (in threads: PIL releases the GIL); unreadable ones are reported and skipped."""
    if not paths:
        report.add_error(f"No images listed in {source.name}. Add image files or rows with an image path.")
        return None
    with ThreadPoolExecutor(max_workers=min(16, (os.cpu_count() or 2) * 2)) as pool:
        digests = list(pool.map(_image_digest, paths))
    bad = [Path(p).name for p, d in zip(paths, digests) if d is None]
    report.stats["unreadable"] = report.stats.get("unreadable", 0) + len(bad)
    if len(bad) == len(paths):
        report.add_error(f"None of the {len(paths)} images in {source.name} could be opened (e.g. "
                         f"{', '.join(bad[:3])}). Check the paths and use common formats such as PNG or JPEG.")
        return None
    if bad:
        report.add_warning(f"{len(bad)} of {len(paths)} images in {source.name} could not be found or opened and "
                           f"were skipped: {', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''}. "
                           f"Re-save them as PNG or JPEG, or remove them.")
    keep = [i for i, d in enumerate(digests) if d is not None]
    return _rows([ids[i] for i in keep], [paths[i] for i in keep], [labels[i] for i in keep],
                 [digests[i] for i in keep])


# --- NER -------------------------------------------------------------------------------------------------------
def _read_ner(path: Path, data: DataConfig, report: ValidationReport, work_dir: Path | None,
              role: str) -> tuple[pd.DataFrame | None, dict[str, str]]:
    suffix = path.suffix.lower()
    if not path.is_file():
        report.add_error(f"File not found: {path}. Check the path or upload the {role} data again.")
        return None, {}
    if suffix not in CONLL_EXTS + NER_JSON_EXTS:
        report.add_error(f"Unsupported file type '{suffix or path.name}' for {path.name}. For NER use CoNLL text "
                         f"(.conll, .txt, .bio, .iob: 'token TAG' per line) or JSONL with tokens and tags.")
        return None, {}
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if not text.strip():
        report.add_error(f"{path.name} is empty. Add sentences: one 'token TAG' per line, a blank line between them.")
        return None, {}
    if suffix in NER_JSON_EXTS:
        sentences, columns = _parse_ner_json(text, path, report)
        report.stats["format"] = "jsonl"
    else:
        sentences, columns = _parse_conll(text, path, report), {}
        report.stats["format"] = "conll"
    if sentences is None:
        return None, columns
    _warn_bio(sentences, path, report)
    if not sentences:
        report.add_error(f"No sentences found in {path.name}. Write one 'token TAG' per line and a blank line "
                         f"between sentences.")
        return None, columns
    ids = [s[0] for s in sentences]
    return _rows(ids, [s[1] for s in sentences], [s[2] for s in sentences],
                 ["\x1f".join(s[1]) for s in sentences]), columns


def _parse_conll(text: str, path: Path, report: ValidationReport) -> list[tuple[int, list[str], list[str]]]:
    """Token first, tag last, space or tab separated; blank lines end sentences; -DOCSTART- lines are skipped."""
    sentences: list[tuple[int, list[str], list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    broken, bad_lines = False, []

    def flush() -> None:
        nonlocal tokens, tags, broken
        if tokens and not broken:
            sentences.append((len(sentences), tokens, tags))
        tokens, tags, broken = [], [], False

    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("-DOCSTART-"):
            flush()
            continue
        parts = [p.strip() for p in (stripped.split("\t") if "\t" in stripped else stripped.split())]
        parts = [p for p in parts if p]
        if len(parts) < 2:
            bad_lines.append(lineno)
            broken = True
            continue
        tokens.append(parts[0])
        tags.append(parts[-1])
    flush()
    if bad_lines:
        shown = ", ".join(map(str, bad_lines[:5])) + (", ..." if len(bad_lines) > 5 else "")
        report.add_error(f"Line {bad_lines[0]} of {path.name} has a token but no tag ({len(bad_lines)} such "
                         f"line{'s' if len(bad_lines) > 1 else ''}: {shown}). Write 'token TAG' on each line, "
                         f"separated by a space or tab, e.g. 'Paris B-LOC'.")
    return sentences


def _parse_ner_json(text: str, path: Path,
                    report: ValidationReport) -> tuple[list[tuple[int, list[str], list[str]]] | None, dict[str, str]]:
    """JSON Lines (or a JSON list) of {"tokens": [...], "tags": [...]} with tag names as strings."""
    records: list[tuple[int, Any]] = []
    try:
        whole = json.loads(text)
        if isinstance(whole, list):
            records = list(enumerate(whole, 1))
        elif isinstance(whole, dict):
            records = [(1, whole)]
    except json.JSONDecodeError:
        bad = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append((lineno, json.loads(line)))
                except json.JSONDecodeError:
                    bad.append(lineno)
        if bad:
            report.add_error(f"Line {bad[0]} of {path.name} is not valid JSON ({len(bad)} such lines). "
                             f"Each line must be one object like {{\"tokens\": [...], \"tags\": [...]}}.")
    records = [(n, r) for n, r in records if isinstance(r, dict)]
    if not records:
        report.add_error(f"No records found in {path.name}. Each line must be an object like "
                         f"{{\"tokens\": [\"Paris\"], \"tags\": [\"B-LOC\"]}}.")
        return None, {}
    columns = detect_columns(pd.DataFrame([records[0][1]]), "ner")
    if "tokens" not in columns or "tags" not in columns:
        report.add_error(f"{path.name} needs a 'tokens' and a 'tags' field in every record "
                         f"(found: {', '.join(records[0][1])}). Rename the fields to tokens and tags.")
        return None, columns
    sentences, mismatched, numeric, empty = [], [], [], []
    for i, (lineno, rec) in enumerate(records):
        tokens, tags = rec.get(columns["tokens"]), rec.get(columns["tags"])
        if not isinstance(tokens, list) or not tokens:
            empty.append(i)
            continue
        if not isinstance(tags, list) or len(tags) != len(tokens):
            mismatched.append((lineno, len(tokens), len(tags) if isinstance(tags, list) else 0))
            continue
        if any(not isinstance(t, str) for t in tags):
            numeric.append(lineno)
            continue
        sentences.append((i, [str(t) for t in tokens], [t.strip() for t in tags]))
    if mismatched:
        line, n_tok, n_tag = mismatched[0]
        others = ", ".join(str(m[0]) for m in mismatched[:5])
        report.add_error(f"Line {line} of {path.name} has {n_tok} tokens but {n_tag} tags ({len(mismatched)} such "
                         f"line{'s' if len(mismatched) > 1 else ''}: {others}). Every token needs exactly one tag.")
    if numeric:
        report.add_error(f"Line {numeric[0]} of {path.name} has numeric tags. Write tag names such as "
                         f"\"B-PER\" or \"O\" instead of numbers ({len(numeric)} such lines).")
    _warn_empty(len(empty), empty, path, "token list", report)
    return sentences, columns


def _warn_bio(sentences: list[tuple[int, list[str], list[str]]], path: Path, report: ValidationReport) -> None:
    """I-X must follow B-X or I-X; tags must look like O / B-TYPE / I-TYPE. Both are warnings: still trainable."""
    orphan, example, odd = 0, "", Counter()
    for sid, tokens, tags in sentences:
        prev = "O"
        for token, tag in zip(tokens, tags):
            if tag != "O" and not re.fullmatch(r"[BIESLU]-\S+", tag):
                odd[tag] += 1
            if tag.startswith("I-") and prev not in (f"B-{tag[2:]}", f"I-{tag[2:]}"):
                orphan += 1
                example = example or f"sentence {sid + 1}: '{token}' is {tag} after {prev}"
            prev = tag
    if orphan:
        report.add_warning(f"{orphan} tag{'s' if orphan > 1 else ''} in {path.name} start with I- without a B- or I- "
                           f"of the same type before {'them' if orphan > 1 else 'it'} ({example}). "
                           f"They are read as the start of an entity; fix them to B-TYPE if that is not intended.")
    if odd:
        report.add_warning(f"{sum(odd.values())} tags in {path.name} do not follow the BIO scheme (O, B-TYPE, "
                           f"I-TYPE), e.g. '{next(iter(odd))}'. Entity scores may be wrong; rename them.")


_READERS = {"text": _read_text, "image": _read_image, "ner": _read_ner}


# --- common checks, split, encode ------------------------------------------------------------------------------
def _warn_duplicates(rows: pd.DataFrame, name: str, task: str, report: ValidationReport) -> int:
    dups = int(rows["key"].duplicated().sum())
    if dups:
        what = {"text": "texts", "image": "images (same file content)", "ner": "sentences"}[task]
        conflicts = 0
        if task != "ner":
            conflicts = int((rows.groupby("key")["y"].nunique() > 1).sum())
        extra = f", {conflicts} of them with different labels" if conflicts else ""
        report.add_warning(f"{dups} duplicate {what} in {name}{extra}. Duplicates can end up in both training and "
                           f"evaluation and inflate scores; remove them if they are not intended.")
    return dups


def _can_stratify(y: list[str], n_eval: int, n_train: int) -> str | None:
    """None if a stratified split is possible, else why not (in words)."""
    counts = Counter(y)
    rare = [label for label, n in counts.items() if n < 2]
    if rare:
        return f"class '{sort_labels(rare)[0]}' has only 1 example"
    if n_eval < len(counts) or n_train < len(counts):
        return f"a split of {min(n_eval, n_train)} examples cannot hold all {len(counts)} classes"
    return None


def _split(rows: pd.DataFrame, data: DataConfig, task: str,
           report: ValidationReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out ``eval_fraction`` (stratified by class where possible), seeded and in source order."""
    from sklearn.model_selection import train_test_split

    report.stats["stratified"] = False
    if not 0 < data.eval_fraction < 1:
        report.add_error(f"data.eval_fraction must be between 0 and 1 (got {data.eval_fraction}). "
                         f"Use e.g. 0.2, or provide a separate evaluation file (data.eval_file).")
        return rows, rows.iloc[:0]
    n = len(rows)
    if n < 2:
        report.add_error(f"Only {n} usable example{'s' if n != 1 else ''}: at least 2 are needed (one to train on, "
                         f"one to evaluate). Add more examples.")
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
            report.add_warning(f"The evaluation split is random, not stratified, because {why_not}. "
                               f"Add more examples of rare classes or provide a separate evaluation file.")
    train_idx, eval_idx = train_test_split(np.arange(n), test_size=n_eval, random_state=data.seed,
                                           stratify=stratify)
    return rows.iloc[np.sort(train_idx)].reset_index(drop=True), rows.iloc[np.sort(eval_idx)].reset_index(drop=True)


def _cap(rows: pd.DataFrame, data: DataConfig, task: str) -> pd.DataFrame:
    """Keep ``max_rows`` training rows, stratified by class where possible (seeded)."""
    from sklearn.model_selection import train_test_split

    y = list(rows["y"])
    keep = data.max_rows
    stratify = y if task != "ner" and _can_stratify(y, len(rows) - keep, keep) is None else None
    idx, _ = train_test_split(np.arange(len(rows)), train_size=keep, random_state=data.seed, stratify=stratify)
    return rows.iloc[np.sort(idx)].reset_index(drop=True)


def _check_labels(train: pd.DataFrame, eval_rows: pd.DataFrame, task: str, report: ValidationReport) -> list[str]:
    """Build the label list and report class problems (one class, too few examples, imbalance, unseen)."""
    stats = report.stats
    if task == "ner":
        return _check_tags(train, eval_rows, report)
    train_counts, eval_counts = Counter(train["y"]), Counter(eval_rows["y"])
    labels = sort_labels(set(train_counts) | set(eval_counts))
    stats["class_balance"] = {"train": {k: train_counts[k] for k in labels if train_counts[k]},
                              "eval": {k: eval_counts[k] for k in labels if eval_counts[k]}}
    source = stats.get("source", "the data")
    if len(labels) < 2:
        only = labels[0] if labels else "?"
        report.add_error(f"Only one class ('{only}') in {source}. Classification needs at least two classes: "
                         f"add examples of other classes or pick a different label column.")
    elif len(train) < len(labels):
        report.add_error(f"Only {len(train)} training example{'s' if len(train) != 1 else ''} for {len(labels)} "
                         f"classes ({', '.join(labels[:10])}). Add more examples, at least a few per class.")
    unseen = sorted(set(eval_counts) - set(train_counts))
    if unseen and train_counts:
        report.add_warning(f"{len(unseen)} class{'es' if len(unseen) > 1 else ''} in the evaluation data never "
                           f"appear in training: {', '.join(unseen[:10])}. The model cannot learn them; add training "
                           f"examples.")
    if len(train_counts) >= 2:
        most, least = max(train_counts.values()), min(train_counts.values())
        if most / least > IMBALANCE_RATIO:
            big = max(train_counts, key=train_counts.get)
            small = min(train_counts, key=train_counts.get)
            report.add_warning(f"Classes are very imbalanced: '{big}' has {most} training examples, '{small}' only "
                               f"{least}. The model may ignore rare classes; add examples of them or check per-class "
                               f"scores.")
    return labels


def _check_tags(train: pd.DataFrame, eval_rows: pd.DataFrame, report: ValidationReport) -> list[str]:
    stats = report.stats
    tag_counts = {split: Counter(t for tags in rows["y"] for t in tags)
                  for split, rows in (("train", train), ("eval", eval_rows))}
    entity_counts = {split: dict(sorted(Counter(e for tags in rows["y"] for e, _, _ in bio_spans(tags)).items()))
                     for split, rows in (("train", train), ("eval", eval_rows))}
    labels = sorted(set(tag_counts["train"]) | set(tag_counts["eval"]) | {"O"}, key=_ner_label_order)
    stats["tag_counts"] = {s: {t: c[t] for t in labels if c[t]} for s, c in tag_counts.items()}
    stats["entity_counts"] = entity_counts
    stats["class_balance"] = entity_counts
    if len(tag_counts["train"]) < 2:
        only = next(iter(tag_counts["train"]), "O")
        report.add_error(f"Every token in the training data has the same tag ('{only}'). NER needs entity tags "
                         f"such as B-PER / I-PER next to O; check that the tag is the last column.")
    unseen = sorted(set(tag_counts["eval"]) - set(tag_counts["train"]), key=_ner_label_order)
    if unseen:
        report.add_warning(f"{len(unseen)} tag{'s' if len(unseen) > 1 else ''} in the evaluation data never appear "
                           f"in training: {', '.join(unseen[:10])}. The model cannot learn them; add training "
                           f"sentences with these tags.")
    return labels


def _warn_overlap(train: pd.DataFrame, eval_rows: pd.DataFrame, report: ValidationReport) -> int:
    overlap = int(eval_rows["key"].isin(set(train["key"])).sum())
    if overlap:
        report.add_warning(f"{overlap} evaluation example{'s' if overlap > 1 else ''} also appear in the training "
                           f"data, so evaluation scores will look better than they are. Remove the duplicates.")
    return overlap


def _to_dataset(rows: pd.DataFrame, task: str, labels: list[str]) -> datasets.Dataset:
    index = {label: i for i, label in enumerate(labels)}
    ids = [int(i) for i in rows["id"]]
    class_label = datasets.ClassLabel(names=labels) if labels else datasets.Value("int64")
    if task == "ner":
        features = datasets.Features({"id": datasets.Value("int64"), "tokens": datasets.List(datasets.Value("string")),
                                      "tags": datasets.List(class_label)})
        body = {"tokens": list(rows["x"]), "tags": [[index[t] for t in tags] for tags in rows["y"]]}
    else:
        key = "text" if task == "text" else "image"
        features = datasets.Features({"id": datasets.Value("int64"), key: datasets.Value("string"),
                                      "label": class_label})
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


# --- tokenizer-dependent check ---------------------------------------------------------------------------------
def add_truncation_stats(report: ValidationReport, texts: list[str] | list[list[str]], tokenizer: Any,
                         max_length: int, is_split_into_words: bool = False, sample: int = 5000) -> None:
    """Share of inputs longer than ``max_length`` tokens (on a seeded sample of at most ``sample`` texts)."""
    texts = list(texts)
    if len(texts) > sample:
        pick = np.random.default_rng(0).choice(len(texts), size=sample, replace=False)
        texts = [texts[i] for i in sorted(pick)]
    if not texts:
        report.stats["truncated_share"] = 0.0
        return
    too_long = 0
    for start in range(0, len(texts), 256):
        batch = texts[start:start + 256]
        encoded = tokenizer(batch, truncation=False, is_split_into_words=is_split_into_words, verbose=False)
        too_long += sum(len(ids) > max_length for ids in encoded["input_ids"])
    share = too_long / len(texts)
    report.stats["truncated_share"] = round(share, 4)
    report.stats["truncation_max_length"] = max_length
    if share > TRUNCATION_WARN:
        report.add_warning(f"{share:.0%} of the inputs are longer than max_length={max_length} tokens and will be "
                           f"cut off. Raise train.max_length (slower, more memory) or shorten the texts.")
