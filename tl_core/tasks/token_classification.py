"""Named-entity recognition: a BIO tag per word, scored entity by entity (seqeval)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import TrainConfig
from ..evaluate import entity_metrics
from .base import EvalOutput, Task, model_device, softmax
from .mapping import TEXT_MIN_CPUS, TEXT_ROWS_PER_PROC, MapCache, run_map
from .text_classification import model_labels

if TYPE_CHECKING:
    import torch

# Words as CoNLL writes them: runs of word characters (with inner ' or -) or single punctuation marks.
WORD_RE = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")


def align_labels(word_ids: list[int | None], word_tags: list[int]) -> list[int]:
    """Label the first sub-word of each word; -100 (ignored by the loss) on continuations and specials."""
    aligned, previous = [], None
    for wid in word_ids:
        aligned.append(-100 if wid is None or wid == previous else word_tags[wid])
        previous = wid
    return aligned


def bio_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, first word, last word) for each entity, decoded by seqeval (BIO/IOBES; an I- after O or another
    type starts a new entity): the same decoding the entity scores use."""
    from seqeval.metrics.sequence_labeling import get_entities

    return [(kind, first, last) for kind, first, last in get_entities([str(t) for t in tags])]


class TokenClassification(Task):
    name = "ner"
    title = "Named-entity recognition"
    description = "Find names in text: people, organisations, places, products, or your own entity types."
    peft_task_type = "TOKEN_CLS"
    main_metric = "f1"

    def preprocess(self, dataset, tokenizer, cfg: TrainConfig, cache: MapCache | None = None):
        def tokenize(batch: dict[str, list]) -> dict[str, Any]:
            enc = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=cfg.max_length)
            enc["labels"] = [align_labels(enc.word_ids(i), tags) for i, tags in enumerate(batch["tags"])]
            return enc

        return run_map(
            dataset, tokenize, cache=cache, name="tokens", rows_per_proc=TEXT_ROWS_PER_PROC, min_cpus=TEXT_MIN_CPUS
        )

    def collator(self, tokenizer, cfg: TrainConfig) -> Callable:
        from transformers import DataCollatorForTokenClassification

        from ..batching import pad_multiple

        return DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=pad_multiple())

    def features(self, backbone, batch: dict[str, torch.Tensor], pooling: str) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        return backbone(**inputs).last_hidden_state

    def compute_metrics(self, labels: list[str]) -> Callable:
        def compute(pred) -> dict[str, float]:
            logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
            true, predicted = _word_tags(labels, logits.argmax(-1), pred.label_ids)
            return entity_metrics(true, predicted)[0]

        return compute

    def evaluate(self, labels: list[str], logits: np.ndarray, label_ids: np.ndarray, eval_data) -> EvalOutput:
        _, predicted = _word_tags(labels, logits.argmax(-1), label_ids)
        true = [[labels[t] for t in row["tags"]] for row in eval_data]
        # Words cut off by max_length get "O": they count as misses, as they would in use.
        predicted = [p + ["O"] * (len(t) - len(p)) for t, p in zip(true, predicted)]
        metrics, report = entity_metrics(true, predicted)
        examples = [
            {"id": int(row["id"]), "tokens": row["tokens"], "true": t, "pred": p, "correct": t == p}
            for row, t, p in zip(eval_data, true, predicted)
        ]
        return EvalOutput(metrics=metrics, report=report, examples=examples)

    def predict(self, model, tokenizer, inputs: list[str], cfg: TrainConfig, top_k: int = 5) -> list[dict]:
        import torch

        labels = model_labels(model)
        device = model_device(model)
        out = []
        for text in inputs:
            text = str(text)
            matches = list(WORD_RE.finditer(text))
            words = [m.group() for m in matches]
            if not words:
                out.append({"text": text, "entities": []})
                continue
            enc = tokenizer(
                words, is_split_into_words=True, truncation=True, max_length=cfg.max_length, return_tensors="pt"
            )
            word_ids = enc.word_ids(0)
            with torch.no_grad():
                logits = model(**{k: v.to(device) for k, v in enc.items()}).logits[0].float().cpu().numpy()
            probs = softmax(logits)
            word_tag = ["O"] * len(words)
            word_prob = [1.0] * len(words)
            previous = None
            for pos, wid in enumerate(word_ids):
                if wid is not None and wid != previous:
                    word_tag[wid] = labels[int(probs[pos].argmax())]
                    word_prob[wid] = float(probs[pos].max())
                previous = wid
            entities = []
            for kind, first, last in bio_spans(word_tag):
                start, end = matches[first].start(), matches[last].end()
                entities.append(
                    {
                        "entity": kind,
                        "start": start,
                        "end": end,
                        "word": text[start:end],
                        "score": float(np.mean(word_prob[first : last + 1])),
                    }
                )
            out.append({"text": text, "entities": entities})
        return out


def _word_tags(
    labels: list[str], pred_ids: np.ndarray, label_ids: np.ndarray
) -> tuple[list[list[str]], list[list[str]]]:
    """Word-level true/predicted tags from token-level arrays, using the first-sub-word positions."""
    true, predicted = [], []
    for p_row, l_row in zip(pred_ids, label_ids):
        keep = l_row != -100
        true.append([labels[int(i)] for i in l_row[keep]])
        predicted.append([labels[int(i)] for i in p_row[keep]])
    return true, predicted


TASK = TokenClassification()
