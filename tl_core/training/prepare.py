"""Step 1: the run's config and data -> model-ready datasets, the batch collator and the metrics function."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transformers import set_seed

from .. import models
from .. import runfiles as rf
from ..config import RunConfig
from ..data import add_truncation_stats, load_task_data
from ..methods import parse_params
from ..registry import get_task
from ..tasks.base import Task
from ..tasks.mapping import PREPARED_DIR, MapCache, cache_key
from .context import RunFolder


@dataclass
class Prepared:
    """The run's settings and data, ready for any method."""

    cfg: RunConfig
    task: Task
    params: Any  # the method's params dataclass (methods.py)
    data: Any  # tl_core.data's task data: train/eval splits, labels, data report, data hash
    processor: Any  # tokenizer or image processor
    train_ds: Any
    eval_ds: Any
    collator: Callable | None
    compute_metrics: Callable


def prepare(folder: RunFolder) -> Prepared:
    """Read config.json, load and check the data, tokenise or decode it once; writes the data report."""
    cfg = RunConfig.from_file(folder.path / rf.CONFIG)
    task = get_task(cfg.task)
    params = parse_params(cfg.method, cfg.method_params)
    tc = cfg.train
    set_seed(tc.seed)
    data = load_task_data(cfg.task, cfg.data, work_dir=folder.path / "data")
    folder.check_stop()
    processor = models.load_processor(cfg.task, cfg.model, cfg.revision)
    if cfg.task in ("text", "ner"):
        column = "text" if cfg.task == "text" else "tokens"
        # The whole column in one Arrow read: ``dataset[column]`` is a lazy column that list() reads row by row
        # (40 s for a million texts, for a statistic made from 5,000 of them).
        texts = data.train.data.column(column).to_pylist()
        add_truncation_stats(data.report, texts, processor, tc.max_length, is_split_into_words=cfg.task == "ner")
    folder.write_json(rf.REPORT, data.report.to_dict())
    return Prepared(
        cfg=cfg,
        task=task,
        params=params,
        data=data,
        processor=processor,
        train_ds=task.preprocess(data.train, processor, tc, map_cache(folder, cfg, data.data_hash, "train")),
        eval_ds=task.preprocess(data.eval, processor, tc, map_cache(folder, cfg, data.data_hash, "eval")),
        collator=task.collator(processor, tc),
        compute_metrics=task.compute_metrics(data.labels),
    )


def map_cache(folder: RunFolder, cfg: RunConfig, data_hash: str, split: str) -> MapCache:
    """Where a split's tokenised texts or decoded pixels go: the run's own data folder, keyed by everything that
    shapes them, so a resume reuses them and any change (data, model, max_length, image_size) makes new ones."""
    tc = cfg.train
    key = cache_key(
        split=split,
        task=cfg.task,
        data=data_hash,
        model=models.model_fingerprint(cfg.model, cfg.revision, task=cfg.task),
        max_length=tc.max_length if cfg.task != "image" else None,
        image_size=tc.image_size if cfg.task == "image" else None,
        version=1,  # bump when a task's preprocess changes what it writes
    )
    return MapCache(folder.path / "data" / PREPARED_DIR, key)


def discard_prepared(folder: RunFolder) -> None:
    """A finished run needs its preprocessed rows no more: free the disk (at 224 px ~150 KB an image, 100,000
    images would keep 15 GB). Unfinished runs keep them for a resume."""
    if folder.is_main:
        shutil.rmtree(folder.path / "data" / PREPARED_DIR, ignore_errors=True)
