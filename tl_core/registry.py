"""Task and method registries: the app and CLI build their choices from these."""
from __future__ import annotations

from .tasks.base import Task
from .tasks.image_classification import TASK as IMAGE
from .tasks.text_classification import TASK as TEXT
from .tasks.token_classification import TASK as NER

TASKS: dict[str, Task] = {t.name: t for t in (TEXT, IMAGE, NER)}


def get_task(name: str) -> Task:
    from .errors import ConfigError

    if name not in TASKS:
        raise ConfigError(f"Unknown task '{name}'. Choose one of: {', '.join(TASKS)}.")
    return TASKS[name]
