"""Method tab, "Compare methods": one click trains each chosen method on the Data tab's data and split, with its
preset, one after another, cheapest first; the table and chart fill in as runs finish, and a one-sentence
recommendation follows. A row opens its run: in Evaluate (with Playground and export set to it) once it is done,
in the Train tab while it still trains. The page shows run names only, never server paths or workspace ids.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import gradio as gr
import pandas as pd

from tl_core import compare, ratelimit, runs, scheduler
from tl_core import runfiles as rf
from tl_core.compare_verdict import title
from tl_core.errors import UserError
from tl_core.registry import METHOD_ORDER, method_title
from tl_core.workspace import Workspace

from .. import form, presenters, runner
from ..handler import handler, workspace
from ..state import Page

LATEST = "latest_comparison.json"  # in the workspace folder: the run names of its latest comparison
HEADERS = ["method", "score (95% interval)", "time", "peak memory", "trained params", "model size", "status", "run"]
INTRO = (
    "#### Compare methods on this data\nTrains each chosen method with its preset settings on the same data and "
    "split (the Data tab's), one after another, cheapest first: the first answer arrives in seconds and the table "
    "fills in as the others finish. Click a row to open its run."
)


@dataclass
class CompareBox:
    methods: gr.CheckboxGroup
    start_btn: gr.Button
    summary: gr.Markdown
    table: gr.Dataframe
    chart: gr.Plot
    runs: gr.State  # the comparison's run names, cheapest method first
    timer: gr.Timer  # ticks while a run of the comparison is queued or training


def build() -> CompareBox:
    with gr.Group(elem_id="method-compare"):
        gr.Markdown(INTRO)
        with gr.Row(equal_height=True):
            methods = gr.CheckboxGroup(
                [(method_title(m), m) for m in METHOD_ORDER],
                value=list(METHOD_ORDER),
                label="Methods to compare",
                elem_id="method-compare-methods",
                scale=3,
            )
            start_btn = gr.Button("Compare methods", variant="primary", elem_id="method-compare-btn", scale=1)
        summary = gr.Markdown(elem_id="method-compare-summary")
        table = gr.Dataframe(
            headers=HEADERS,
            label="One row per method · click a row to open its run",
            interactive=False,
            wrap=True,
            show_row_numbers=False,
            # room for the short words ("status", "time"): auto widths broke them over two lines
            column_widths=["15%", "16%", "7%", "9%", "10%", "9%", "9%", "25%"],
            elem_id="method-compare-table",
        )
        chart = gr.Plot(show_label=False, elem_id="method-compare-chart")
    return CompareBox(methods, start_btn, summary, table, chart, gr.State([]), gr.Timer(2.0, active=False))


def _status(r: dict[str, Any]) -> str:
    phase = r["phase"] or "queued"
    if phase not in rf.FINAL_PHASES and phase != "queued" and isinstance(r.get("progress"), (int, float)):
        return f"{phase} {r['progress']:.0%}"
    return "waiting" if phase == "queued" else phase


def table(comparison: dict[str, Any]) -> pd.DataFrame:
    """One row per method; the score column is named after the task's headline metric, in user terms."""
    rows = []
    for r in comparison["rows"]:
        wall, mem, params = r["wall_s"], r["peak_memory_mb"], r["trainable_params"]
        rows.append(
            [
                title(r["method"]),
                compare.metric_cell(r),
                f"{wall:.0f} s" if isinstance(wall, (int, float)) else "-",
                f"{mem:,.0f} MB" if isinstance(mem, (int, float)) else "-",
                f"{params:,}" if isinstance(params, int) else "-",
                compare.size_text(r["artifact_mb"]),
                _status(r),
                r["run"],  # the run's name only: never its folder on the server
            ]
        )
    headers = [f"{comparison['metric']['name'] or 'score'} (95% interval)", *HEADERS[2:]]
    return pd.DataFrame(rows, columns=[HEADERS[0], *headers])


def summary(comparison: dict[str, Any]) -> str:
    """The recommendation once every run is over; meanwhile what is done and what is still to come."""
    rec = comparison.get("recommendation")
    notes = []
    if comparison.get("same_split"):
        notes.append("every method trained and was scored on the same split")
    if any(r.get("cache_hit") for r in comparison["rows"]):
        notes.append("the frozen features came from the cache")
    tail = f"\n\n<small>{'; '.join(notes).capitalize()}.</small>" if notes else ""
    if rec:
        return f"**Recommendation.** {rec['reason']}{tail}"
    done = sum(r["phase"] == "done" for r in comparison["rows"])
    return f"Training one method after another: {done} of {len(comparison['rows'])} finished.{tail}"


class CompareHandlers:
    def __init__(self, page: Page):
        self.page, self.box, self.s = page, page.method.compare, page.session

    def _show(self, ws: Workspace, names: list[str]) -> dict[Any, Any]:
        dirs = []
        for name in names or []:
            try:
                dirs.append(ws.run_path(name))
            except UserError:  # deleted meanwhile: it leaves the comparison
                continue
        if not dirs:
            return {self.box.timer: gr.Timer(active=False)}
        comparison = compare.summarize(dirs)
        return {
            self.box.table: table(comparison),
            self.box.chart: compare.figure(comparison),
            self.box.summary: summary(comparison),
            self.box.timer: gr.Timer(active=not comparison["finished"]),
        }

    @handler
    def start(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """Queue one run per chosen method on the form's data, model and split (each with its preset)."""
        ws = workspace(self.s, values)
        cfg = form.read_config(self.page, ws, values)
        chosen = values[self.box.methods] or []
        data, train = asdict(cfg.data), asdict(cfg.train)
        configs = compare.method_configs(cfg.task, chosen, data, cfg.model, train=train, name=cfg.name)
        names = [d.name for d in compare.start_in_workspace(ws, configs)]
        rf.write_json(ws.root / LATEST, {"runs": names})  # a reloaded page finds the comparison again
        gr.Info(f"Comparing {len(names)} methods: they train one after another, cheapest first.")
        return {**self._show(ws, names), self.box.runs: names}

    @handler
    def restore(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """A tab was opened: a page that shows no comparison (e.g. reloaded) shows the workspace's latest one."""
        if values[self.box.runs]:
            return {}
        ws = workspace(self.s, values)
        names = (rf.read_json(ws.root / LATEST, {}) or {}).get("runs") or []
        if not isinstance(names, list) or not names:
            return {}
        return {**self._show(ws, [str(n) for n in names]), self.box.runs: names}

    @handler
    def poll(self, values: dict[Any, Any]) -> dict[Any, Any]:
        ws = workspace(self.s, values)
        if not ratelimit.allowed("poll", ws.id):
            return {}
        scheduler.dispatch()  # the next method starts as soon as the one before finishes
        return self._show(ws, values[self.box.runs])

    @handler
    def open_run(self, values: dict[Any, Any], evt: gr.SelectData) -> dict[Any, Any]:
        """A row was clicked: a finished run opens in Evaluate (Playground and export set to it too), a run still
        going opens in the Train tab."""
        row = evt.row_value or []
        name = row[-1] if row else None
        if name not in (values[self.box.runs] or []):
            raise UserError("Click a row of the comparison to open its run.")
        ws = workspace(self.s, values)
        run_dir = ws.run_path(name)
        st = runs.status(run_dir)
        if st.get("phase") not in rf.FINAL_PHASES:
            return runner.follow(self.page, name)
        if st.get("phase") != "done":
            raise UserError(f"{name} {st.get('phase')}: {st.get('error') or 'it has no results'}.")
        rows = ws.list_runs()
        done, everything = presenters.run_choices(rows, finished_only=True), presenters.run_choices(rows)
        p = self.page
        return {
            p.evaluate.eval_run: gr.Dropdown(choices=done, value=name),
            p.playground.play_run: gr.Dropdown(choices=done, value=name),
            p.runs.export_run: gr.Dropdown(choices=everything, value=name),
            p.tabs: gr.Tabs(selected="evaluate"),
        }

    def open_outputs(self) -> list[Any]:
        p = self.page
        return [*runner.follow_outputs(p), p.evaluate.eval_run, p.playground.play_run, p.runs.export_run]


def wire(page: Page) -> None:
    h, box, sid = CompareHandlers(page), page.method.compare, page.session.sid
    shown = [box.table, box.chart, box.summary, box.timer]
    box.start_btn.click(h.start, form.inputs(page) | {box.methods}, [*shown, box.runs], api_name="compare_methods")
    box.timer.tick(
        h.poll, {sid, box.runs}, shown, api_name="compare_poll", concurrency_limit=None, show_progress="hidden"
    )
    box.table.select(h.open_run, {sid, box.runs}, h.open_outputs(), api_name="compare_open_run")
    page.tabs.select(h.restore, {sid, box.runs}, [*shown, box.runs], api_name="compare_restore", show_progress="hidden")
