"""Transfer-learning dashboard: the Gradio page. Wiring only; the logic lives in tl_core (see tl_core/dashboard.py).

    python app.py            # honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT and TL_HOME

Training never runs in this process: a run is an ``accelerate launch`` subprocess (tl_core.runs) started by the
scheduler; this page only reads the run folder on a timer.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from tl_core import charts, dashboard as dash, scheduler, workspace
from tl_core import runfiles as rf
from tl_core.errors import UserError
from tl_core.methods import METHODS
from tl_core.registry import TASKS

log = logging.getLogger("tl_dashboard")
MAX_FILE_SIZE = os.environ.get("TL_MAX_UPLOAD", "500mb")
DATA_TYPES = [".csv", ".tsv", ".json", ".jsonl", ".parquet", ".zip", ".conll", ".txt", ".bio", ".iob"]
TASK_ORDER = [t for t in dash.TASK_ORDER if t in TASKS]
OAUTH = workspace.oauth_enabled()
SAMPLE_NAMES = {"text": "Sentiment reviews", "image": "Handwritten digits", "ner": "News entities"}

CSS = """
.gradio-container {max-width: 1240px !important; width: 100% !important; margin: 0 auto !important;}
#tl-header h1 {font-size: 1.55rem; margin: 0 0 2px 0;}
#tl-header p {margin: 0; color: var(--body-text-color-subdued);}
.tl-hero {border: 1px solid var(--border-color-primary); border-radius: 12px; padding: 12px 16px;
          background: linear-gradient(135deg, rgba(79,70,229,.07), rgba(16,185,129,.05));}
.tl-status {border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 12px 14px;}
.tl-status.tl-idle {color: var(--body-text-color-subdued);}
.tl-run {font-family: ui-monospace, monospace; font-size: .85rem; color: var(--body-text-color-subdued); margin-bottom: 6px;}
.tl-bar {height: 10px; background: var(--background-fill-secondary); border-radius: 6px; overflow: hidden;}
.tl-fill {height: 100%; background: #4f46e5; transition: width .6s ease;}
.tl-fill.tl-done {background: #10b981;} .tl-fill.tl-failed {background: #ef4444;} .tl-fill.tl-stopped {background: #f59e0b;}
.tl-grid {display: grid; grid-template-columns: repeat(6, 1fr); gap: 8px; margin-top: 10px;}
.tl-cell span {display: block; font-size: .75rem; color: var(--body-text-color-subdued); text-transform: uppercase; letter-spacing: .03em;}
.tl-cell b {font-size: .95rem;}
.tl-error {margin-top: 10px; padding: 8px 10px; border-radius: 8px; background: rgba(239,68,68,.1); color: #b91c1c; white-space: pre-wrap;}
.tl-ok {margin-top: 10px; padding: 8px 10px; border-radius: 8px; background: rgba(16,185,129,.12); color: #047857;}
.tl-note {margin-top: 10px; padding: 8px 10px; border-radius: 8px; background: rgba(245,158,11,.12); color: #92400e;}
.tl-problems-error {border-left: 4px solid #ef4444; padding: 6px 12px; background: rgba(239,68,68,.06); border-radius: 6px;}
.tl-problems-warn {border-left: 4px solid #f59e0b; padding: 6px 12px; background: rgba(245,158,11,.07); border-radius: 6px;}
.tl-problems-ok {border-left: 4px solid #10b981; padding: 6px 12px; background: rgba(16,185,129,.07); border-radius: 6px;}
footer {display: none !important;}
#err-gallery .grid-container {grid-template-columns: repeat(auto-fill, 112px) !important;
                              grid-template-rows: none !important; grid-auto-rows: 112px !important;}
"""


# --- plumbing ----------------------------------------------------------------------------------------------------
def ui(fn: Callable) -> Callable:
    """Show every user error as a readable gr.Error; log anything else and show a plain summary (no trace)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UserError as err:
            raise gr.Error(str(err), title="Please check") from None
        except Exception as err:  # noqa: BLE001
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error(f"Something went wrong ({type(err).__name__}). The details are in the server log.") from None

    return wrapper


def ws_of(sid: Any) -> workspace.Workspace:
    return workspace.Workspace.open(sid)


def _dd(choices: list, value: Any = None, **kw: Any) -> Any:
    return gr.Dropdown(choices=choices, value=value, **kw)


def _problems_md(info: dict[str, Any]) -> str:
    parts = []
    if info["errors"]:
        items = "\n".join(f"- {m}" for m in info["errors"])
        parts.append(f"<div class='tl-problems-error'>\n\n**Blocking problems (fix these before training)**\n\n{items}\n\n</div>")
    if info["warnings"]:
        items = "\n".join(f"- {m}" for m in info["warnings"])
        parts.append(f"<div class='tl-problems-warn'>\n\n**Warnings (training can go ahead)**\n\n{items}\n\n</div>")
    if not parts:
        parts.append("<div class='tl-problems-ok'>\n\n**No problems found.** The data is ready for training.\n\n</div>")
    return "\n\n".join(parts)


# --- the page ------------------------------------------------------------------------------------------------------
def build_app() -> gr.Blocks:
    param_fields = dash.method_param_fields()
    with gr.Blocks(title="Transfer-learning dashboard", fill_width=True) as demo:
        sid = gr.BrowserState(None, storage_key="tl_session_id", secret=workspace.browser_secret())
        data_choice = gr.State(None)  # "sample" or a path relative to the workspace's uploads/
        eval_choice = gr.State(None)
        run_name = gr.State(None)  # the run the Train tab follows
        offset = gr.State(0)
        records = gr.State([])
        example_idx = gr.State(0)
        timer = gr.Timer(1.0, active=False)

        with gr.Row(elem_id="tl-header", equal_height=True):
            gr.Markdown("# Transfer-learning dashboard\nTrain an image, text or entity model on your own data: "
                        "pick a task, add data, choose a method, train, test and export. No code needed.", scale=4)
            if OAUTH:  # only on a Space with hf_oauth: locally gradio would need an HF login to mock it
                gr.LoginButton(scale=0, min_width=220, elem_id="login-btn")

        with gr.Tabs(selected="task") as tabs:
            # 1 ------------------------------------------------------------------------------------------------
            with gr.Tab("Task & model", id="task"):
                with gr.Column(elem_classes="tl-hero"):
                    gr.Markdown("### Try it with sample data\nOne click trains a small model on bundled sample data "
                                "(feature extraction, about a minute on a laptop CPU). Then open **Evaluate** and "
                                "**Playground**.")
                    with gr.Row():
                        quick = {t: gr.Button(f"{SAMPLE_NAMES[t]} · {TASKS[t].title.lower()}", variant="primary",
                                              elem_id=f"quick-{t}") for t in TASK_ORDER}
                with gr.Row():
                    with gr.Column(scale=3):
                        task = gr.Radio([(TASKS[t].title, t) for t in TASK_ORDER], value="text", label="Task",
                                        elem_id="task-radio")
                        task_md = gr.Markdown(TASKS["text"].description)
                        model = gr.Dropdown(label="Base model", allow_custom_value=True, elem_id="model-dd",
                                            info="Offline models first. Or type any Hub id (org/name) or a local folder.")
                    with gr.Column(scale=2):
                        model_info = gr.Dataframe(headers=["fact", "value"], label="Model facts", interactive=False,
                                                  show_row_numbers=False, column_widths=["45%", "55%"])

            # 2 ------------------------------------------------------------------------------------------------
            with gr.Tab("Data", id="data"):
                with gr.Row():
                    with gr.Column(scale=2):
                        upload = gr.File(label="Training data", file_types=DATA_TYPES, file_count="single")
                        with gr.Row():
                            sample_btn = gr.Button("Use sample data", variant="secondary", elem_id="use-sample")
                            check_btn = gr.Button("Check data", elem_id="check-data")
                        with gr.Accordion("Separate evaluation file (optional)", open=False):
                            eval_upload = gr.File(label="Evaluation data", file_types=DATA_TYPES)
                        data_src = gr.Markdown("No data chosen yet.")
                    with gr.Column(scale=3):
                        with gr.Row():
                            text_col = _dd([("auto-detect", "")], "", label="Text column", elem_id="text-col",
                                           allow_custom_value=True)
                            label_col = _dd([("auto-detect", "")], "", label="Label column", elem_id="label-col",
                                            allow_custom_value=True)
                            image_col = _dd([("auto-detect", "")], "", label="Image column", visible=False,
                                            allow_custom_value=True)
                        with gr.Row():
                            eval_frac = gr.Slider(5, 50, value=20, step=5, label="Evaluation share (%)",
                                                  info="Held out when there is no evaluation file.")
                            stratify = gr.Checkbox(True, label="Stratified split", info="Same class mix in both parts.")
                            seed = gr.Number(42, precision=0, label="Seed", info="Same seed, same split.")
                            max_rows = gr.Number(None, precision=0, label="Max training rows", elem_id="max-rows",
                                                 info="Cap for quick experiments; 0 = all.")
                problems = gr.Markdown()
                with gr.Row():
                    with gr.Column(scale=3):
                        preview = gr.Dataframe(headers=["example", "label"], label="Preview (training split)", interactive=False, elem_id="data-preview", wrap=True, column_widths=["68%", "32%"],
                                               max_height=300, show_row_numbers=False)
                    with gr.Column(scale=2):
                        dist_plot = gr.Plot(label="Label distribution", show_label=False, elem_id="dist-plot")
                stats = gr.Dataframe(headers=["statistic", "value"], label="Statistics", interactive=False, show_row_numbers=False)

            # 3 ------------------------------------------------------------------------------------------------
            with gr.Tab("Method & settings", id="method"):
                with gr.Row():
                    with gr.Column(scale=2):
                        method = gr.Radio([(METHODS[m].title, m) for m in dash.METHOD_ORDER], value="features",
                                          label="Method", elem_id="method-radio")
                        method_md = gr.Markdown()
                        run_label = gr.Textbox(label="Run name (optional)", placeholder="e.g. reviews-first-try")
                    with gr.Column(scale=3):
                        with gr.Row():
                            lr = gr.Number(label="Learning rate", info="Fine-tuning ~2e-5..1e-4; a head on features ~1e-3..1e-2.")
                            epochs = gr.Number(label="Epochs", info="Passes over the training data.", elem_id="epochs")
                            batch = gr.Number(label="Batch size", precision=0, info="Lower it if memory runs out.")
                        with gr.Row():
                            max_len = gr.Number(label="Max length (tokens)", precision=0, info="Longer texts are cut.")
                            img_size = gr.Number(label="Image size (px)", precision=0, info="Images are resized to this.",
                                                 elem_id="image-size")
                            patience = gr.Number(label="Early-stopping patience", precision=0,
                                                 info="Epochs without improvement before stopping; 0 = off.")
                        with gr.Row():
                            sched = gr.Dropdown(list(dash.SCHEDULERS), label="LR schedule", info="How the rate decays.")
                            warmup = gr.Number(label="Warmup", info="< 1: share of steps; >= 1: number of steps.")
                        mp_inputs: list[tuple[str, str, Any]] = []
                        mp_groups = {}
                        for m in dash.METHOD_ORDER:
                            with gr.Group(visible=m == "features") as grp:
                                with gr.Row():
                                    for f in param_fields[m]:
                                        label = f"{METHODS[m].title.split(' (')[0]}: {f['name'].replace('_', ' ')}"
                                        if f["type"] == "bool":
                                            comp = gr.Checkbox(f["default"], label=label, info=f["help"])
                                        elif f["type"] == "int":
                                            comp = gr.Number(f["default"], precision=0, label=label, info=f["help"])
                                        elif f["type"] == "float":
                                            comp = gr.Number(f["default"], label=label, info=f["help"])
                                        else:
                                            comp = gr.Textbox(str(f["default"]), label=label, info=f["help"])
                                        mp_inputs.append((m, f["name"], comp))
                            mp_groups[m] = grp
                with gr.Row():
                    cmd_btn = gr.Button("Show command", elem_id="show-command")
                    yaml_upload = gr.UploadButton("Load settings from YAML", file_types=[".yaml", ".yml"],
                                                  variant="secondary", elem_id="yaml-upload")
                with gr.Row():
                    cmd_out = gr.Code(label="Reproducible command", language="shell", lines=4, interactive=False,
                                      elem_id="cmd-out")
                    yaml_out = gr.Code(label="Run config (YAML)", language="yaml", lines=4, interactive=False)

            # 4 ------------------------------------------------------------------------------------------------
            with gr.Tab("Train", id="train"):
                with gr.Row():
                    start_btn = gr.Button("Start training", variant="primary", elem_id="start-btn", scale=2)
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-btn", scale=1)
                    resume_btn = gr.Button("Resume", elem_id="resume-btn", scale=1)
                status_box = gr.HTML(dash.status_html(None, None), elem_id="run-status")
                with gr.Row(equal_height=True):
                    loss_plot = gr.Plot(charts.loss_figure([]), show_label=False, elem_id="loss-plot")
                    eval_plot = gr.Plot(charts.eval_figure([]), show_label=False, elem_id="eval-plot")
                    lr_plot = gr.Plot(charts.lr_figure([]), show_label=False, elem_id="lr-plot")
                log_box = gr.Code(label="Training log (last lines)", language=None, lines=8, max_lines=8,
                                  interactive=False)

            # 5 ------------------------------------------------------------------------------------------------
            with gr.Tab("Evaluate", id="evaluate"):
                eval_run = gr.Dropdown(label="Finished run", choices=[], elem_id="eval-run")
                with gr.Row():
                    with gr.Column(scale=2):
                        metrics_df = gr.Dataframe(headers=["metric", "value"], label="Metrics", interactive=False,
                                                  show_row_numbers=False, elem_id="metrics-table")
                        per_class_df = gr.Dataframe(headers=["label", "precision", "recall", "f1", "support"],
                                                    label="Per class / entity type · click a row to see its mistakes",
                                                    interactive=False, show_row_numbers=False, elem_id="per-class-table")
                    with gr.Column(scale=3):
                        cm_plot = gr.Plot(show_label=False, elem_id="cm-plot")
                gr.Markdown("#### Error analysis\nClick a cell of the confusion table (a true class and a predicted "
                            "class) or a row of the per-class table, and see the examples the model got wrong.")
                with gr.Row():
                    with gr.Column(scale=3):
                        cm_df = gr.Dataframe(headers=[dash.TRUE_VS_PRED], label="Confusion matrix · click a cell",
                                             interactive=False, show_row_numbers=False, elem_id="cm-table",
                                             max_height=300)
                    with gr.Column(scale=2):
                        with gr.Row():
                            err_true = gr.Dropdown(["any"], value="any", label="True class / entity type",
                                                   elem_id="err-true")
                            err_pred = gr.Dropdown(["any"], value="any", label="Predicted class", elem_id="err-pred")
                        err_md = gr.Markdown(elem_id="err-summary")
                err_gallery = gr.Gallery(label="Misclassified images (caption: true → predicted)", show_label=False, columns=8,
                                         height=290, visible=False, elem_id="err-gallery", object_fit="contain")
                err_ner = gr.HighlightedText(label="Sentences with mistakes (✗ = wrong tag)", visible=False,
                                             combine_adjacent=False, elem_id="err-ner")
                err_table = gr.Dataframe(headers=["input", "true", "predicted", "confidence"],
                                         label="Misclassified examples", interactive=False, wrap=True, max_height=320,
                                         show_row_numbers=False, elem_id="err-table")

            # 6 ------------------------------------------------------------------------------------------------
            with gr.Tab("Playground", id="playground"):
                play_run = gr.Dropdown(label="Model (a finished run)", choices=[], elem_id="play-run")
                with gr.Row():
                    with gr.Column():
                        play_text = gr.Textbox(label="Text", lines=4, elem_id="play-text")
                        play_image = gr.Image(label="Image", type="pil", sources=["upload", "webcam", "clipboard"],
                                              visible=False, height=260, elem_id="play-image")
                        with gr.Row():
                            predict_btn = gr.Button("Predict", variant="primary", elem_id="predict-btn")
                            next_btn = gr.Button("Another example", elem_id="next-example")
                    with gr.Column():
                        play_label = gr.Label(label="Prediction", num_top_classes=5, elem_id="play-label")
                        play_ner = gr.HighlightedText(label="Entities", visible=False, elem_id="play-ner")
                gr.Markdown("#### Batch scoring\nUpload a file (a table with a text column, or images in a zip) and "
                            "download the predictions as CSV.")
                with gr.Row():
                    batch_in = gr.File(label="File to score", file_types=DATA_TYPES + [".png", ".jpg", ".jpeg"],
                                       elem_id="batch-in")
                    batch_out = gr.File(label="Predictions (CSV)", interactive=False, elem_id="batch-out")
                batch_preview = gr.Dataframe(headers=["input", "prediction", "confidence"], label="First predictions", interactive=False, max_height=240,
                                             show_row_numbers=False)

            # 7 ------------------------------------------------------------------------------------------------
            with gr.Tab("Runs & export", id="runs"):
                with gr.Row():
                    refresh_btn = gr.Button("Refresh", scale=0, min_width=120)
                runs_df = gr.Dataframe(headers=["run", "task", "model", "method", "data", "metric", "duration", "status"], label="Run history", interactive=False, wrap=True, show_row_numbers=False,
                                       elem_id="runs-table", max_height=280)
                with gr.Row():
                    with gr.Column():
                        compare_sel = gr.CheckboxGroup(label="Compare runs", choices=[], elem_id="compare-sel")
                        compare_btn = gr.Button("Compare selected", elem_id="compare-btn")
                    with gr.Column():
                        export_run = gr.Dropdown(label="Run to export", choices=[], elem_id="export-run")
                        with gr.Row():
                            zip_btn = gr.Button("Download model (zip)", elem_id="zip-btn")
                        zip_file = gr.File(label="Model zip", interactive=False, elem_id="zip-file")
                compare_plot = gr.Plot(show_label=False, visible=False, elem_id="compare-plot")
                diff_df = gr.Dataframe(headers=["setting", "run A", "run B"], label="Settings that differ", interactive=False,
                                       show_row_numbers=False, visible=False, elem_id="diff-table", wrap=True)
                with gr.Accordion("Push to the Hugging Face Hub", open=False):
                    with gr.Row():
                        repo_id = gr.Textbox(label="Repository", placeholder="your-name/model-name")
                        token = gr.Textbox(label="Access token (write)", type="password",
                                           info="Used for this upload only; never stored, logged or shown.")
                        private = gr.Checkbox(True, label="Private")
                    push_btn = gr.Button("Push model and model card")
                    push_out = gr.Markdown()

        train_fields = [lr, epochs, batch, max_len, img_size, patience, sched, warmup]
        data_fields = [text_col, label_col, image_col, eval_frac, stratify, seed, max_rows]
        mp_comps = [c for _, _, c in mp_inputs]
        form = [task, model, method, run_label, data_choice, eval_choice, *train_fields, *data_fields, *mp_comps]

        # --- handlers ----------------------------------------------------------------------------------------
        def config_from(values: list[Any]) -> Any:
            t, mdl, meth, name, dchoice, echoice = values[:6]
            tv = values[6:6 + len(train_fields)]
            dv = values[6 + len(train_fields):6 + len(train_fields) + len(data_fields)]
            mv = values[6 + len(train_fields) + len(data_fields):]
            return t, mdl, meth, name, dchoice, echoice, tv, dv, mv

        def make_config(ws: workspace.Workspace, values: list[Any]) -> Any:
            t, mdl, meth, name, dchoice, echoice, tv, dv, mv = config_from(values)
            train = dict(zip(("learning_rate", "epochs", "batch_size", "max_length", "image_size",
                              "early_stopping_patience", "scheduler", "warmup"), tv))
            tcol, lcol, icol, frac, strat, sd, mrows = dv
            data = {"train_file": dash.data_file(ws, dchoice),
                    "eval_file": str(ws.upload_path(echoice)) if echoice else None,
                    "text_column": tcol or None, "label_column": lcol or None, "image_column": icol or None,
                    "eval_fraction": (frac or 20) / 100.0, "stratify": bool(strat), "seed": int(sd or 42),
                    "max_rows": int(mrows) if mrows else None}
            params = {n: v for (m, n, _), v in zip(mp_inputs, mv) if m == meth}
            return dash.build_config(t, meth, mdl, train, data, params, name)

        def settings_updates(cfg: Any) -> list[Any]:
            v = dash.form_values(cfg)
            out = [v["learning_rate"], v["epochs"], v["batch_size"], v["max_length"], v["image_size"],
                   v["early_stopping_patience"], v["scheduler"], v["warmup"]]
            out += [gr.update(value=cfg.method_params.get(n, c.value)) if m == cfg.method else gr.update()
                    for m, n, c in mp_inputs]
            out += [gr.update(visible=m == cfg.method) for m in dash.METHOD_ORDER]
            out.append(dash.METHOD_WHEN[cfg.method] + "\n\n" + METHODS[cfg.method].description)
            return out

        settings_outputs = [*train_fields, *mp_comps, *[mp_groups[m] for m in dash.METHOD_ORDER], method_md]

        def task_visibility(t: str) -> list[Any]:
            return [gr.update(visible=t == "text"), gr.update(visible=t in ("text", "image")),
                    gr.update(visible=t == "image"), gr.update(visible=t != "image"), gr.update(visible=t == "image")]

        task_vis_outputs = [text_col, label_col, image_col, max_len, img_size]

        @ui
        def on_load(session_id: Any, request: gr.Request, profile: gr.OAuthProfile | None) -> list[Any]:
            # signed in on a Space: the workspace follows the account; else the id kept in this browser
            session_id = workspace.resolve_identity(session_id, profile.username if profile is not None else None)
            ws = ws_of(session_id)
            active = dash.active_run(ws)
            scheduler.dispatch()
            return [session_id, active, 0, [], gr.Timer(active=bool(active)),
                    gr.Tabs(selected="train") if active else gr.Tabs()]

        @ui
        def select_task(t: str, meth: str) -> list[Any]:
            choices = dash.model_choices(t)
            default = dash.default_model(t)
            cfg = dash.preset(t, meth or "features")
            return [TASKS[t].description + f"  \nMain metric: **{TASKS[t].main_metric}**.",
                    gr.Dropdown(choices=choices, value=default), None,
                    *settings_updates(cfg), *task_visibility(t)]

        @ui
        def describe_model(t: str, ref: str) -> list[list[str]]:
            if not ref:
                return []
            try:
                return dash.describe(t, ref)
            except UserError as err:
                gr.Warning(str(err))
                return [["Model", str(ref)], ["Problem", str(err)]]

        @ui
        def select_method(t: str, meth: str) -> list[Any]:
            return settings_updates(dash.preset(t, meth))

        def _inspect(ws: workspace.Workspace, t: str, dchoice: str, echoice: str | None, tcol: str, lcol: str,
                     icol: str, frac: float, strat: bool, sd: float, mrows: float, warn: bool = True) -> list[Any]:
            from tl_core.config import DataConfig

            path = dash.data_file(ws, dchoice)
            data = DataConfig(train_file=path, eval_file=str(ws.upload_path(echoice)) if echoice else None,
                              text_column=tcol or None, label_column=lcol or None, image_column=icol or None,
                              eval_fraction=(frac or 20) / 100.0, stratify=bool(strat), seed=int(sd or 42),
                              max_rows=int(mrows) if mrows else None)
            info = dash.inspect_data(ws, t, data)
            if warn and info["errors"]:
                gr.Warning(f"{len(info['errors'])} blocking problem(s) in the data: see the Data tab.")
            cols = dash.table_columns(path) if path else (["review", "sentiment"] if t == "text" else [])
            auto = [("auto-detect", "")] + [(c, c) for c in cols]
            detected = info["columns"]
            import pandas as pd

            prev = pd.DataFrame(info["preview"], columns=info["preview_headers"]) if info["preview_headers"] else None
            return [
                _problems_md(info),
                prev,
                charts.label_distribution(info["class_balance"], "Examples per class" if t != "ner" else "Entities per type"),
                dash.stats_rows(info["stats"]),
                gr.Dropdown(choices=auto, value=tcol or ""),
                gr.Dropdown(choices=auto, value=lcol or ""),
                gr.Dropdown(choices=auto, value=icol or ""),
                "**Data:** " + ("bundled sample" if dchoice == dash.SAMPLE else f"`{Path(path).name}` (uploaded)")
                + (f" · detected columns: {', '.join(f'{k} = `{v}`' for k, v in detected.items())}" if detected else ""),
            ]

        inspect_outputs = [problems, preview, dist_plot, stats, text_col, label_col, image_col, data_src]
        split_inputs = [eval_frac, stratify, seed, max_rows]

        def split_values(cfg: Any) -> list[Any]:
            return [round(cfg.data.eval_fraction * 100), cfg.data.stratify, cfg.data.seed, cfg.data.max_rows]

        @ui
        def use_sample(session_id: str, t: str, echoice: str | None, *split: Any) -> list[Any]:
            ws = ws_of(session_id)
            return [dash.SAMPLE, None, *_inspect(ws, t, dash.SAMPLE, None, "", "", "", *split)]

        @ui
        def upload_data(session_id: str, t: str, file: str | None, *split: Any) -> list[Any]:
            if not file:
                raise UserError("No file received. Choose a data file to upload, or click 'Use sample data'.")
            ws = ws_of(session_id)
            saved = ws.save_upload(file)
            rel = ws.relative_upload(saved)
            return [rel, *_inspect(ws, t, rel, None, "", "", "", *split)]

        @ui
        def upload_eval(session_id: str, file: str | None) -> str | None:
            if not file:
                return None
            ws = ws_of(session_id)
            return ws.relative_upload(ws.save_upload(file, kind="eval"))

        @ui
        def check_data(session_id: str, t: str, dchoice: str, echoice: str | None, tcol: str, lcol: str, icol: str,
                       *split: Any) -> list[Any]:
            return _inspect(ws_of(session_id), t, dchoice, echoice, tcol, lcol, icol, *split)

        @ui
        def show_command(session_id: str, *values: Any) -> list[str]:
            ws = ws_of(session_id)
            cfg = make_config(ws, list(values))
            return [dash.show_command(ws, cfg), dash.public_yaml(cfg)]

        @ui
        def load_yaml(file: str | None, t: str) -> list[Any]:
            if not file:
                raise UserError("No YAML file received.")
            from tl_core.config import RunConfig

            try:
                text = Path(file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                raise UserError("That file is not readable text. Upload a .yaml run config.") from None
            cfg = RunConfig.from_yaml_text(text)
            if cfg.data.train_file or cfg.data.eval_file:
                gr.Warning("Data paths in the YAML are ignored here: upload the data in the Data tab.")
            gr.Info(f"Loaded settings for {cfg.task} · {cfg.method}.")
            return [cfg.task, gr.Dropdown(choices=dash.model_choices(cfg.task), value=cfg.model or dash.default_model(cfg.task)),
                    cfg.method, *settings_updates(cfg), *task_visibility(cfg.task), *split_values(cfg)]

        def _follow(run: str) -> list[Any]:
            return [run, 0, [], gr.Timer(active=True), gr.Tabs(selected="train"),
                    charts.loss_figure([]), charts.eval_figure([]), charts.lr_figure([])]

        follow_outputs = [run_name, offset, records, timer, tabs, loss_plot, eval_plot, lr_plot]

        @ui
        def start_run(session_id: str, *values: Any) -> list[Any]:
            ws = ws_of(session_id)
            cfg = make_config(ws, list(values))
            run_dir, pos = dash.start_run(ws, cfg)
            if pos:
                gr.Info(f"Another run is using the accelerator: yours is number {pos} in the queue and starts by itself.")
            return _follow(run_dir.name)

        def quick_start(t: str) -> Callable:
            @ui
            def go(session_id: str) -> list[Any]:
                ws = ws_of(session_id)
                cfg = dash.build_config(t, "features", None, dict(dash.QUICK_TRAIN.get(t, {})), {"train_file": None},
                                        {}, f"sample-{t}")
                run_dir, pos = dash.start_run(ws, cfg)
                if pos:
                    gr.Info(f"Queued as number {pos}; it starts when the current run finishes.")
                choices = dash.model_choices(t)
                return [t, gr.Dropdown(choices=choices, value=dash.default_model(t)), "features", dash.SAMPLE, None,
                        *settings_updates(cfg), *task_visibility(t), *split_values(cfg), *_follow(run_dir.name)]

            return go

        @ui
        def stop_run(session_id: str, run: str | None) -> str:
            ws = ws_of(session_id)
            if not run:
                raise UserError("There is no run to stop.")
            st = scheduler.request_stop(ws.run_path(run))
            gr.Info("Stopping: the run saves a checkpoint at its next step." if st["phase"] not in rf.FINAL_PHASES
                    else f"The run is {st['phase']}.")
            return dash.status_html(ws.run_path(run), st)

        @ui
        def resume_run(session_id: str, run: str | None) -> list[Any]:
            ws = ws_of(session_id)
            if not run:
                raise UserError("There is no run to resume. Start a run first.")
            run_dir = ws.run_path(run)
            st = rf.read_json(run_dir / rf.STATUS, {}) or {}
            if st.get("phase") != "stopped":
                raise UserError(f"Only a stopped run can be resumed (this one is {st.get('phase', 'unknown')}).")
            if rf.last_checkpoint(run_dir) is None:
                raise UserError("This run stopped before its first checkpoint: start it again instead.")
            scheduler.submit(run_dir, resume=True)
            out = _follow(run)
            out[1], out[2] = 0, []
            return out

        @ui
        def poll(session_id: str, run: str | None, off: int, recs: list[dict[str, Any]]) -> list[Any]:
            scheduler.dispatch()
            if not run:
                return [gr.skip()] * 5 + [gr.Timer(active=False), off, recs, gr.skip(), gr.skip(), gr.skip()]
            from tl_core import runs

            ws = ws_of(session_id)
            run_dir = ws.run_path(run)
            new, off = rf.read_metrics(run_dir, off)
            recs = (recs or []) + new
            st = runs.status(run_dir)
            pos = scheduler.position(run_dir) if st.get("phase") == "queued" else None
            final = st.get("phase") in rf.FINAL_PHASES
            plots = [charts.loss_figure(recs), charts.eval_figure(recs), charts.lr_figure(recs)] if new or final \
                else [gr.skip()] * 3
            out = [dash.status_html(run_dir, st, recs, pos), *plots, dash.log_tail(run_dir),
                   gr.Timer(active=not final), off, recs]
            if final and st.get("phase") == "done":
                choices = dash.finished_runs(ws)
                out += [gr.Dropdown(choices=choices, value=run), gr.Dropdown(choices=choices, value=run),
                        gr.Dropdown(choices=dash.all_runs(ws), value=run)]
            else:
                out += [gr.skip(), gr.skip(), gr.skip()]
            return out

        @ui
        def evaluate(session_id: str, run: str | None) -> list[Any]:
            import pandas as pd

            if not run:
                return [None, None, charts.confusion_figure([], []), gr.Dataframe(visible=False),
                        gr.Dropdown(["any"], value="any"), gr.Dropdown(["any"], value="any"), "",
                        None, gr.update(visible=False), gr.update(visible=False)]
            run_dir = ws_of(session_id).run_path(run)
            res = dash.results(run_dir)
            headers, rows = dash.per_class_rows(res)
            cm_headers, cm_rows = dash.confusion_rows(res)
            cm = (res.get("report") or {}).get("confusion_matrix") or {}
            if cm:
                fig = charts.confusion_figure(cm["labels"], cm["matrix"])
            else:
                fig = charts.per_class_figure([dict(zip(headers, r)) for r in rows], key=headers[0])
            ner = res.get("task") == "ner"
            classes = ["any"] + [str(r[0]) for r in rows]
            return [pd.DataFrame(dash.metrics_rows(res), columns=["metric", "value"]),
                    pd.DataFrame(rows, columns=headers), fig,
                    gr.Dataframe(pd.DataFrame(cm_rows, columns=cm_headers), visible=bool(cm_rows)),
                    gr.Dropdown(classes, value="any"),
                    gr.Dropdown(["any"] if ner else classes, value="any", interactive=not ner),
                    *_errors(run_dir, res, "any", "any")]

        def _errors(run_dir: Path, res: dict[str, Any], true: str, pred: str) -> list[Any]:
            """[summary, table, gallery, highlighted sentences] for the mistakes matching (true, pred)."""
            import pandas as pd

            rows = dash.errors_for(run_dir, true, pred)
            summary = dash.error_summary(res, true, pred, len(rows))
            t = res.get("task")
            if t == "ner":
                spans: list[tuple[str, str | None]] = []
                for r in rows[:8]:
                    spans += dash.ner_highlight(r) + [("\n", None)]
                table = pd.DataFrame([[" ".join(r["tokens"])[:200],
                                       sum(a != b for a, b in zip(r["true"], r["pred"]))] for r in rows],
                                     columns=["sentence", "wrong tags"])
                return [summary, table, gr.update(visible=False), gr.update(value=spans, visible=bool(spans))]
            table = pd.DataFrame([[Path(str(r["input"])).name if t == "image" else r["input"], r["true"], r["pred"],
                                   round(r["confidence"], 3)] for r in rows],
                                 columns=["input", "true", "predicted", "confidence"])
            gallery = gr.update(visible=False)
            if t == "image":
                from tl_core.data import load_rgb

                thumbs = []
                for r in rows[:24]:
                    try:
                        img = load_rgb(r["input"])
                        img.thumbnail((96, 96))
                        thumbs.append((img, f"{r['true']} → {r['pred']}"))
                    except Exception:  # noqa: BLE001 - a vanished image just has no thumbnail
                        continue
                gallery = gr.update(value=thumbs, visible=bool(thumbs))
            return [summary, table, gallery, gr.update(visible=False)]

        @ui
        def error_analysis(session_id: str, run: str | None, true: str, pred: str) -> list[Any]:
            if not run:
                raise UserError("Choose a finished run first.")
            run_dir = ws_of(session_id).run_path(run)
            return _errors(run_dir, dash.results(run_dir), true, pred)

        def pick(table: str) -> Callable:
            @ui
            def picked(session_id: str, run: str | None, evt: gr.SelectData) -> list[Any]:
                if not run:
                    raise UserError("Choose a finished run first.")
                run_dir = ws_of(session_id).run_path(run)
                res = dash.results(run_dir)
                true, pred = dash.pick_filter(res, table, evt.index)
                return [true, pred if res.get("task") != "ner" else "any", *_errors(run_dir, res, true, pred)]

            return picked

        @ui
        def playground_run(session_id: str, run: str | None) -> list[Any]:
            if not run:
                return [gr.update(), gr.update(), None, gr.update(), 0]
            run_dir = ws_of(session_id).run_path(run)
            t = (rf.read_json(run_dir / rf.CONFIG, {}) or {}).get("task")
            examples = dash.example_inputs(run_dir)
            first = examples[0] if examples else None
            if t == "image":
                from tl_core.data import load_rgb

                img = load_rgb(first) if first else None
                return [gr.update(visible=False), gr.update(value=img, visible=True),
                        gr.update(visible=True, value=None), gr.update(visible=False, value=None), 1]
            return [gr.update(visible=True, value=first or "", label="Sentence" if t == "ner" else "Text"),
                    gr.update(visible=False, value=None), gr.update(visible=t != "ner", value=None),
                    gr.update(visible=t == "ner", value=None), 1]

        @ui
        def next_example(session_id: str, run: str | None, idx: int) -> list[Any]:
            if not run:
                raise UserError("Choose a model (a finished run) first.")
            run_dir = ws_of(session_id).run_path(run)
            examples = dash.example_inputs(run_dir, k=50)
            if not examples:
                raise UserError("This run has no evaluation examples.")
            x = examples[idx % len(examples)]
            if Path(str(x)).suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"):
                from tl_core.data import load_rgb

                return [gr.update(), load_rgb(x), idx + 1]
            return [x, gr.update(), idx + 1]

        @ui
        def predict(session_id: str, run: str | None, text: str, image: Any) -> list[Any]:
            if not run:
                raise UserError("Choose a model (a finished run) first.")
            run_dir = ws_of(session_id).run_path(run)
            predictor = dash.predictor_for(run_dir)
            t = predictor.config.task
            if t == "image":
                if image is None:
                    raise UserError("Add an image first: upload one, paste one or use the webcam.")
                return [predictor.predict(image, top_k=5), gr.skip()]
            if not (text or "").strip():
                raise UserError("Type some text first.")
            if t == "ner":
                return [gr.skip(), dash.ner_entities(predictor.predict(text))]
            return [predictor.predict(text, top_k=5), gr.skip()]

        @ui
        def predict_file(session_id: str, run: str | None, file: str | None) -> list[Any]:
            if not file:
                return [None, None]
            if not run:
                raise UserError("Choose a model (a finished run) first.")
            ws = ws_of(session_id)
            saved = ws.save_upload(file, kind="score")
            out, rows = dash.batch_predict(ws, ws.run_path(run), saved)
            import pandas as pd

            return [str(out), pd.DataFrame(rows[:20])]

        @ui
        def list_runs(session_id: str) -> list[Any]:
            import pandas as pd

            ws = ws_of(session_id)
            headers, rows = dash.runs_table(ws)
            everything = dash.all_runs(ws)
            done = dash.finished_runs(ws)
            return [pd.DataFrame(rows, columns=headers), gr.CheckboxGroup(choices=everything),
                    gr.Dropdown(choices=done), gr.Dropdown(choices=done), gr.Dropdown(choices=done)]

        @ui
        def list_finished(session_id: str, current: str | None, current_play: str | None) -> list[Any]:
            done = dash.finished_runs(ws_of(session_id))
            names = [v for _, v in done]
            return [gr.Dropdown(choices=done, value=current if current in names else (names[0] if names else None)),
                    gr.Dropdown(choices=done, value=current_play if current_play in names else (names[0] if names else None))]

        @ui
        def compare_runs(session_id: str, selected: list[str]) -> list[Any]:
            if not selected or len(selected) < 2:
                raise UserError("Tick at least two runs to compare.")
            ws = ws_of(session_id)
            dirs = [ws.run_path(n) for n in selected]
            series = [(d.name, rf.read_metrics(d, 0)[0]) for d in dirs]
            import pandas as pd

            headers, rows = dash.config_diff(dirs)
            return [gr.Plot(charts.compare_figure(series), visible=True),
                    gr.Dataframe(pd.DataFrame(rows, columns=headers), visible=True)]

        @ui
        def download_zip(session_id: str, run: str | None) -> str:
            if not run:
                raise UserError("Choose a finished run to export.")
            from tl_core import export

            ws = ws_of(session_id)
            return str(export.zip_model(ws.run_path(run), ws.downloads))

        @ui
        def push(session_id: str, run: str | None, repo: str, tok: str, priv: bool) -> list[Any]:
            if not run:
                raise UserError("Choose a finished run to export.")
            from tl_core import export

            ws = ws_of(session_id)
            url = export.push_to_hub(ws.run_path(run), repo, tok, priv)
            return [f"Pushed: [{url}]({url})", ""]

        # --- events ---------------------------------------------------------------------------------------------
        demo.load(on_load, [sid], [sid, run_name, offset, records, timer, tabs], api_name="init")
        demo.load(select_task, [task, method], [task_md, model, model_info, *settings_outputs, *task_vis_outputs],
                  api_name="init_form")
        task.input(select_task, [task, method], [task_md, model, model_info, *settings_outputs, *task_vis_outputs],
                   api_name="select_task")
        model.change(describe_model, [task, model], [model_info], api_name="describe_model")
        method.input(select_method, [task, method], settings_outputs, api_name="select_method")
        sample_btn.click(use_sample, [sid, task, eval_choice, *split_inputs], [data_choice, eval_choice, *inspect_outputs],
                         api_name="use_sample")
        upload.upload(upload_data, [sid, task, upload, *split_inputs], [data_choice, *inspect_outputs],
                      api_name="upload_data")
        eval_upload.upload(upload_eval, [sid, eval_upload], [eval_choice], api_name="upload_eval")
        eval_upload.clear(lambda: None, None, [eval_choice], api_name="clear_eval")
        check_btn.click(check_data, [sid, task, data_choice, eval_choice, text_col, label_col, image_col, *split_inputs],
                        inspect_outputs, api_name="check_data")
        cmd_btn.click(show_command, [sid, *form], [cmd_out, yaml_out], api_name="show_command")
        yaml_upload.upload(load_yaml, [yaml_upload, task],
                           [task, model, method, *settings_outputs, *task_vis_outputs, *split_inputs],
                           api_name="load_yaml")
        start_btn.click(start_run, [sid, *form], follow_outputs, api_name="start_run")
        for t, btn in quick.items():
            btn.click(quick_start(t), [sid], [task, model, method, data_choice, eval_choice, *settings_outputs,
                                              *task_vis_outputs, *split_inputs, *follow_outputs],
                      api_name=f"quick_start_{t}").success(
                use_sample, [sid, task, eval_choice, *split_inputs], [data_choice, eval_choice, *inspect_outputs],
                api_name=f"quick_data_{t}", show_progress="hidden")
        stop_btn.click(stop_run, [sid, run_name], [status_box], api_name="stop_run")
        resume_btn.click(resume_run, [sid, run_name], follow_outputs, api_name="resume_run")
        timer.tick(poll, [sid, run_name, offset, records],
                   [status_box, loss_plot, eval_plot, lr_plot, log_box, timer, offset, records, eval_run, play_run,
                    export_run], api_name="poll", concurrency_limit=None, show_progress="hidden")
        err_outputs = [err_md, err_table, err_gallery, err_ner]
        eval_run.change(evaluate, [sid, eval_run], [metrics_df, per_class_df, cm_plot, cm_df, err_true, err_pred,
                                                    *err_outputs], api_name="evaluate")
        gr.on([err_true.input, err_pred.input], error_analysis, [sid, eval_run, err_true, err_pred], err_outputs,
              api_name="error_analysis")
        cm_df.select(pick("confusion"), [sid, eval_run], [err_true, err_pred, *err_outputs], api_name="pick_cell")
        per_class_df.select(pick("per_class"), [sid, eval_run], [err_true, err_pred, *err_outputs],
                            api_name="pick_class")
        play_run.change(playground_run, [sid, play_run], [play_text, play_image, play_label, play_ner, example_idx],
                        api_name="playground_run")
        next_btn.click(next_example, [sid, play_run, example_idx], [play_text, play_image, example_idx],
                       api_name="next_example")
        gr.on([predict_btn.click, play_text.submit], predict, [sid, play_run, play_text, play_image],
              [play_label, play_ner], api_name="predict")
        batch_in.upload(predict_file, [sid, play_run, batch_in], [batch_out, batch_preview], api_name="predict_file")
        gr.on([refresh_btn.click, tabs.select], list_runs, [sid],
              [runs_df, compare_sel, export_run, eval_run, play_run], api_name="list_runs",
              concurrency_limit=None, show_progress="hidden")
        compare_btn.click(compare_runs, [sid, compare_sel], [compare_plot, diff_df], api_name="compare_runs")
        zip_btn.click(download_zip, [sid, export_run], [zip_file], api_name="download_zip")
        export_run.change(lambda: None, None, [zip_file], api_name="clear_zip", show_progress="hidden")
        push_btn.click(push, [sid, export_run, repo_id, token, private], [push_out, token], api_name="push_to_hub")
    return demo


def launch_kwargs() -> dict[str, Any]:
    """Arguments for demo.launch(): theme/css (gradio 6 takes them here), upload cap, the one served folder."""
    root = workspace.sessions_root()
    root.mkdir(parents=True, exist_ok=True)
    return {
        "theme": gr.themes.Soft(primary_hue="indigo", secondary_hue="slate",
                                font=["Inter", "system-ui", "sans-serif"]),
        "css": CSS,
        "max_file_size": MAX_FILE_SIZE,
        "allowed_paths": [str(root)],  # downloads live in each session's own folder (random, unguessable id)
        "footer_links": [],
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        "server_port": int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    }


def _warm_up() -> None:
    """Import the heavy modules in the background after the page is up, so the first click is quick."""
    try:
        import tl_core.data  # noqa: F401
        import tl_core.models  # noqa: F401
    except Exception:  # noqa: BLE001
        log.exception("warm-up import failed")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    app = build_app()
    app.queue(default_concurrency_limit=2)
    threading.Thread(target=_warm_up, daemon=True).start()
    app.launch(**launch_kwargs())
