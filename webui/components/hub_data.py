"""The Data tab's "Hugging Face dataset" box: a dataset name from the Hub instead of an upload.

The name becomes the session's data choice (``hub:NAME``); everything after that (columns, the report, runs) is
what an upload gets, because tl_core.data writes the dataset once as upload-shaped files (data/hub_datasets.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from tl_core.errors import UserError

from ..handler import handler, workspace
from ..state import Page


@dataclass
class HubInput:
    name: gr.Textbox
    load_btn: gr.Button


def build() -> HubInput:
    with gr.Row(equal_height=True):
        name = gr.Textbox(
            label="Hugging Face dataset",
            placeholder="e.g. imdb, or name:configuration@split",
            info="A dataset on the Hugging Face Hub instead of a file. Without a split: its training split, and its "
            "validation split for evaluation.",
            scale=4,
            elem_id="hub-dataset",
        )
        load_btn = gr.Button("Load dataset", variant="secondary", scale=1, elem_id="hub-load")
    return HubInput(name, load_btn)


def wire(page: Page, hub: HubInput, data_handlers: Any) -> None:
    s = page.session

    @handler
    def load_hub(values: dict[Any, Any]) -> dict[Any, Any]:
        text = (values[hub.name] or "").strip()
        if not text:
            raise UserError("Write the name of a dataset on the Hugging Face Hub, e.g. imdb.")
        from tl_core.data import hub_datasets  # heavy (datasets): imported on first use, not at app start

        choice = hub_datasets.parse(text).text()  # refuses what is not a dataset name, in the user's words
        ws = workspace(s, values)
        report = data_handlers._report(ws, data_handlers._auto_columns(values), choice, None)
        return {s.data_choice: choice, s.eval_choice: None, **report}

    inputs = {*data_handlers.sample_inputs(), hub.name}
    hub.load_btn.click(load_hub, inputs, data_handlers.sample_outputs(), api_name="load_hub_dataset")
    hub.name.submit(load_hub, inputs, data_handlers.sample_outputs(), api_name="load_hub_dataset_submit")
