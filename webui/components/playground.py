"""Tab 6, Playground: try a finished run's model on one text or image (prefilled from its evaluation split), and
score a whole file into a downloadable CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from tl_core import dashboard, ratelimit
from tl_core import runfiles as rf
from tl_core.errors import UserError

from .. import presenters
from ..handler import handler, workspace
from ..state import Page, PlaygroundTab
from .data import DATA_TYPES

IMAGE_TYPES = [".png", ".jpg", ".jpeg"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def build_try_button() -> gr.Button:
    """The Train tab's "Try it" button: shown once a run has finished, it opens the Playground on an example of
    the run's evaluation split with the prediction already made (built by interface.py inside the Train tab)."""
    return gr.Button(
        "Try the model in the Playground →", variant="primary", visible=False, elem_id="try-it-btn", scale=0
    )


def build() -> PlaygroundTab:
    play_run = gr.Dropdown(label="Model (a finished run)", choices=[], elem_id="play-run")
    empty_md = gr.Markdown(presenters.PLAY_EMPTY, elem_id="play-empty", elem_classes="tl-empty")
    with gr.Column(visible=False, elem_id="play-body") as body:  # shown once a run is chosen
        with gr.Row():
            with gr.Column(min_width=300):
                play_text = gr.Textbox(label="Text", lines=4, elem_id="play-text")
                play_image = gr.Image(
                    label="Image · drop, paste or upload your own",
                    type="pil",
                    sources=["upload", "webcam", "clipboard"],
                    visible=False,
                    height=260,
                    elem_id="play-image",
                )
                # one click for one's own image: the image box's own upload icon opens no file picker while
                # an example is showing, so this button does
                own_image = gr.UploadButton(
                    "Upload your own image", file_types=["image"], visible=False, elem_id="play-upload", size="md"
                )
                with gr.Row():
                    predict_btn = gr.Button("Predict", variant="primary", elem_id="predict-btn")
                    next_btn = gr.Button("Another example", elem_id="next-example")
            with gr.Column(min_width=300):
                play_label = gr.Label(label="Prediction", num_top_classes=5, elem_id="play-label")
                play_ner = gr.HighlightedText(label="Entities", visible=False, elem_id="play-ner")
        gr.Markdown(
            "#### Batch scoring\nUpload a file (a table with a text column, or images in a zip) and download the "
            "predictions as CSV."
        )
        with gr.Row():
            batch_in = gr.File(label="File to score", file_types=DATA_TYPES + IMAGE_TYPES, elem_id="batch-in")
            batch_out = gr.File(label="Predictions (CSV)", interactive=False, elem_id="batch-out", height=120)
        batch_preview = gr.Dataframe(
            headers=["input", "prediction", "confidence"],
            label=f"First predictions · {presenters.BATCH_EMPTY}",
            interactive=False,
            max_height=240,
            show_row_numbers=False,
            elem_id="batch-preview",
        )
    return PlaygroundTab(
        play_run=play_run,
        empty_md=empty_md,
        body=body,
        play_text=play_text,
        play_image=play_image,
        own_image=own_image,
        predict_btn=predict_btn,
        next_btn=next_btn,
        play_label=play_label,
        play_ner=play_ner,
        batch_in=batch_in,
        batch_out=batch_out,
        batch_preview=batch_preview,
        try_btn=None,  # set by interface.py, which builds it inside the Train tab
    )


class PlaygroundHandlers:
    def __init__(self, page: Page):
        self.page, self.tab, self.s = page, page.playground, page.session

    def _run_dir(self, values: dict[Any, Any], predicting: bool = False) -> Path:
        if not values[self.tab.play_run]:
            raise UserError("Choose a model (a finished run) first.")
        ws = workspace(self.s, values)
        if predicting:  # a public deployment limits predictions per workspace per minute
            ratelimit.check("predict", ws.id)
        return ws.run_path(values[self.tab.play_run])

    def choose_outputs(self) -> list[Any]:
        t = self.tab
        return [t.empty_md, t.body, t.try_btn, t.play_text, t.play_image, t.own_image, t.play_label, t.play_ner,
                self.s.example_idx]  # fmt: skip

    @handler
    def choose_run(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """A model was chosen: show the input and output that fit its task, prefilled with an evaluation example.
        No model: the empty state says how to get one."""
        t = self.tab
        if not values[t.play_run]:
            return {
                t.empty_md: gr.update(visible=True),
                t.body: gr.update(visible=False),
                t.try_btn: gr.update(visible=False),
                t.play_label: None,
                self.s.example_idx: 0,
            }
        return self._prefilled(values)[0]

    def _prefilled(self, values: dict[Any, Any]) -> tuple[dict[Any, Any], dict[Any, Any]]:
        """(updates that show the chosen run's input and output with its first evaluation example, the input
        values as a prediction reads them)."""
        t = self.tab
        run_dir = self._run_dir(values)
        task = (rf.read_json(run_dir / rf.CONFIG, {}) or {}).get("task")
        examples = dashboard.example_inputs(run_dir)
        first = examples[0] if examples else None
        image = dashboard.load_image(first) if first and task == "image" else None
        inputs = {**values, t.play_text: "" if task == "image" else first or "", t.play_image: image}
        shown = {
            t.empty_md: gr.update(visible=False),
            t.body: gr.update(visible=True),
            t.try_btn: gr.update(visible=True),
            t.own_image: gr.update(visible=task == "image"),
            self.s.example_idx: 1,
        }
        if task == "image":
            return {
                **shown,
                t.play_text: gr.update(visible=False),
                t.play_image: gr.update(value=image, visible=True),
                t.play_label: gr.update(visible=True, value=None),
                t.play_ner: gr.update(visible=False, value=None),
            }, inputs
        return {
            **shown,
            t.play_text: gr.update(visible=True, value=first or "", label="Sentence" if task == "ner" else "Text"),
            t.play_image: gr.update(visible=False, value=None),
            t.play_label: gr.update(visible=task != "ner", value=None),
            t.play_ner: gr.update(visible=task == "ner", value=None),
        }, inputs

    @handler
    def next_example(self, values: dict[Any, Any]) -> dict[Any, Any]:
        examples = dashboard.example_inputs(self._run_dir(values), k=50)
        if not examples:
            raise UserError("This run has no evaluation examples.")
        idx = values[self.s.example_idx]
        x = examples[idx % len(examples)]
        shown = (
            {self.tab.play_image: dashboard.load_image(x)}
            if Path(str(x)).suffix.lower() in IMAGE_SUFFIXES
            else {self.tab.play_text: x}
        )
        return {**shown, self.s.example_idx: idx + 1}

    @handler
    def predict(self, values: dict[Any, Any]) -> dict[Any, Any]:
        return self._predict(values)

    def _predict(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """The prediction for the input shown (not a handler itself: the handlers that predict call it, so the
        caller is settled once)."""
        t = self.tab
        predictor = dashboard.predictor_for(self._run_dir(values, predicting=True))
        task = predictor.config.task
        if task == "image":
            if values[t.play_image] is None:
                raise UserError("Add an image first: upload one, paste one or use the webcam.")
            return {t.play_label: predictor.predict(values[t.play_image], top_k=5)}
        text = values[t.play_text]
        if not (text or "").strip():
            raise UserError("Type some text first.")
        if task == "ner":
            return {t.play_ner: presenters.ner_entities(predictor.predict(text))}
        return {t.play_label: predictor.predict(text, top_k=5)}

    @handler
    def try_it(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """The Train tab's "Try it": open the Playground on the run's first evaluation example with its prediction
        shown. The example is set here again, not read from the page: the run may have finished a moment ago and
        its example not arrived yet."""
        shown, inputs = self._prefilled(values)
        return {self.page.tabs: gr.Tabs(selected="playground"), **shown, **self._predict(inputs)}

    @handler
    def own_image_upload(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """One's own image, picked with the upload button: show it and predict at once."""
        file = values[self.tab.own_image]
        if not file:
            raise UserError("No image received. Choose a PNG or JPEG file.")
        image = dashboard.load_image(file)
        return {self.tab.play_image: image, **self._predict({**values, self.tab.play_image: image})}

    @handler
    def predict_file(self, values: dict[Any, Any]) -> dict[Any, Any]:
        t = self.tab
        if not values[t.batch_in]:
            return {t.batch_out: None, t.batch_preview: None}
        run_dir = self._run_dir(values, predicting=True)
        ws = workspace(self.s, values)
        out, rows = dashboard.batch_predict(ws, run_dir, ws.save_upload(values[t.batch_in], kind="score"))
        return {t.batch_out: str(out), t.batch_preview: pd.DataFrame(rows[:20])}


def wire(page: Page) -> None:
    h, t, s = PlaygroundHandlers(page), page.playground, page.session
    t.play_run.change(h.choose_run, {s.sid, t.play_run}, h.choose_outputs(), api_name="playground_run")
    t.next_btn.click(
        h.next_example,
        {s.sid, t.play_run, s.example_idx},
        [t.play_text, t.play_image, s.example_idx],
        api_name="next_example",
    )
    predict_in = {s.sid, t.play_run, t.play_text, t.play_image}
    gr.on(
        [t.predict_btn.click, t.play_text.submit, t.play_image.upload],  # a dropped or pasted image predicts at once
        h.predict,
        predict_in,
        [t.play_label, t.play_ner],
        api_name="predict",
    )
    t.try_btn.click(h.try_it, predict_in, [page.tabs, *h.choose_outputs()], api_name="try_it")
    t.own_image.upload(
        h.own_image_upload, {*predict_in, t.own_image}, [t.play_image, t.play_label, t.play_ner], api_name="own_image"
    )
    # a new run is being followed: "Try it" comes back when a run finishes (the finished run is then chosen here)
    gr.on(
        [page.train.start_btn.click, *(b.click for b in page.task_model.quick.values())],
        lambda: gr.update(visible=False),
        None,
        [t.try_btn],
        api_visibility="private",
        show_progress="hidden",
    )
    t.batch_in.upload(
        h.predict_file, {s.sid, t.play_run, t.batch_in}, [t.batch_out, t.batch_preview], api_name="predict_file"
    )
