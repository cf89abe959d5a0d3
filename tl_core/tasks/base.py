"""What every task provides. One subclass per task file; the trainer and predictor only talk to this."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import TrainConfig
from .mapping import MapCache

if TYPE_CHECKING:
    import torch


@dataclass
class EvalOutput:
    """Everything the results file needs about the evaluation split."""

    metrics: dict[str, float]  # headline metrics (accuracy/f1_macro or seqeval f1/precision/recall)
    report: dict[str, Any]  # per-class / per-entity table, confusion matrix
    examples: list[dict[str, Any]]  # one row per evaluation example for error analysis


class Task:
    name: str = ""
    title: str = ""
    description: str = ""
    peft_task_type: str | None = None  # peft TaskType name, None where peft has none (images)
    main_metric: str = ""  # metric used for early stopping / best checkpoint / run lists

    # --- data -> model inputs ---------------------------------------------------
    def preprocess(self, dataset, processor, cfg: TrainConfig, cache: MapCache | None = None):
        """Turn a standardised dataset (see tl_core.data) into model inputs, once: into memory-mapped Arrow files
        under ``cache`` (a run), or in memory without one (see tasks/mapping.py)."""
        raise NotImplementedError

    def collator(self, processor, cfg: TrainConfig) -> Callable:
        raise NotImplementedError

    # --- features method -------------------------------------------------------
    def features(self, backbone, batch: dict[str, torch.Tensor], pooling: str) -> torch.Tensor:
        """Frozen-backbone features for one collated batch: [B, H] (classification) or [B, T, H] (tokens)."""
        raise NotImplementedError

    # --- evaluation ------------------------------------------------------------------
    def compute_metrics(self, labels: list[str]) -> Callable:
        """A ``compute_metrics`` for Trainer: EvalPrediction -> headline metrics."""
        raise NotImplementedError

    def evaluate(self, labels: list[str], logits: np.ndarray, label_ids: np.ndarray, eval_data) -> EvalOutput:
        raise NotImplementedError

    # --- prediction ------------------------------------------------------------------
    def predict(self, model, processor, inputs: list[Any], cfg: TrainConfig, top_k: int = 5) -> list[dict]:
        """Plain-dict predictions for raw inputs (texts, images)."""
        raise NotImplementedError


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device
