"""Images: decoding any file to RGB, and the image-classification reader (class folders, zips, index tables)."""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from ..config import DataConfig
from ..errors import DataError, UserError
from . import limits
from .archives import _extract_cached
from .columns import _resolve_columns
from .formats import IMAGE_EXTS, TABLE_EXTS, _rows
from .tables import _read_table_reported
from .validate import ValidationReport, _label_name, _warn_empty

# Caps on what one image may cost: the file size read into memory, and the decoded pixels (PIL's own bomb check
# only warns below 2x its default limit; here going over the cap is an error for every decode).
MAX_IMAGE_BYTES = 50 * 2**20
MAX_IMAGE_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


def _open_capped(source: Path | str | BinaryIO | io.BytesIO) -> Image.Image:
    """Image.open with the decompression-bomb warning raised as an error (a 1 KB PNG can decode to gigabytes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(source)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise DataError(f"An image is larger than {MAX_IMAGE_PIXELS:,} pixels; resize it below that.") from None


def load_rgb(source: str | Path | bytes | BinaryIO | Image.Image) -> Image.Image:
    """Any image as 8-bit RGB: EXIF rotation applied, alpha composited on white, 16-bit scaled, palettes expanded.
    A file PIL cannot decode (damaged, truncated, not an image) raises DataError, never a decoder's own error."""
    try:
        return _to_rgb(source)
    except UserError:
        raise
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, struct.error, ... on bad files
        name = Path(source).name if isinstance(source, (str, Path)) else getattr(source, "name", "The image")
        detail = " ".join(str(err).split())[:120] or type(err).__name__
        raise DataError(
            f"{Path(str(name)).name} could not be read as an image ({detail}). Re-save it as PNG or JPEG."
        ) from None


def _to_rgb(source: str | Path | bytes | BinaryIO | Image.Image) -> Image.Image:
    if isinstance(source, Image.Image):
        img = ImageOps.exif_transpose(source)
    else:
        with _open_capped(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source) as opened:
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
    """sha1 of the file if PIL can decode it, else None (draft mode keeps big JPEG checks cheap). Only regular
    files under the size cap are read: never a device, a pipe or a huge file."""
    try:
        file = Path(path)
        if not file.is_file() or file.stat().st_size > MAX_IMAGE_BYTES:
            return None
        raw = file.read_bytes()
        with _open_capped(io.BytesIO(raw)) as img:
            img.draft(img.mode, (64, 64))
            img.load()
        return hashlib.sha1(raw).hexdigest()
    except Exception:  # any decode failure means "unreadable"; the report names the file
        return None


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


def _read_image(
    path: Path, data: DataConfig, report: ValidationReport, work_dir: Path | None, role: str
) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """The image reader: a folder or zip with one sub-folder per class, or an index table (in it or uploaded)."""
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
            report.add_error(
                f"No images found in {path.name}. Put the images in one sub-folder per class "
                f"(e.g. cats/1.jpg, dogs/2.jpg), or add a CSV with an image path and a label column."
            )
            return None, {}
        index, base = tables[0], root
    elif path.suffix.lower() in TABLE_EXTS:
        index, base = path, path.parent
    else:
        report.add_error(
            f"Unsupported file type '{path.suffix}' for {path.name}. For images upload a zip or folder "
            f"with one sub-folder per class, or a CSV/JSONL listing image paths and labels."
        )
        return None, {}
    return _index_rows(index, base, path, data, report, role)


def _index_rows(
    index: Path, base: Path, source: Path, data: DataConfig, report: ValidationReport, role: str
) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """Rows from a table listing image paths (relative ones are relative to ``base``) and labels."""
    report.stats["format"] = "index"
    df = _read_table_reported(index, report)
    if df is None:
        return None, {}
    if role == "training":  # the column pickers offer these: no second read of the file
        report.stats["source_columns"] = list(df.columns)
    columns = _resolve_columns(df, "image", data, index, report, role)
    if columns is None:
        return None, {}
    paths, labels, ids, empty, outside, unusable = [], [], [], [], [], []
    root = base.resolve()
    for i, (p, y) in enumerate(zip(df[columns["image"]], df[columns["label"]])):
        label = _label_name(y)
        if _label_name(p) is None or label is None:
            empty.append(i)
            continue
        try:
            full = (root / str(p).strip()).resolve()  # an absolute path replaces root here, and is then refused
        except (ValueError, OSError, RuntimeError):  # a NUL byte, a name too long, a link loop: not a file
            unusable.append(i)
            continue
        if not full.is_relative_to(root):
            outside.append(str(p).strip())
            continue
        paths.append(str(full))
        labels.append(label)
        ids.append(i)
    _warn_empty(len(empty), empty, index, "image path or label", report)
    _warn_outside(outside, index, report)
    if unusable:
        report.add_warning(
            f"{len(unusable)} image path{'s' if len(unusable) > 1 else ''} in {index.name} cannot be a file name "
            f"(a NUL character, or far too long) and {'were' if len(unusable) > 1 else 'was'} skipped (row "
            f"{unusable[0] + 1}). Check the image path column."
        )
    return _check_images(ids, paths, labels, source, report), columns


def _warn_outside(outside: list[str], index: Path, report: ValidationReport) -> None:
    """Paths that leave the index's folder (absolute, ``../``, links out) are skipped: an upload may only use
    images that came with it."""
    report.stats["outside_paths"] = len(outside)
    if outside:
        shown = ", ".join(Path(p).name or p for p in outside[:3])
        report.add_warning(
            f"{len(outside)} image path{'s' if len(outside) > 1 else ''} in {index.name} point outside the uploaded "
            f"folder and {'were' if len(outside) > 1 else 'was'} skipped ({shown}). Put the images in the zip next "
            f"to the index file and use paths relative to it."
        )


def _image_folder_rows(root: Path, classes: list[Path], source: Path, report: ValidationReport) -> pd.DataFrame | None:
    """Rows from class folders: the folder name is the label, images in sub-folders of it count too."""
    report.stats["format"] = "folders"
    loose = [p.name for p in _visible(root) if _is_image_file(p)]
    if loose:
        report.add_warning(
            f"{len(loose)} image{'s' if len(loose) > 1 else ''} directly in {source.name} "
            f"(not in a class folder) {'were' if len(loose) > 1 else 'was'} ignored, e.g. {loose[0]}. "
            f"Move them into the folder of their class."
        )
    paths, labels = [], []
    for folder in classes:
        for file in sorted(f for f in folder.rglob("*") if _is_image_file(f)):
            paths.append(str(file.resolve()))
            labels.append(folder.name)
    if len(paths) > limits.max_rows():  # every image is opened once below: refuse before that
        report.add_error(str(limits.too_many_rows(source.name, len(paths), "images")))
        return None
    return _check_images(list(range(len(paths))), paths, labels, source, report)


def _check_images(
    ids: list[int], paths: list[str], labels: list[str], source: Path, report: ValidationReport
) -> pd.DataFrame | None:
    """Open every image once (in threads: PIL releases the GIL); unreadable ones are reported and skipped."""
    if not paths:
        report.add_error(f"No images listed in {source.name}. Add image files or rows with an image path.")
        return None
    with ThreadPoolExecutor(max_workers=min(16, (os.cpu_count() or 2) * 2)) as pool:
        digests = list(pool.map(_image_digest, paths))
    bad = [Path(p).name for p, d in zip(paths, digests) if d is None]
    report.stats["unreadable"] = report.stats.get("unreadable", 0) + len(bad)
    if len(bad) == len(paths):
        report.add_error(
            f"None of the {len(paths)} images in {source.name} could be opened (e.g. "
            f"{', '.join(bad[:3])}). Check the paths and use common formats such as PNG or JPEG."
        )
        return None
    if bad:
        report.add_warning(
            f"{len(bad)} of {len(paths)} images in {source.name} could not be found or opened and "
            f"were skipped: {', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''}. "
            f"Re-save them as PNG or JPEG, or remove them."
        )
    keep = [i for i, d in enumerate(digests) if d is not None]
    ids, paths, labels = [ids[i] for i in keep], [paths[i] for i in keep], [labels[i] for i in keep]
    return _rows(ids, paths, labels, [digests[i] for i in keep])  # the content hash is the duplicate key
