"""Honest results: is a finished run any better than guessing, and if not, why and what to try next.

A score means little on its own: accuracy 0.50 is good for ten classes and worthless for two balanced ones. Every
finished run is therefore judged against baselines computed from its own evaluation split:

* classification: the **majority** baseline (always answer the most common class; its accuracy is that class's
  share) and **chance** (1 / number of classes). The run is judged on accuracy, the metric both baselines are in.
* NER: the **all-"O"** baseline (tag every word as outside any entity). Its entity F1 is 0 by definition, so the
  meaningful comparison is token accuracy: all-"O" already gets the share of "O" words right (often 85 % or
  more). A run counts only when its entity F1 is above 0 and its token accuracy clearly beats all-"O".

"Clearly" is stats.clearly_above: the baseline lies below the score's 95 % interval. Pure functions of results
and metrics records (no files), so every branch is unit-tested with synthetic numbers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .stats import clearly_above, wilson_interval

MIN_STEPS = 30  # fewer optimizer steps than this rarely move a pretrained model far from its random new head;
# the bundled samples get 30 or more from their presets, so only smaller uploads are scaled (epoch_scaling.py)
FLAT_LOSS = 0.9  # the loss "fell" when its last value is below this share of its first
OVERFIT_RISE = 1.05  # the evaluation loss "rose" when its last value is this much above its best


def baselines(task: str, labels: list[str], eval_targets: Sequence[Any]) -> dict[str, Any]:
    """The baselines of an evaluation split: label ids per example (classification) or tag-id lists per sentence
    (NER). ``majority`` and ``chance`` are in ``metric`` (accuracy, or token accuracy for NER)."""
    if task == "ner":
        tags = [labels[t] for sentence in eval_targets for t in sentence]
        outside = sum(t == "O" for t in tags)
        entities = sum(t.startswith(("B-", "S-", "U-")) for t in tags)
        return {
            "majority": outside / len(tags) if tags else 0.0,
            "chance": None,
            "metric": "token accuracy",
            "majority_label": "O",
            "n": len(tags),
            "entities": entities,
        }
    counts = Counter(int(y) for y in eval_targets)
    top, top_n = counts.most_common(1)[0] if counts else (0, 0)
    return {
        "majority": top_n / len(eval_targets) if len(eval_targets) else 0.0,
        "chance": 1 / len(labels) if labels else None,
        "metric": "accuracy",
        "majority_label": labels[top] if labels else None,
        "n": len(eval_targets),
    }


def judge(results: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, str]:
    """The verdict of a finished run: ``level`` "good" (clearly better than every baseline) or "weak", a
    ``headline``, and for a weak run its likely ``cause`` and a concrete ``next_step``."""
    base = results.get("baselines") or {}
    metrics = results.get("metrics") or {}
    score = metrics.get("accuracy")
    if not base or not isinstance(score, (int, float)):
        return {"level": "good", "headline": "", "cause": "", "next_step": ""}  # nothing to judge against
    beats, compared = _beats_baselines(results.get("task", ""), base, metrics)
    if beats:
        return {"level": "good", "headline": f"Clearly better than guessing: {compared}.", "cause": "", "next_step": ""}
    cause, step = diagnose(results, records)
    headline = f"Done, but no better than guessing: {compared}."
    return {"level": "weak", "headline": headline, "cause": cause, "next_step": step}


def _beats_baselines(task: str, base: dict[str, Any], metrics: dict[str, Any]) -> tuple[bool, str]:
    """Whether the run clearly beats its baselines, and the comparison in words."""
    n, score = int(base.get("n") or 0), float(metrics["accuracy"])
    lo, hi = wilson_interval(score, n)
    if task == "ner":
        f1 = float(metrics.get("f1") or 0.0)
        ok = f1 > 0 and clearly_above(score, base["majority"], n)
        return ok, (
            f"entity F1 {f1:.2f}; word-level accuracy {score:.3f} (95% interval {lo:.3f}–{hi:.3f}) against "
            f"{base['majority']:.3f} for tagging every word as outside any entity"
        )
    bar = max(base["majority"], base.get("chance") or 0.0)
    label = base.get("majority_label")
    what = f"always answering '{label}'" if label is not None else "always answering the most common class"
    return clearly_above(score, bar, n), (
        f"accuracy {score:.3f} (95% interval {lo:.2f}–{hi:.2f} on {n} evaluation examples) against "
        f"{base['majority']:.3f} for {what}"
    )


def diagnose(results: dict[str, Any], records: list[dict[str, Any]]) -> tuple[str, str]:
    """The likely cause of a weak run and what to try next, from its step count and loss curves."""
    steps, method = int(results.get("steps") or 0), results.get("method", "")
    train = [float(r["loss"]) for r in records if r.get("phase") == "train" and _finite(r.get("loss"))]
    evals = [(r.get("epoch"), float(r["eval_loss"])) for r in records if _finite(r.get("eval_loss"))]
    if steps < MIN_STEPS:
        return _too_few_steps(steps, results, method)
    if len(evals) >= 3 and len(train) >= 2 and train[-1] < train[0] * FLAT_LOSS:
        best = min(range(len(evals)), key=lambda i: evals[i][1])
        if best < len(evals) - 1 and evals[-1][1] > evals[best][1] * OVERFIT_RISE:
            epoch = evals[best][0]
            at = f"epoch {epoch:g}" if isinstance(epoch, (int, float)) else "an early evaluation"
            return (
                f"Overfitting: the training loss kept falling while the evaluation loss rose after {at} "
                f"({evals[best][1]:.2f} → {evals[-1][1]:.2f}); the model memorised the training examples.",
                "Turn on early stopping (patience 1 or 2), or train for fewer epochs.",
            )
    if len(train) >= 2 and train[-1] >= train[0] * FLAT_LOSS:
        return _flat_loss(train, method)
    return (
        "The model learned from the training data, but it does not carry over to the evaluation examples: "
        "there may be too few examples, or labels that the text or images do not show.",
        "Add examples (at least 20 per class), check the mistakes in the Evaluate tab for wrong labels, or try a "
        "bigger model.",
    )


def _too_few_steps(steps: int, results: dict[str, Any], method: str) -> tuple[str, str]:
    epochs = float(results.get("epochs_run") or 0.0)
    more = math.ceil(epochs * MIN_STEPS / max(steps, 1)) if epochs else None
    cause = (
        f"Too little training: only {steps} optimizer step{'s' if steps != 1 else ''} "
        f"({results.get('data', {}).get('train', '?')} training examples), so the new classification head barely "
        f"moved from its random start."
    )
    if method == "features":
        return cause, f"Train for more epochs{f' (about {more})' if more else ''}, or add examples."
    return cause, (
        f"Train for more epochs{f' (about {more})' if more else ''}, or use feature extraction, which learns from "
        f"small data in seconds."
    )


def _flat_loss(train: list[float], method: str) -> tuple[str, str]:
    jumpy = max(train) > train[0] * 1.5  # the loss shot up somewhere: the steps are too big
    cause = f"The training loss did not fall ({train[0]:.2f} → {train[-1]:.2f}): the model did not learn."
    if jumpy:
        return cause, "Lower the learning rate (divide it by 10) and start a new run."
    typical = {"features": "1e-3 to 1e-2", "lora": "2e-4 to 1e-3", "full": "2e-5 to 1e-4"}.get(method, "")
    where = f" (typical for this method: {typical})" if typical else ""
    return cause, f"Change the learning rate{where}: usually raise it by 10x when the loss stays flat."


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
