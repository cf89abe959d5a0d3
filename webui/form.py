"""The run form: every component that goes into a RunConfig, wherever it sits on the page, read into a config
and written back from one (a preset, an uploaded YAML, a quick start).

Training settings and method params come from the config dataclasses (fields.py). The Data tab's fields are
laid out by hand, but they too are read and written through one table, ``DATA_FIELDS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import gradio as gr

from tl_core import dashboard
from tl_core.config import DataConfig, RunConfig
from tl_core.methods import parse_params
from tl_core.workspace import Workspace

from . import presenters
from .state import DataTab, MethodTab, Page

_DATA_DEFAULTS = DataConfig()


@dataclass(frozen=True)
class DataField:
    """How the Data tab shows one DataConfig field: form value -> config value, config value -> form value."""

    to_config: Callable[[Any], Any]
    to_form: Callable[[Any], Any]
    tasks: tuple[str, ...] = ()  # the tasks it is shown for (empty: every task)


def _column(value: Any) -> Any:
    return value or None


def _column_choice(value: Any) -> Any:
    return value or ""  # "" is the picker's "auto-detect"


DATA_FIELDS: dict[str, DataField] = {
    "text_column": DataField(_column, _column_choice, ("text",)),
    "label_column": DataField(_column, _column_choice, ("text", "image")),
    "image_column": DataField(_column, _column_choice, ("image",)),
    # the form shows a percentage; empty or 0 means the default share
    "eval_fraction": DataField(
        lambda pct: pct / 100.0 if pct else _DATA_DEFAULTS.eval_fraction, lambda frac: round(frac * 100)
    ),
    "stratify": DataField(bool, bool),
    "seed": DataField(lambda v: _DATA_DEFAULTS.seed if v in (None, "") else int(v), int),
    "max_rows": DataField(lambda v: int(v) if v else None, lambda v: v),  # 0 or empty: every row
}
COLUMNS = ("text_column", "label_column", "image_column")
SPLIT = ("eval_fraction", "stratify", "seed", "max_rows")  # what a preset or an uploaded YAML sets in the Data tab


def inputs(page: Page) -> set[Any]:
    """Every component a RunConfig is made from (an event's input set)."""
    tm, m, s = page.task_model, page.method, page.session
    comps = {tm.task, tm.model, m.method, m.run_label, s.sid, s.data_choice, s.eval_choice}
    comps |= set(page.data.fields.values()) | set(m.train.components.values())
    for group in m.params.values():
        comps |= set(group.components.values())
    return comps | (m.hardware.inputs if m.hardware else set())


def data_values(data: DataTab, values: dict[Any, Any]) -> dict[str, Any]:
    """The Data tab's fields as DataConfig values."""
    return {name: spec.to_config(values[data.fields[name]]) for name, spec in DATA_FIELDS.items()}


def data_config(
    ws: Workspace, data: DataTab, values: dict[Any, Any], choice: str | None, eval_choice: str | None
) -> DataConfig:
    """The DataConfig the Data tab describes for a data choice (the sample or an upload)."""
    return DataConfig(
        train_file=dashboard.data_file(ws, choice),
        eval_file=str(ws.upload_path(eval_choice)) if eval_choice else None,
        **data_values(data, values),
    )


def read_config(page: Page, ws: Workspace, values: dict[Any, Any]) -> RunConfig:
    """The RunConfig the whole form describes (checked by tl_core: blocking problems raise a UserError)."""
    tm, m, s = page.task_model, page.method, page.session
    method = values[m.method]
    data = asdict(data_config(ws, page.data, values, values[s.data_choice], values[s.eval_choice]))
    params = m.params[method].read(values) if method in m.params else {}
    return dashboard.build_config(
        values[tm.task], method, values[tm.model], m.train.read(values), data, params, values[m.run_label]
    )


def settings_updates(m: MethodTab, cfg: RunConfig) -> dict[Any, Any]:
    """Show a config's training settings (those that apply to its task) and its method's params and description."""
    out = m.train.write(cfg.train, task=cfg.task)
    out.update(m.params[cfg.method].write(parse_params(cfg.method, cfg.method_params)))
    out.update({group: gr.update(visible=name == cfg.method) for name, group in m.param_groups.items()})
    out[m.method_md] = presenters.method_text(cfg.method)
    return out


def settings_outputs(m: MethodTab) -> list[Any]:
    """Every component settings_updates may change."""
    params = [c for group in m.params.values() for c in group.components.values()]
    return [*m.train.components.values(), *params, *m.param_groups.values(), m.method_md]


def split_updates(data: DataTab, cfg: RunConfig) -> dict[Any, Any]:
    """Show a config's split settings in the Data tab (its data paths and columns stay as the user chose)."""
    return {data.fields[name]: DATA_FIELDS[name].to_form(getattr(cfg.data, name)) for name in SPLIT}


def split_fields(data: DataTab) -> list[Any]:
    """The Data tab's split settings, in page order."""
    return [data.fields[name] for name in SPLIT]


def column_updates(data: DataTab, task: str) -> dict[Any, Any]:
    """Show the column pickers that apply to ``task`` and hide the others."""
    return {data.fields[name]: gr.update(visible=task in DATA_FIELDS[name].tasks) for name in COLUMNS}


def column_fields(data: DataTab) -> list[Any]:
    """The Data tab's column pickers, in page order."""
    return [data.fields[name] for name in COLUMNS]


def model_picker(task: str, model: str | None = None) -> gr.Dropdown:
    """The base-model picker for a task, set to ``model`` or the task's default."""
    return gr.Dropdown(choices=dashboard.model_choices(task), value=model or dashboard.default_model(task))
