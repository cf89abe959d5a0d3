"""The contract every reader keeps: which file types it accepts, and the row table it returns.

The row table is internal: ``id`` (source row or sentence number), ``x`` (text, image path or token list),
``y`` (label or tag list) and ``key`` (what makes two examples duplicates: the text, the image's content hash,
the joined tokens). Checks, the split and the data hash all work on it before it becomes a ``datasets.Dataset``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

TABLE_EXTS = (".csv", ".tsv", ".tab", ".json", ".jsonl", ".ndjson", ".parquet", ".pq")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")
CONLL_EXTS = (".conll", ".txt", ".bio", ".iob", ".tsv")
NER_JSON_EXTS = (".jsonl", ".json", ".ndjson")


def _empty_rows() -> pd.DataFrame:
    """A row table with no rows, for a split that could not be read."""
    return pd.DataFrame({"id": pd.Series(dtype="int64"), "x": [], "y": [], "key": []})


def _rows(ids: list[int], xs: list[Any], ys: list[Any], keys: list[str]) -> pd.DataFrame:
    """A row table; object columns keep lists (NER tokens and tags) as Python lists."""
    return pd.DataFrame(
        {
            "id": pd.Series(ids, dtype="int64"),
            "x": pd.Series(xs, dtype=object),
            "y": pd.Series(ys, dtype=object),
            "key": pd.Series(keys, dtype=object),
        }
    )
