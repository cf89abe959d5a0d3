"""What one data file may cost before it is read: bytes, rows, columns and line length, checked up front.

A public Space is shared by strangers, so a reader must never let a small file turn into gigabytes of memory
(a 500 KB Parquet file can hold 20 million rows). Each limit is a setting (``tl_core/settings.py``); the
refusal says what the limit is, how to get under it, and which environment variable raises it on a private copy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .. import settings
from ..errors import DataError

RAISE = "If you run your own copy of this app, the environment variable {var} raises the limit."
_BLOCK = 1024 * 1024  # bytes read at a time when a file is scanned


def _positive_int(setting: settings.Setting) -> int:
    """A whole number above 0; anything else falls back to the default with a line in the log, as main's
    ``settings.number`` does (a typo must not lift, or zero, a limit)."""
    raw = setting.get().strip().replace("_", "").replace(",", "")
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value >= 1:
        return value
    logging.getLogger("tl_dashboard").warning(
        "%s=%r is not a whole number above 0: using %s", setting.name, setting.get(), setting.default
    )
    return int(setting.default)


def max_rows() -> int:
    return _positive_int(settings.MAX_ROWS)


def max_bytes() -> int:
    return _positive_int(settings.MAX_UPLOAD_MB) * 2**20


def max_json_bytes() -> int:
    return _positive_int(settings.MAX_JSON_MB) * 2**20


def max_columns() -> int:
    return _positive_int(settings.MAX_COLUMNS)


def max_line_bytes() -> int:
    return _positive_int(settings.MAX_LINE_KB) * 1024


def max_unzip_bytes() -> int:
    return _positive_int(settings.MAX_UNZIP_MB) * 2**20


def max_zip_files() -> int:
    return _positive_int(settings.MAX_ZIP_FILES)


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def check_file_size(path: Path) -> None:
    """Refuse a file larger than TL_MAX_UPLOAD_MB before any of it is read."""
    size, cap = path.stat().st_size, max_bytes()
    if size > cap:
        raise DataError(
            f"{path.name} is {_mb(size)}, more than the {_mb(cap)} this app reads from one file. "
            f"Upload a smaller file, for example a random sample of the rows. "
            + RAISE.format(var=settings.MAX_UPLOAD_MB.name)
        )


def check_unpacked_size(name: str, size: int) -> None:
    """Refuse a compressed file (Parquet) whose content would take more than TL_MAX_UPLOAD_MB in memory."""
    cap = max_bytes()
    if size > cap:
        raise DataError(
            f"{name} unpacks to {_mb(size)} of data, more than the {_mb(cap)} this app reads from one file. "
            f"Upload a random sample of the rows. " + RAISE.format(var=settings.MAX_UPLOAD_MB.name)
        )


def too_many_rows(name: str, count: int | None, what: str = "rows", approx: bool = False) -> DataError:
    """The refusal for a file over TL_MAX_ROWS; ``count`` None: only known to be above the limit; ``approx``:
    counted from lines, not parsed."""
    cap = max_rows()
    if count is not None and count > cap:
        has = f"has {'about ' if approx else ''}{count:,} {what}, more than the {cap:,}"
    else:
        has = f"has more {what} than the {cap:,}"
    return DataError(
        f"{name} {has} this app reads from one file. Upload a random sample of at most {cap:,} {what} (the Max "
        f"training rows field can then shrink it further for quick runs). " + RAISE.format(var=settings.MAX_ROWS.name)
    )


def check_rows(name: str, count: int, what: str = "rows") -> None:
    if count > max_rows():
        raise too_many_rows(name, count, what)


def check_columns(name: str, count: int) -> None:
    cap = max_columns()
    if count > cap:
        raise DataError(
            f"{name} has {count:,} columns, more than the {cap:,} this app reads. Keep only the columns you need "
            f"(the text or image path and the label) and upload again. " + RAISE.format(var=settings.MAX_COLUMNS.name)
        )


def line_too_long(name: str, lineno: int) -> DataError:
    return DataError(
        f"Line {lineno:,} of {name} is longer than {max_line_bytes() // 1024:,} KB. Shorten the very long texts, "
        f"or check that the file really is the type its name says. " + RAISE.format(var=settings.MAX_LINE_KB.name)
    )


def scan_lines(path: Path) -> tuple[int, int, int]:
    """(number of lines, length of the longest line, its line number) in bounded memory: one block at a time.
    A line ends at LF or CR (pandas splits at both), so an old-Mac CSV is not one endless line."""
    lines, longest, longest_at, run = 0, 0, 1, 0  # run: bytes of the line still open at the end of the last block
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            arr = np.frombuffer(block, dtype=np.uint8)
            ends = np.flatnonzero((arr == 10) | (arr == 13))
            if len(ends) == 0:
                run += len(arr)
                if run > longest:
                    longest, longest_at = run, lines + 1
                continue
            gaps = np.diff(ends, prepend=-1) - 1
            gaps[0] += run
            widest = int(np.argmax(gaps))
            if gaps[widest] > longest:
                newlines_before = int(np.count_nonzero(arr[: ends[widest]] == 10))
                longest, longest_at = int(gaps[widest]), lines + newlines_before + 1
            lines += int(np.count_nonzero(arr == 10))
            run = len(arr) - int(ends[-1]) - 1
            if run > longest:
                longest, longest_at = run, lines + 1
    return lines + (run > 0), longest, longest_at


def check_line_lengths(path: Path) -> int:
    """Refuse a text file with a line over TL_MAX_LINE_KB (a field can be no longer); return its line count."""
    lines, longest, at = scan_lines(path)
    if longest > max_line_bytes():
        raise line_too_long(path.name, at)
    return lines


def bounded_lines(fh: BinaryIO, name: str) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line) pairs; a line longer than TL_MAX_LINE_KB is refused before it is all in memory."""
    cap = max_line_bytes()
    lineno = 0
    while True:
        line = fh.readline(cap + 2)  # + room for CR LF
        if not line:
            return
        lineno += 1
        if len(line.rstrip(b"\r\n")) > cap:
            raise line_too_long(name, lineno)
        yield lineno, line


def decode_line(line: bytes, first: bool) -> str:
    """UTF-8 (a BOM on the first line dropped), else Latin-1, which decodes any byte: a stray byte is not fatal."""
    try:
        return line.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")
