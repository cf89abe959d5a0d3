"""Tab 2, Data: upload a file or take the sample, pick columns and the split, and see the data checked before
any compute is spent (problems, preview, label distribution, statistics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from tl_core import charts, dashboard
from tl_core.errors import UserError
from tl_core.workspace import Workspace

from .. import form, presenters
from ..handler import handler, workspace
from ..state import DataTab, Page
from . import advisor, hub_data

DATA_TYPES = [".csv", ".tsv", ".json", ".jsonl", ".parquet", ".zip", ".conll", ".txt", ".bio", ".iob"]
SAMPLE_COLUMNS = {"text": ["review", "sentiment"]}  # the bundled text sample's table; the others have none


def _column_picker(label: str, elem_id: str | None = None, visible: bool = True) -> gr.Dropdown:
    return gr.Dropdown(
        choices=presenters.column_choices([]),
        value="",
        label=label,
        elem_id=elem_id,
        visible=visible,
        allow_custom_value=True,
        min_width=220,  # at phone width the pickers stack, so "auto-detect (found: review)" is read whole
    )


def build() -> DataTab:
    with gr.Row():
        with gr.Column(scale=2):
            upload = gr.File(label="Training data", file_types=DATA_TYPES, file_count="single", elem_id="data-upload")
            with gr.Row():
                sample_btn = gr.Button("Use sample data", variant="secondary", elem_id="use-sample")
                check_btn = gr.Button("Check data", elem_id="check-data")
            hub = hub_data.build()
            with gr.Accordion("Separate evaluation file (optional)", open=False):
                eval_upload = gr.File(label="Evaluation data", file_types=DATA_TYPES, elem_id="eval-upload")
            data_src = gr.Markdown(
                "No data chosen yet. Upload a file or click **Use sample data**: a preview, the label counts and "
                "statistics then appear below."
            )
        with gr.Column(scale=3):
            with gr.Row():
                fields: dict[str, Any] = {
                    "text_column": _column_picker("Text column", "text-col"),
                    "label_column": _column_picker("Label column", "label-col"),
                    "image_column": _column_picker("Image column", "image-col", visible=False),
                }
            with gr.Row():
                fields["eval_fraction"] = gr.Slider(
                    5,
                    50,
                    value=20,
                    step=5,
                    label="Evaluation share (%)",
                    info="Held out when there is no evaluation file.",
                    elem_id="eval-share",
                )
                fields["stratify"] = gr.Checkbox(
                    True, label="Stratified split", info="Same class mix in both parts.", elem_id="stratify"
                )
                fields["seed"] = gr.Number(
                    42, precision=0, label="Seed", info="Same seed, same split.", elem_id="split-seed"
                )
                fields["max_rows"] = gr.Number(
                    None,
                    precision=0,
                    label="Max training rows",
                    elem_id="max-rows",
                    info="Cap for quick experiments; 0 = all.",
                )
            offer = max_rows_offer()
    problems = gr.Markdown()
    with gr.Row():
        with gr.Column(scale=3):
            preview = gr.Dataframe(
                headers=["example", "label"],
                label="Preview (training split)",
                interactive=False,
                elem_id="data-preview",
                wrap=True,
                column_widths=["68%", "32%"],
                max_height=300,
                show_row_numbers=False,
            )
        with gr.Column(scale=2):
            dist_plot = gr.Plot(  # the empty chart says what will appear
                charts.label_distribution({}), label="Label distribution", show_label=False, elem_id="dist-plot"
            )
    stats = gr.Dataframe(headers=["statistic", "value"], label="Statistics", interactive=False, show_row_numbers=False)
    panel = advisor.build(in_method_tab=False)
    return DataTab(
        upload=upload,
        sample_btn=sample_btn,
        check_btn=check_btn,
        eval_upload=eval_upload,
        data_src=data_src,
        fields=fields,
        problems=problems,
        preview=preview,
        dist_plot=dist_plot,
        stats=stats,
        max_rows_offer=offer,
        hub=hub,
        advisor=panel,
    )


def max_rows_offer() -> tuple[gr.Markdown, gr.Button, gr.State]:
    """A sample for a quick first run, offered when the data report suggests one (big data): the suggestion in
    words, and a button that sets "Max training rows" to it. Hidden until a data check suggests it."""
    with gr.Row():
        note = gr.Markdown(visible=False, elem_id="max-rows-offer")
        use = gr.Button("Use the sample", visible=False, size="sm", elem_id="use-max-rows")
    return note, use, gr.State(None)


def offer_updates(tab: DataTab, stats: dict[str, Any]) -> dict[Any, Any]:
    """Show or hide the sample offer for a data check's statistics (tl_core.data.split.suggest_max_rows)."""
    if not tab.max_rows_offer:
        return {}
    note, use, rows = tab.max_rows_offer
    n = stats.get("suggested_max_rows")
    return {
        note: gr.Markdown(value=stats.get("suggestion", ""), visible=bool(n)),
        use: gr.Button(value=f"Use a sample of {n:,} rows" if n else "Use the sample", visible=bool(n)),
        rows: n,
    }


def use_offer(tab: DataTab, n: int | None) -> dict[Any, Any]:
    """The offer's button: "Max training rows" becomes the suggested sample size, and the note says so."""
    if not n or not tab.max_rows_offer:
        return {}
    note, use, _ = tab.max_rows_offer
    done = f"Training will use a seeded, stratified sample of {n:,} rows. Set Max training rows to 0 to use all."
    return {tab.fields["max_rows"]: n, note: gr.Markdown(value=done), use: gr.Button(visible=False)}


def wire_max_rows_offer(tab: DataTab) -> None:
    if not tab.max_rows_offer:
        return
    note, use, rows = tab.max_rows_offer
    use.click(lambda n: use_offer(tab, n), [rows], [tab.fields["max_rows"], note, use], api_name="use_max_rows")


class DataHandlers:
    def __init__(self, page: Page):
        self.page, self.tab, self.s = page, page.data, page.session

    def report_outputs(self) -> list[Any]:
        """What a data check fills in (the order is the API's: the verdict first)."""
        t = self.tab
        return [t.problems, t.preview, t.dist_plot, t.stats, *form.column_fields(t), t.data_src, *t.max_rows_offer]

    def _report(self, ws: Workspace, values: dict[Any, Any], choice: str, eval_choice: str | None) -> dict[Any, Any]:
        """Check the chosen data for the chosen task and show the verdict, a preview and the label counts."""
        task = values[self.page.task_model.task]
        data = form.data_config(ws, self.tab, values, choice, eval_choice)
        info = dashboard.inspect_data(ws, task, data)
        if info["errors"]:
            gr.Warning(f"{len(info['errors'])} blocking problem(s) in the data: see the Data tab.")
        # the reader records the file's columns while it parses it: no second read of the upload
        columns = info["stats"].get("source_columns", []) if data.train_file else SAMPLE_COLUMNS.get(task, [])
        chart_title = "Entities per type" if task == "ner" else "Examples per class"
        out = {
            self.tab.problems: presenters.problems_md(info),
            self.tab.preview: presenters.preview_frame(info),
            self.tab.dist_plot: charts.label_distribution(info["class_balance"], chart_title),
            self.tab.stats: presenters.stats_rows(info["stats"]),
            self.tab.data_src: presenters.data_source_md(
                Path(data.train_file).name if data.train_file else None, info["columns"]
            ),
        }
        out.update(offer_updates(self.tab, info["stats"]))
        for name in form.COLUMNS:
            out[self.tab.fields[name]] = gr.Dropdown(
                # the automatic choice names what it found ("text_column" -> the detected "text" column)
                choices=presenters.column_choices(columns, info["columns"].get(name.removesuffix("_column"))),
                value=values[self.tab.fields[name]] or "",
            )
        return out

    def _auto_columns(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """New data: the column pickers go back to auto-detect."""
        return {**values, **{self.tab.fields[name]: "" for name in form.COLUMNS}}

    def sample_inputs(self) -> set[Any]:
        return {self.s.sid, self.page.task_model.task, *form.split_fields(self.tab)}

    def sample_outputs(self) -> list[Any]:
        return [self.s.data_choice, self.s.eval_choice, *self.report_outputs()]

    @handler
    def use_sample(self, values: dict[Any, Any]) -> dict[Any, Any]:
        report = self._report(workspace(self.s, values), self._auto_columns(values), dashboard.SAMPLE, None)
        return {self.s.data_choice: dashboard.SAMPLE, self.s.eval_choice: None, **report}

    @handler
    def upload_data(self, values: dict[Any, Any]) -> dict[Any, Any]:
        file = values[self.tab.upload]
        if not file:
            raise UserError("No file received. Choose a data file to upload, or click 'Use sample data'.")
        ws = workspace(self.s, values)
        choice = ws.relative_upload(ws.save_upload(file))
        return {self.s.data_choice: choice, **self._report(ws, self._auto_columns(values), choice, None)}

    @handler
    def upload_eval(self, values: dict[Any, Any]) -> dict[Any, Any]:
        file = values[self.tab.eval_upload]
        if not file:
            return {self.s.eval_choice: None}
        ws = workspace(self.s, values)
        return {self.s.eval_choice: ws.relative_upload(ws.save_upload(file, kind="eval"))}

    @handler
    def check_data(self, values: dict[Any, Any]) -> dict[Any, Any]:
        return self._report(workspace(self.s, values), values, values[self.s.data_choice], values[self.s.eval_choice])


def wire(page: Page) -> DataHandlers:
    """The data events; returns the handlers (the quick starts check the sample with them)."""
    h, tab, s = DataHandlers(page), page.data, page.session
    tab.sample_btn.click(h.use_sample, h.sample_inputs(), h.sample_outputs(), api_name="use_sample")
    tab.upload.upload(
        h.upload_data, {*h.sample_inputs(), tab.upload}, [s.data_choice, *h.report_outputs()], api_name="upload_data"
    )
    tab.eval_upload.upload(h.upload_eval, {s.sid, tab.eval_upload}, [s.eval_choice], api_name="upload_eval")
    tab.eval_upload.clear(lambda: None, None, [s.eval_choice], api_name="clear_eval")
    check_inputs = {*h.sample_inputs(), s.data_choice, s.eval_choice, *form.column_fields(tab)}
    tab.check_btn.click(h.check_data, check_inputs, h.report_outputs(), api_name="check_data")
    wire_max_rows_offer(tab)
    hub_data.wire(page, tab.hub, h)
    advisor.wire(page, tab.advisor)
    return h
