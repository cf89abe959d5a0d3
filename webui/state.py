"""The page's element registry: the per-session state and, per tab, the components handlers read and write.

Each tab module builds its components into one of these dataclasses; handlers take their inputs as a set of
components (gradio then passes ``{component: value}``) and return ``{component: update}``, so every value is
found by name, never by position or by a global string id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from .fields import FieldGroup


@dataclass
class Session:
    """What one browser session carries between events (none of it is ever shown)."""

    sid: gr.BrowserState  # the workspace id, kept in the browser so a reload finds the same runs
    data_choice: gr.State  # "sample" or a path relative to the workspace's uploads/
    eval_choice: gr.State  # the separate evaluation upload, if any
    run_name: gr.State  # the run the Train tab follows
    offset: gr.State  # bytes of the run's metrics.jsonl already read
    records: gr.State  # the metrics records read so far (the charts are drawn from them)
    example_idx: gr.State  # which evaluation example the playground shows next
    timer: gr.Timer  # ticks while a run is followed


@dataclass
class TaskModelTab:
    task: gr.Radio
    task_md: gr.Markdown
    model: gr.Dropdown
    model_info: gr.Dataframe
    quick: dict[str, gr.Button]  # task -> its "try it with sample data" button


@dataclass
class DataTab:
    upload: gr.File
    sample_btn: gr.Button
    check_btn: gr.Button
    eval_upload: gr.File
    data_src: gr.Markdown
    fields: dict[str, gr.components.Component]  # DataConfig field name -> component (see form.DATA_FIELDS)
    problems: gr.Markdown
    preview: gr.Dataframe
    dist_plot: gr.Plot
    stats: gr.Dataframe
    max_rows_offer: tuple[
        gr.components.Component, ...
    ] = ()  # (note, button, rows state): webui.components.data.max_rows_offer
    hub: Any = None  # components/hub_data.HubInput: the "Hugging Face dataset" box
    advisor: Any = None  # components/advisor.AdvisorPanel


@dataclass
class MethodTab:
    method: gr.Radio
    method_md: gr.Markdown
    run_label: gr.Textbox
    train: FieldGroup  # generated from TrainConfig's labelled fields
    params: dict[str, FieldGroup]  # method -> fields generated from its params dataclass
    param_groups: dict[str, gr.Group]  # method -> the box holding its fields (shown for the chosen method)
    cmd_btn: gr.Button
    yaml_upload: gr.UploadButton
    cmd_out: gr.Code
    yaml_out: gr.Code
    compare: Any = None  # components/compare.py's CompareBox, built inside this tab
    hardware: Any = None  # components.hardware.HardwareBlock: where the run trains (its launch plan)
    advisor: Any = None  # components/advisor.AdvisorPanel


@dataclass
class TrainTab:
    start_btn: gr.Button
    stop_btn: gr.Button
    resume_btn: gr.Button
    status_box: gr.HTML
    loss_plot: gr.Plot
    eval_plot: gr.Plot
    lr_plot: gr.Plot
    log_box: gr.Code
    events_box: gr.Textbox  # the plain-words training log (tl_core.eventlog)


@dataclass
class EvaluateTab:
    eval_run: gr.Dropdown
    empty_md: gr.Markdown  # what appears here and how to get it, while no run is chosen
    body: gr.Column  # everything below the picker: shown once a run is chosen
    help_md: gr.Markdown  # how to use the error analysis (worded per task)
    cm_col: gr.Column  # the confusion table's column (hidden for NER)
    metrics_df: gr.Dataframe
    per_class_df: gr.Dataframe
    cm_plot: gr.Plot
    cm_df: gr.Dataframe
    err_true: gr.Dropdown
    err_pred: gr.Dropdown
    err_md: gr.Markdown
    err_gallery: gr.Gallery
    err_ner: gr.HighlightedText
    err_table: gr.Dataframe


@dataclass
class PlaygroundTab:
    play_run: gr.Dropdown
    empty_md: gr.Markdown  # what appears here and how to get it, while no run is chosen
    body: gr.Column  # the inputs, outputs and batch scoring: shown once a run is chosen
    play_text: gr.Textbox
    play_image: gr.Image
    own_image: gr.UploadButton  # one's own image in one click (shown for image runs)
    predict_btn: gr.Button
    next_btn: gr.Button
    play_label: gr.Label
    play_ner: gr.HighlightedText
    batch_in: gr.File
    batch_out: gr.File
    batch_preview: gr.Dataframe
    try_btn: gr.Button | None  # "Try it", shown in the Train tab once a run has finished (built by interface.py)


@dataclass
class RunsTab:
    refresh_btn: gr.Button
    runs_empty: gr.Markdown  # what the run table will list and how to get a first run, while there is none
    runs_box: gr.Column  # holds the run table: shown once there is a run
    runs_df: gr.Dataframe
    compare_sel: gr.CheckboxGroup
    compare_btn: gr.Button
    export_run: gr.Dropdown
    zip_btn: gr.Button
    demo_btn: gr.Button
    zip_file: gr.File
    delete_run: gr.Dropdown
    delete_btn: gr.Button
    usage_md: gr.Markdown
    compare_plot: gr.Plot
    diff_df: gr.Dataframe
    repo_id: gr.Textbox
    token: gr.Textbox
    private: gr.Checkbox
    push_kind: gr.Radio
    push_btn: gr.Button
    push_out: gr.Markdown


@dataclass
class Page:
    """Every tab's components plus the session: what the wiring of one tab may reach in another."""

    session: Session
    tabs: gr.Tabs
    task_model: TaskModelTab
    data: DataTab
    method: MethodTab
    train: TrainTab
    evaluate: EvaluateTab
    playground: PlaygroundTab
    runs: RunsTab
