"""Uploaded zips: checked before anything is written (paths, links, size, bombs), extracted once per content."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .. import paths, settings
from ..errors import DataError, UserError
from . import limits

_BOMB_MIN_BYTES = 100 * 1024**2  # zips larger than this (uncompressed) must not compress better than _BOMB_RATIO
_BOMB_RATIO = 100


def safe_extract_zip(
    zip_path: Path, dest: Path, max_total_bytes: int | None = None, max_files: int | None = None
) -> Path:
    """Extract ``zip_path`` into ``dest`` after rejecting absolute paths, '..', symlinks, file/folder clashes and
    zip bombs. Any failure (a damaged zip included) is one plain DataError, and what was written is removed.
    The size and file-count caps default to TL_MAX_UNZIP_MB and TL_MAX_ZIP_FILES."""
    zip_path, dest = Path(zip_path), Path(dest)
    max_total_bytes = limits.max_unzip_bytes() if max_total_bytes is None else max_total_bytes
    max_files = limits.max_zip_files() if max_files is None else max_files
    limits.check_file_size(zip_path)
    archive = _open_zip(zip_path)
    created: list[Path] = []  # files and folders this call made, removed again if it fails
    with archive:
        try:
            infos = [i for i in archive.infolist() if not i.filename.replace("\\", "/").startswith("__MACOSX/")]
            _check_members(zip_path, infos, max_total_bytes, max_files)
            _extract_members(archive, zip_path, infos, dest, created)
        except BaseException as err:
            _remove(created)
            if isinstance(err, UserError) or not isinstance(err, Exception):
                raise
            raise _plain_error(zip_path, err) from None
    return dest


def _open_zip(zip_path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(zip_path)
    except Exception as err:  # BadZipFile, and on hostile bytes also ValueError, struct.error, OSError, ...
        raise DataError(
            f"{zip_path.name} is not a complete zip file ({_short(err)}): it may have been cut off during the "
            f"upload, or it is not a zip. Re-create the zip and upload it again."
        ) from None


def _extract_members(
    archive: zipfile.ZipFile, zip_path: Path, infos: list[zipfile.ZipInfo], dest: Path, created: list[Path]
) -> None:
    _make_dirs(dest, created)
    root = dest.resolve()
    for info in infos:
        target = (root / info.filename.replace("\\", "/")).resolve()
        if not target.is_relative_to(root):  # second guard, on the resolved path
            raise DataError(f"{zip_path.name} contains a path that points outside the folder ('{info.filename}').")
        if target == root:  # an entry named '.' or '/': nothing to write
            continue
        if info.is_dir():
            _make_dirs(target, created)
            continue
        _make_dirs(target.parent, created)
        with archive.open(info) as src, open(target, "wb") as dst:
            created.append(target)
            shutil.copyfileobj(src, dst, 1024 * 1024)


def _make_dirs(folder: Path, created: list[Path]) -> None:
    """``mkdir -p`` that notes each folder it made (a file in the way raises, and is reported as a clash)."""
    missing = []
    for parent in [folder, *folder.parents]:
        if parent.is_dir():
            break
        missing.append(parent)
    for path in reversed(missing):
        path.mkdir()
        created.append(path)


def _remove(created: list[Path]) -> None:
    """Undo a failed extraction: newest first, so folders are removed after their files."""
    for path in reversed(created):
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        except OSError:  # already gone, or never made; the caller reports the original failure
            pass


def _plain_error(zip_path: Path, err: Exception) -> DataError:
    """What went wrong while unpacking, in the user's words (the library's own message in brackets)."""
    name, detail = zip_path.name, _short(err)
    if isinstance(err, zipfile.BadZipFile) and "CRC" in str(err):
        return DataError(f"{name} is damaged (a file failed its checksum): re-create it and upload again.")
    if isinstance(err, RuntimeError) and ("encrypted" in str(err) or "password" in str(err)):
        return DataError(f"{name} is password-protected. Zip the files again without a password and upload that.")
    if isinstance(err, NotImplementedError):
        return DataError(
            f"{name} uses a compression method this app cannot unpack ({detail}). Re-create it with ordinary zip "
            f"(deflate) compression and upload again."
        )
    if isinstance(err, OSError) and err.errno == errno.ENAMETOOLONG:
        return DataError(f"{name} contains a file name that is too long. Shorten the names and zip again.")
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return DataError(f"There is not enough disk space to unpack {name}. Upload a smaller zip.")
    if isinstance(err, (FileExistsError, NotADirectoryError, IsADirectoryError)):
        return DataError(f"{name} has a file and a folder with the same name. Rename one of them and zip again.")
    return DataError(f"{name} is damaged or incomplete ({detail}): re-create it and upload again.")


def _short(err: Exception, n: int = 120) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= n else text[: n - 1] + "…"


def _check_members(zip_path: Path, infos: list[zipfile.ZipInfo], max_total_bytes: int, max_files: int) -> None:
    """Raise DataError for the first unsafe entry or limit, from the zip's directory alone (nothing written yet)."""
    if len(infos) > max_files:
        raise DataError(
            f"{zip_path.name} holds {len(infos):,} files, more than the limit of {max_files:,}. Upload a smaller "
            f"subset. " + limits.RAISE.format(var=settings.MAX_ZIP_FILES.name)
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
    _check_names(zip_path, infos)
    if total > max_total_bytes:
        raise DataError(
            f"{zip_path.name} would unpack to {total / 1024**3:.2f} GiB, more than the limit of "
            f"{max_total_bytes / 1024**3:.2f} GiB. Upload a smaller subset. "
            + limits.RAISE.format(var=settings.MAX_UNZIP_MB.name)
        )
    if total > _BOMB_MIN_BYTES and total > _BOMB_RATIO * max(compressed, 1):
        raise DataError(
            f"{zip_path.name} looks like a zip bomb (it expands {total / max(compressed, 1):.0f}x). "
            f"Upload the real image files."
        )


def _check_names(zip_path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Names the disk cannot hold, and a file 'a' next to 'a/b' (both cannot be written): refused before
    anything is written, instead of half unpacking."""
    files, folders = set(), set()
    for info in infos:
        parts = tuple(p for p in PurePosixPath(info.filename.replace("\\", "/")).parts if p not in (".", "/"))
        if any(len(p.encode("utf-8", "surrogateescape")) > 255 for p in parts):
            raise DataError(
                f"{zip_path.name} contains a file name longer than 255 bytes. Shorten the names and zip again."
            )
        folders.update(parts[:i] for i in range(1, len(parts)))
        if parts:
            (folders if info.is_dir() else files).add(parts)
    clash = files & folders
    if clash:
        raise DataError(
            f"{zip_path.name} has both a file and a folder named '{'/'.join(min(clash))}'. Rename one of them "
            f"and zip again."
        )


def _extract_cached(zip_path: Path, work_dir: Path | None) -> Path:
    """Extract once per zip content into ``work_dir/extracted``; temp dir + rename keeps it atomic."""
    limits.check_file_size(zip_path)  # before hashing it
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
