"""Tab 4, Train: start, stop and resume the run, and watch it (status card, loss / evaluation / learning-rate
charts, log tail). The run lifecycle itself is webui/runner.py."""

from __future__ import annotations

import gradio as gr

from tl_core import charts

from .. import form, presenters, runner
from ..state import Page, TrainTab


def build() -> TrainTab:
    with gr.Row():
        start_btn = gr.Button("Start training", variant="primary", elem_id="start-btn", scale=2)
        stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-btn", scale=1)
        resume_btn = gr.Button("Resume", elem_id="resume-btn", scale=1)
    status_box = gr.HTML(presenters.status_html(None, None), elem_id="run-status")
    with gr.Row(equal_height=True):
        loss_plot = gr.Plot(charts.loss_figure([]), show_label=False, elem_id="loss-plot")
        eval_plot = gr.Plot(charts.eval_figure([]), show_label=False, elem_id="eval-plot")
        lr_plot = gr.Plot(charts.lr_figure([]), show_label=False, elem_id="lr-plot")
    # what the run did in plain words; the raw log (Python dicts, progress bars, load reports) one click away
    events_box = gr.Textbox(
        label="Training log", lines=8, max_lines=12, interactive=False, autoscroll=True, elem_id="events-box"
    )
    with gr.Accordion("Raw log (train.log, for troubleshooting)", open=False, elem_id="raw-log"):
        log_box = gr.Code(
            label="train.log (last lines)", language=None, lines=12, max_lines=20, interactive=False, elem_id="log-box"
        )
    return TrainTab(
        start_btn=start_btn,
        stop_btn=stop_btn,
        resume_btn=resume_btn,
        status_box=status_box,
        loss_plot=loss_plot,
        eval_plot=eval_plot,
        lr_plot=lr_plot,
        log_box=log_box,
        events_box=events_box,
    )


def wire(page: Page) -> runner.Runner:
    """The Train tab's buttons and the poll tick; returns the runner (the page load re-attaches with it)."""
    run, s, tab = runner.Runner(page), page.session, page.train
    follow = runner.follow_outputs(page)
    tab.start_btn.click(run.start, form.inputs(page), follow, api_name="start_run")
    tab.stop_btn.click(run.stop, {s.sid, s.run_name}, [tab.status_box], api_name="stop_run")
    tab.resume_btn.click(run.resume, {s.sid, s.run_name}, follow, api_name="resume_run")
    s.timer.tick(
        run.poll,
        {s.sid, s.run_name, s.offset, s.records},
        runner.poll_outputs(page),
        api_name="poll",
        concurrency_limit=None,
        show_progress="hidden",
    )
    return run
