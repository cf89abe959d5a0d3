"""Checks an export must pass before it leaves the machine: nothing that executes (pickle), nothing that names the
host (server paths, workspace ids), and the standard library's predictions equal the app's."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .. import paths
from ..errors import UserError
from .run_info import PIPELINE_TAGS, FinishedRun

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
TEXT_SUFFIXES = (".json", ".md", ".txt", ".yaml", ".yml", ".py", ".jinja", ".model")
ABSOLUTE = re.compile(r"^(/|~|[A-Za-z]:\\)")
# An absolute path inside text (a card, a config): two or more components, not part of a URL.
PATH_IN_TEXT = re.compile(r"(?<![\w:/.~-])(/[\w.~-]+(?:/[\w.~-]+)+)")


def drop_pickles(out: Path) -> None:
    """Remove pickled files (transformers' ``training_args.bin`` and the like): an export holds safetensors only."""
    for file in out.rglob("*"):
        if file.is_file() and file.suffix.lower() in PICKLE_SUFFIXES:
            file.unlink()


def scrub_paths(out: Path) -> None:
    """Absolute paths in JSON values (``_name_or_path`` and the like) become their last part."""
    for file in out.rglob("*.json"):
        data = json.loads(file.read_text(encoding="utf-8"))
        cleaned = _scrub(data)
        if cleaned != data:
            file.write_text(json.dumps(cleaned, indent=2), encoding="utf-8")


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str) and ABSOLUTE.match(value) and len(value) > 1:
        return Path(value).name
    return value


def server_markers(run: FinishedRun) -> list[str]:
    """Strings that would reveal the host: its data folder, the project and Python install, the run folder."""
    markers = {str(paths.home()), str(paths.PROJECT_ROOT), sys.prefix, str(run.run_dir.resolve()), str(Path.home())}
    return sorted(m for m in markers if len(m) > 1)


def check_clean(out: Path, run: FinishedRun) -> None:
    """Refuse an export that holds pickle or names a server path (a bug here must never reach a user's repo)."""
    markers = server_markers(run)
    for file in out.rglob("*"):
        if not file.is_file():
            continue
        if file.suffix.lower() in PICKLE_SUFFIXES:
            raise UserError(f"Export refused: {file.name} is a pickle file.")
        if file.suffix.lower() in TEXT_SUFFIXES or file.name == "README.md":
            text = file.read_text(encoding="utf-8", errors="ignore")
            leaked = [m for m in markers if m in text] + local_paths_in(text)
            if leaked:
                raise UserError(f"Export refused: {file.relative_to(out)} names a server folder.")


def local_paths_in(text: str) -> list[str]:
    """Absolute paths in ``text`` that exist on this machine (what a card or config must never carry)."""
    return [m for m in PATH_IN_TEXT.findall(text) if Path(m).exists()]


def sample_inputs(run: FinishedRun, limit: int | None = 16) -> list[Any]:
    """Evaluation inputs of the run (texts, sentences or image paths), the rows the app scored."""
    rows = []
    with open(run.run_dir / "eval_predictions.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            rows.append(" ".join(row["tokens"]) if "tokens" in row else row["input"])
            if limit and len(rows) >= limit:
                break
    return rows


def exported_predictions(out: Path, run: FinishedRun, inputs: list[Any]) -> Any:
    """The export's predictions, loaded the standard way, in the form ``predictions()`` gives."""
    from ..tasks.base import softmax

    if (out / "modules.json").is_file():  # sentence-transformers export
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(out), device="cpu")
        return softmax(model.encode([str(x) for x in inputs], convert_to_numpy=True, batch_size=16))
    return pipeline_predictions(out, run, inputs)


def pipeline_predictions(out: Path, run: FinishedRun, inputs: list[Any]) -> Any:
    """What ``transformers.pipeline()`` gives for the export (its own preprocessing, not the app's)."""
    from transformers import pipeline

    if run.task == "ner":
        nlp = pipeline("token-classification", model=str(out), aggregation_strategy="first", device="cpu")
        return [[(e["entity_group"], e["start"], e["end"]) for e in nlp(str(x))] for x in inputs]
    tag = PIPELINE_TAGS[run.task]
    nlp = pipeline(
        tag, model=str(out), top_k=None, device="cpu", **({"truncation": True} if run.task == "text" else {})
    )
    rows = []
    for x in inputs:
        scores = nlp(str(x))
        scores = scores[0] if scores and isinstance(scores[0], list) else scores
        by_label = {s["label"]: s["score"] for s in scores}
        rows.append([by_label.get(label, 0.0) for label in run.labels])
    return np.array(rows)


def predictions(predictor: Any, inputs: list[Any], run: FinishedRun) -> Any:
    """What a user sees: class probabilities in label order, or for NER the entity spans (type, start, end)."""
    preds = predictor.predict(inputs, top_k=len(run.labels))
    if run.task == "ner":
        return [[(e["entity"], e["start"], e["end"]) for e in p["entities"]] for p in preds]
    return np.array([[p.get(label, 0.0) for label in run.labels] for p in preds])


def same_predictions(app: Any, exported: Any, task: str) -> bool:
    """Identical entity spans; the same top label on every row with probabilities within a hair (images allow
    the last bit of resampling differences between PIL in the app and the pipeline's processor)."""
    if task == "ner":
        return app == exported
    same_top = bool((np.asarray(app).argmax(-1) == np.asarray(exported).argmax(-1)).all())
    return same_top and np.allclose(app, exported, atol=2e-2 if task == "image" else 2e-4)


def check_predictions(out: Path, run: FinishedRun, written_library: str) -> None:
    """The export's predictions equal the app's on evaluation rows, or the export is refused."""
    from ..predict import Predictor

    if written_library == "peft":
        return  # an adapter alone: checked by loading it on its base in the tests
    inputs = sample_inputs(run)
    if not inputs:
        return
    app = predictions(Predictor.from_run(run.run_dir), inputs, run)
    exported = exported_predictions(out, run, inputs)
    if not same_predictions(app, exported, run.task):
        raise UserError(
            "Export refused: the exported model's predictions differ from the app's. Please report "
            "this with the run's settings; a LoRA or full fine-tuning run exports reliably."
        )
