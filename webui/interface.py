"""The page: header, the seven tabs in order, the session's state, and the page-load re-attach to a running run.

Training never runs in this process: a run is an ``accelerate launch`` subprocess started by the scheduler, and
the page only reads the run folder on a timer.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr

from tl_core import runs, settings
from tl_core import workspace as identity

from . import runner
from .components import data, evaluate, method, playground, runs_export, task_model, train
from .state import Page, Session

log = logging.getLogger("tl_dashboard")
CSS = (Path(__file__).parent / "style.css").read_text(encoding="utf-8")
INTRO = (
    "# Transfer-learning dashboard\nTrain an image, text or entity model on your own data: pick a task, add data, "
    "choose a method, train, test and export. No code needed."
)


def create_ui(oauth: bool | None = None) -> gr.Blocks:
    """The dashboard page. ``oauth`` (default: on a Space with ``hf_oauth``) adds the sign-in button, and the
    workspace then follows the signed-in account instead of the browser."""
    return create_page(oauth)[0]


def create_page(oauth: bool | None = None) -> tuple[gr.Blocks, Page]:
    """The page and its element registry (tests reach components through the registry, as handlers do)."""
    oauth = identity.oauth_enabled() if oauth is None else oauth
    with gr.Blocks(title="Transfer-learning dashboard", fill_width=True) as demo:
        session = _session()
        with gr.Row(elem_id="tl-header", equal_height=True):
            gr.Markdown(INTRO, scale=4)
            if oauth:  # only on a Space with hf_oauth: locally gradio would need an HF login to mock it
                gr.LoginButton(scale=0, min_width=220, elem_id="login-btn")
        # "wrap": at phone width every tab stays one tap away (the default menu hid five behind a "⋯")
        with gr.Tabs(selected="task", overflow_behavior="wrap", elem_id="tl-tabs") as tabs:
            with gr.Tab("Task & model", id="task"):
                task_model_tab = task_model.build()
            with gr.Tab("Data", id="data"):
                data_tab = data.build()
            with gr.Tab("Method & settings", id="method"):
                method_tab = method.build()
            with gr.Tab("Train", id="train"):
                try_btn = playground.build_try_button()  # on top: it is what a finished run offers next
                train_tab = train.build()
            with gr.Tab("Evaluate", id="evaluate"):
                evaluate_tab = evaluate.build()
            with gr.Tab("Playground", id="playground"):
                playground_tab = playground.build()
                playground_tab.try_btn = try_btn
            with gr.Tab("Runs & export", id="runs"):
                runs_tab = runs_export.build()
        page = Page(
            session=session,
            tabs=tabs,
            task_model=task_model_tab,
            data=data_tab,
            method=method_tab,
            train=train_tab,
            evaluate=evaluate_tab,
            playground=playground_tab,
            runs=runs_tab,
        )
        _wire(demo, page)
    return demo, page


def _session() -> Session:
    return Session(
        # gradio publishes BrowserState's key in /config: a key derived one-way from the server secret, which
        # itself never leaves the server (it keys signed-in users' ids)
        sid=gr.BrowserState(None, storage_key="tl_session_id", secret=identity.storage_key()),
        data_choice=gr.State(None),
        eval_choice=gr.State(None),
        run_name=gr.State(None),
        offset=gr.State(0),
        records=gr.State([]),
        example_idx=gr.State(0),
        timer=gr.Timer(1.0, active=False),
    )


def _wire(demo: gr.Blocks, page: Page) -> None:
    """Every tab's events. The page load settles the identity first and re-attaches to a run still going."""
    run = train.wire(page)
    # cheap, and every other event of the page needs its identity: never queued behind slow events
    init = demo.load(
        run.reattach, {page.session.sid}, runner.reattach_outputs(page), api_name="init", concurrency_limit=None
    )
    task_model.wire(demo, page, data.wire(page))
    method.wire(page)
    evaluate.wire(page)
    playground.wire(page)
    runs = runs_export.wire(page)
    # once the identity is settled: the run list, and Evaluate and Playground open on the newest finished run
    init.then(
        runs.open_newest, {page.session.sid}, runs.list_outputs(), api_visibility="private", show_progress="hidden"
    )


def launch_kwargs() -> dict[str, Any]:
    """Arguments for demo.launch(): theme/css (gradio 6 takes them here), upload cap, the one served folder."""
    root = identity.sessions_root()
    root.mkdir(parents=True, exist_ok=True)
    return {
        "theme": gr.themes.Soft(primary_hue="indigo", secondary_hue="slate", font=["Inter", "system-ui", "sans-serif"]),
        "css": CSS,
        "max_file_size": settings.MAX_UPLOAD.get(),
        "allowed_paths": [str(root)],  # downloads live in each session's own folder (random, unguessable id)
        "footer_links": [],
        "server_name": settings.SERVER_NAME.get(),
        "server_port": int(settings.SERVER_PORT.get()),
    }


def _warm_up() -> None:
    """Import the heavy modules after the page is up, so the first click is quick."""
    try:
        import tl_core.data  # noqa: F401 - deliberate lazy heavy import (datasets)
        import tl_core.models  # noqa: F401 - deliberate lazy heavy import (torch)
    except Exception:  # noqa: BLE001
        log.exception("warm-up import failed")


def warm_up_in_background() -> None:
    """After the page is up: import the heavy modules, and on a public deployment start the housekeeping."""
    threading.Thread(target=_warm_up, daemon=True).start()
    stale = runs.reconcile_stale()  # runs the last app left "training" whose process is gone: failed, resumable
    if stale:
        log.info("%d run(s) left over from before a restart were marked failed (resumable)", len(stale))
    if settings.public_mode():
        start_housekeeping()


def start_housekeeping(interval_s: float | None = None) -> threading.Thread:
    """Clean up now and then every TL_CLEANUP_MINUTES: idle anonymous workspaces and old downloads go (see
    tl_core.workspace.cleanup: nothing with a run queued or running, nothing of a signed-in user)."""
    interval_s = interval_s or settings.number(settings.CLEANUP_MINUTES) * 60

    def loop() -> None:
        while True:
            try:
                removed = identity.cleanup()
                if any(removed.values()):
                    log.info("cleanup removed %(workspaces)d idle workspace(s), %(downloads)d old download(s)", removed)
            except Exception:  # noqa: BLE001 - housekeeping must never take the app down
                log.exception("workspace cleanup failed")
            time.sleep(max(1.0, interval_s))

    thread = threading.Thread(target=loop, name="tl-housekeeping", daemon=True)
    thread.start()
    return thread
