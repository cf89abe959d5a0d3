"""Hostile uploads: index paths that leave the upload, devices, decompression bombs, formula cells in our CSVs.
Each test fails if its protection is removed."""

from __future__ import annotations

import csv
import io
import resource
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from tl_core.config import DataConfig
from tl_core.data import load_rgb, load_task_data
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
