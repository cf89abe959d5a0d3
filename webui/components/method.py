"""Tab 3, Method & settings: the training method, the training settings and the method's params (both generated
from the config dataclasses), the reproducible command, and settings loaded from a YAML run config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from tl_core import dashboard
from tl_core.config import RunConfig, TrainConfig, load_preset
from tl_core.errors import UserError
from tl_core.methods import METHODS
from tl_core.registry import METHOD_ORDER, method_title

from .. import fields, form
from ..handler import handler, workspace
from ..state import MethodTab, Page
from . import advisor, compare, hardware


def build() -> MethodTab:
    with gr.Row():
        with gr.Column(scale=2):
            method = gr.Radio(
                [(method_title(m), m) for m in METHOD_ORDER], value="features", label="Method", elem_id="method-radio"
            )
            method_md = gr.Markdown()
            run_label = gr.Textbox(
                label="Run name (optional)", placeholder="e.g. reviews-first-try", elem_id="run-name"
            )
        with gr.Column(scale=3):
            train = fields.generate(TrainConfig)
            params, param_groups = {}, {}
            for name in METHOD_ORDER:
                with gr.Group(visible=name == "features") as group:  # shown while its method is chosen
                    params[name] = fields.generate(METHODS[name].params, id_prefix=f"{name}-")
                param_groups[name] = group
    hw = hardware.build()
    with gr.Row():
        cmd_btn = gr.Button("Show command", elem_id="show-command")
        yaml_upload = gr.UploadButton(
            "Load settings from YAML", file_types=[".yaml", ".yml"], variant="secondary", elem_id="yaml-upload"
        )
    with gr.Row():
        cmd_out = gr.Code(label="Reproducible command", language="shell", lines=4, interactive=False, elem_id="cmd-out")
        yaml_out = gr.Code(label="Run config (YAML)", language="yaml", lines=4, interactive=False, elem_id="yaml-out")
    compare_box = compare.build()
    panel = advisor.build(in_method_tab=True)
    return MethodTab(
        method=method,
        method_md=method_md,
        run_label=run_label,
        train=train,
        params=params,
        param_groups=param_groups,
        cmd_btn=cmd_btn,
        yaml_upload=yaml_upload,
        cmd_out=cmd_out,
        yaml_out=yaml_out,
        compare=compare_box,
        hardware=hw,
        advisor=panel,
    )


class MethodHandlers:
    def __init__(self, page: Page):
        self.page, self.tab = page, page.method

    @handler
    def select_method(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """A method was chosen: show its preset settings for the current task."""
        return form.settings_updates(self.tab, load_preset(values[self.page.task_model.task], values[self.tab.method]))

    @handler
    def show_command(self, values: dict[Any, Any]) -> dict[Any, Any]:
        ws = workspace(self.page.session, values)
        cfg, plan = form.read_config(self.page, ws, values), hardware.read_plan(self.tab.hardware, values)
        return {
            self.tab.cmd_out: dashboard.show_command(ws, cfg, plan),
            self.tab.yaml_out: cfg.to_yaml(),
            self.tab.hardware.config_file: hardware.config_download(ws.downloads, plan),
        }

    def yaml_outputs(self) -> list[Any]:
        p = self.page
        return [
            p.task_model.task,
            p.task_model.model,
            self.tab.method,
            *form.settings_outputs(self.tab),
            *form.column_fields(p.data),
            *form.split_fields(p.data),
        ]

    @handler
    def load_yaml(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """Fill the form from an uploaded run config (its data paths are ignored: data is uploaded here)."""
        file = values[self.tab.yaml_upload]
        if not file:
            raise UserError("No YAML file received.")
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise UserError("That file is not readable text. Upload a .yaml run config.") from None
        cfg = RunConfig.from_yaml_text(text)
        if cfg.data.train_file or cfg.data.eval_file:
            gr.Warning("Data paths in the YAML are ignored here: upload the data in the Data tab.")
        gr.Info(f"Loaded settings for {cfg.task} · {cfg.method}.")
        p = self.page
        return {
            p.task_model.task: cfg.task,
            p.task_model.model: form.model_picker(cfg.task, cfg.model),
            self.tab.method: cfg.method,
            **form.settings_updates(self.tab, cfg),
            **form.column_updates(p.data, cfg.task),
            **form.split_updates(p.data, cfg),
        }


def wire(page: Page) -> None:
    h, tab = MethodHandlers(page), page.method
    tab.method.input(
        h.select_method, {page.task_model.task, tab.method}, form.settings_outputs(tab), api_name="select_method"
    )
    shown = [tab.cmd_out, tab.yaml_out, tab.hardware.config_file]
    tab.cmd_btn.click(h.show_command, form.inputs(page), shown, api_name="show_command")
    tab.yaml_upload.upload(h.load_yaml, {tab.yaml_upload}, h.yaml_outputs(), api_name="load_yaml")
    compare.wire(page)
    advisor.wire(page, tab.advisor)
