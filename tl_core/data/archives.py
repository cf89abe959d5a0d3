"""Uploaded zips: checked before anything is written (paths, links, size, bombs), extracted once per content."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .. import paths
from ..errors import DataError

_BOMB_MIN_BYTES = 100 * 1024**2  # zips larger than this (uncompressed) must not compress better than _BOMB_RATIO
_BOMB_RATIO = 100


def safe_extract_zip(zip_path: Path, dest: Path, max_total_bytes: int = 2 * 1024**3, max_files: int = 200_000) -> Path:
    """Extract ``zip_path`` into ``dest`` after rejecting absolute paths, '..', symlinks and zip bombs."""
    zip_path, dest = Path(zip_path), Path(dest)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(
            f"{zip_path.name} is not a readable zip file ({err}). Re-create the zip and upload it again."
        ) from None
    with archive:
        infos = [i for i in archive.infolist() if not i.filename.replace("\\", "/").startswith("__MACOSX/")]
        _check_members(zip_path, infos, max_total_bytes, max_files)
        root = dest.resolve()
        root.mkdir(parents=True, exist_ok=True)
        for info in infos:
            target = (root / info.filename.replace("\\", "/")).resolve()
            if not target.is_relative_to(root):  # second guard, on the resolved path
                raise DataError(f"{zip_path.name} contains a path that points outside the folder ('{info.filename}').")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
    return dest


def _check_members(zip_path: Path, infos: list[zipfile.ZipInfo], max_total_bytes: int, max_files: int) -> None:
    """Raise DataError for the first unsafe entry or limit, from the zip's directory alone (nothing written yet)."""
    if len(infos) > max_files:
        raise DataError(
            f"{zip_path.name} holds {len(infos):,} files, more than the limit of {max_files:,}. Upload a smaller subset."
        )
    total = compressed = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            raise DataError(
                f"{zip_path.name} contains an absolute path ('{info.filename}'), which is not allowed."
                f" Zip the folder with relative paths and upload it again."
            )
        if ".." in PurePosixPath(name).parts:
            raise DataError(
                f"{zip_path.name} contains a path that points outside the folder "
                f"('{info.filename}'). Zip the folder without '..' in paths."
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DataError(
                f"{zip_path.name} contains a symbolic link ('{info.filename}'), which is not allowed."
                f" Zip the real files instead."
            )
        total += info.file_size
        compressed += info.compress_size
    if total > max_total_bytes:
        raise DataError(
            f"{zip_path.name} would unpack to {total / 1024**3:.2f} GiB, more than the limit of "
            f"{max_total_bytes / 1024**3:.2f} GiB. Upload a smaller subset."
        )
    if total > _BOMB_MIN_BYTES and total > _BOMB_RATIO * max(compressed, 1):
        raise DataError(
            f"{zip_path.name} looks like a zip bomb (it expands {total / max(compressed, 1):.0f}x). "
            f"Upload the real image files."
        )


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
        except OSError:  # another process finished the same zip first: keep theirs
            if not dest.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
