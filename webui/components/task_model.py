"""Tab 1, Task & model: the one-click sample runs, the task, the base model and its facts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from tl_core import dashboard
from tl_core.config import load_preset
from tl_core.errors import UserError
from tl_core.registry import TASK_ORDER, TASKS, task_title

from .. import form, presenters, runner
from ..handler import handler, workspace
from ..state import Page, TaskModelTab
from .data import DataHandlers


def build() -> TaskModelTab:
    with gr.Column(elem_classes="tl-hero"):
        gr.Markdown(
            "### Try it with sample data\nOne click trains a small model on bundled sample data "
            "(feature extraction, about a minute on a laptop CPU). When it finishes, **Try the model in the Playground**."
        )
        with gr.Row():
            quick = {
                t: gr.Button(presenters.quick_label(t), variant="primary", elem_id=f"quick-{t}") for t in TASK_ORDER
            }
    with gr.Row():
        with gr.Column(scale=3):
            task = gr.Radio([(task_title(t), t) for t in TASK_ORDER], value="text", label="Task", elem_id="task-radio")
            task_md = gr.Markdown(TASKS["text"].description)
            model = gr.Dropdown(
                label="Base model",
                allow_custom_value=True,
                elem_id="model-dd",
                info="Offline models first. Or type any Hub id (org/name) or a local folder.",
            )
        with gr.Column(scale=2):
            model_info = gr.Dataframe(
                headers=["fact", "value"],
                label="Model facts",
                interactive=False,
                show_row_numbers=False,
                column_widths=["45%", "55%"],
                wrap=True,  # at phone width "Fine-tuning memory" and long model ids wrap instead of being cut off
                elem_id="model-facts",
            )
    return TaskModelTab(task=task, task_md=task_md, model=model, model_info=model_info, quick=quick)


class TaskModelHandlers:
    def __init__(self, page: Page):
        self.page, self.tab = page, page.task_model

    def task_outputs(self) -> list[Any]:
        """What choosing a task changes: its description, the model picker, and the form's preset settings."""
        p = self.page
        return [
            self.tab.task_md,
            self.tab.model,
            self.tab.model_info,
            *form.settings_outputs(p.method),
            *form.column_fields(p.data),
        ]

    @handler
    def select_task(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """A task (or the page) was chosen: show its description, models and preset for the chosen method."""
        task, method = values[self.tab.task], values[self.page.method.method] or "features"
        cfg = load_preset(task, method)
        return {
            self.tab.task_md: presenters.task_text(task),
            self.tab.model: form.model_picker(task),
            self.tab.model_info: None,
            **form.settings_updates(self.page.method, cfg),
            **form.column_updates(self.page.data, task),
        }

    @handler
    def describe_model(self, values: dict[Any, Any]) -> dict[Any, Any]:
        ref = values[self.tab.model]
        if not ref:
            return {self.tab.model_info: []}
        try:
            rows = presenters.model_facts_rows(dashboard.model_facts(values[self.tab.task], ref))
        except UserError as err:  # an unknown model is worth a warning, not an error: the user may still type
            gr.Warning(str(err))
            rows = [["Model", str(ref)], ["Problem", str(err)]]
        return {self.tab.model_info: rows}

    def quick_outputs(self) -> list[Any]:
        p, s = self.page, self.page.session
        return [
            self.tab.task,
            self.tab.model,
            p.method.method,
            s.data_choice,
            s.eval_choice,
            *form.settings_outputs(p.method),
            *form.column_fields(p.data),
            *form.split_fields(p.data),
            *runner.follow_outputs(p),
        ]

    def quick_start_for(self, task: str) -> Callable[..., dict[Any, Any]]:
        """The quick-start handler of one task (a decorated function of its own, not a functools.partial: gradio
        reads the handler's annotations to fill in the signed-in user, and a partial hides them)."""

        @handler
        def quick_start(values: dict[Any, Any]) -> dict[Any, Any]:
            return self.quick_start(task, values)

        return quick_start

    def quick_start(self, task: str, values: dict[Any, Any]) -> dict[Any, Any]:
        """Start the sample run for ``task`` at once, and fill the form with what it uses."""
        p, s = self.page, self.page.session
        cfg = dashboard.quick_start_config(task)
        follow, position = runner.launch(p, workspace(s, values), cfg)
        if position:
            gr.Info(f"Queued as number {position}; it starts when the current run finishes.")
        return {
            self.tab.task: task,
            self.tab.model: form.model_picker(task),
            p.method.method: "features",
            s.data_choice: dashboard.SAMPLE,
            s.eval_choice: None,
            **form.settings_updates(p.method, cfg),
            **form.column_updates(p.data, task),
            **form.split_updates(p.data, cfg),
            **follow,
        }


def wire(demo: gr.Blocks, page: Page, data: DataHandlers) -> None:
    """The task and model pickers (also filled on page load) and the quick starts, each followed by the sample's
    data check so the Data tab shows what the run learns from."""
    h, tab = TaskModelHandlers(page), page.task_model
    chosen = {tab.task, page.method.method}
    demo.load(h.select_task, chosen, h.task_outputs(), api_name="init_form")
    tab.task.input(h.select_task, chosen, h.task_outputs(), api_name="select_task")
    tab.model.change(h.describe_model, {tab.task, tab.model}, [tab.model_info], api_name="describe_model")
    for task, button in tab.quick.items():
        button.click(
            h.quick_start_for(task),
            {page.session.sid},
            h.quick_outputs(),
            api_name=f"quick_start_{task}",
        ).success(
            data.use_sample,
            data.sample_inputs(),
            data.sample_outputs(),
            api_name=f"quick_data_{task}",
            show_progress="hidden",
        )
