"""Large data without a large machine: preprocessing on disk (memory-mapped Arrow), in several processes above a
threshold, and the max_rows offer. Correctness only: time and memory are measured in bench/data_scale.py."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from datasets import Dataset

from tl_core.config import DataConfig, TrainConfig
from tl_core.data import load_rgb, load_task_data
from tl_core.data import split as data_split
from tl_core.registry import get_task
from tl_core.tasks import mapping
from tl_core.tasks.image_classification import resize_crop
from tl_core.tasks.mapping import MapCache

TEXTS = ["great film", "a really very boring and awful story with bad acting", "loved it !", "meh", "fine, fine."]
PROCESSOR = SimpleNamespace(image_mean=[0.5, 0.4, 0.3], image_std=[0.2, 0.25, 0.3], resample=3)  # bicubic


@pytest.fixture(scope="module")
def tokenizer():
    from tl_core import models

    return models.load_processor("text", None)  # the bundled MiniLM tokenizer: offline


def _text_ds(n: int = 40) -> Dataset:
    return Dataset.from_dict({"id": list(range(n)), "text": [TEXTS[i % 5] * (1 + i % 3) for i in range(n)],
                              "label": [i % 2 for i in range(n)]})  # fmt: skip


def _ner_ds(n: int = 30) -> Dataset:
    tokens = [["John", "visited", "New", "York", "yesterday"][: 2 + i % 4] for i in range(n)]
    return Dataset.from_dict(
        {"id": list(range(n)), "tokens": tokens, "tags": [[1, 0, 2, 3, 0][: len(t)] for t in tokens]}
    )


@pytest.fixture(scope="module")
def image_ds(tmp_path_factory) -> Dataset:
    """12 PNGs of different sizes and modes (grey, RGBA, wide, tall): resizing and cropping all show up."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(12):
        w, h = (40 + 7 * i, 30 + 5 * (i % 4))
        mode = ("RGB", "L", "RGBA")[i % 3]
        channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
        arr = rng.integers(0, 256, (h, w, channels), dtype=np.uint8).squeeze()
        path = folder / f"{i}.png"
        Image.fromarray(arr, mode=mode).save(path)
        paths.append(str(path))
    return Dataset.from_dict({"id": list(range(12)), "image": paths, "label": [i % 3 for i in range(12)]})


def _collated(task, processor, cfg, ds) -> dict[str, torch.Tensor]:
    rows = ds.__getitems__(list(range(len(ds))))
    return task.collator(processor, cfg)(rows)


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("task_name", ["text", "ner"])
def test_mapped_tokens_equal_in_memory_tokens(task_name, tokenizer, tmp_path):
    task, cfg = get_task(task_name), TrainConfig(max_length=16)
    ds = _text_ds() if task_name == "text" else _ner_ds()
    in_ram = task.preprocess(ds, tokenizer, cfg)
    on_disk = task.preprocess(ds, tokenizer, cfg, MapCache(tmp_path / "prepared", "k"))
    assert not in_ram.cache_files
    assert on_disk.cache_files and Path(on_disk.cache_files[0]["filename"]).parent == tmp_path / "prepared"
    assert on_disk[:] == in_ram[:]
    _same(_collated(task, tokenizer, cfg, on_disk), _collated(task, tokenizer, cfg, in_ram))


def test_images_are_uint8_in_an_on_disk_arrow_cache_and_decode_as_before(image_ds, tmp_path):
    task, cfg = get_task("image"), TrainConfig(image_size=32)
    on_disk = task.preprocess(image_ds, PROCESSOR, cfg, MapCache(tmp_path / "prepared", "k"))
    in_ram = task.preprocess(image_ds, PROCESSOR, cfg)
    assert on_disk.cache_files and not in_ram.cache_files  # memory-mapped files, not a table in RAM
    feature = on_disk.rows.features["pixels"]
    assert feature.feature.dtype == "uint8" and feature.length == 3 * 32 * 32
    row = on_disk[5]
    assert row["pixels"].dtype == np.uint8 and row["pixels"].shape == (3, 32, 32) and row["labels"] == 2
    # The old in-RAM path: every image decoded and stacked into one array, normalised by the same collator.
    old = np.stack([resize_crop(load_rgb(p), 32, PROCESSOR.resample) for p in image_ds["image"]])
    collator = task.collator(PROCESSOR, cfg)
    expected = {"pixel_values": collator.normalise(torch.from_numpy(old)), "labels": torch.tensor(image_ds["label"])}
    _same(_collated(task, PROCESSOR, cfg, on_disk), expected)
    _same(_collated(task, PROCESSOR, cfg, in_ram), expected)
    assert [on_disk[i]["labels"] for i in (3, 1, 7)] == [r["labels"] for r in on_disk.__getitems__([3, 1, 7])]


@pytest.mark.parametrize("task_name", ["text", "ner", "image"])
def test_num_proc_above_threshold_gives_the_one_process_result(task_name, tokenizer, image_ds, tmp_path, monkeypatch):
    monkeypatch.setattr(mapping, "usable_cpus", lambda: 4)  # a small test machine still splits (text needs 4 CPUs)
    task, cfg = get_task(task_name), TrainConfig(max_length=16, image_size=24)
    ds = {"text": _text_ds, "ner": _ner_ds}.get(task_name, lambda: image_ds)()
    processor = PROCESSOR if task_name == "image" else tokenizer
    one = task.preprocess(ds, processor, cfg, MapCache(tmp_path / "one", "k"))
    two = task.preprocess(ds, processor, cfg, MapCache(tmp_path / "two", "k", rows_per_proc=len(ds) // 2))
    assert len(one.cache_files) == 1 and len(two.cache_files) == 2  # one Arrow file per worker
    _same(_collated(task, processor, cfg, two), _collated(task, processor, cfg, one))


def test_num_proc_threshold():
    assert mapping.num_proc(300, mapping.TEXT_ROWS_PER_PROC, cpus=16) == 1  # the samples: no workers to start
    assert mapping.num_proc(100_000, 20_000, cpus=2) == 2
    assert mapping.num_proc(100_000, 20_000, cpus=16) == 5
    assert mapping.num_proc(10_000_000, 20_000, cpus=64) == mapping.MAX_PROCS
    assert mapping.num_proc(1_000_000, 50_000, cpus=2, min_cpus=4) == 1  # text on 2 cores: the tokenizer's threads


def test_a_second_preparation_reads_the_files_of_the_first(tokenizer, tmp_path):
    task, cfg, cache = get_task("text"), TrainConfig(max_length=16), MapCache(tmp_path / "prepared", "k")
    first = task.preprocess(_text_ds(), tokenizer, cfg, cache)
    mtime = Path(first.cache_files[0]["filename"]).stat().st_mtime_ns
    again = task.preprocess(_text_ds(), tokenizer, cfg, cache)  # a resume: same key, same files
    assert again.cache_files == first.cache_files
    assert Path(again.cache_files[0]["filename"]).stat().st_mtime_ns == mtime


def _csv(path: Path, n: int) -> Path:
    rows = [f"review number {i} was {'good' if i % 2 else 'bad'},{'pos' if i % 2 else 'neg'}" for i in range(n)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return path


def test_max_rows_is_suggested_for_big_data_only(tmp_path, monkeypatch):
    monkeypatch.setitem(data_split.SUGGEST_SAMPLE_ABOVE, "text", 100)  # "big" without writing 20,000 rows
    monkeypatch.setitem(data_split.SUGGESTED_SAMPLE, "text", 50)
    big = load_task_data("text", DataConfig(train_file=str(_csv(tmp_path / "big.csv", 300))), tmp_path)
    assert big.report.stats["suggested_max_rows"] == 50
    assert "max_rows = 50" in big.report.stats["suggestion"] and "240 training texts" in big.report.stats["suggestion"]
    small = load_task_data("text", DataConfig(train_file=str(_csv(tmp_path / "small.csv", 100))), tmp_path)
    assert "suggested_max_rows" not in small.report.stats and "suggestion" not in small.report.stats
    capped = load_task_data("text", DataConfig(train_file=str(tmp_path / "big.csv"), max_rows=60), tmp_path)
    assert "suggested_max_rows" not in capped.report.stats  # already a quick run


def test_max_rows_suggestion_thresholds():
    assert data_split.suggest_max_rows("text", 20_000, DataConfig()) is None
    rows, message = data_split.suggest_max_rows("image", 5_001, DataConfig())
    assert rows == data_split.SUGGESTED_SAMPLE["image"] and "5,001 training images" in message
    assert data_split.suggest_max_rows("ner", 50_000, DataConfig(max_rows=2_000)) is None


def test_data_tab_offers_the_suggested_sample() -> None:
    import gradio as gr

    from webui.components import data as data_tab

    with gr.Blocks():
        offer = data_tab.max_rows_offer()
        max_rows = gr.Number(None)
    note, use, rows = offer
    tab = SimpleNamespace(max_rows_offer=offer, fields={"max_rows": max_rows})
    shown = data_tab.offer_updates(tab, {"suggested_max_rows": 5000, "suggestion": "This is a lot of data"})
    assert shown[note].visible and shown[use].visible and shown[rows] == 5000
    assert shown[note].value == "This is a lot of data" and "5,000" in shown[use].value
    hidden = data_tab.offer_updates(tab, {})
    assert not hidden[note].visible and not hidden[use].visible and hidden[rows] is None
    used = data_tab.use_offer(tab, 5000)
    assert used[max_rows] == 5000 and not used[use].visible and "5,000" in used[note].value
    assert data_tab.use_offer(tab, None) == {}
