"""Parquet uploads, checked against the limits before the data is decoded.

Parquet compresses repeated values to almost nothing: 20 million copies of one row fit in 130 KB, and one
10 MB string repeated a million times stays small on disk while it would take 10 TB once decoded. So the row
count and the fixed-width columns are checked from the file's metadata, text columns are read as dictionaries
(each distinct value once) and their decoded size summed before anything is expanded.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import limits

# Bytes per value once decoded; BYTE_ARRAY (text) is read as a dictionary: a 4-byte index per value here, the
# text itself is counted after reading.
_WIDTH = {"BOOLEAN": 1, "INT32": 4, "INT64": 8, "INT96": 12, "FLOAT": 4, "DOUBLE": 8, "BYTE_ARRAY": 4}


def read_parquet(path: Path) -> pd.DataFrame:
    """The table in ``path``; raises DataError (via ``limits``) before decoding anything over a limit."""
    meta_file = pq.ParquetFile(path)
    meta, schema = meta_file.metadata, meta_file.schema
    groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
    rows = max(meta.num_rows, sum(g.num_rows for g in groups))
    limits.check_rows(path.name, rows)
    arrow_schema = meta_file.schema_arrow
    limits.check_columns(path.name, len(arrow_schema))
    limits.check_unpacked_size(path.name, _fixed_bytes(schema, groups, rows))
    text_leaves = [schema.column(i).path for i in range(len(schema)) if schema.column(i).physical_type == "BYTE_ARRAY"]
    table = pq.ParquetFile(path, read_dictionary=text_leaves).read(use_pandas_metadata=True)
    limits.check_rows(path.name, table.num_rows)
    limits.check_unpacked_size(path.name, sum(_decoded_bytes(chunk) for col in table.columns for chunk in col.chunks))
    return table.cast(arrow_schema).to_pandas()


def _fixed_bytes(schema: pq.ParquetSchema, groups: list[pq.RowGroupMetaData], rows: int) -> int:
    """Decoded bytes of the fixed-width values (and text indices), from the metadata alone. A flat column holds
    one value per row; a nested one (lists) as many as its column chunks say."""
    total = 0
    for i in range(len(schema)):
        column = schema.column(i)
        width = column.length if column.physical_type == "FIXED_LEN_BYTE_ARRAY" else _WIDTH.get(column.physical_type, 8)
        if column.max_repetition_level == 0:
            total += rows * max(width, 1)
        else:
            total += sum(max(g.column(i).num_values, 0) for g in groups) * max(width, 1)
    return total


def _decoded_bytes(array: pa.Array) -> int:
    """Memory ``array`` would take with every dictionary expanded (nested lists and structs included)."""
    if isinstance(array, pa.DictionaryArray):
        dictionary = array.dictionary
        if pa.types.is_binary(dictionary.type) or pa.types.is_string(dictionary.type) or _is_large(dictionary.type):
            lengths = pc.binary_length(dictionary)
            return int(pc.sum(pc.take(lengths, array.indices)).as_py() or 0) + array.indices.nbytes
        per_value = dictionary.nbytes / max(len(dictionary), 1)
        return int(per_value * len(array)) + array.indices.nbytes
    if isinstance(array, pa.MapArray):  # before ListArray, its base class (whose flatten it does not support)
        return _decoded_bytes(array.keys) + _decoded_bytes(array.items) + 8 * len(array)
    if isinstance(array, (pa.ListArray, pa.LargeListArray, pa.FixedSizeListArray)):
        return _decoded_bytes(array.flatten()) + 8 * len(array)
    if isinstance(array, pa.StructArray):
        return sum(_decoded_bytes(child) for child in array.flatten())
    return array.nbytes


def _is_large(kind: pa.DataType) -> bool:
    return pa.types.is_large_binary(kind) or pa.types.is_large_string(kind)
