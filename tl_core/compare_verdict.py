"""The one-sentence recommendation of a method comparison, with its reason in numbers.

The rule: among the finished methods whose score is as good as the best one's, within chance (the best score lies
inside the method's 95% interval) or within one point, recommend the cheapest: the smallest saved model, and of
models about that size (within 10%) the fastest to train. If no method beats the majority baseline by more than
chance, say that instead: then no method is worth shipping yet.
"""

from __future__ import annotations

from typing import Any

from .registry import TASKS, metric_name
from .stats import clearly_above, half_width

CLOSE_POINTS = 1.0  # within one point (0.01) counts as "as good" even on large evaluation sets
SAME_SIZE = 1.10  # models within 10% of the smallest count as the same size: training time decides
TITLES = {"features": "Feature extraction", "lora": "LoRA", "full": "Full fine-tuning"}


def title(method: str | None, start: bool = True) -> str:
    text = TITLES.get(str(method), str(method))
    return text if start or text == "LoRA" else text[0].lower() + text[1:]


def majority_baseline(task: str, results: dict[str, Any]) -> dict[str, Any] | None:
    """The headline metric of always predicting the evaluation set's most common class (NER: finding no entity,
    entity F1 0), from a finished run's results.json. The majority class and its share are the run's own
    ``baselines`` (verdict.py, the one place they are computed); None when the run has none."""
    if task not in TASKS:
        return None
    key = TASKS[task].main_metric
    if task == "ner":
        return {"key": key, "value": 0.0, "label": "finding no entities"}
    base = results.get("baselines") or {}
    share, n_classes = base.get("majority"), len(results.get("labels") or [])
    if share is None or not n_classes:
        return None
    if key == "accuracy":
        value = share
    else:  # macro F1: the majority class scores 2p/(1+p) (precision p, recall 1), every other class 0
        value = 2 * share / (1 + share) / n_classes
    return {"key": key, "value": value, "label": f"always predicting '{base.get('majority_label')}'"}


def _cost_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cheapest first: the smallest model, and among models about that size the fastest training."""
    inf = float("inf")
    smallest = min((r["artifact_mb"] if r["artifact_mb"] is not None else inf) for r in rows)
    same = [r for r in rows if r["artifact_mb"] is not None and r["artifact_mb"] <= smallest * SAME_SIZE]
    rest = [r for r in rows if r not in same]
    by_time = sorted(same, key=lambda r: r["wall_s"] if r["wall_s"] is not None else inf)
    return by_time + sorted(rest, key=lambda r: (r["artifact_mb"] or inf, r["wall_s"] or inf))


def _as_good(r: dict[str, Any], best: dict[str, Any]) -> bool:
    m, b = r["metric"], best["metric"]
    high = m["high"] if m["high"] is not None else m["value"]
    return high >= b["value"] or (b["value"] - m["value"]) * 100 <= CLOSE_POINTS


def _ratio(small: float | None, big: float | None, what: str) -> str | None:
    """``1/70 of the model size`` or ``40% of the training time``; None when not clearly smaller."""
    if not small or not big or small >= big * 0.9:
        return None
    return f"1/{big / small:.0f} of the {what}" if big / small >= 2 else f"{small / big:.0%} of the {what}"


def _saving(chosen: dict[str, Any], other: dict[str, Any]) -> str:
    return (
        _ratio(chosen["artifact_mb"], other["artifact_mb"], "model size")
        or _ratio(chosen["wall_s"], other["wall_s"], "training time")
        or "about the same cost"
    )


def recommend(rows: list[dict[str, Any]], baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    """{"method": the method to use (None when none is worth it), "reason": one sentence with the numbers}."""
    done = [r for r in rows if r["phase"] == "done" and r["metric"]["value"] is not None]
    if not done:
        return {"method": None, "reason": "No method finished, so there is nothing to recommend yet."}
    name = done[0]["metric"]["name"] or metric_name(done[0]["metric"]["key"])
    if baseline is not None and not any(
        clearly_above(r["metric"]["value"], baseline["value"], r["metric"]["n"]) for r in done
    ):
        return {
            "method": None,
            "reason": f"No method is clearly better than {baseline['label']} ({name} {baseline['value']:.3f}): "
            "check that the labels are right, or add more (and more varied) examples before choosing a method.",
        }
    best = max(done, key=lambda r: r["metric"]["value"])
    chosen = _cost_order([r for r in done if _as_good(r, best)])[0]
    v, bv = chosen["metric"]["value"], best["metric"]["value"]
    pm = f"{bv:.3f} ± {half_width(bv, best['metric']['n']):.3f}"
    if len(done) == 1:
        reason = f"{title(chosen['method'])}: the only method that finished ({name} {pm})."
    elif chosen is best:
        cheaper = [r for r in _cost_order(done) if r is not best][:1]
        reason = f"{title(best['method'])}: the best {name} ({pm})"
        if cheaper and _cost_order(done)[0] is not best:
            gap = (bv - cheaper[0]["metric"]["value"]) * 100
            reason += f"; {title(cheaper[0]['method'], False)} is cheaper but {gap:.1f} points lower, more than chance."
        else:
            reason += ", and it is also the cheapest method here."
    else:
        gap = (bv - v) * 100
        closeness = "as good as" if gap < 0.05 else f"within {gap:.1f} points of"
        reason = (
            f"{title(chosen['method'])}: {closeness} {title(best['method'], False)} ({name} {v:.3f} vs {pm}) "
            f"at {_saving(chosen, best)}."
        )
    return {"method": chosen["method"], "reason": reason}
