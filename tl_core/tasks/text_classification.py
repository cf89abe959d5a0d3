"""Text classification (sentiment, topics, intents): one label per text."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import TrainConfig
from ..evaluate import classification_metrics, classification_report
from .base import EvalOutput, Task, model_device, softmax
from .mapping import TEXT_MIN_CPUS, TEXT_ROWS_PER_PROC, MapCache, run_map

if TYPE_CHECKING:
    import torch


class TextClassification(Task):
    name = "text"
    title = "Text classification"
    description = "Sort short texts into classes: sentiment of reviews, topic of tickets, intent of messages."
    peft_task_type = "SEQ_CLS"
    main_metric = "f1_macro"

    def preprocess(self, dataset, tokenizer, cfg: TrainConfig, cache: MapCache | None = None):
        def tokenize(batch: dict[str, list]) -> dict[str, Any]:
            # No padding here: the collator pads each batch to its own longest text (dynamic padding).
            enc = tokenizer(batch["text"], truncation=True, max_length=cfg.max_length)
            enc["labels"] = batch["label"]
            return enc

        return run_map(
            dataset, tokenize, cache=cache, name="tokens", rows_per_proc=TEXT_ROWS_PER_PROC, min_cpus=TEXT_MIN_CPUS
        )

    def collator(self, tokenizer, cfg: TrainConfig) -> Callable:
        from transformers import DataCollatorWithPadding

        from ..batching import pad_multiple

        return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_multiple())

    def features(self, backbone, batch: dict[str, torch.Tensor], pooling: str) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        hidden = backbone(**inputs).last_hidden_state
        if pooling == "cls":
            return hidden[:, 0]
        mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def compute_metrics(self, labels: list[str]) -> Callable:
        def compute(pred) -> dict[str, float]:
            logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
            return classification_metrics(pred.label_ids, logits.argmax(-1), len(labels))

        return compute

    def evaluate(self, labels: list[str], logits: np.ndarray, label_ids: np.ndarray, eval_data) -> EvalOutput:
        return classification_eval(labels, logits, label_ids, eval_data, input_column="text")

    def predict(self, model, tokenizer, inputs: list[str], cfg: TrainConfig, top_k: int = 5) -> list[dict]:
        import torch

        out: list[dict] = []
        device = model_device(model)
        for start in range(0, len(inputs), cfg.eval_batch_size):
            chunk = [str(t) for t in inputs[start : start + cfg.eval_batch_size]]
            enc = tokenizer(chunk, truncation=True, max_length=cfg.max_length, padding=True, return_tensors="pt")
            with torch.no_grad():
                logits = model(**{k: v.to(device) for k, v in enc.items()}).logits.float().cpu().numpy()
            out.extend(top_k_dicts(softmax(logits), model_labels(model), top_k))
        return out


def model_labels(model) -> list[str]:
    id2label = model.config.id2label
    return [id2label[i] for i in range(len(id2label))]


def top_k_dicts(probs: np.ndarray, labels: list[str], top_k: int) -> list[dict[str, float]]:
    """{label: prob} for the k most likely labels, highest first (what gr.Label expects)."""
    rows = []
    for p in probs:
        order = np.argsort(-p)[:top_k]
        rows.append({labels[i]: float(p[i]) for i in order})
    return rows


def classification_eval(
    labels: list[str], logits: np.ndarray, label_ids: np.ndarray, eval_data, input_column: str
) -> EvalOutput:
    probs = softmax(logits)
    preds = probs.argmax(-1)
    examples = [
        {
            "id": int(eval_data[i]["id"]),
            "input": eval_data[i][input_column],
            "true": labels[int(label_ids[i])],
            "pred": labels[int(preds[i])],
            "confidence": float(probs[i, preds[i]]),
        }
        for i in range(len(preds))
    ]
    return EvalOutput(
        metrics=classification_metrics(label_ids, preds, len(labels)),
        report=classification_report(label_ids, preds, labels),
        examples=examples,
    )


TASK = TextClassification()
