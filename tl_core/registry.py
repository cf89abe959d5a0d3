"""Task and method registries: the one table of titles, display order and headline metric.

The app, the CLI, exports and cards build their choices and wording from here.
"""

from __future__ import annotations

from typing import Any

from .methods import METHODS
from .tasks.base import Task
from .tasks.image_classification import TASK as IMAGE
from .tasks.text_classification import TASK as TEXT
from .tasks.token_classification import TASK as NER

TASKS: dict[str, Task] = {t.name: t for t in (TEXT, IMAGE, NER)}
TASK_ORDER = ("text", "image", "ner")
METHOD_ORDER = ("features", "lora", "full")  # cheapest first

# Metric keys as results.json stores them -> the name users read, and the one-line explanation.
METRIC_NAMES = {
    "f1_macro": (
        "macro F1",
        "The F1 score of each class, averaged with equal weight, so rare classes count as "
        "much as common ones (0 to 1, higher is better).",
    ),
    "f1": (
        "entity F1",
        "How well whole entities are found: a found entity counts only if its words and type are "
        "both right (0 to 1, higher is better).",
    ),
    "accuracy": ("accuracy", "The share of examples whose predicted label is right."),
    "f1_weighted": ("weighted F1", "The F1 score of each class, averaged by how many examples it has."),
    "precision_macro": (
        "macro precision",
        "Of the examples predicted as a class, the share that is right (class average).",
    ),
    "recall_macro": ("macro recall", "Of the examples of a class, the share found (class average)."),
    "precision": ("entity precision", "Of the entities found, the share that is right."),
    "recall": ("entity recall", "Of the true entities, the share found."),
}


def get_task(name: str) -> Task:
    from .errors import ConfigError

    if name not in TASKS:
        raise ConfigError(f"Unknown task '{name}'. Choose one of: {', '.join(TASKS)}.")
    return TASKS[name]


def task_title(name: str) -> str:
    return TASKS[name].title if name in TASKS else str(name)


def method_title(name: str) -> str:
    return METHODS[name].title if name in METHODS else str(name)


def metric_name(key: str) -> str:
    """The user-facing name of a metric key (``f1_macro`` -> ``macro F1``)."""
    return METRIC_NAMES.get(key, (key.replace("_", " "), ""))[0]


def headline(task: str, metrics: dict[str, Any] | None) -> tuple[str, float | None]:
    """The one headline metric of a task and its value in ``metrics`` (None when absent): the metric that
    early stopping, run lists, status lines, comparisons and cards all show."""
    if task not in TASKS:
        return "accuracy", None
    key = TASKS[task].main_metric
    value = (metrics or {}).get(key, (metrics or {}).get(f"eval_{key}"))
    return key, (float(value) if isinstance(value, (int, float)) else None)
