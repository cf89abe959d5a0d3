"""What Evaluate and the Playground show, from a run's results.json and saved predictions: the metrics under
their registry names, per-class and confusion tables with classes in display order, the mistake summaries and
the NER highlights. Pure functions (no files, no gradio); webui.presenters re-exports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tl_core.charts import class_order
from tl_core.errors import UserError
from tl_core.registry import headline, metric_name

TRUE_VS_PRED = "true \\ predicted"


# --- evaluation ------------------------------------------------------------------------------------------------
def metrics_rows(res: dict[str, Any]) -> list[list[Any]]:
    """The run's metrics under the names users read everywhere (registry.metric_name), the headline first."""
    metrics = {k: v for k, v in (res.get("metrics") or {}).items() if isinstance(v, (int, float))}
    key, _ = headline(res.get("task", ""), metrics)
    ordered = sorted(metrics, key=lambda k: k != key)  # stable: the headline first, the rest as saved
    rows = [[metric_name(k), round(metrics[k], 4)] for k in ordered]
    data, params, timing = res.get("data") or {}, res.get("params") or {}, res.get("timing") or {}
    rows += [
        ["evaluation examples", data.get("eval")],
        ["training examples", data.get("train")],
        ["trainable parameters", f"{params.get('trainable', 0):,}"],
        ["training time (s)", round(timing.get("total_s") or 0, 1)],
    ]
    return rows + baseline_rows(res)


def baseline_rows(res: dict[str, Any]) -> list[list[Any]]:
    """What guessing scores on the same evaluation split, next to the run's own scores."""
    base = res.get("baselines") or {}
    if not isinstance(base.get("majority"), (int, float)):
        return []
    metric = base.get("metric", "accuracy")
    if base.get("majority_label") == "O":
        rows = [[f"baseline: every word outside an entity ({metric}; its entity F1 is 0)", round(base["majority"], 4)]]
    else:
        rows = [[f"baseline: always '{base.get('majority_label')}' ({metric})", round(base["majority"], 4)]]
    if isinstance(base.get("chance"), (int, float)):
        rows.append([f"baseline: chance, 1 / classes ({metric})", round(base["chance"], 4)])
    return rows


def per_class_rows(res: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Per-class (or per-entity-type) scores, classes in display order (numeric for digit names)."""
    report = res.get("report") or {}
    key, items = ("entity", report["per_entity"]) if "per_entity" in report else ("label", report.get("per_class", []))
    by_name = {str(r[key]): r for r in items}
    return [key, "precision", "recall", "f1", "support"], [
        [r[key], round(r["precision"], 3), round(r["recall"], 3), round(r["f1"], 3), r["support"]]
        for r in (by_name[name] for name in class_order(list(by_name)))
    ]


def confusion_matrix(res: dict[str, Any]) -> tuple[list[str], list[list[int]]]:
    """(labels, matrix) in display order; ([], []) when the run has none (NER) or it is malformed."""
    cm = (res.get("report") or {}).get("confusion_matrix") or {}
    labels, matrix = [str(x) for x in cm.get("labels") or []], cm.get("matrix") or []
    if not labels or len(matrix) != len(labels):
        return [], []
    order = [labels.index(x) for x in class_order(labels)]
    return [labels[i] for i in order], [[matrix[i][j] for j in order] for i in order]


def confusion_rows(res: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The confusion matrix as a table (rows: true class, columns: predicted class); empty when there is none."""
    labels, matrix = confusion_matrix(res)
    if not labels:
        return [], []
    return [TRUE_VS_PRED, *labels], [[label, *row] for label, row in zip(labels, matrix)]


def evaluate_help(task: str | None) -> str:
    """How to use the error analysis: NER has no confusion table, so it is not mentioned there."""
    if task == "ner":
        return (
            "#### Error analysis\nClick a row of the per-entity table, or choose an entity type, to see the sentences "
            "with a wrong tag of that type. Wrong tags are marked ✗ with the predicted and the true type."
        )
    return (
        "#### Error analysis\nClick a cell of the confusion table (a true class and a predicted class) or a "
        "row of the per-class table, and see the examples the model got wrong."
    )


def pick_filter(res: dict[str, Any], table: str, index: Any) -> tuple[str, str]:
    """(true, predicted) filter for a click on a results table; 'any' where the click does not fix one.

    ``table`` is "confusion" (row = true class, column = predicted class, the first column = the whole row) or
    "per_class" (a row of the per-class / per-entity table = that class's mistakes). Only the position is taken
    from the client; the class names come from the run's own results.
    """
    try:
        row, col = (int(index[0]), int(index[1])) if isinstance(index, (list, tuple)) else (int(index), 0)
    except (TypeError, ValueError, IndexError):
        raise UserError("Click a cell of the table to filter the mistakes.") from None
    if table == "confusion":
        labels = [r[0] for r in confusion_rows(res)[1]]
        if not 0 <= row < len(labels) or not 0 <= col <= len(labels):
            raise UserError("Click a cell of the confusion table.")
        return labels[row], labels[col - 1] if col >= 1 else "any"
    _, rows = per_class_rows(res)
    if not 0 <= row < len(rows):
        raise UserError("Click a row of the per-class table.")
    return str(rows[row][0]), "any"


def error_summary(res: dict[str, Any], true: str, pred: str, shown: int) -> str:
    """One line saying which mistakes are listed."""

    def chosen(v: str | None) -> bool:
        return v not in (None, "", "any")

    if "per_entity" in (res.get("report") or {}):
        what = f"sentences with a wrong **{true}** tag" if chosen(true) else "sentences with a wrong tag"
    elif chosen(true) and chosen(pred):
        what = f"examples of **{true}** predicted as **{pred}**"
    elif chosen(true):
        what = f"misclassified examples of **{true}**"
    elif chosen(pred):
        what = f"examples wrongly predicted as **{pred}**"
    else:
        what = "misclassified examples"
    if shown == 0:
        return f"No {what} in the evaluation split."
    if shown == 1:  # one example, one sentence: the noun goes singular
        what = what.replace("examples", "example", 1).replace("sentences", "sentence", 1)
    return f"Showing {shown} {what}."


def error_table(task: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The listed mistakes: NER sentences with their number of wrong tags, else input / true / predicted."""
    if task == "ner":
        return pd.DataFrame(
            [[" ".join(r["tokens"])[:200], sum(a != b for a, b in zip(r["true"], r["pred"]))] for r in rows],
            columns=["sentence", "wrong tags"],
        )
    return pd.DataFrame(
        [
            [
                Path(str(r["input"])).name if task == "image" else r["input"],
                r["true"],
                r["pred"],
                round(r["confidence"], 3),
            ]
            for r in rows
        ],
        columns=["input", "true", "predicted", "confidence"],
    )


def ner_highlight(row: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(text, label) spans for a sentence: correct entities by type, mistakes as '✗ pred (true X)'. Consecutive
    words with the same label form one span, and the spaces between spans carry no label (a tag on a space
    shows as an empty chip)."""
    out = []
    for word, t, p in zip(row["tokens"], row["true"], row["pred"]):
        if t == p:
            out.append((word, t.split("-", 1)[-1] if t != "O" else None))
        else:
            tp = p.split("-", 1)[-1] if p != "O" else "O"
            tt = t.split("-", 1)[-1] if t != "O" else "O"
            out.append((word, f"✗ {tp} (true {tt})"))
    merged: list[tuple[str, str | None]] = []
    for word, label in out:
        if merged and merged[-1][1] == label:
            merged[-1] = (merged[-1][0] + " " + word, label)
        else:
            merged.append((word, label))
    spaced: list[tuple[str, str | None]] = []
    for i, span in enumerate(merged):
        if i:
            spaced.append((" ", None))
        spaced.append(span)
    return spaced


def ner_sentences(rows: list[dict[str, Any]], limit: int = 8) -> list[tuple[str, str | None]]:
    """The first ``limit`` NER mistakes as one highlighted text, a sentence per line."""
    spans: list[tuple[str, str | None]] = []
    for r in rows[:limit]:
        spans += ner_highlight(r) + [("\n", None)]
    return spans


def ner_entities(pred: dict[str, Any]) -> dict[str, Any]:
    """Predictor NER output -> what a highlighted-text view takes ({"text", "entities": [{entity,start,end}]})."""
    return {
        "text": pred["text"],
        "entities": [
            {"entity": f"{e['entity']} {e['score']:.2f}", "start": e["start"], "end": e["end"]}
            for e in pred["entities"]
        ],
    }
