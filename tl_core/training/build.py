"""Step 2: the model that trains, per method.

full / lora: the task's transformers model (lora wraps it in adapters; peft keeps the new head trainable).
features: the frozen backbone runs ONCE over the data (cached across runs by content), and only a small head
trains on its features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import models, paths
from ..cpu_yield import YieldFlag, install_pause_points, training_flag
from ..features import FeatureDataset, HeadModel, cache_key, cached_extract, extract, regroup_token_logits
from ..hardware import use_bf16
from ..methods import apply_lora, count_parameters
from .context import RunFolder
from .prepare import Prepared


@dataclass
class FeatureParts:
    """What the features method needs after training: the backbone to save with the head, and how to read the
    head's flat per-word predictions back as sentences."""

    backbone: nn.Module
    pooling: str
    eval_word_counts: np.ndarray  # words per evaluation example (1 per example for classification)
    info: dict[str, Any]  # pooling, cache hits, cache folder, hidden size: for results.json


@dataclass
class Built:
    """The model and the data exactly as the Trainer gets them."""

    model: nn.Module
    train_ds: Any
    eval_ds: Any
    collator: Callable | None
    compute_metrics: Callable
    counts: dict[str, int]  # trainable / total parameters
    bf16: bool
    yield_flag: YieldFlag | None
    length_grouped: bool = False  # training batches of similar lengths (batching.py)
    eval_order: np.ndarray | None = None  # eval_ds[i] is example eval_order[i] of the evaluation split
    features: FeatureParts | None = None  # features method only


def build(folder: RunFolder, prep: Prepared) -> Built:
    tc = prep.cfg.train
    yield_flag = training_flag(tc.cpu_yield)
    bf16 = use_bf16(tc.precision, prep.cfg.task)
    if prep.cfg.method == "features":
        return _build_features(folder, prep, bf16, yield_flag)
    return _build_model(prep, bf16, yield_flag)


def _build_model(prep: Prepared, bf16: bool, yield_flag: YieldFlag | None) -> Built:
    cfg = prep.cfg
    text_like = cfg.task in ("text", "ner")
    # On CPU, SDPA's attention backward cost 28% of a MiniLM step for <2% of its FLOPs (torch.profiler, bench):
    # eager attention trains 10-25% faster there. GPUs keep SDPA (flash/memory-efficient kernels).
    attn = "eager" if text_like and not torch.cuda.is_available() else None
    model = models.load_model(cfg.task, cfg.model, prep.data.labels, cfg.revision, attn_implementation=attn)
    if cfg.method == "lora":
        model = apply_lora(model, prep.task.peft_task_type, prep.params)
    if yield_flag is not None:
        install_pause_points(model, yield_flag)
    eval_ds, eval_order = prep.eval_ds, None
    if text_like:
        # Evaluate in length order: batches of 64 random-length texts computed ~2x the real tokens. results.py
        # puts predictions back in dataset order, so eval_predictions.jsonl still lines up with the rows.
        eval_order = np.argsort([len(ids) for ids in eval_ds["input_ids"]], kind="stable")
        eval_ds = eval_ds.select(eval_order)
    return Built(
        model=model,
        train_ds=prep.train_ds,
        eval_ds=eval_ds,
        collator=prep.collator,
        compute_metrics=prep.compute_metrics,
        counts=count_parameters(model),
        bf16=bf16,
        yield_flag=yield_flag,
        length_grouped=text_like and cfg.train.group_by_length,
        eval_order=eval_order,
    )


def _build_features(folder: RunFolder, prep: Prepared, bf16: bool, yield_flag: YieldFlag | None) -> Built:
    cfg = prep.cfg
    folder.status("preparing features", progress=0.0)
    backbone = models.load_backbone(cfg.task, cfg.model, cfg.revision)
    backbone.to("cuda" if torch.cuda.is_available() else "cpu")
    if yield_flag is not None:
        install_pause_points(backbone, yield_flag)
    pooling = _resolve_pooling(prep)
    tensors, hits, cache_dir, keys = _cached_features(folder, prep, backbone, pooling, bf16)
    backbone.to("cpu")
    hidden = tensors["train"]["features"].shape[1]
    head = HeadModel(hidden, len(prep.data.labels), prep.params.head_dropout)
    counts = count_parameters(head)
    counts["total"] += count_parameters(backbone)["total"]
    word_counts = tensors["eval"]["counts"].numpy()
    metrics = _per_sentence(prep.compute_metrics, word_counts) if cfg.task == "ner" else prep.compute_metrics
    # cache_keys: which shared cache entries this run uses (deleting its last user frees them: feature_cache.py)
    info = {
        "pooling": pooling,
        "cache_hit": hits,
        "cache_dir": str(cache_dir),
        "cache_keys": keys,
        "hidden_size": hidden,
    }
    return Built(
        model=head,
        train_ds=FeatureDataset(tensors["train"]),
        eval_ds=FeatureDataset(tensors["eval"]),
        collator=None,  # default collation stacks the fixed-size feature vectors
        compute_metrics=metrics,
        counts=counts,
        bf16=False,  # a linear head on cached features: fp32 costs nothing and is exact
        yield_flag=yield_flag,
        features=FeatureParts(backbone, pooling, word_counts, info),
    )


def _resolve_pooling(prep: Prepared) -> str:
    """``auto``: mean pooling for sentence-transformers models (what they were trained for), else the CLS vector."""
    if prep.params.pooling != "auto":
        return prep.params.pooling
    resolved = models.resolve_model_ref(prep.cfg.model, prep.cfg.task)
    return "mean" if models.is_sentence_transformer(resolved) else "cls"


def _cached_features(
    folder: RunFolder, prep: Prepared, backbone: nn.Module, pooling: str, bf16: bool
) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, bool], Path, dict[str, str]]:
    """Features of both splits, from the cache when everything that shapes them is unchanged."""
    cfg, tc = prep.cfg, prep.cfg.train
    key_parts = dict(
        model=models.model_fingerprint(cfg.model, cfg.revision),
        task=cfg.task,
        pooling=pooling,
        max_length=tc.max_length,
        image_size=tc.image_size,
        data=prep.data.data_hash,
        bf16=bf16,
        features_version=2,  # 2: ViT-like image backbones give the CLS token, not their tanh pooler
    )
    cache_dir = paths.feature_cache(folder.path)  # shared across runs and comparisons (paths.py says where)
    tensors, hits, keys = {}, {}, {}
    # The progress bar gives the training split 80% of the way: it is usually about that share of the examples.
    for split, dataset, base, share in (("train", prep.train_ds, 0.0, 0.8), ("eval", prep.eval_ds, 0.8, 0.2)):

        def progress(p: float, base: float = base, share: float = share) -> None:
            folder.check_stop()  # a stop leaves before the cache file is written: no half-written cache
            folder.status("preparing features", progress=base + share * p)

        def compute(dataset: Any = dataset, progress: Callable = progress) -> dict[str, torch.Tensor]:
            return extract(prep.task, backbone, dataset, prep.collator, tc.eval_batch_size, pooling, bf16, progress)

        key = f"{split}-{cache_key(split=split, **key_parts)}"
        tensors[split], hits[split] = cached_extract(cache_dir, key, compute)
        keys[split] = key
    return tensors, hits, cache_dir, keys


def _per_sentence(ner_metrics: Callable, word_counts: np.ndarray) -> Callable:
    """The NER head predicts one flat list of words; per-epoch metrics need the sentences back."""

    def compute(pred: Any) -> dict[str, float]:
        from transformers import EvalPrediction

        logits, labels = regroup_token_logits(pred.predictions, pred.label_ids, word_counts)
        return ner_metrics(EvalPrediction(predictions=logits, label_ids=labels))

    return compute
