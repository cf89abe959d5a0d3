"""Tab 7, Runs & export: this session's run history, comparing runs (curves and the settings that differ), the
portable export as a zip, a standalone demo app as a zip, and a push of either to the Hugging Face Hub (the model
with its card, or the demo as a new Space) with the signed-in account's token on a Space or a pasted one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from tl_core import charts, dashboard, export, ratelimit, scheduler
from tl_core import runfiles as rf
from tl_core.errors import UserError
from tl_core.workspace import Workspace, quota_bytes

from .. import presenters
from ..handler import handler, workspace
from ..state import Page, RunsTab


def build() -> RunsTab:
    with gr.Row():
        refresh_btn = gr.Button("Refresh", scale=0, min_width=120, elem_id="refresh-runs")
    runs_empty = gr.Markdown(presenters.RUNS_EMPTY, elem_id="runs-empty", elem_classes="tl-empty")
    with gr.Column(visible=False, elem_id="runs-box") as runs_box:  # the empty state stands in until a first run
        runs_df = gr.Dataframe(
            headers=presenters.RUNS_HEADERS,
            label="Run history",
            interactive=False,
            wrap=True,
            show_row_numbers=False,
            elem_id="runs-table",
            max_height=280,
        )
    with gr.Row():
        with gr.Column():
            compare_sel = gr.CheckboxGroup(
                label="Compare runs",
                choices=[],
                elem_id="compare-sel",
                info="Your runs are listed here: tick two or more to see their curves and settings side by side.",
            )
            compare_btn = gr.Button("Compare selected", elem_id="compare-btn")
        with gr.Column():
            export_run = gr.Dropdown(label="Run to export", choices=[], elem_id="export-run")
            with gr.Row():
                zip_btn = gr.Button("Download model (zip)", elem_id="zip-btn")
                demo_btn = gr.Button("Download demo app (zip)", elem_id="demo-zip-btn")
            zip_file = gr.File(
                label="Download · the zip appears here after you click a download button",
                interactive=False,
                elem_id="zip-file",
                height=120,
            )
    with gr.Accordion("Delete runs (free space)", open=False):
        delete_run = gr.Dropdown(label="Run to delete (finished, failed or stopped)", choices=[], elem_id="delete-run")
        delete_btn = gr.Button("Delete run", variant="stop", elem_id="delete-run-btn")
        usage_md = gr.Markdown(elem_id="workspace-usage")
    compare_plot = gr.Plot(show_label=False, visible=False, elem_id="compare-plot")
    diff_df = gr.Dataframe(
        headers=["setting", "run A", "run B"],
        label="Settings that differ",
        interactive=False,
        show_row_numbers=False,
        visible=False,
        elem_id="diff-table",
        wrap=True,
    )
    push = _push_block()
    return RunsTab(
        refresh_btn=refresh_btn,
        runs_empty=runs_empty,
        runs_box=runs_box,
        runs_df=runs_df,
        compare_sel=compare_sel,
        compare_btn=compare_btn,
        export_run=export_run,
        zip_btn=zip_btn,
        demo_btn=demo_btn,
        zip_file=zip_file,
        delete_run=delete_run,
        delete_btn=delete_btn,
        usage_md=usage_md,
        compare_plot=compare_plot,
        diff_df=diff_df,
        **push,
    )


def _push_block() -> dict[str, Any]:
    """The Hub push accordion: repository, token, privacy, what to push; RunsTab fields by name."""
    with gr.Accordion("Push to the Hugging Face Hub", open=False):
        with gr.Row():
            repo_id = gr.Textbox(label="Repository", placeholder="your-name/model-name", elem_id="push-repo")
            token = gr.Textbox(
                label="Access token (write)",
                type="password",
                elem_id="push-token",
                info="Not needed when you are signed in on a Space. Used for this upload only; never stored, "
                "logged or shown.",
            )
            private = gr.Checkbox(True, label="Private", elem_id="push-private")
        push_kind = gr.Radio(
            [("The model and its card", "model"), ("A demo app, as a new Space", "demo")],
            value="model",
            label="What to push",
            elem_id="push-kind",
        )
        push_btn = gr.Button("Push to the Hub", elem_id="push-btn")
        push_out = gr.Markdown(elem_id="push-out")
    return dict(
        repo_id=repo_id, token=token, private=private, push_kind=push_kind, push_btn=push_btn, push_out=push_out
    )


class RunsHandlers:
    def __init__(self, page: Page):
        self.page, self.tab, self.s = page, page.runs, page.session

    def list_outputs(self) -> list[Any]:
        """What a listing fills in (the order is the API's: the run table first)."""
        t, p = self.tab, self.page
        return [
            t.runs_df,
            t.compare_sel,
            t.export_run,
            p.evaluate.eval_run,
            p.playground.play_run,
            t.delete_run,
            t.usage_md,
            t.runs_empty,
            t.runs_box,
        ]

    @handler
    def list_runs(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """The run history, and every run picker offered this session's runs (finished ones where a model is
        needed). Over a public deployment's rate limit: a warning, and nothing changes."""
        ws = workspace(self.s, values)
        if not ratelimit.allowed("poll", ws.id):
            gr.Warning(ratelimit.message("poll"))
            return {}
        return self._listing(ws)

    @handler
    def open_newest(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """Page load: the run list, and the newest finished run chosen in Evaluate, Playground and export (after
        a reload the last finished run is the obvious one to look at)."""
        ws = workspace(self.s, values)
        out = self._listing(ws)
        rows = ws.list_runs()  # newest first
        newest = next((presenters.run_name(r) for r in rows if r["phase"] == "done"), None)
        if newest:
            done = presenters.run_choices(rows, finished_only=True)
            for picker in (self.tab.export_run, self.page.evaluate.eval_run, self.page.playground.play_run):
                out[picker] = gr.Dropdown(choices=done, value=newest)
        return out

    def _listing(self, ws: Workspace) -> dict[Any, Any]:
        rows = ws.list_runs()
        waiting = [Path(r["run_dir"]) for r in rows if r["phase"] == "queued"]
        everything, done = presenters.run_choices(rows), presenters.run_choices(rows, finished_only=True)
        over = presenters.run_choices([r for r in rows if r["phase"] in rf.FINAL_PHASES])
        return {
            self.tab.runs_empty: gr.update(visible=not rows),
            self.tab.runs_box: gr.update(visible=bool(rows)),
            self.tab.runs_df: presenters.runs_table(rows, {d.name: scheduler.position(d) for d in waiting}),
            self.tab.compare_sel: gr.CheckboxGroup(choices=everything),
            self.tab.export_run: gr.Dropdown(choices=done),
            self.page.evaluate.eval_run: gr.Dropdown(choices=done),
            self.page.playground.play_run: gr.Dropdown(choices=done),
            self.tab.delete_run: gr.Dropdown(choices=over, value=None),
            self.tab.usage_md: presenters.usage_md(ws.usage_bytes(), quota_bytes()),
        }

    @handler
    def delete(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """Delete a finished, failed or stopped run (a run still queued or running is refused: nothing stops)."""
        name = values[self.tab.delete_run]
        if not name:
            raise UserError("Choose a run to delete first (finished, failed or stopped runs are listed).")
        ws = workspace(self.s, values)
        dashboard.delete_run(ws, name)
        gr.Info(f"Deleted {name}.")
        return self._listing(ws)

    @handler
    def compare(self, values: dict[Any, Any]) -> dict[Any, Any]:
        selected = values[self.tab.compare_sel]
        if not selected or len(selected) < 2:
            raise UserError("Tick at least two runs to compare.")
        ws = workspace(self.s, values)
        dirs = [ws.run_path(name) for name in selected]
        headers, rows = dashboard.config_diff(dirs)
        series = [(d.name, rf.read_metrics(d, 0)[0]) for d in dirs]
        return {
            self.tab.compare_plot: gr.Plot(charts.compare_figure(series), visible=True),
            self.tab.diff_df: gr.Dataframe(pd.DataFrame(rows, columns=headers), visible=True),
        }

    def _run_dir(self, values: dict[Any, Any]) -> Path:
        if not values[self.tab.export_run]:
            raise UserError("Choose a finished run to export.")
        return workspace(self.s, values).run_path(values[self.tab.export_run])

    def _zip(self, values: dict[Any, Any], demo: bool) -> dict[Any, Any]:
        run_dir, ws = self._run_dir(values), workspace(self.s, values)
        ws.check_quota()  # the zip is written into the workspace's downloads
        return {self.tab.zip_file: str(export.zip_model(run_dir, ws.downloads, demo=demo))}

    @handler
    def download_zip(self, values: dict[Any, Any]) -> dict[Any, Any]:
        return self._zip(values, demo=False)

    @handler
    def download_demo(self, values: dict[Any, Any]) -> dict[Any, Any]:
        return self._zip(values, demo=True)

    @handler
    def push(self, values: dict[Any, Any], oauth: gr.OAuthToken | None) -> dict[Any, Any]:
        """A pasted token wins; else, signed in on a Space, the account's own token (write-repos scope). A refusal
        is said in the message area below the button: raised as an error, gradio would paint every output of the
        event (the token box too) as a red "Error" pill."""
        t = self.tab
        token = (values[t.token] or "").strip() or (oauth.token if oauth is not None else "")
        demo = values[t.push_kind] == "demo"
        if not values[t.export_run]:
            return {t.push_out: presenters.push_failed_md("Choose a finished run to export first.")}
        run_dir = self._run_dir(values)  # who is asking is settled here: a refusal of that stays an error
        try:
            url = export.push_to_hub(run_dir, values[t.repo_id], token, values[t.private], demo=demo)
        except UserError as err:  # plain words, never the token (tl_core.export.hub keeps it out of messages)
            return {t.push_out: presenters.push_failed_md(str(err))}
        return {t.push_out: f"Pushed: [{url}]({url})", t.token: ""}  # the token leaves the page once used


def wire(page: Page) -> RunsHandlers:
    """The Runs & export events; returns the handlers (the page load lists the runs with them)."""
    h, t, sid = RunsHandlers(page), page.runs, page.session.sid
    gr.on(
        [t.refresh_btn.click, page.tabs.select],
        h.list_runs,
        {sid},
        h.list_outputs(),
        api_name="list_runs",
        concurrency_limit=None,
        show_progress="hidden",
    )
    t.delete_btn.click(h.delete, {sid, t.delete_run}, h.list_outputs(), api_name="delete_run")
    t.compare_btn.click(h.compare, {sid, t.compare_sel}, [t.compare_plot, t.diff_df], api_name="compare_runs")
    t.zip_btn.click(h.download_zip, {sid, t.export_run}, [t.zip_file], api_name="download_zip")
    t.demo_btn.click(h.download_demo, {sid, t.export_run}, [t.zip_file], api_name="download_demo")
    t.export_run.change(lambda: None, None, [t.zip_file], api_name="clear_zip", show_progress="hidden")
    t.push_btn.click(
        h.push,
        {sid, t.export_run, t.repo_id, t.token, t.private, t.push_kind},
        [t.push_out, t.token],
        api_name="push_to_hub",
    )
    return h
