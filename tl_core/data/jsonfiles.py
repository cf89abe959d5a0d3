"""JSON uploads in bounded memory: JSON Lines are read one line at a time, a whole JSON file only up to a size cap
(parsing it needs several times its size in memory). Shared by the table reader and the NER reader."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import settings
from ..errors import DataError
from . import limits

# What json.loads raises on hostile input besides JSONDecodeError (a ValueError): RecursionError on deep
# nesting ([[[[...), ValueError on integers over Python's digit limit.
_JSON_ERRORS = (ValueError, RecursionError)
# JSON can spell half of a character (a lone surrogate, "\ud800"); Python keeps it, but Arrow, the data hash and
# the page cannot encode it. Only text with such an escape is checked and mended (to U+FFFD).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_TOO_DEEP = "{name} is nested too deeply to read. Use a flat list of records."
_ARRAY_FIX = 'Use a list of records like [{"text": ..., "label": ...}, ...], or JSON Lines.'


def starts_like_array(path: Path) -> bool:
    """True when the first non-blank character is '[': a .jsonl that is really one JSON list."""
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] == b"["


def read_array(path: Path, what: str = "rows") -> list[Any]:
    """The items of a file that is one JSON list, parsed one item at a time: more than TL_MAX_ROWS items are
    refused as soon as item TL_MAX_ROWS + 1 is read, so ``[{}, {}, ...]`` cannot fill the memory."""
    try:
        return _array_items(path, "utf-8-sig", what)
    except UnicodeDecodeError:
        return _array_items(path, "latin-1", what)


def _array_items(path: Path, encoding: str, what: str) -> list[Any]:
    decoder, cap = json.JSONDecoder(), limits.max_rows()
    chunks = _text_chunks(path, encoding)
    buf, pos, eof = "", 0, False
    items: list[Any] = []

    def more() -> None:  # append the next chunk (or note the end); drop what has been parsed already
        nonlocal buf, pos, eof
        chunk = next(chunks, None)
        eof = chunk is None
        buf, pos = buf[pos:] + (chunk or ""), 0

    def skip_space() -> str:  # the next non-blank character, reading on as needed ("" at the end)
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf) or eof:
                return buf[pos : pos + 1]
            more()

    more()
    if skip_space() != "[":
        raise DataError(f"{path.name} does not start with '['. {_ARRAY_FIX}")
    pos += 1
    if skip_space() == "]":
        return items
    while True:
        if not skip_space():
            raise DataError(f"{path.name} is not valid JSON (it ends inside the list). {_ARRAY_FIX}")
        try:
            value, end = decoder.raw_decode(buf, pos)
        except RecursionError:
            raise DataError(_TOO_DEEP.format(name=path.name)) from None
        except ValueError as err:  # not valid, or only cut off at the end of what was read so far
            if eof:
                raise DataError(f"{path.name} is not valid JSON ({_short(err)}). {_ARRAY_FIX}") from None
            _check_item_size(path, len(buf) - pos, len(items), err)
            more()
            continue
        if end >= len(buf) and not eof:  # a number or literal may go on in the next chunk: parse it again
            more()
            continue
        items.append(_mended(value, buf[pos:end], path.name))
        if len(items) > cap:
            raise limits.too_many_rows(path.name, None, what)
        pos = end
        after = skip_space()
        if after == "]":
            return items
        if after != ",":
            raise DataError(
                f"{path.name} is not valid JSON (expected ',' or ']' after item {len(items)}). {_ARRAY_FIX}"
            )
        pos += 1


def _check_item_size(path: Path, pending: int, done: int, err: ValueError) -> None:
    """An item still unparsed after TL_MAX_LINE_KB is refused: it is broken, or one record is too long."""
    if pending > limits.max_line_bytes():
        raise DataError(
            f"Item {done + 1:,} of {path.name} could not be read: it is not valid JSON ({_short(err)}) or it is "
            f"longer than {limits.max_line_bytes() // 1024:,} KB. {_ARRAY_FIX} "
            + limits.RAISE.format(var=settings.MAX_LINE_KB.name)
        )


def _text_chunks(path: Path, encoding: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            yield decoder.decode(block)
        yield decoder.decode(b"", final=True)


def load_whole(path: Path) -> Any:
    """One JSON document, refused up front over TL_MAX_JSON_MB."""
    size, cap = path.stat().st_size, limits.max_json_bytes()
    if size > cap:
        raise DataError(
            f"{path.name} is {size / 2**20:,.1f} MB; a single JSON document is read up to {cap / 2**20:,.1f} MB. "
            f"Save it as a list of records or as JSON Lines (.jsonl, one record per line): those are read one "
            f"record at a time. " + limits.RAISE.format(var=settings.MAX_JSON_MB.name)
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    try:
        return _mended(json.loads(text), text, path.name)
    except RecursionError:
        raise DataError(_TOO_DEEP.format(name=path.name)) from None
    except ValueError as err:
        raise DataError(
            f"{path.name} is not valid JSON ({_short(err)}). Check the file, or save it as JSON Lines."
        ) from None


def read_lines(path: Path, what: str = "rows") -> tuple[list[tuple[int, Any]], list[int]]:
    """JSON Lines: ((line number, value) for each parsed line, line numbers that are not JSON). Blank lines are
    skipped; more than TL_MAX_ROWS values is refused while reading, long before the file is all in memory."""
    cap = limits.max_rows()
    values: list[tuple[int, Any]] = []
    bad: list[int] = []
    with open(path, "rb") as fh:
        for lineno, raw in limits.bounded_lines(fh, path.name):
            text = limits.decode_line(raw, lineno == 1).strip()
            if not text:
                continue
            try:
                values.append((lineno, _mended(json.loads(text), text, path.name)))
            except _JSON_ERRORS:
                bad.append(lineno)
            if len(values) > cap:
                raise limits.too_many_rows(path.name, _count_lines(path), what, approx=True)
    return values, bad


def _mended(value: Any, source: str, name: str) -> Any:
    """``value`` with lone surrogates replaced, when ``source`` (its JSON text) has an escape that can make one."""
    try:
        return _mend(value) if _SURROGATE_ESCAPE.search(source) else value
    except RecursionError:
        raise DataError(_TOO_DEEP.format(name=name)) from None


def _mend(value: Any) -> Any:
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, list):
        return [_mend(v) for v in value]
    if isinstance(value, dict):
        return {_mend(k): _mend(v) for k, v in value.items()}
    return value


def _count_lines(path: Path) -> int | None:
    """The line count for a refusal message (an upper bound on records: blank lines count too)."""
    try:
        return limits.scan_lines(path)[0]
    except OSError:
        return None


def _short(err: Exception, n: int = 120) -> str:
    """The error in one short line; for a JSON error its message without the position inside our buffer."""
    text = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
    return text if len(text) <= n else text[: n - 1] + "…"
