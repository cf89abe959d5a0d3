"""Uploads are read with bounded memory: row, byte, column and line caps are checked before (or while) a file is
parsed, and each refusal names the limit and the environment variable. Each test fails if its check is removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tl_core.config import DataConfig
from tl_core.data import load_task_data, read_table
from tl_core.errors import DataError

ROOT = Path(__file__).resolve().parents[2]


def _texts(n: int) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"review number {i}" for i in range(n)], "label": ["pos", "neg"] * (n // 2)})


def _refusal(path: Path, task: str = "text") -> str:
    with pytest.raises(DataError) as err:
        load_task_data(task, DataConfig(train_file=str(path)))
    return str(err.value)


def _tiny_huge_parquet(path: Path, rows: int, per_group: int = 1_000_000) -> None:
    """``rows`` copies of one row in a few hundred KB: dictionary indices that are all 0 compress to nothing."""
    zeros = pa.array(np.zeros(per_group, dtype=np.int32))
    group = pa.table(
        {
            "text": pa.DictionaryArray.from_arrays(zeros, pa.array(["a great movie"])),
            "label": pa.DictionaryArray.from_arrays(zeros, pa.array(["pos"])),
        }
    )
    with pq.ParquetWriter(path, group.schema, compression="zstd") as writer:
        for _ in range(rows // per_group):
            writer.write_table(group)


# --- rows ------------------------------------------------------------------------------------------------------------
def test_a_20_million_row_parquet_is_refused_in_seconds_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.parquet"
    _tiny_huge_parquet(path, 20_000_000)
    assert path.stat().st_size < 1_000_000 and pq.ParquetFile(path).metadata.num_rows == 20_000_000
    # A fresh process, so its peak memory (ru_maxrss) is this load's alone.
    probe = textwrap.dedent(
        f"""
        import json, resource, time
        from tl_core.config import DataConfig
        from tl_core.data import load_task_data
        from tl_core.errors import DataError
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        try:
            load_task_data("text", DataConfig(train_file={str(path)!r}))
            message = None
        except DataError as err:
            message = str(err)
        seconds = time.perf_counter() - start
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(json.dumps({{"message": message, "seconds": seconds, "grown_mb": grown_mb}}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TL_MAX")}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    message = result["message"] or ""
    assert "huge.parquet has 20,000,000 rows" in message and "1,000,000" in message, message
    assert "TL_MAX_ROWS" in message and "Max training rows" in message
    assert result["seconds"] < 5, result
    assert result["grown_mb"] < 100, result  # the brief allows 300; decoding even the indices takes 300


def test_csv_rows_are_capped_while_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TL_MAX_ROWS", "100")
    ok = tmp_path / "ok.csv"
    _texts(100).to_csv(ok, index=False)
    assert len(read_table(ok)) == 100  # exactly at the cap is fine
    big = tmp_path / "big.csv"
    _texts(1000).to_csv(big, index=False)
    reads: list[int | None] = []
    real = pd.read_csv
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: reads.append(k.get("nrows")) or real(*a, **k))
    message = _refusal(big)
    assert "big.csv has about 1,000 rows, more than the 100" in message and "TL_MAX_ROWS" in message
    assert reads == [101]  # pandas was asked for cap + 1 rows, never the whole file


def test_json_lists_and_lines_stop_at_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the cap nothing more is parsed: the broken tail after row 1,001 is never reached."""
    monkeypatch.setenv("TL_MAX_ROWS", "1000")
    records = [json.dumps({"text": f"t{i}", "label": i % 2}) for i in range(2000)]
    as_list = tmp_path / "a.json"
    as_list.write_text("[" + ",".join(records) + ", {broken")
    assert "a.json has more rows than the 1,000" in _refusal(as_list)
    as_lines = tmp_path / "a.jsonl"
    as_lines.write_text("\n".join(records) + "\n{broken\n")
    message = _refusal(as_lines)
    assert "a.jsonl has about 2,001 rows, more than the 1,000" in message and "TL_MAX_ROWS" in message


def test_ner_sentences_are_counted_while_streaming(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TL_MAX_ROWS", "50")
    monkeypatch.setenv("TL_MAX_LINE_KB", "1")
    conll = tmp_path / "a.conll"
    conll.write_text("Paris B-LOC\nis O\n\n" * 100 + "x" * 5000 + " O\n")  # a too-long line after the cap
    message = _refusal(conll, "ner")
    assert "a.conll has more sentences than the 50" in message and "TL_MAX_ROWS" in message
    lines = tmp_path / "a.jsonl"
    lines.write_text("\n".join([json.dumps({"tokens": ["Paris"], "tags": ["B-LOC"]})] * 100) + "\n")
    assert "a.jsonl has about 100 sentences, more than the 50" in _refusal(lines, "ner")


def test_image_folders_over_the_cap_are_refused_before_opening(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tl_core.data import images

    for label in ("cat", "dog"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(4):
            (tmp_path / "imgs" / label / f"{i}.png").write_bytes(b"not decoded")
    monkeypatch.setenv("TL_MAX_ROWS", "5")
    monkeypatch.setattr(images, "_image_digest", lambda p: pytest.fail("an image was opened"))
    assert "imgs has 8 images, more than the 5" in _refusal(tmp_path / "imgs", "image")


# --- bytes, columns, lines -------------------------------------------------------------------------------------------
def test_files_over_the_byte_cap_are_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TL_MAX_UPLOAD_MB", "1")
    for name, task in (("big.csv", "text"), ("big.conll", "ner"), ("big.zip", "image")):
        path = tmp_path / name
        path.write_bytes(b"x" * (2 * 2**20))
        message = _refusal(path, task)
        assert f"{name} is 2.0 MB, more than the 1.0 MB" in message and "TL_MAX_UPLOAD_MB" in message, message


def test_a_parquet_that_unpacks_past_the_byte_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One 1 MB text repeated 100 times: 100 MB once decoded, a few KB on disk. Flat, nested and fixed-width."""
    monkeypatch.setenv("TL_MAX_UPLOAD_MB", "10")
    big = pa.array(["x" * 2**20])
    indices = pa.array(np.zeros(100, dtype=np.int32))
    flat = pa.table({"text": pa.DictionaryArray.from_arrays(indices, big), "label": pa.array(["a", "b"] * 50)})
    nested = pa.table({"text": pa.array([["x" * 2**20]] * 100), "label": pa.array(["a", "b"] * 50)})
    wide = pa.table({f"c{i}": pa.array(np.zeros(200_000, dtype=np.int64)) for i in range(10)})
    for name, table in (("flat", flat), ("nested", nested), ("wide", wide)):
        path = tmp_path / f"{name}.parquet"
        pq.write_table(table, path, compression="zstd")
        assert path.stat().st_size < 2**20
        with pytest.raises(DataError) as err:
            read_table(path)
        assert f"{name}.parquet unpacks to" in str(err.value) and "TL_MAX_UPLOAD_MB" in str(err.value)


def test_wide_headers_and_first_rows_are_refused_before_pandas(tmp_path: Path) -> None:
    """pandas spends minutes on a first row of 300,000 fields (it guesses an index from it); the cap is
    checked on the raw text first."""
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(2000)) + "\n" + ",".join(["1"] * 2000) + "\n")
    assert "wide.csv has 2,000 columns, more than the 1,000" in _refusal(wide)
    first_row = tmp_path / "row.csv"
    first_row.write_text("text,label\n" + ",".join(["x"] * 200_000) + "\nfine,pos\n")
    message = _refusal(first_row)
    assert "row.csv has 200,000 columns" in message and "TL_MAX_COLUMNS" in message
    quoted = tmp_path / "quoted.csv"  # separators inside quotes are not columns
    quoted.write_text('text,label\n"' + ",".join(["x"] * 5000) + '",pos\n"b",neg\n')
    assert len(read_table(quoted).columns) == 2


def test_json_records_with_many_keys_are_refused(tmp_path: Path) -> None:
    """2,000 records with a key each would be a 2,000 x 2,000 frame; refused from the keys."""
    path = tmp_path / "keys.jsonl"
    path.write_text("\n".join(json.dumps({f"k{i}": 1}) for i in range(2000)))
    assert "keys.jsonl has 1,001 columns, more than the 1,000" in _refusal(path)


def test_long_lines_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TL_MAX_LINE_KB", "1")
    for name in ("long.csv", "long.jsonl"):
        path = tmp_path / name
        row = '{"text": "' + "y" * 2000 + '", "label": "a"}' if name.endswith("jsonl") else "y" * 2000 + ",a"
        path.write_text(("text,label\n" if name.endswith("csv") else "") + f"{row}\n")
        message = _refusal(path)
        assert f"of {name} is longer than 1 KB" in message and "TL_MAX_LINE_KB" in message, message


def test_a_whole_json_document_over_its_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TL_MAX_JSON_MB", "1")
    path = tmp_path / "cols.json"
    n = 60_000
    path.write_text(json.dumps({"text": [f"text number {i}" for i in range(n)], "label": ["a", "b"] * (n // 2)}))
    assert path.stat().st_size > 2**20
    message = _refusal(path)
    assert "single JSON document is read up to 1.0 MB" in message and "JSON Lines" in message
    assert "TL_MAX_JSON_MB" in message


def test_a_mistyped_limit_keeps_the_default_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A typo must not lift a limit (nor zero it): the default applies and the log names the variable."""
    path = tmp_path / "a.csv"
    _texts(10).to_csv(path, index=False)
    for typo in ("lots", "0", "-5"):
        monkeypatch.setenv("TL_MAX_ROWS", typo)
        caplog.clear()
        assert len(read_table(path)) == 10
        assert "TL_MAX_ROWS" in caplog.text and "using 1000000" in caplog.text
    monkeypatch.setenv("TL_MAX_ROWS", "5")
    with pytest.raises(DataError, match="more than the 5"):
        read_table(path)


# --- parsed once ---------------------------------------------------------------------------------------------------
def test_the_upload_is_parsed_once_and_its_columns_come_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Data tab needs the file's columns even when detection fails; they come with the report, so the page
    does not read the file a second time."""
    path = tmp_path / "a.csv"
    pd.DataFrame({"review": [f"r{i}" for i in range(10)], "notes": [f"n{i}" for i in range(10)]}).to_csv(
        path, index=False
    )
    calls: list[str] = []
    real = pd.read_csv
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: calls.append(str(a[0])) or real(*a, **k))
    td = load_task_data("text", DataConfig(train_file=str(path)), validate_only=True)
    assert not td.report.ok  # no label column
    assert td.report.stats["source_columns"] == ["review", "notes"]
    assert calls == [str(path)]


def test_duplicate_column_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(["a", "b"]), pa.array(["x", "y"])], names=["text", "text"]), path)
    with pytest.raises(DataError, match="two columns named 'text'"):
        read_table(path)


def test_parquet_with_nested_columns_is_still_read(tmp_path: Path) -> None:
    """The unpacked-size check understands lists, structs and maps (a valid file is not refused)."""
    table = pa.table(
        {
            "text": pa.array(["good", "bad"]),
            "label": pa.array(["pos", "neg"]).dictionary_encode(),
            "tokens": pa.array([["a", "b"], ["c"]]),
            "meta": pa.array([{"a": 1}, {"a": 2}]),
            "extra": pa.array([[("k", 1)], []], type=pa.map_(pa.string(), pa.int64())),
        }
    )
    path = tmp_path / "nested.parquet"
    pq.write_table(table, path)
    df = read_table(path)
    assert list(df.columns) == ["text", "label", "tokens", "meta", "extra"] and len(df) == 2
    assert list(df["text"]) == ["good", "bad"] and list(df["label"].astype(str)) == ["pos", "neg"]
