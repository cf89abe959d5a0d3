"""Start, stop, resume and follow this session's run.

The page never trains: tl_core.dashboard creates the run and the scheduler launches it as a subprocess when the
accelerator is free. Here the Train tab only follows the run folder on a timer tick (status, new metrics lines,
log tail), and a reloaded page re-attaches to the session's run that is still going.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from tl_core import charts, dashboard, eventlog, ratelimit, runs, scheduler
from tl_core import runfiles as rf
from tl_core.config import RunConfig
from tl_core.errors import UserError
from tl_core.workspace import Workspace

from . import form, presenters
from .components import hardware
from .handler import handler, page_identity, workspace
from .state import Page


def follow_outputs(page: Page) -> list[Any]:
    """What following a new run resets (the order is the API's, for start_run, resume_run and the quick starts)."""
    s, t = page.session, page.train
    return [s.run_name, s.offset, s.records, s.timer, page.tabs, t.loss_plot, t.eval_plot, t.lr_plot]


def poll_outputs(page: Page) -> list[Any]:
    """What a poll tick may update (the order is the API's: the status card first)."""
    s, t = page.session, page.train
    return [
        t.status_box,
        t.loss_plot,
        t.eval_plot,
        t.lr_plot,
        t.log_box,
        s.timer,
        s.offset,
        s.records,
        page.evaluate.eval_run,
        page.playground.play_run,
        page.runs.export_run,
        t.events_box,
    ]


def reattach_outputs(page: Page) -> list[Any]:
    """What the page load sets (the order is the API's: the session id first)."""
    s = page.session
    return [s.sid, s.run_name, s.offset, s.records, s.timer, page.tabs]


def follow(page: Page, run: str) -> dict[Any, Any]:
    """Switch to the Train tab and follow ``run`` from its first metrics line."""
    s = page.session
    return {
        s.run_name: run,
        s.offset: 0,
        s.records: [],
        s.timer: gr.Timer(active=True),
        page.tabs: gr.Tabs(selected="train"),
        **_charts(page, []),
    }


def _charts(page: Page, records: list[dict[str, Any]]) -> dict[Any, Any]:
    t = page.train
    return {
        t.loss_plot: charts.loss_figure(records),
        t.eval_plot: charts.eval_figure(records),
        t.lr_plot: charts.lr_figure(records),
    }


def status_card(run_dir: Path, st: dict[str, Any], records: list[dict[str, Any]] | None = None) -> str:
    """The status card of a run, with its queue place while it waits and its outcome once it is over."""
    position = scheduler.position(run_dir) if st.get("phase") == "queued" else None
    results = rf.read_json(run_dir / rf.RESULTS, {}) or {}
    resumable = runs.resumable(run_dir)[0] if st.get("phase") in rf.FINAL_PHASES else False
    return presenters.status_html(run_dir.name, st, records, position, results, resumable)


def launch(page: Page, ws: Workspace, cfg: RunConfig, plan: Any = None) -> tuple[dict[Any, Any], int]:
    """Create and queue a run (data and model checked first); returns the updates that follow it and its queue
    position (0: started now)."""
    notes: list[str] = []
    run_dir, position = dashboard.start_run(ws, cfg, notes, plan)
    for note in notes:  # e.g. the preset's epochs scaled up for a small upload: said, never silent
        gr.Info(note, duration=15)
    return follow(page, run_dir.name), position


class Runner:
    """The Train tab's events for one page: start, stop, resume, the poll tick, and re-attach on page load."""

    def __init__(self, page: Page):
        self.page, self.s = page, page.session

    @handler
    def reattach(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """Page load: settle the identity, then follow the session's run that is still queued or running."""
        # signed in on a Space: the workspace follows the account; else the id kept in this browser
        sid = page_identity(values[self.s.sid])
        ws = Workspace.open(sid)
        active = dashboard.active_run(ws)
        if ratelimit.allowed("poll", sid):  # reloading in a loop cannot keep the queue lock busy
            scheduler.dispatch()
        # Nothing going: the Train tab shows the newest run's outcome instead of "No run yet" (one timer tick reads
        # it; a finished run stops the timer again).
        shown = active or next((presenters.run_name(r) for r in ws.list_runs()), None)
        return {
            self.s.sid: sid,
            self.s.run_name: shown,
            self.s.offset: 0,
            self.s.records: [],
            self.s.timer: gr.Timer(active=bool(shown)),
            self.page.tabs: gr.Tabs(selected="train") if active else gr.Tabs(),
        }

    @handler
    def start(self, values: dict[Any, Any]) -> dict[Any, Any]:
        ws = workspace(self.s, values)
        plan = hardware.read_plan(self.page.method.hardware, values)  # the Method tab's Hardware block
        out, position = launch(self.page, ws, form.read_config(self.page, ws, values), plan)
        if position:
            gr.Info(
                f"Another run is using the accelerator: yours is number {position} in the queue and starts by itself."
            )
        return out

    @handler
    def stop(self, values: dict[Any, Any]) -> dict[Any, Any]:
        run = values[self.s.run_name]
        if not run:
            raise UserError("There is no run to stop.")
        run_dir = workspace(self.s, values).run_path(run)
        st = scheduler.request_stop(run_dir)
        gr.Info(
            "Stopping: the run saves a checkpoint at its next step."
            if st["phase"] not in rf.FINAL_PHASES
            else f"The run is {st['phase']}."
        )
        return {self.page.train.status_box: status_card(run_dir, st)}

    @handler
    def resume(self, values: dict[Any, Any]) -> dict[Any, Any]:
        run = values[self.s.run_name]
        if not run:
            raise UserError("There is no run to resume. Start a run first.")
        ws = workspace(self.s, values)
        ws.check_quota()  # a resumed run writes more checkpoints
        scheduler.resume(ws.run_path(run))  # refuses a run that cannot resume, saying why
        return follow(self.page, run)

    @handler
    def poll(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """One timer tick: start the next queued run if the accelerator is free, then read what is new. A tick over
        the public deployment's rate limit changes nothing and says nothing: the timer keeps going."""
        s, t = self.s, self.page.train
        run = values[s.run_name]
        if not run:  # nothing followed: nothing to read (and no queue work for a caller that follows nothing)
            return {s.timer: gr.Timer(active=False)}
        ws = workspace(s, values)
        if not ratelimit.allowed("poll", ws.id):
            return {}
        scheduler.dispatch()
        run_dir = ws.run_path(run)
        new, offset = rf.read_metrics(run_dir, values[s.offset])
        records = (values[s.records] or []) + new
        st = runs.status(run_dir)
        final = st.get("phase") in rf.FINAL_PHASES
        out = {
            t.status_box: status_card(run_dir, st, records),
            t.events_box: eventlog.readable_log(run_dir, records),
            t.log_box: eventlog.raw_log(run_dir),
            s.timer: gr.Timer(active=not final),
            s.offset: offset,
            s.records: records,
        }
        if new or final:
            out.update(_charts(self.page, records))
        if final and st.get("phase") == "done":
            out.update(self._offer_finished(ws, run))
        return out

    def _offer_finished(self, ws: Workspace, run: str) -> dict[Any, Any]:
        """A run just finished: select it in the Evaluate, Playground and export pickers."""
        rows = ws.list_runs()
        done = presenters.run_choices(rows, finished_only=True)
        return {
            self.page.evaluate.eval_run: gr.Dropdown(choices=done, value=run),
            self.page.playground.play_run: gr.Dropdown(choices=done, value=run),
            self.page.runs.export_run: gr.Dropdown(choices=presenters.run_choices(rows), value=run),
        }
