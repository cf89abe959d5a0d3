"""A standalone demo for an exported model: a small Gradio app (``app.py`` + ``requirements.txt`` + a README with
Space front matter) that loads the model with its standard library only, never with tl_core, so it runs on any
machine or as its own Hugging Face Space."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from ..registry import task_title
from .formats import Written
from .run_info import FinishedRun

LOADERS = {
    "pipeline": """from transformers import pipeline

classifier = pipeline({tag!r}, model=MODEL_DIR{kwargs})
""",
    "sentence-transformers": """import json

import numpy as np
from sentence_transformers import SentenceTransformer

model = SentenceTransformer(MODEL_DIR, device="cpu")
LABELS = json.loads((Path(MODEL_DIR) / "labels.json").read_text(encoding="utf-8"))
""",
}

PREDICTORS = {
    "text": """def predict(text):
    return {row["label"]: row["score"] for row in classifier(text)}
""",
    "image": """def predict(image):
    return {row["label"]: row["score"] for row in classifier(image)}
""",
    "ner": """def predict(text):
    entities = [{"entity": e["entity_group"], "start": e["start"], "end": e["end"]} for e in classifier(text)]
    return {"text": text, "entities": entities}
""",
    "sentence-transformers": """def predict(text):
    scores = model.encode([text])[0]
    probs = np.exp(scores - scores.max())
    probs = probs / probs.sum()
    return {label: float(p) for label, p in zip(LABELS, probs)}
""",
}

COMPONENTS = {
    "text": ('gr.Textbox(label="Text", lines=3)', "gr.Label(num_top_classes=5)"),
    "image": ('gr.Image(type="pil", label="Image")', "gr.Label(num_top_classes=5)"),
    "ner": ('gr.Textbox(label="Sentence", lines=3)', 'gr.HighlightedText(label="Entities")'),
}


def app_source(run: FinishedRun, written: Written, examples: list[str]) -> str:
    title = run.config.name or f"{task_title(run.task)} demo"
    if written.library == "sentence-transformers":
        loader, predictor = LOADERS["sentence-transformers"], PREDICTORS["sentence-transformers"]
    else:
        kwargs = {
            "text": ", top_k=None, truncation=True",
            "image": ", top_k=None",
            "ner": ', aggregation_strategy="first"',
        }[run.task]
        loader = LOADERS["pipeline"].format(tag=written.pipeline_tag, kwargs=kwargs)
        predictor = PREDICTORS[run.task]
    inputs, outputs = COMPONENTS[run.task]
    example_arg = f", examples={json.dumps([[e] for e in examples])}" if examples else ""
    return (
        f'"""{title}: a demo of a model trained with the transfer-learning dashboard."""\n\n'
        "from pathlib import Path\n\nimport gradio as gr\n\n"
        'MODEL_DIR = str(Path(__file__).parent / "model")\n'
        f"{loader}\n\n{predictor}\n\n"
        f"demo = gr.Interface(predict, {inputs}, {outputs}, title={title!r}{example_arg}, "
        f'api_name="predict")\n\nif __name__ == "__main__":\n    demo.launch()\n'
    )


def requirements(run: FinishedRun, written: Written) -> str:
    needs = ["gradio>=5", "torch", "transformers>=4.46", "safetensors"]
    if written.library == "sentence-transformers":
        needs.append("sentence-transformers>=3")
    if run.task == "image":
        needs += ["pillow", "timm", "torchvision"]
    return "\n".join(needs) + "\n"


def readme(run: FinishedRun) -> str:
    front = {
        "title": (run.config.name or f"{task_title(run.task)} demo")[:60],
        "emoji": "🧪",
        "sdk": "gradio",
        "sdk_version": "6.31.0",
        "app_file": "app.py",
        "python_version": "3.12",
        "pinned": False,
    }
    return (
        f"---\n{yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip()}\n---\n\n"
        f"# {front['title']}\n\nA demo of a {task_title(run.task).lower()} model; the model is in `model/` "
        "(see its README for scores and how to load it elsewhere). Run it with `pip install -r requirements.txt "
        "&& python app.py`.\n"
    )


def write_demo(run: FinishedRun, model_folder: Path, written: Written, out: Path, examples: list[str]) -> Path:
    """``out/`` = app.py, requirements.txt, README.md and ``model/`` (a copy of the export)."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(model_folder, out / "model", dirs_exist_ok=True)
    text_examples = [e for e in examples if run.task != "image"][:5]
    (out / "app.py").write_text(app_source(run, written, text_examples), encoding="utf-8")
    (out / "requirements.txt").write_text(requirements(run, written), encoding="utf-8")
    (out / "README.md").write_text(readme(run), encoding="utf-8")
    return out
