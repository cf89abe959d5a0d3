"""NER files: CoNLL text ('token TAG' per line) or JSON Lines of tokens and tags, plus BIO-scheme warnings."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import DataConfig
from ..errors import DataError
from . import jsonfiles, limits
from .columns import detect_columns
from .formats import CONLL_EXTS, NER_JSON_EXTS, _rows
from .validate import ValidationReport, _warn_empty

Sentence = tuple[int, list[str], list[str]]  # (sentence number, tokens, tags), one tag per token
_EMPTY = "{name} is empty. Add sentences: one 'token TAG' per line, a blank line between them."


def _read_ner(
    path: Path, data: DataConfig, report: ValidationReport, work_dir: Path | None, role: str
) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """The NER reader: sentences as token and tag lists (``data`` and ``work_dir`` unused; every reader takes them)."""
    suffix = path.suffix.lower()
    if not path.is_file():
        report.add_error(f"File not found: {path}. Check the path or upload the {role} data again.")
        return None, {}
    if suffix not in CONLL_EXTS + NER_JSON_EXTS:
        report.add_error(
            f"Unsupported file type '{suffix or path.name}' for {path.name}. For NER use CoNLL text "
            f"(.conll, .txt, .bio, .iob: 'token TAG' per line) or JSONL with tokens and tags."
        )
        return None, {}
    try:
        limits.check_file_size(path)
        if suffix in NER_JSON_EXTS:
            sentences, columns = _parse_ner_json(path, report)
        else:
            sentences, columns = _parse_conll(path, report), {}
    except DataError as err:
        report.add_error(str(err))
        return None, {}
    report.stats["format"] = "jsonl" if suffix in NER_JSON_EXTS else "conll"
    if sentences is None:
        return None, columns
    _warn_bio(sentences, path, report)
    if not sentences:
        report.add_error(
            f"No sentences found in {path.name}. Write one 'token TAG' per line and a blank line between sentences."
        )
        return None, columns
    ids, tokens, tags = [s[0] for s in sentences], [s[1] for s in sentences], [s[2] for s in sentences]
    keys = ["\x1f".join(t) for t in tokens]  # a separator no token contains: equal keys mean equal token lists
    return _rows(ids, tokens, tags, keys), columns


def _conll_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line, read one at a time; Unicode line breaks split lines as before."""
    lineno = 0
    with open(path, "rb") as fh:
        for _, raw in limits.bounded_lines(fh, path.name):
            for line in limits.decode_line(raw, lineno == 0).splitlines() or [""]:
                lineno += 1
                yield lineno, line


def _parse_conll(path: Path, report: ValidationReport) -> list[Sentence] | None:
    """Token first, tag last, space or tab separated; blank lines end sentences; -DOCSTART- lines are skipped.
    Read line by line; more than TL_MAX_ROWS sentences is refused as soon as one more is complete."""
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    broken, bad_lines, seen_text, cap = False, [], False, limits.max_rows()

    def flush() -> None:
        nonlocal tokens, tags, broken
        if tokens and not broken:
            sentences.append((len(sentences), tokens, tags))
            if len(sentences) > cap:
                raise limits.too_many_rows(path.name, None, "sentences")
        tokens, tags, broken = [], [], False

    for lineno, line in _conll_lines(path):
        stripped = line.strip()
        seen_text = seen_text or bool(stripped)
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
    if not seen_text:
        report.add_error(_EMPTY.format(name=path.name))
        return None
    if bad_lines:
        shown = ", ".join(map(str, bad_lines[:5])) + (", ..." if len(bad_lines) > 5 else "")
        report.add_error(
            f"Line {bad_lines[0]} of {path.name} has a token but no tag ({len(bad_lines)} such "
            f"line{'s' if len(bad_lines) > 1 else ''}: {shown}). Write 'token TAG' on each line, "
            f"separated by a space or tab, e.g. 'Paris B-LOC'."
        )
    return sentences


def _parse_ner_json(path: Path, report: ValidationReport) -> tuple[list[Sentence] | None, dict[str, str]]:
    """JSON Lines (or a JSON list) of {"tokens": [...], "tags": [...]} with tag names as strings."""
    records = _json_records(path, report)
    if records is None:
        return None, {}
    if not records:
        report.add_error(
            f"No records found in {path.name}. Each line must be an object like "
            f'{{"tokens": ["Paris"], "tags": ["B-LOC"]}}.'
        )
        return None, {}
    columns = detect_columns(pd.DataFrame([records[0][1]]), "ner")
    if "tokens" not in columns or "tags" not in columns:
        report.add_error(
            f"{path.name} needs a 'tokens' and a 'tags' field in every record "
            f"(found: {', '.join(records[0][1])}). Rename the fields to tokens and tags."
        )
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
        report.add_error(
            f"Line {line} of {path.name} has {n_tok} tokens but {n_tag} tags ({len(mismatched)} such "
            f"line{'s' if len(mismatched) > 1 else ''}: {others}). Every token needs exactly one tag."
        )
    if numeric:
        report.add_error(
            f"Line {numeric[0]} of {path.name} has numeric tags. Write tag names such as "
            f'"B-PER" or "O" instead of numbers ({len(numeric)} such lines).'
        )
    _warn_empty(len(empty), empty, path, "token list", report)
    return sentences, columns


def _json_records(path: Path, report: ValidationReport) -> list[tuple[int, dict[str, Any]]] | None:
    """(line number, object) pairs: the file as one JSON list or object, else as JSON Lines (bad lines reported).
    None (reported) for a blank file. Lists and lines are read one item at a time, up to TL_MAX_ROWS."""
    values: list[tuple[int, Any]] | None = None
    bad: list[int] = []
    if jsonfiles.starts_like_array(path):
        values = list(enumerate(jsonfiles.read_array(path, "sentences"), 1))
    elif path.suffix.lower() == ".json" and path.stat().st_size <= limits.max_json_bytes():
        try:
            whole = jsonfiles.load_whole(path)
            values = [(1, whole)] if isinstance(whole, dict) else None
        except DataError:  # not one JSON document: read it as JSON Lines
            values = None
    if values is None:
        values, bad = jsonfiles.read_lines(path, "sentences")
    if bad:
        report.add_error(
            f"Line {bad[0]} of {path.name} is not valid JSON ({len(bad)} such lines). "
            f'Each line must be one object like {{"tokens": [...], "tags": [...]}}.'
        )
    elif not values:
        report.add_error(_EMPTY.format(name=path.name))
        return None
    return [(n, r) for n, r in values if isinstance(r, dict)]


def _warn_bio(sentences: list[Sentence], path: Path, report: ValidationReport) -> None:
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
        report.add_warning(
            f"{orphan} tag{'s' if orphan > 1 else ''} in {path.name} start with I- without a B- or I- "
            f"of the same type before {'them' if orphan > 1 else 'it'} ({example}). "
            f"They are read as the start of an entity; fix them to B-TYPE if that is not intended."
        )
    if odd:
        report.add_warning(
            f"{sum(odd.values())} tags in {path.name} do not follow the BIO scheme (O, B-TYPE, "
            f"I-TYPE), e.g. '{next(iter(odd))}'. Entity scores may be wrong; rename them."
        )
