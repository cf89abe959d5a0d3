"""Feature extraction: run the frozen backbone ONCE, cache its features, train only a small head on them.

For classification a feature is one vector per example; for NER one vector per word (its first sub-word),
so the same linear head and the same cache format serve every task.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from .tasks.mapping import token_counts

HEAD_FILE = "head.safetensors"
HEAD_CONFIG = "tl_head.json"


FEATURES_VERSION = 2  # 2: ViT-like image backbones give the CLS token, not their tanh pooler


def cache_key(**parts: Any) -> str:
    """Stable key over everything that changes the features: model, revision, preprocessing, data, precision."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def resolve_pooling(pooling: str, task: str, model: str | None) -> str:
    """``auto``: mean pooling for sentence-transformers models (what they were trained for), else the CLS vector."""
    if pooling != "auto":
        return pooling
    from . import models

    return "mean" if models.is_sentence_transformer(models.resolve_model_ref(model, task)) else "cls"


def run_cache_keys(cfg: Any, data_hash: str, pooling: str, bf16: bool) -> dict[str, str]:
    """The shared cache's entry names for a run's two splits, over everything that shapes the features. The run
    (training/build.py) reads and writes them; the advisor looks them up to know extraction is already paid."""
    from . import models

    tc = cfg.train
    parts = dict(
        model=models.model_fingerprint(cfg.model, cfg.revision, cfg.task),
        task=cfg.task,
        pooling=pooling,
        max_length=tc.max_length,
        image_size=tc.image_size,
        data=data_hash,
        bf16=bf16,
        features_version=FEATURES_VERSION,
    )
    return {split: f"{split}-{cache_key(split=split, **parts)}" for split in ("train", "eval")}


def _shard() -> tuple[int, int]:
    """(rank, number of processes) for feature extraction; with several processes their group is set up here, as
    it is needed before the Trainer would create it (TrainingArguments later reuses the same group)."""
    from .training.context import launcher_rank, launcher_world_size

    world = launcher_world_size()
    if world > 1 and not torch.distributed.is_initialized():
        from accelerate import PartialState
        from accelerate.utils import parse_flag_from_env

        PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available())
    return launcher_rank(), world


@torch.inference_mode()
def extract(
    task,
    backbone: nn.Module,
    dataset,
    collator: Callable,
    batch_size: int,
    pooling: str,
    bf16: bool,
    progress: Callable[[float], None] | None = None,
) -> dict[str, torch.Tensor]:
    """Features of a preprocessed dataset: {"features": [M, H] fp32, "labels": [M], "counts": [N]}.

    With several processes each computes every N-th batch of the one-process batches (the same examples side by
    side, so the same numbers) and all of them get every feature; see _gather."""
    backbone.eval()
    device = next(backbone.parameters()).device
    n = len(dataset)
    order = list(range(n))
    if "input_ids" in getattr(dataset, "column_names", ()):  # similar lengths together: far less padding to compute
        lengths = token_counts(dataset)
        order.sort(key=lambda i: lengths[i])
    rank, world = _shard()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    per_example: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    starts = list(range(0, n, batch_size))
    rounds = -(-len(starts) // world)
    for r in range(rounds):  # the same number of rounds on every process: progress() may be a collective check
        mine = r * world + rank
        if mine < len(starts):
            idx = order[starts[mine] : starts[mine] + batch_size]
            batch = collator([dataset[i] for i in idx])
            labels = batch.pop("labels")
            with autocast:
                feats = task.features(backbone, {k: v.to(device) for k, v in batch.items()}, pooling).float().cpu()
            for j, i in enumerate(idx):
                if feats.dim() == 3:  # tokens: keep only the labelled (first sub-word) positions
                    keep = labels[j] != -100
                    per_example[i] = (feats[j][keep], labels[j][keep])
                else:
                    per_example[i] = (feats[j : j + 1], labels[j : j + 1])
        if progress:
            progress(min(1.0, (r + 1) / rounds))
    _trace_share(len(per_example), n, world)
    if world > 1:
        per_example = _gather(per_example)
    rows = [per_example[i] for i in range(n)]
    return {
        "features": torch.cat([f for f, _ in rows]).contiguous(),
        "labels": torch.cat([y for _, y in rows]).long(),
        "counts": torch.tensor([len(y) for _, y in rows], dtype=torch.long),
    }


def _trace_share(done: int, total: int, world: int) -> None:
    from .training.context import trace

    trace("extract", examples=done, total=total, world_size=world)


def _gather(mine: dict[int, Any]) -> dict[int, Any]:
    """Every process's features on every process (all_gather_object). Each needs all of them to train its head
    (its DataLoader shard is drawn from the whole set), and the cache folder need not be shared between
    machines; process 0 writes the cache (cached_extract)."""
    parts: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, mine)
    merged: dict[int, Any] = {}
    for part in parts:
        merged.update(part)
    return merged


def cached_extract(
    cache_dir: Path, key: str, compute: Callable[[], dict[str, torch.Tensor]]
) -> tuple[dict[str, torch.Tensor], bool]:
    """Load features for ``key`` from the cache or compute and store them (atomically). Returns (features, hit).

    Several processes: the cache counts as a hit only when every process can read it; otherwise all of them
    compute their share (extract), process 0 writes the file, and the others wait at a barrier for it instead of
    computing it again."""
    from .training.context import any_rank, launcher_rank, launcher_world_size

    path = Path(cache_dir) / f"{key}.safetensors"
    world = launcher_world_size()
    if world > 1:
        _shard()
        hit = not any_rank(not path.is_file())
    else:
        hit = path.is_file()
    if hit:
        return load_file(str(path)), True
    tensors = compute()
    if launcher_rank() == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Shared by every run of a workspace (paths.feature_cache): each writer has its own temporary name (pid and
        # random part: runs, machines on shared storage), and the rename is atomic, so a reader sees either no
        # file or a complete one; two runs computing the same key at once both write identical features.
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            save_file(tensors, str(tmp))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    if world > 1:
        torch.distributed.barrier()
    return tensors, False


class FeatureDataset(torch.utils.data.Dataset):
    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.features, self.labels = tensors["features"], tensors["labels"]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"features": self.features[i], "labels": self.labels[i]}


class HeadModel(nn.Module):
    """Dropout + linear layer on cached features: the only part that trains in the features method."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> SequenceClassifierOutput:
        logits = self.classifier(self.dropout(features))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


class FeatureModel(nn.Module):
    """Backbone + pooling + trained head, used for prediction; takes the same inputs as a full model."""

    def __init__(self, task, backbone: nn.Module, head: HeadModel, pooling: str, labels: list[str]):
        super().__init__()
        self.task, self.backbone, self.head, self.pooling = task, backbone, head, pooling
        self.config = backbone.config
        self.config.id2label = dict(enumerate(labels))
        self.config.label2id = {name: i for i, name in enumerate(labels)}

    def forward(self, **inputs: torch.Tensor) -> SequenceClassifierOutput:
        inputs.pop("labels", None)
        return SequenceClassifierOutput(
            logits=self.head.classifier(self.task.features(self.backbone, inputs, self.pooling))
        )

    def save(self, out_dir: Path) -> None:
        self.backbone.save_pretrained(out_dir)
        save_file({k: v.contiguous() for k, v in self.head.state_dict().items()}, str(out_dir / HEAD_FILE))
        w = self.head.classifier.weight
        (out_dir / HEAD_CONFIG).write_text(
            json.dumps(
                {
                    "hidden_size": w.shape[1],
                    "labels": [self.config.id2label[i] for i in range(w.shape[0])],
                    "pooling": self.pooling,
                    "dropout": self.head.dropout.p,
                },
                indent=2,
            )
        )

    @classmethod
    def load(cls, task, model_dir: Path, backbone_loader: Callable[[str], nn.Module]) -> FeatureModel:
        meta = json.loads((model_dir / HEAD_CONFIG).read_text())
        head = HeadModel(meta["hidden_size"], len(meta["labels"]), meta["dropout"])
        head.load_state_dict(load_file(str(model_dir / HEAD_FILE)))
        return cls(task, backbone_loader(str(model_dir)), head, meta["pooling"], meta["labels"]).eval()


def regroup_token_logits(flat_logits, flat_labels, counts):
    """Flat per-word arrays back to padded [N, T, C] / [N, T] (-100 padding) so NER metrics work per sentence."""
    import numpy as np

    n, t = len(counts), int(max(counts)) if len(counts) else 0
    logits = np.full((n, t, flat_logits.shape[-1]), -100.0, dtype=np.float32)
    labels = np.full((n, t), -100, dtype=np.int64)
    pos = 0
    for i, c in enumerate(counts):
        c = int(c)
        logits[i, :c], labels[i, :c] = flat_logits[pos : pos + c], flat_labels[pos : pos + c]
        pos += c
    return logits, labels
