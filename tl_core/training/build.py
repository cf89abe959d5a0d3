"""Step 2: the model that trains, per method.

full / lora: the task's transformers model (lora wraps it in adapters; peft keeps the new head trainable).
features: the frozen backbone runs ONCE over the data (cached across runs by content), and only a small head
trains on its features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import models, paths
from ..cpu_yield import YieldFlag, install_pause_points, training_flag
from ..features import (
    FeatureDataset,
    HeadModel,
    cached_extract,
    extract,
    regroup_token_logits,
    resolve_pooling,
    run_cache_keys,
)
from ..hardware import use_bf16
from ..methods import apply_lora, count_parameters
from ..tasks.mapping import token_counts
from . import augment
from .context import RunFolder
from .lpft import linear_probe
from .prepare import Prepared
from .techniques import FullSetup, find_layout, frozen_names, label_counts, make_loss, set_trainable, uses_layout

TECHNIQUES = "techniques.json"


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
    train_collator: Callable | None = None  # training batches only (image augmentation); None: ``collator``
    loss_fn: Callable | None = None  # class weights / label smoothing; None: the model's own loss
    techniques: FullSetup | None = None  # full method: frozen blocks, layer-wise rates, gradual unfreezing
    technique_info: dict[str, Any] = field(default_factory=dict)  # what was decided: RUN_DIR/techniques.json


def build(folder: RunFolder, prep: Prepared) -> Built:
    tc = prep.cfg.train
    yield_flag = training_flag(tc.cpu_yield)
    bf16 = use_bf16(tc.precision, prep.cfg.task)
    loss_fn, info = make_loss(tc, prep.cfg.task, label_counts(_train_labels(prep), len(prep.data.labels)))
    if prep.cfg.method == "features":
        built = _build_features(folder, prep, bf16, yield_flag)
    else:
        built = _build_model(prep, bf16, yield_flag, loss_fn)
    built.loss_fn = loss_fn
    built.technique_info = {**info, **built.technique_info}
    folder.write_json(TECHNIQUES, built.technique_info)
    return built


def _train_labels(prep: Prepared) -> Any:
    """The training split's labels: class ids, or per-word tag ids for NER."""
    try:
        return prep.data.train["tags" if prep.cfg.task == "ner" else "label"]
    except (KeyError, ValueError, TypeError):  # data kept in another form: the model-ready labels (-100 skipped)
        ds = prep.train_ds
        return ds.labels if hasattr(ds, "labels") else ds["labels"]


def _build_model(prep: Prepared, bf16: bool, yield_flag: YieldFlag | None, loss_fn: Callable | None = None) -> Built:
    cfg = prep.cfg
    text_like = cfg.task in ("text", "ner")
    # On CPU, SDPA's attention backward cost 28% of a MiniLM step for <2% of its FLOPs (torch.profiler, bench):
    # eager attention trains 10-25% faster there. GPUs keep SDPA (flash/memory-efficient kernels).
    attn = "eager" if text_like and not torch.cuda.is_available() else None
    model = models.load_model(cfg.task, cfg.model, prep.data.labels, cfg.revision, attn_implementation=attn)
    if cfg.method == "lora":
        model = apply_lora(model, prep.task.peft_task_type, prep.params)
    setup, info = _full_techniques(model, prep, loss_fn, bf16) if cfg.method == "full" else (None, {})
    train_collator = _augmentation(prep, info)
    if yield_flag is not None:
        install_pause_points(model, yield_flag)
    eval_ds, eval_order = prep.eval_ds, None
    if text_like:
        # Evaluate in length order: batches of 64 random-length texts computed ~2x the real tokens. results.py
        # puts predictions back in dataset order, so eval_predictions.jsonl still lines up with the rows.
        eval_order = np.argsort(token_counts(eval_ds), kind="stable")
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
        train_collator=train_collator,
        techniques=setup,
        technique_info=info,
    )


def _full_techniques(
    model: nn.Module, prep: Prepared, loss_fn: Callable | None, bf16: bool
) -> tuple[FullSetup | None, dict]:
    """LP-FT's probe, then the frozen blocks; the Trainer gets the rest (groups, unfreezing) from the setup."""
    params, tc = prep.params, prep.cfg.train
    if not uses_layout(params):
        return None, {}
    layout = find_layout(model)
    info: dict[str, Any] = {"blocks": len(layout.blocks), "blocks_path": layout.blocks_path}
    frozen = frozen_names(layout, params.freeze_layers)  # refuses more blocks than the model has, before the probe
    if params.lp_ft:
        info["lp_ft"] = linear_probe(
            model, layout.output_layer, prep.train_ds, prep.collator, tc.eval_batch_size, loss_fn, tc.seed, bf16
        )
    set_trainable(model, frozen)
    info["frozen_parameters"] = sum(p.numel() for n, p in model.named_parameters() if n in frozen)
    return FullSetup(model, layout, params, tc.learning_rate, tc.weight_decay, frozen), info


def _augmentation(prep: Prepared, info: dict[str, Any]) -> Callable | None:
    """The training collator that augments images, when train.augment (auto: decided from the data) says so."""
    cfg = prep.cfg
    if cfg.task != "image":
        return None
    n = min(len(prep.train_ds), augment.SAMPLE)
    pixels = [prep.train_ds[i].get("pixels") for i in range(n)]
    sources = list(prep.data.train["image"][:n]) if "image" in prep.data.train.column_names else []
    on, why = augment.resolve(cfg.train.augment, cfg.task, cfg.method, prep.data.labels, sources, pixels)
    info["augment"] = why
    return augment.AugmentCollator(prep.collator) if on else None


def _build_features(folder: RunFolder, prep: Prepared, bf16: bool, yield_flag: YieldFlag | None) -> Built:
    cfg = prep.cfg
    folder.status("preparing features", progress=0.0)
    backbone = models.load_backbone(cfg.task, cfg.model, cfg.revision)
    backbone.to("cuda" if torch.cuda.is_available() else "cpu")
    if yield_flag is not None:
        install_pause_points(backbone, yield_flag)
    pooling = resolve_pooling(prep.params.pooling, cfg.task, cfg.model)
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


def _cached_features(
    folder: RunFolder, prep: Prepared, backbone: nn.Module, pooling: str, bf16: bool
) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, bool], Path, dict[str, str]]:
    """Features of both splits, from the cache when everything that shapes them is unchanged."""
    tc = prep.cfg.train
    keys = run_cache_keys(prep.cfg, prep.data.data_hash, pooling, bf16)
    cache_dir = paths.feature_cache(folder.path)  # shared across runs and comparisons (paths.py says where)
    tensors, hits = {}, {}
    # The progress bar gives the training split 80% of the way: it is usually about that share of the examples.
    for split, dataset, base, share in (("train", prep.train_ds, 0.0, 0.8), ("eval", prep.eval_ds, 0.8, 0.2)):

        def progress(p: float, base: float = base, share: float = share) -> None:
            folder.check_stop()  # a stop leaves before the cache file is written: no half-written cache
            folder.status("preparing features", progress=base + share * p)

        def compute(dataset: Any = dataset, progress: Callable = progress) -> dict[str, torch.Tensor]:
            return extract(prep.task, backbone, dataset, prep.collator, tc.eval_batch_size, pooling, bf16, progress)

        tensors[split], hits[split] = cached_extract(cache_dir, keys[split], compute)
    return tensors, hits, cache_dir, keys


def _per_sentence(ner_metrics: Callable, word_counts: np.ndarray) -> Callable:
    """The NER head predicts one flat list of words; per-epoch metrics need the sentences back."""

    def compute(pred: Any) -> dict[str, float]:
        from transformers import EvalPrediction

        logits, labels = regroup_token_logits(pred.predictions, pred.label_ids, word_counts)
        return ner_metrics(EvalPrediction(predictions=logits, label_ids=labels))

    return compute
