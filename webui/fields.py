"""Form fields generated from config dataclasses, so a new setting is one edit in tl_core.

A field declared with a ``label`` (``tl_core.config.setting``) becomes a component: its type picks the kind
(number, whole number, checkbox, text), its ``choices`` make a dropdown, its ``help`` is the hint and its
``tasks`` and ``methods`` say for which tasks and methods it is shown. The same group reads the components back into a dict for the config
and writes a config section into them.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

import gradio as gr


@dataclass
class FieldGroup:
    """The components of one config section, by field name, and the tasks each one applies to."""

    components: dict[str, gr.components.Component]
    tasks: dict[str, tuple[str, ...]]  # empty tuple: every task
    methods: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # missing or empty: every method

    def read(self, values: dict[Any, Any]) -> dict[str, Any]:
        """The section as a plain dict, from an event's ``{component: value}``."""
        return {name: values[comp] for name, comp in self.components.items()}

    def write(self, section: Any, task: str | None = None, method: str | None = None) -> dict[Any, Any]:
        """``{component: value}`` showing a config section (a dataclass instance); with ``task`` (``method``), the
        fields that apply to some tasks (methods) only are also shown or hidden for it."""
        out: dict[Any, Any] = {}
        for name, comp in self.components.items():
            value = getattr(section, name)
            tasks, methods = self.tasks[name], self.methods.get(name, ())
            if (task and tasks) or (method and methods):
                visible = (not task or not tasks or task in tasks) and (not method or not methods or method in methods)
                out[comp] = gr.update(value=value, visible=visible)
            else:
                out[comp] = value
        return out


def form_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of a config dataclass that the form shows: those declared with a label."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("label")]


def generate(cls: type, id_prefix: str = "", per_row: int = 3) -> FieldGroup:
    """Build the labelled fields of ``cls`` in rows of ``per_row`` inside the current layout."""
    chosen = form_fields(cls)
    hints = typing.get_type_hints(cls)
    components: dict[str, gr.components.Component] = {}
    for start in range(0, len(chosen), per_row):
        with gr.Row():
            for f in chosen[start : start + per_row]:
                elem_id = id_prefix + f.name.replace("_", "-")
                components[f.name] = _component(f, _plain_type(hints[f.name]), elem_id)
    return FieldGroup(
        components,
        {f.name: tuple(f.metadata.get("tasks") or ()) for f in chosen},
        {f.name: tuple(f.metadata.get("methods") or ()) for f in chosen},
    )


def _component(f: dataclasses.Field, kind: type, elem_id: str) -> gr.components.Component:
    meta = f.metadata
    common: dict[str, Any] = {
        "label": meta["label"],
        "info": meta.get("help") or None,
        "elem_id": elem_id,
        "value": _default(f),
    }
    if meta.get("choices"):
        return gr.Dropdown(list(meta["choices"]), **common)
    if kind is bool:
        return gr.Checkbox(**common)
    if kind is int:
        return gr.Number(precision=0, **common)
    if kind is float:
        return gr.Number(**common)
    return gr.Textbox(**{**common, "value": None if common["value"] is None else str(common["value"])})


def _plain_type(hint: Any) -> Any:
    """``int | None`` -> ``int``: the form only cares which kind of value the field holds."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return next((a for a in typing.get_args(hint) if a is not type(None)), str)
    return hint


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None
