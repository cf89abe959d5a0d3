"""Tab 5, Evaluate: a finished run's metrics, per-class scores and confusion matrix, and the error analysis (click
a confusion cell or a class to list exactly those mistakes, with thumbnails for images and marked tags for NER)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from tl_core import charts, dashboard
from tl_core.errors import UserError

from .. import presenters
from ..handler import handler, workspace
from ..state import EvaluateTab, Page


def build() -> EvaluateTab:
    eval_run = gr.Dropdown(label="Finished run", choices=[], elem_id="eval-run")
    empty_md = gr.Markdown(presenters.EVAL_EMPTY, elem_id="eval-empty", elem_classes="tl-empty")
    with gr.Column(visible=False, elem_id="eval-body") as body:  # shown once a run is chosen
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                metrics_df = gr.Dataframe(
                    headers=["metric", "value"],
                    label="Metrics · the headline metric first",
                    interactive=False,
                    show_row_numbers=False,
                    elem_id="metrics-table",
                )
                per_class_df = gr.Dataframe(
                    headers=["label", "precision", "recall", "f1", "support"],
                    label="Per class / entity type · click a row to see its mistakes",
                    interactive=False,
                    show_row_numbers=False,
                    elem_id="per-class-table",
                )
            with gr.Column(scale=3, min_width=300):
                cm_plot = gr.Plot(show_label=False, elem_id="cm-plot")
        help_md = gr.Markdown(presenters.evaluate_help(None), elem_id="eval-help")
        with gr.Row():
            with gr.Column(scale=3, min_width=300) as cm_col:  # hidden for NER: it has no confusion table
                cm_df = gr.Dataframe(
                    headers=[presenters.TRUE_VS_PRED],
                    label="Confusion matrix · click a cell",
                    interactive=False,
                    show_row_numbers=False,
                    elem_id="cm-table",
                    max_height=300,
                )
            with gr.Column(scale=2, min_width=300):
                with gr.Row():
                    err_true = gr.Dropdown(["any"], value="any", label="True class / entity type", elem_id="err-true")
                    err_pred = gr.Dropdown(["any"], value="any", label="Predicted class", elem_id="err-pred")
                err_md = gr.Markdown(elem_id="err-summary")
        err_gallery = gr.Gallery(
            label="Misclassified images (caption: true → predicted)",
            show_label=False,
            columns=8,
            height=300,
            visible=False,
            elem_id="err-gallery",
            object_fit="contain",
        )
        err_ner = gr.HighlightedText(
            label="Sentences with mistakes (✗ = wrong tag)", visible=False, combine_adjacent=False, elem_id="err-ner"
        )
        err_table = gr.Dataframe(
            headers=["input", "true", "predicted", "confidence"],
            label="Misclassified examples",
            interactive=False,
            wrap=True,
            max_height=320,
            show_row_numbers=False,
            elem_id="err-table",
        )
    return EvaluateTab(
        eval_run=eval_run,
        empty_md=empty_md,
        body=body,
        help_md=help_md,
        cm_col=cm_col,
        metrics_df=metrics_df,
        per_class_df=per_class_df,
        cm_plot=cm_plot,
        cm_df=cm_df,
        err_true=err_true,
        err_pred=err_pred,
        err_md=err_md,
        err_gallery=err_gallery,
        err_ner=err_ner,
        err_table=err_table,
    )


class EvaluateHandlers:
    def __init__(self, page: Page):
        self.page, self.tab, self.s = page, page.evaluate, page.session

    def mistakes_outputs(self) -> list[Any]:
        t = self.tab
        return [t.err_md, t.err_table, t.err_gallery, t.err_ner]

    def _mistakes(self, run_dir: Path, res: dict[str, Any], true: str, pred: str) -> dict[Any, Any]:
        """The mistakes matching (true, pred): a summary line, a table, and image thumbnails or marked sentences."""
        t = self.tab
        rows = dashboard.errors_for(run_dir, true, pred)
        task = res.get("task")
        out = {
            t.err_md: presenters.error_summary(res, true, pred, len(rows)),
            t.err_table: presenters.error_table(task, rows),
        }
        spans = presenters.ner_sentences(rows) if task == "ner" else []
        thumbs = dashboard.error_thumbnails(rows) if task == "image" else []
        out[t.err_ner] = gr.update(value=spans, visible=True) if spans else gr.update(visible=False)
        out[t.err_gallery] = gr.update(value=thumbs, visible=True) if thumbs else gr.update(visible=False)
        return out

    def _run_dir(self, values: dict[Any, Any]) -> Path:
        if not values[self.tab.eval_run]:
            raise UserError("Choose a finished run first.")
        return workspace(self.s, values).run_path(values[self.tab.eval_run])

    def evaluate_outputs(self) -> list[Any]:
        t = self.tab
        return [t.empty_md, t.body, t.help_md, t.cm_col, t.metrics_df, t.per_class_df, t.cm_plot, t.cm_df,
                t.err_true, t.err_pred, *self.mistakes_outputs()]  # fmt: skip

    @handler
    def evaluate(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """A run was chosen: its metrics, per-class table, confusion matrix and all its mistakes. No run: the
        empty state says how to get one."""
        t = self.tab
        if not values[t.eval_run]:
            return {t.empty_md: gr.update(visible=True), t.body: gr.update(visible=False)}
        run_dir = self._run_dir(values)
        res = dashboard.results(run_dir)
        headers, rows = presenters.per_class_rows(res)
        labels, matrix = presenters.confusion_matrix(res)
        cm_headers, cm_rows = presenters.confusion_rows(res)
        fig = (
            charts.confusion_figure(labels, matrix)
            if labels
            else charts.per_class_figure([dict(zip(headers, r)) for r in rows], key=headers[0])
        )
        ner = res.get("task") == "ner"
        classes = ["any"] + [str(r[0]) for r in rows]
        return {
            t.empty_md: gr.update(visible=False),
            t.body: gr.update(visible=True),
            t.help_md: presenters.evaluate_help(res.get("task")),
            t.cm_col: gr.update(visible=bool(cm_rows)),
            t.metrics_df: pd.DataFrame(presenters.metrics_rows(res), columns=["metric", "value"]),
            t.per_class_df: pd.DataFrame(rows, columns=headers),
            t.cm_plot: fig,
            t.cm_df: pd.DataFrame(cm_rows, columns=cm_headers) if cm_rows else None,
            t.err_true: gr.Dropdown(classes, value="any", label="Entity type" if ner else "True class"),
            t.err_pred: gr.Dropdown(["any"] if ner else classes, value="any", interactive=not ner, visible=not ner),
            **self._mistakes(run_dir, res, "any", "any"),
        }

    @handler
    def filter_mistakes(self, values: dict[Any, Any]) -> dict[Any, Any]:
        run_dir = self._run_dir(values)
        return self._mistakes(run_dir, dashboard.results(run_dir), values[self.tab.err_true], values[self.tab.err_pred])

    @handler
    def pick_cell(self, values: dict[Any, Any], evt: gr.SelectData) -> dict[Any, Any]:
        return self._picked("confusion", values, evt)

    @handler
    def pick_class(self, values: dict[Any, Any], evt: gr.SelectData) -> dict[Any, Any]:
        return self._picked("per_class", values, evt)

    def _picked(self, table: str, values: dict[Any, Any], evt: gr.SelectData) -> dict[Any, Any]:
        """A click on a results table: set the two filters from it and list those mistakes."""
        run_dir = self._run_dir(values)
        res = dashboard.results(run_dir)
        true, pred = presenters.pick_filter(res, table, evt.index)
        pred = pred if res.get("task") != "ner" else "any"
        return {self.tab.err_true: true, self.tab.err_pred: pred, **self._mistakes(run_dir, res, true, pred)}


def wire(page: Page) -> None:
    h, t, sid = EvaluateHandlers(page), page.evaluate, page.session.sid
    mistakes = h.mistakes_outputs()
    t.eval_run.change(h.evaluate, {sid, t.eval_run}, h.evaluate_outputs(), api_name="evaluate")
    gr.on(
        [t.err_true.input, t.err_pred.input],
        h.filter_mistakes,
        {sid, t.eval_run, t.err_true, t.err_pred},
        mistakes,
        api_name="error_analysis",
    )
    picked = [t.err_true, t.err_pred, *mistakes]
    t.cm_df.select(h.pick_cell, {sid, t.eval_run}, picked, api_name="pick_cell")
    t.per_class_df.select(h.pick_class, {sid, t.eval_run}, picked, api_name="pick_class")
