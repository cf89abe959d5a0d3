"""Hostile uploads: index paths that leave the upload, devices, decompression bombs, formula cells in our CSVs,
damaged zips. Each test fails if its protection is removed."""

from __future__ import annotations

import csv
import io
import resource
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from tl_core.config import DataConfig
from tl_core.data import load_rgb, load_task_data, safe_extract_zip
from tl_core.errors import DataError
from tl_core.predict import rows_to_csv


def _images(root: Path, n: int = 6) -> None:
    for label, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (root / label).mkdir(parents=True, exist_ok=True)
        for j in range(n):
            Image.new("RGB", (16, 16), colour).save(root / label / f"{j}.png")


def test_index_paths_outside_the_upload_are_skipped_and_named(tmp_path: Path, tl_home: Path) -> None:
    root = tmp_path / "upload"
    _images(root)
    secret = tmp_path / "secret.png"  # a readable image on the server, outside the upload
    Image.new("RGB", (16, 16), (1, 2, 3)).save(secret)
    rows = [{"file": f"{c}/{j}.png", "label": c} for c in ("red", "blue") for j in range(6)]
    rows += [
        {"file": "/dev/zero", "label": "red"},
        {"file": "/etc/passwd", "label": "blue"},
        {"file": "../secret.png", "label": "red"},
        {"file": str(secret), "label": "blue"},
    ]
    pd.DataFrame(rows).to_csv(root / "index.csv", index=False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data = load_task_data("image", DataConfig(train_file=str(root / "index.csv"), eval_fraction=0.34))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    used = set(data.train["image"]) | set(data.eval["image"])
    assert len(used) == 12 and all(Path(p).is_relative_to(root.resolve()) for p in used)
    warnings = [p.message for p in data.report.warnings]
    assert any("4 image paths" in w and "outside the uploaded folder" in w for w in warnings), warnings
    assert data.report.stats["outside_paths"] == 4
    assert grown_mb < 200  # /dev/zero was never read


def test_a_device_inside_the_upload_is_never_read(tmp_path: Path, tl_home: Path) -> None:
    root = tmp_path / "upload"
    _images(root)
    (root / "zero.png").symlink_to("/dev/zero")  # inside the folder by name, a device by nature
    rows = [{"file": f"{c}/{j}.png", "label": c} for c in ("red", "blue") for j in range(6)]
    pd.DataFrame(rows + [{"file": "zero.png", "label": "red"}]).to_csv(root / "index.csv", index=False)
    data = load_task_data("image", DataConfig(train_file=str(root / "index.csv"), eval_fraction=0.34))
    assert len(data.train) + len(data.eval) == 12


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    Image.new("1", (9000, 9000)).save(bomb)  # 81 M pixels in a few KB
    assert bomb.stat().st_size < 100_000
    with pytest.raises(DataError, match="larger than"):
        load_rgb(bomb)


def test_formula_cells_are_escaped_in_our_csv() -> None:
    text = rows_to_csv(
        [
            {"text": '=HYPERLINK("http://x")', "prediction": "+1", "confidence": 0.5},
            {"text": "@SUM(A1)", "prediction": "-neg", "confidence": 0.25},
        ]
    )
    cells = list(csv.reader(io.StringIO(text)))
    assert cells[1][:2] == ['\'=HYPERLINK("http://x")', "'+1"] and cells[1][2] == "0.5"
    assert cells[2][:2] == ["'@SUM(A1)", "'-neg"]


# --- damaged zips: one plain message each, nothing left behind -------------------------------------------------
def _zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, payload in members:
            zf.writestr(name, payload)
    return path


def _bad_crc(path: Path) -> Path:
    _zip(path, [("ok/first.txt", b"fine"), ("ok/second.txt", b"hello world")])
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"hello world")] = ord("j")  # stored, so the checksum no longer matches the bytes
    path.write_bytes(bytes(raw))
    return path


def _encrypted(path: Path) -> Path:
    _zip(path, [("ok/first.txt", b"fine"), ("secret.txt", b"data")])
    raw = bytearray(path.read_bytes())
    raw[raw.rindex(b"PK\x01\x02") + 8] |= 0x1  # the last entry's "encrypted" flag: reading it needs a password
    path.write_bytes(bytes(raw))
    return path


def _truncated(path: Path) -> Path:
    _zip(path, [(f"img/{i}.txt", b"x" * 1000) for i in range(5)], zipfile.ZIP_DEFLATED)
    path.write_bytes(path.read_bytes()[:-30])  # cut off during upload: the directory at the end is gone
    return path


def _corrupt_data(path: Path) -> Path:
    _zip(path, [("ok/first.txt", b"fine"), ("ok/big.txt", b"hello world " * 1000)], zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    start = raw.index(b"ok/big.txt") + len("ok/big.txt")
    raw[start + 5 : start + 40] = b"\xff" * 35  # inside the compressed stream
    path.write_bytes(bytes(raw))
    return path


DAMAGED = {
    "bad_crc": (_bad_crc, "is damaged (a file failed its checksum): re-create it and upload again"),
    "clash": (
        lambda p: _zip(p, [("ok/first.txt", b"fine"), ("a", b"file"), ("a/b", b"inside")]),
        "has both a file and a folder named 'a'",
    ),
    "clash_dir_first": (
        lambda p: _zip(p, [("ok/first.txt", b"fine"), ("a/b", b"inside"), ("a", b"file")]),
        "has both a file and a folder named 'a'",
    ),
    "truncated": (_truncated, "is not a complete zip file"),
    "corrupt_data": (_corrupt_data, "is damaged or incomplete"),
    "encrypted": (_encrypted, "is password-protected"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGED))
def test_damaged_zips_get_a_plain_message_and_leave_nothing(kind: str, tmp_path: Path) -> None:
    make, expected = DAMAGED[kind]
    zip_path = make(tmp_path / f"{kind}.zip")
    dest = tmp_path / "out" / "unpacked"
    with pytest.raises(DataError) as err:
        safe_extract_zip(zip_path, dest)
    assert expected in str(err.value), str(err.value)
    assert not (tmp_path / "out").exists()  # every folder this call made is gone again
    # into a folder that already holds files: those stay, what the failed call wrote goes
    dest.mkdir(parents=True)
    (dest / "keep.txt").write_text("saved before")
    with pytest.raises(DataError):
        safe_extract_zip(zip_path, dest)
    assert sorted(p.name for p in dest.rglob("*")) == ["keep.txt"]


def test_a_damaged_image_zip_is_a_reported_error_and_no_temp_folder_stays(tmp_path: Path, tl_home: Path) -> None:
    zip_path = _bad_crc(tmp_path / "photos.zip")
    work = tmp_path / "work"
    td = load_task_data("image", DataConfig(train_file=str(zip_path)), work, validate_only=True)
    assert any("failed its checksum" in p.message for p in td.report.errors)
    assert [p.name for p in (work / "extracted").iterdir()] == []
