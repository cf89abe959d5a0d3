"""What the components show, from plain results: status cards, tables, labels, summaries, highlighted spans.

Pure functions of their arguments (no files, no gradio), so each is tested without a page. Titles, metric
names and the headline metric come from tl_core.registry, the one table of them.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from tl_core.methods import METHODS
from tl_core.registry import METRIC_NAMES, TASKS, headline, metric_name, task_title
from tl_core.workspace import human_bytes

from .presenters_eval import (  # noqa: F401 - re-exported: the components read every presenter from here
    TRUE_VS_PRED,
    baseline_rows,
    confusion_matrix,
    confusion_rows,
    error_summary,
    error_table,
    evaluate_help,
    metrics_rows,
    ner_entities,
    ner_highlight,
    ner_sentences,
    per_class_rows,
    pick_filter,
)
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
RUNS_EMPTY = (
    "**No runs yet.** Every run you start appears here with its score, duration and status. Click a **Try it with "
    "sample data** button on the first tab for a first run in about a minute, or start one from the **Train** tab."
)
EVAL_EMPTY = (
    "**No finished run yet.** Once a run finishes, its metrics, per-class scores and the examples it got wrong "
    "appear here. Click a **Try it with sample data** button on the first tab, or start a run on the **Train** tab."
)
PLAY_EMPTY = (
    "**No model to try yet.** Once a run finishes you can type a text or drop an image here and see its "
    "prediction. Click a **Try it with sample data** button on the first tab, or start a run on the **Train** tab."
)
BATCH_EMPTY = "Predictions appear here after you upload a file to score."
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


def column_choices(columns: list[str], found: str | None = None) -> list[tuple[str, str]]:
    """A column picker's choices; after a check the automatic choice names the column it found, so "auto-detect"
    never looks like nothing was detected."""
    auto = f"auto-detect (found: {found})" if found else "auto-detect"
    return [(auto, "")] + [(c, c) for c in columns]


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
        elif phase == "done" and row.get("verdict") == "weak":  # the same judgement as the Train tab's amber card
            phase = "done, no better than guessing"
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


def push_failed_md(message: str) -> str:
    """A refused or failed Hub push, for the message area under the push button."""
    return f"<div class='tl-problems-error'>\n\n**Not pushed.** {html.escape(message)}\n\n</div>"


def run_name(row: dict[str, Any]) -> str:
    """A run's name (its folder's), from a row as tl_core.runs.list_runs gives it."""
    return Path(row["run_dir"]).name


_name = run_name
