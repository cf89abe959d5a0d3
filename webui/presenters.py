"""What the components show, from plain results: status cards, tables, labels, summaries, highlighted spans.

Pure functions of their arguments (no files, no gradio), so each is tested without a page. Titles, metric
names and the headline metric come from tl_core.registry, the one table of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tl_core.errors import UserError
from tl_core.methods import METHODS
from tl_core.registry import METRIC_NAMES, TASKS, headline, metric_name, task_title
from tl_core.workspace import human_bytes

from .run_status import PHASE_LABELS, _fmt_s, _outcome, done_html, status_html  # noqa: F401 - re-exported

SAMPLE_NAMES = {"text": "Sentiment reviews", "image": "Handwritten digits", "ner": "News entities"}
METHOD_WHEN = {
    "features": "**When:** small data (tens to a few hundred examples per class) that looks like what the model "
    "was pretrained on. Fastest: the model runs once, only a small head learns.",
    "lora": "**When:** a few hundred to many thousands of examples, or memory is tight. Nearly as good as full "
    "fine-tuning, and the saved adapter is tiny.",
    "full": "**When:** thousands of examples, or data unlike the pretraining domain (special jargon, medical "
    "images). Best accuracy, slowest, most memory.",
}
TRUE_VS_PRED = "true \\ predicted"
RUNS_HEADERS = ["run", "task", "model", "method", "data", "metric", "duration", "status"]


# --- task, model, method ---------------------------------------------------------------------------------------
def quick_label(task: str) -> str:
    return f"{SAMPLE_NAMES[task]} · {task_title(task).lower()}"


def task_text(task: str) -> str:
    """The task's description and its one headline metric, named as every other screen names it, explained."""
    return TASKS[task].description + f"  \nMain metric: {metric_help(TASKS[task].main_metric)}"


def metric_help(key: str) -> str:
    """A metric's user name in bold and its one-line explanation (registry.METRIC_NAMES)."""
    explanation = METRIC_NAMES.get(key, ("", ""))[1]
    return f"**{metric_name(key)}**" + (f": {explanation}" if explanation else ".")


def method_text(method: str) -> str:
    return METHOD_WHEN[method] + "\n\n" + METHODS[method].description


def model_facts_rows(info: dict[str, Any]) -> list[list[str]]:
    """Rows [fact, value] describing a model (tl_core.dashboard.model_facts) for a two-column table."""
    mem = info.get("memory_mb_estimate")
    memory = (
        f"~{mem / 1024:.1f} GB (estimate)" if mem and mem >= 1024 else (f"~{mem} MB (estimate)" if mem else "unknown")
    )
    rows = [
        ["Model", str(info["ref"])],
        ["Parameters", _human(info.get("params"))],
        ["Fine-tuning memory", memory],
        ["Works offline", "yes" if info.get("offline") else "no: downloaded from the Hub on first use"],
    ]
    if info.get("model_type"):
        rows.insert(2, ["Architecture", str(info["model_type"])])
    if info.get("note"):
        rows.append(["Note", str(info["note"])])
    return rows


def _human(n: int | None) -> str:
    if not n:
        return "unknown"
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n:,}"


# --- data ------------------------------------------------------------------------------------------------------
def problems_md(info: dict[str, Any]) -> str:
    """The data check's verdict: blocking problems, then warnings, or a clear all-good."""
    parts = []
    if info["errors"]:
        items = "\n".join(f"- {m}" for m in info["errors"])
        parts.append(
            f"<div class='tl-problems-error'>\n\n**Blocking problems (fix these before training)**\n\n{items}\n\n</div>"
        )
    if info["warnings"]:
        items = "\n".join(f"- {m}" for m in info["warnings"])
        parts.append(f"<div class='tl-problems-warn'>\n\n**Warnings (training can go ahead)**\n\n{items}\n\n</div>")
    if not parts:
        parts.append("<div class='tl-problems-ok'>\n\n**No problems found.** The data is ready for training.\n\n</div>")
    return "\n\n".join(parts)


def data_source_md(file_name: str | None, detected: dict[str, str]) -> str:
    """Which data is in use (``file_name`` None: the bundled sample) and the columns found in it."""
    text = "**Data:** " + ("bundled sample" if file_name is None else f"`{file_name}` (uploaded)")
    if detected:
        text += f" · detected columns: {', '.join(f'{k} = `{v}`' for k, v in detected.items())}"
    return text


def preview_frame(info: dict[str, Any]) -> pd.DataFrame | None:
    return pd.DataFrame(info["preview"], columns=info["preview_headers"]) if info["preview_headers"] else None


def stats_rows(stats: dict[str, Any]) -> list[list[str]]:
    splits = stats.get("splits") or {}
    rows = [
        ["Source", str(stats.get("source", ""))],
        ["Training examples", str(splits.get("train", 0))],
        ["Evaluation examples", _eval_examples(splits, stats)],
        ["Classes / tags", str(stats.get("num_labels", 0))],
        ["Empty rows skipped", str(stats.get("empty_rows", 0))],
        ["Duplicates", str(stats.get("duplicates", 0))],
        ["Train/eval overlap", str(stats.get("overlap", 0))],
    ]
    if "rows_before_max_rows" in stats:
        rows.insert(2, ["Rows before the row cap", str(stats["rows_before_max_rows"])])
    return rows


def _eval_examples(splits: dict[str, Any], stats: dict[str, Any]) -> str:
    """The evaluation count and where it comes from; a dash while the data cannot be split (a blocking problem
    above says why), never a bare "0 ()"."""
    n, source = splits.get("eval", 0), stats.get("eval_source")
    if not n and not source:
        return "– (see the problems above)"
    return f"{n} ({source})" if source else str(n)


def column_choices(columns: list[str]) -> list[tuple[str, str]]:
    return [("auto-detect", "")] + [(c, c) for c in columns]


# --- runs --------------------------------------------------------------------------------------------------------
def run_label(row: dict[str, Any]) -> str:
    """A run as a picker shows it: name, phase and headline score."""
    key, value = headline(row["task"], row.get("metrics"))
    score = f" · {metric_name(key)} {value:.3f}" if value is not None else ""
    return f"{row['name']} · {row['phase']}{score}"


def run_choices(rows: list[dict[str, Any]], finished_only: bool = False) -> list[tuple[str, str]]:
    """(label, run name) for a run picker, newest first (rows as tl_core.runs.list_runs gives them)."""
    return [(run_label(r), _name(r)) for r in rows if not finished_only or r["phase"] == "done"]


def runs_table(rows: list[dict[str, Any]], positions: dict[str, int | None]) -> pd.DataFrame:
    """The run history; ``positions`` gives each waiting run's place in the queue."""
    out = []
    for row in rows:
        key, value = headline(row["task"], row.get("metrics"))
        phase = row["phase"]
        if phase == "queued" and positions.get(_name(row)):
            phase = f"queued (#{positions[_name(row)]})"
        dur = row.get("duration_s")
        out.append(
            [
                _name(row),
                row["task"],
                row.get("model") or "default",
                row["method"],
                Path(row["data"]).name if row.get("data") else "bundled sample",
                f"{metric_name(key)} {value:.3f}" if value is not None else "",
                f"{dur:.0f} s" if isinstance(dur, (int, float)) else "",
                phase,
            ]
        )
    return pd.DataFrame(out, columns=RUNS_HEADERS)


def usage_md(used: int, quota: int) -> str:
    """The workspace's disk use, against its quota where there is one (public deployments)."""
    if not quota:
        return f"Your runs, uploads and downloads use {human_bytes(used)}."
    return (
        f"Your runs, uploads and downloads use {human_bytes(used)} of the {human_bytes(quota)} each workspace may "
        "use. Delete runs you no longer need to free space."
    )


def _name(row: dict[str, Any]) -> str:
    return Path(row["run_dir"]).name


# --- evaluation ------------------------------------------------------------------------------------------------
def metrics_rows(res: dict[str, Any]) -> list[list[Any]]:
    rows = [[metric_name(k), round(v, 4)] for k, v in (res.get("metrics") or {}).items() if isinstance(v, (int, float))]
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
    report = res.get("report") or {}
    key, items = ("entity", report["per_entity"]) if "per_entity" in report else ("label", report.get("per_class", []))
    return [key, "precision", "recall", "f1", "support"], [
        [r[key], round(r["precision"], 3), round(r["recall"], 3), round(r["f1"], 3), r["support"]] for r in items
    ]


def confusion_rows(res: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The confusion matrix as a table (rows: true class, columns: predicted class); empty when there is none."""
    cm = (res.get("report") or {}).get("confusion_matrix") or {}
    labels, matrix = [str(x) for x in cm.get("labels") or []], cm.get("matrix") or []
    if not labels or len(matrix) != len(labels):
        return [], []
    return [TRUE_VS_PRED, *labels], [[label, *row] for label, row in zip(labels, matrix)]


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
    return f"No {what} in the evaluation split." if shown == 0 else f"Showing {shown} {what}."


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
    """(word, label) pairs for a sentence: correct entities by type, mistakes as '✗ pred (true X)'."""
    out = []
    for word, t, p in zip(row["tokens"], row["true"], row["pred"]):
        if t == p:
            out.append((word, t.split("-", 1)[-1] if t != "O" else None))
        else:
            tp = p.split("-", 1)[-1] if p != "O" else "O"
            tt = t.split("-", 1)[-1] if t != "O" else "O"
            out.append((word, f"✗ {tp} (true {tt})"))
    spaced: list[tuple[str, str | None]] = []
    for i, (word, label) in enumerate(out):
        if i:
            same = label is not None and out[i - 1][1] == label
            spaced.append((" ", label if same else None))
        spaced.append((word, label))
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
