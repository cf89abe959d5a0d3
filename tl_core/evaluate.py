"""Metrics shared by the tasks: classification reports and entity-level (seqeval) reports."""

from __future__ import annotations

from typing import Any

import numpy as np


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    labels = list(range(n_labels))
    p_ma, r_ma, f_ma, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    _, _, f_w, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(f_ma),
        "f1_weighted": float(f_w),
        "precision_macro": float(p_ma),
        "recall_macro": float(r_ma),
    }


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, label_names: list[str]) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(label_names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per_class = [
        {"label": name, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, name in enumerate(label_names)
    ]
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    return {"per_class": per_class, "confusion_matrix": {"labels": label_names, "matrix": cm.tolist()}}


def entity_metrics(true_tags: list[list[str]], pred_tags: list[list[str]]) -> tuple[dict[str, float], dict[str, Any]]:
    """Entity-level micro P/R/F1 (seqeval, exact span match) plus a per-entity-type table."""
    from seqeval.metrics import classification_report as seq_report
    from seqeval.metrics import f1_score, precision_score, recall_score

    metrics = {
        "f1": float(f1_score(true_tags, pred_tags, zero_division=0)),
        "precision": float(precision_score(true_tags, pred_tags, zero_division=0)),
        "recall": float(recall_score(true_tags, pred_tags, zero_division=0)),
        "accuracy": float(_token_accuracy(true_tags, pred_tags)),
    }
    table = seq_report(true_tags, pred_tags, output_dict=True, zero_division=0)
    per_entity = [
        {
            "entity": k,
            "precision": float(v["precision"]),
            "recall": float(v["recall"]),
            "f1": float(v["f1-score"]),
            "support": int(v["support"]),
        }
        for k, v in table.items()
        if not k.endswith(" avg")
    ]
    return metrics, {"per_entity": per_entity}


def _token_accuracy(true_tags: list[list[str]], pred_tags: list[list[str]]) -> float:
    total = sum(len(t) for t in true_tags)
    same = sum(a == b for t, p in zip(true_tags, pred_tags) for a, b in zip(t, p))
    return same / total if total else 0.0
