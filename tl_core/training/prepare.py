"""Step 1: the run's config and data -> model-ready datasets, the batch collator and the metrics function."""

from __future__ import annotations

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
        add_truncation_stats(
            data.report, data.train[column], processor, tc.max_length, is_split_into_words=cfg.task == "ner"
        )
    folder.write_json(rf.REPORT, data.report.to_dict())
    return Prepared(
        cfg=cfg,
        task=task,
        params=params,
        data=data,
        processor=processor,
        train_ds=task.preprocess(data.train, processor, tc),
        eval_ds=task.preprocess(data.eval, processor, tc),
        collator=task.collator(processor, tc),
        compute_metrics=task.compute_metrics(data.labels),
    )
