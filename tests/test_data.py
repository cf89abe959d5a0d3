"""tl_core.data: formats, column detection, validation report, splits, images, zips, NER, hashing, samples."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tl_core import data as data_mod
from tl_core.config import DataConfig
from tl_core.data import (
    ValidationReport,
    add_truncation_stats,
    archives,
    detect_columns,
    load_rgb,
    load_task_data,
    read_table,
    safe_extract_zip,
)
from tl_core.errors import DataError
from tl_core.samples import sample_path

POS = [
    "great phone, love it",
    "works perfectly",
    "excellent value",
    "really happy with it",
    "best purchase ever",
    "would buy again",
    "fantastic quality",
    "superb battery",
]
NEG = [
    "broke after a day",
    "terrible support",
    "waste of money",
    "very disappointed",
    "awful screen",
    "returned it",
    "cheap plastic junk",
    "never again",
]


def _frame(n_per_class: int = 8) -> pd.DataFrame:
    rows = [{"review_text": t, "opinion": "pos"} for t in POS[:n_per_class]]
    rows += [{"review_text": t, "opinion": "neg"} for t in NEG[:n_per_class]]
    return pd.DataFrame(rows)


def _write(df: pd.DataFrame, path: Path) -> Path:
    suffix = path.suffix
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".tsv":
        df.to_csv(path, sep="\t", index=False)
    elif suffix == ".json":
        path.write_text(json.dumps(df.to_dict(orient="records")))
    elif suffix == ".jsonl":
        df.to_json(path, orient="records", lines=True)
    elif suffix == ".parquet":
        df.to_parquet(path)
    return path


def _load(task: str, tmp_path: Path, **kw) -> data_mod.TaskData:
    return load_task_data(task, DataConfig(**kw), work_dir=tmp_path / "work")


def _messages(report: ValidationReport, level: str) -> str:
    return "\n".join(p.message for p in report.problems if p.level == level)


# --- text ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_text_formats_and_detection(tmp_path: Path, suffix: str) -> None:
    path = _write(_frame(), tmp_path / f"reviews{suffix}")
    td = _load("text", tmp_path, train_file=str(path), eval_fraction=0.25)
    assert td.columns == {"text": "review_text", "label": "opinion"}
    assert td.labels == ["neg", "pos"]
    assert len(td.train) == 12 and len(td.eval) == 4
    assert set(td.train.column_names) == {"id", "text", "label"}
    assert td.report.errors == []
    row = td.train[0]
    assert row["text"] == _frame()["review_text"][row["id"]]
    assert td.labels[row["label"]] == _frame()["opinion"][row["id"]]


def test_detect_columns_by_content_and_name() -> None:
    df = pd.DataFrame(
        {"id": range(8), "blurb": [f"a long and unique sentence number {i}" for i in range(8)], "kind": ["a", "b"] * 4}
    )
    assert detect_columns(df, "text") == {"text": "blurb", "label": "kind"}
    df2 = pd.DataFrame(
        {
            "review_title": ["ok"] * 4,
            "review_text": ["a much longer text here", "b", "c", "d"],
            "sentiment": [0, 1, 0, 1],
        }
    )
    assert detect_columns(df2, "text") == {"text": "review_text", "label": "sentiment"}


def test_int_labels_become_sorted_names(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": [f"text number {i}" for i in range(30)], "label": [2, 10, 1] * 10})
    td = _load("text", tmp_path, train_file=str(_write(df, tmp_path / "a.csv")))
    assert td.labels == ["1", "2", "10"]
    assert all(td.labels[r["label"]] == str(df["label"][r["id"]]) for r in td.train)


def test_column_override_and_bad_override(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "a": [f"first text {i}" for i in range(10)],
            "b": [f"second {i}" for i in range(10)],
            "c": ["x", "y"] * 5,
            "label": ["p", "q"] * 5,
        }
    )
    path = _write(df, tmp_path / "a.csv")
    td = _load("text", tmp_path, train_file=str(path), text_column="b", label_column="c")
    assert td.columns == {"text": "b", "label": "c"}
    assert td.train[0]["text"].startswith("second")
    with pytest.raises(DataError) as err:
        _load("text", tmp_path, train_file=str(path), label_column="nope")
    assert "'nope'" in str(err.value) and "a, b, c, label" in str(err.value)


def test_separate_eval_file(tmp_path: Path) -> None:
    train = _write(_frame(), tmp_path / "train.csv")
    ev = _write(
        pd.DataFrame({"review_text": ["fine product", "bad product"], "opinion": ["pos", "neg"]}), tmp_path / "eval.csv"
    )
    td = _load("text", tmp_path, train_file=str(train), eval_file=str(ev))
    assert len(td.train) == 16 and len(td.eval) == 2
    assert td.eval["text"] == ["fine product", "bad product"]
    assert td.report.stats["splits"] == {"train": 16, "eval": 2}


def test_stratified_split_is_deterministic(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": [f"sample text {i}" for i in range(40)], "label": ["a"] * 30 + ["b"] * 10})
    path = _write(df, tmp_path / "a.csv")
    one = _load("text", tmp_path, train_file=str(path), eval_fraction=0.2, seed=1)
    two = _load("text", tmp_path, train_file=str(path), eval_fraction=0.2, seed=1)
    other = _load("text", tmp_path, train_file=str(path), eval_fraction=0.2, seed=2)
    assert list(one.eval["id"]) == list(two.eval["id"]) and one.data_hash == two.data_hash
    assert list(one.eval["id"]) != list(other.eval["id"]) and one.data_hash != other.data_hash
    assert one.report.stats["class_balance"]["eval"] == {"a": 6, "b": 2}
    assert one.report.stats["stratified"] is True
    assert not set(one.train["id"]) & set(one.eval["id"])


def test_max_rows_caps_training_rows(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": [f"sample text {i}" for i in range(100)], "label": ["a", "b"] * 50})
    path = _write(df, tmp_path / "a.csv")
    full = _load("text", tmp_path, train_file=str(path))
    capped = _load("text", tmp_path, train_file=str(path), max_rows=20)
    assert len(capped.train) == 20 and capped.report.stats["class_balance"]["train"] == {"a": 10, "b": 10}
    assert capped.data_hash != full.data_hash
    assert capped.data_hash == _load("text", tmp_path, train_file=str(path), max_rows=20).data_hash


def test_data_hash_changes_with_content_and_labels(tmp_path: Path) -> None:
    df = _frame()
    base = _load("text", tmp_path, train_file=str(_write(df, tmp_path / "a.csv"))).data_hash
    moved = _load("text", tmp_path, train_file=str(_write(df, tmp_path / "b.csv"))).data_hash
    assert base == moved  # content hash, not path
    changed = df.copy()
    changed.loc[0, "review_text"] = "something else entirely"
    assert _load("text", tmp_path, train_file=str(_write(changed, tmp_path / "c.csv"))).data_hash != base
    relabelled = df.replace({"opinion": {"pos": "positive"}})
    assert _load("text", tmp_path, train_file=str(_write(relabelled, tmp_path / "d.csv"))).data_hash != base


# --- blocking problems -----------------------------------------------------------------------------------------
def _error_of(tmp_path: Path, task: str = "text", **kw) -> str:
    with pytest.raises(DataError) as err:
        _load(task, tmp_path, **kw)
    return str(err.value)


def test_no_label_column(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [f"unique text {i}" for i in range(6)], "b": [f"other {i}" for i in range(6)]})
    msg = _error_of(tmp_path, train_file=str(_write(df, tmp_path / "reviews.csv")))
    assert "No label column found in reviews.csv (columns: a, b)" in msg
    assert "data.label_column" not in msg  # the browser shows the message: the config key is the CLI's hint
    with pytest.raises(DataError) as err:
        _load("text", tmp_path, train_file=str(tmp_path / "reviews.csv"))
    assert "data.label_column=NAME" in err.value.for_cli()


def test_only_one_class(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": [f"t {i}" for i in range(6)], "label": ["same"] * 6})
    msg = _error_of(tmp_path, train_file=str(_write(df, tmp_path / "a.csv")))
    assert "Only one class ('same')" in msg and "at least two classes" in msg


def test_fewer_examples_than_classes(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": ["one", "two", "three"], "label": ["a", "b", "c"]})
    msg = _error_of(tmp_path, train_file=str(_write(df, tmp_path / "a.csv")), eval_fraction=0.5)
    assert "Only 1 training example for 3 classes" in msg


def test_nothing_readable(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    for cls in ("cat", "dog"):
        (folder / cls).mkdir(parents=True)
        (folder / cls / "x.png").write_bytes(b"not an image")
    msg = _error_of(tmp_path, "image", train_file=str(folder))
    assert "None of the 2 images in imgs could be opened" in msg


def test_empty_file_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "empty.csv is empty" in _error_of(tmp_path, train_file=str(empty))
    xlsx = tmp_path / "data.xlsx"
    xlsx.write_bytes(b"PK")
    assert "Unsupported file type '.xlsx'" in _error_of(tmp_path, train_file=str(xlsx))
    assert "File not found" in _error_of(tmp_path, train_file=str(tmp_path / "nope.csv"))
    with pytest.raises(DataError, match="Unsupported file type"):
        read_table(xlsx)


def test_all_errors_in_one_message(tmp_path: Path) -> None:
    path = _write(_frame(), tmp_path / "a.csv")
    msg = _error_of(tmp_path, train_file=str(path), text_column="missing", eval_file=str(tmp_path / "gone.csv"))
    lines = [line for line in msg.splitlines() if line.startswith("- ")]
    assert len(lines) == 2
    assert "'missing'" in msg and "gone.csv" in msg


def test_validate_only_returns_report(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": [f"t {i}" for i in range(6)], "label": ["same"] * 6})
    td = load_task_data(
        "text", DataConfig(train_file=str(_write(df, tmp_path / "a.csv"))), tmp_path, validate_only=True
    )
    assert len(td.report.errors) == 1 and td.report.to_dict()["ok"] is False
    json.dumps(td.report.to_dict())


# --- warnings --------------------------------------------------------------------------------------------------
def test_duplicates_overlap_and_empty_rows(tmp_path: Path) -> None:
    df = _frame()
    df = pd.concat([df, df.iloc[[0, 1, 8]], pd.DataFrame({"review_text": [None, ""], "opinion": ["pos", "neg"]})])
    td = _load("text", tmp_path, train_file=str(_write(df, tmp_path / "a.csv")), eval_fraction=0.4)
    stats, warnings = td.report.stats, _messages(td.report, "warning")
    assert stats["empty_rows"] == 2 and "2 rows of a.csv with an empty text or label were skipped" in warnings
    assert stats["duplicates"] == 3 and "3 duplicate texts" in warnings
    ev = _write(
        pd.DataFrame({"review_text": [POS[0], NEG[0], "new one"], "opinion": ["pos", "neg", "neg"]}),
        tmp_path / "eval.csv",
    )
    td = _load("text", tmp_path, train_file=str(_write(_frame(), tmp_path / "b.csv")), eval_file=str(ev))
    assert td.report.stats["overlap"] == 2
    assert "2 evaluation examples also appear in the training data" in _messages(td.report, "warning")
    assert len(td.train) + len(td.eval) == 19


def test_imbalance_warning(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": [f"t {i}" for i in range(46)], "label": ["big"] * 44 + ["small"] * 2})
    td = _load("text", tmp_path, train_file=str(_write(df, tmp_path / "a.csv")), eval_fraction=0.5)
    assert "very imbalanced" in _messages(td.report, "warning")


def test_truncation_stats() -> None:
    report = ValidationReport()

    def tokenizer(batch, truncation, is_split_into_words, verbose):  # one token per word
        return {"input_ids": [(t if is_split_into_words else t.split()) for t in batch]}

    add_truncation_stats(report, ["a b c d e f", "a b", "a", "b"], tokenizer, max_length=4)
    assert report.stats["truncated_share"] == 0.25 and "25%" in _messages(report, "warning")
    quiet = ValidationReport()
    add_truncation_stats(quiet, [["a", "b"]] * 30, tokenizer, max_length=4, is_split_into_words=True)
    assert quiet.stats["truncated_share"] == 0 and not quiet.warnings


# --- images ----------------------------------------------------------------------------------------------------
def _png(path: Path, colour: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (colour, 255 - colour, 0)).save(path)
    return path


def _image_folder(root: Path, n: int = 4) -> Path:
    for c, cls in enumerate(("cat", "dog")):
        for i in range(n):
            _png(root / cls / f"{i}.png", 20 * i + c * 100)
    return root


def test_image_folder_with_unreadable_file(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "pets")
    (root / "dog" / "broken.jpg").write_bytes(b"garbage")
    (root / "notes.txt").write_text("ignored")
    td = _load("image", tmp_path, train_file=str(root), eval_fraction=0.25)
    assert td.labels == ["cat", "dog"] and len(td.train) + len(td.eval) == 8
    assert td.report.stats["unreadable"] == 1 and "broken.jpg" in _messages(td.report, "warning")
    path = Path(td.train[0]["image"])
    assert path.is_absolute() and path.parent.name == td.labels[td.train[0]["label"]]


def test_image_zip_with_nested_top_folder(tmp_path: Path) -> None:
    src = _image_folder(tmp_path / "src" / "dataset")
    zpath = tmp_path / "pets.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in sorted(src.rglob("*.png")):
            zf.write(f, f.relative_to(tmp_path / "src").as_posix())
    td = _load("image", tmp_path, train_file=str(zpath))
    assert td.labels == ["cat", "dog"] and len(td.train) + len(td.eval) == 8
    assert str(tmp_path / "work" / "extracted") in td.train[0]["image"]
    again = _load("image", tmp_path, train_file=str(zpath))  # cached extraction, same hash
    assert again.data_hash == td.data_hash and again.train["image"] == td.train["image"]


def test_image_csv_index_with_relative_paths(tmp_path: Path) -> None:
    root = tmp_path / "shots"
    for i in range(6):
        _png(root / "img" / f"{i}.png", 30 * i)
    pd.DataFrame(
        {"filename": [f"img/{i}.png" for i in range(6)] + ["img/missing.png"], "category": ["a", "b"] * 3 + ["a"]}
    ).to_csv(root / "index.csv", index=False)
    td = _load("image", tmp_path, train_file=str(root / "index.csv"), eval_fraction=0.34)
    assert td.columns == {"image": "filename", "label": "category"}
    assert len(td.train) + len(td.eval) == 6 and "missing.png" in _messages(td.report, "warning")
    assert Path(td.train[0]["image"]) == (root / "img" / f"{td.train[0]['id']}.png").resolve()


def test_load_rgb_modes(tmp_path: Path) -> None:
    grey = Image.new("L", (5, 4), 100)
    assert load_rgb(grey).mode == "RGB" and load_rgb(grey).getpixel((0, 0)) == (100, 100, 100)
    pal = Image.new("P", (5, 4), 1)
    pal.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    path = tmp_path / "p.png"
    pal.save(path)
    assert load_rgb(path).getpixel((0, 0)) == (10, 20, 30)
    rgba = Image.new("RGBA", (5, 4), (255, 0, 0, 0))
    buf = io.BytesIO()
    rgba.save(buf, format="PNG")
    out = load_rgb(buf.getvalue())
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (255, 255, 255)  # transparent -> white
    deep = Image.fromarray(np.full((4, 5), 65535, dtype=np.uint16))
    deep.save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode.startswith("I")
    out = load_rgb(tmp_path / "d.png")
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (255, 255, 255)


def test_load_rgb_applies_exif_orientation(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif.tobytes(), quality=95)
    out = load_rgb(str(path))
    assert out.size == (20, 40) and out.mode == "RGB"
    top, bottom = out.getpixel((10, 5)), out.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60  # red ended up on top


def test_zip_traversal_symlink_and_size_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("ok/a.txt", "fine")
        zf.writestr("../evil.txt", "bad")
    with pytest.raises(DataError, match="outside the folder"):
        safe_extract_zip(evil, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()
    absolute = tmp_path / "abs.zip"
    with zipfile.ZipFile(absolute, "w") as zf:
        zf.writestr(zipfile.ZipInfo("/etc/x"), "bad")
    with pytest.raises(DataError, match="absolute path"):
        safe_extract_zip(absolute, tmp_path / "out")
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("l")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(DataError, match="symbolic link"):
        safe_extract_zip(link, tmp_path / "out")
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", b"\0" * 200_000)
    with pytest.raises(DataError, match="limit"):
        safe_extract_zip(bomb, tmp_path / "out", max_total_bytes=100_000)
    monkeypatch.setattr(archives, "_BOMB_MIN_BYTES", 1000)  # read where the zip check runs
    with pytest.raises(DataError, match="zip bomb"):
        safe_extract_zip(bomb, tmp_path / "out")
    # and through load_task_data it is a reported error, not a crash
    assert "outside the folder" in _error_of(tmp_path, "image", train_file=str(evil))


# --- NER -------------------------------------------------------------------------------------------------------
CONLL = """-DOCSTART- O

John B-PER
lives O
in O
New B-LOC
York I-LOC
. O

Acme B-ORG
hired O
Mary B-PER
.\tO
"""


def _sentences(n: int) -> str:
    names = ["Anna", "Ben", "Carla", "Dev", "Eve", "Femi", "Gus", "Hana"]
    return "".join(f"{names[i % 8]}{i} B-PER\nvisited O\nRome B-LOC\n. O\n\n" for i in range(n))


def test_conll_space_tab_and_docstart(tmp_path: Path) -> None:
    path = tmp_path / "a.conll"
    path.write_text(CONLL + "\n" + _sentences(4).replace(" ", "\t"))
    td = _load("ner", tmp_path, train_file=str(path), eval_fraction=0.34)
    assert td.labels == ["O", "B-LOC", "I-LOC", "B-ORG", "B-PER"]
    sents = {tuple(t) for t in list(td.train["tokens"]) + list(td.eval["tokens"])}
    assert ("John", "lives", "in", "New", "York", ".") in sents and ("Acme", "hired", "Mary", ".") in sents
    assert len(sents) == 6 and not any("-DOCSTART-" in s for s in sents)
    all_rows = list(td.train) + list(td.eval)
    john = next(r for r in all_rows if r["tokens"][0] == "John")
    assert [td.labels[t] for t in john["tags"]] == ["B-PER", "O", "O", "B-LOC", "I-LOC", "O"]
    assert td.report.stats["entity_counts"]["train"]["PER"] + td.report.stats["entity_counts"]["eval"]["PER"] == 6


def test_ner_jsonl_and_i_without_b(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    recs = [
        {"tokens": ["Paris", "is", "nice"], "tags": ["B-LOC", "O", "O"]},
        {"tokens": ["the", "Big", "Apple"], "tags": ["O", "I-LOC", "I-LOC"]},
        {"tokens": ["Bob", "ran"], "tags": ["B-PER", "O"]},
        {"tokens": ["Ann", "Lee", "sat"], "tags": ["B-PER", "I-PER", "O"]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in recs))
    td = _load("ner", tmp_path, train_file=str(path), eval_fraction=0.25)
    assert td.columns == {"tokens": "tokens", "tags": "tags"}
    assert td.labels == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    warn = _messages(td.report, "warning")
    assert "1 tag in a.jsonl start with I- without a B-" in warn and "'Big' is I-LOC after O" in warn


def test_ner_token_tag_mismatch_errors(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(
        json.dumps({"tokens": ["a", "b"], "tags": ["O", "B-X"]})
        + "\n"
        + json.dumps({"tokens": ["a", "b", "c"], "tags": ["O"]})
        + "\n"
    )
    msg = _error_of(tmp_path, "ner", train_file=str(path))
    assert "Line 2 of a.jsonl has 3 tokens but 1 tags" in msg
    conll = tmp_path / "b.conll"
    conll.write_text("John B-PER\nlives\nhere O\n\nAnn B-PER\n. O\n")
    msg = _error_of(tmp_path, "ner", train_file=str(conll))
    assert "Line 2 of b.conll has a token but no tag" in msg


def test_ner_unseen_eval_tags(tmp_path: Path) -> None:
    train, ev = tmp_path / "train.conll", tmp_path / "eval.conll"
    train.write_text(_sentences(6))
    ev.write_text("Acme B-ORG\nwins O\n")
    td = _load("ner", tmp_path, train_file=str(train), eval_file=str(ev))
    assert "B-ORG" in td.labels and "never appear in training: B-ORG" in _messages(td.report, "warning")


# --- bundled samples -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", ["text", "image", "ner"])
def test_bundled_samples_load(task: str, tl_home: Path) -> None:
    td = load_task_data(task, DataConfig())
    assert td.report.errors == [] and len(td.labels) >= 2
    assert len(td.train) > len(td.eval) > 0
    if task == "image":
        assert sample_path("image").is_relative_to(tl_home)
        img = Image.open(td.train[0]["image"])
        assert img.mode == "L" and img.size == (64, 64) and load_rgb(td.train[0]["image"]).mode == "RGB"
        assert len(td.labels) == 5
    if task == "ner":
        assert td.labels[0] == "O" and {"B-PER", "B-ORG", "B-LOC", "B-MISC"} <= set(td.labels)


def test_names_other_modules_import_stay_on_the_package() -> None:
    """tl_core.data is a package of modules; the names the rest of the project imports live on the package."""
    import importlib

    pkg = importlib.import_module("tl_core.data")
    wanted = {
        "TABLE_EXTS",
        "IMAGE_EXTS",
        "TaskData",
        "ValidationReport",
        "Problem",
        "load_task_data",
        "read_table",
        "detect_columns",
        "load_rgb",
        "safe_extract_zip",
        "sort_labels",
        "add_truncation_stats",
    }
    assert wanted <= set(pkg.__all__)
    assert all(getattr(pkg, name) is not None for name in pkg.__all__)
    assert not hasattr(pkg, "_hashable_nunique")
