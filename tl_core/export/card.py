"""The model card (README.md) of an export, built with huggingface_hub's ModelCard so the Hub reads its metadata:
base model, pipeline tag, library, data hash, model-index results, and how to load it in a few lines."""

from __future__ import annotations

from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..registry import headline, method_title, metric_name, task_title
from .formats import AUTO_CLASSES, PEFT_CLASSES, Written
from .run_info import PIPELINE_TAGS, FinishedRun, public_config

TEMPLATE = """---
{{ card_data }}
---

# {{ model_name }}

{{ summary }}

## How to use

{{ usage }}

## Evaluation

{{ evaluation }}

## Data

{{ data }}

## Limitations

{{ limitations }}

## Training

{{ training }}
"""


def load_snippet(run: FinishedRun, written: Written, folder: str = "path/to/this/folder") -> str:
    """The few lines of standard-library code that load this export (a test runs exactly these)."""
    if written.library == "sentence-transformers":
        return (
            f"import json\nfrom sentence_transformers import SentenceTransformer\n\n"
            f'model = SentenceTransformer("{folder}")\n'
            f'labels = json.load(open("{folder}/labels.json"))\n'
            f'scores = model.encode(["an example text"])\n'
            f"print(labels[int(scores[0].argmax())])"
        )
    if written.library == "peft":
        return _peft_snippet(run, f"{folder}/adapter")
    kwargs = ', aggregation_strategy="first"' if run.task == "ner" else ""
    kwargs += ", truncation=True" if run.task == "text" else ""
    example = '"path/to/image.jpg"' if run.task == "image" else '"an example text"'
    return (
        f"from transformers import pipeline\n\n"
        f'classifier = pipeline("{written.pipeline_tag}", model="{folder}"{kwargs})\n'
        f"print(classifier({example}))"
    )


def _peft_snippet(run: FinishedRun, folder: str) -> str:
    cls = PEFT_CLASSES.get(run.task)
    if cls is None or not run.base_hub_id:
        return "# The adapter's base model is not on the Hub: use the merged model at the top of this folder."
    return (
        f"import json\nfrom peft import {cls}\n\n"
        f'labels = json.load(open("{folder}/labels.json"))\n'
        f'model = {cls}.from_pretrained("{folder}", num_labels=len(labels),\n'
        f"    id2label=dict(enumerate(labels)), label2id={{l: i for i, l in enumerate(labels)}})"
    )


def card_data(run: FinishedRun, written: Written) -> ModelCardData:
    key, value = headline(run.task, run.results.get("metrics"))
    data_hash = (run.results.get("data") or {}).get("hash")
    eval_results = (
        [
            EvalResult(
                task_type=PIPELINE_TAGS[run.task],
                dataset_type="user-upload",
                dataset_name=_data_name(run),
                dataset_split="evaluation",
                metric_type=key,
                metric_name=metric_name(key),
                metric_value=round(value, 4),
            )
        ]
        if value is not None
        else None
    )
    return ModelCardData(
        base_model=run.base_hub_id,
        pipeline_tag=written.pipeline_tag,
        library_name=written.library,
        model_name=run.config.name or run.run_dir.name,
        eval_results=eval_results,
        tags=["tl-dashboard", run.method, run.task] + ([f"data-sha256:{data_hash[:16]}"] if data_hash else []),
    )


def _data_name(run: FinishedRun) -> str:
    return (public_config(run).get("data") or {}).get("train_file") or "bundled sample"


def model_card(run: FinishedRun, written: Written) -> ModelCard:
    data = card_data(run, written)
    return ModelCard.from_template(
        data,
        template_str=TEMPLATE,
        model_name=data.model_name,
        summary=_summary(run, written),
        usage="```python\n" + load_snippet(run, written) + "\n```" + _adapter_note(run, written),
        evaluation=_evaluation(run),
        data=_data_section(run),
        limitations=_limitations(run),
        training=_training(run),
    )


def _summary(run: FinishedRun, written: Written) -> str:
    params = run.results.get("params") or {}
    return (
        f"{task_title(run.task)} model fine-tuned from `{run.base_display}` with **{method_title(run.method)}** "
        f"in the transfer-learning dashboard: {params.get('trainable', 0):,} trainable of "
        f"{params.get('total', 0):,} parameters. Format: {written.library}."
    )


def _adapter_note(run: FinishedRun, written: Written) -> str:
    if not written.adapter:
        return ""
    return "\n\nThe LoRA adapter alone is in `adapter/`:\n\n```python\n" + _peft_snippet(run, "adapter") + "\n```"


def _evaluation(run: FinishedRun) -> str:
    metrics = run.results.get("metrics") or {}
    rows = [f"| {metric_name(k)} | {v:.4f} |" for k, v in metrics.items() if isinstance(v, (int, float))]
    report = run.results.get("report") or {}
    per = report.get("per_class") or report.get("per_entity") or []
    per_rows = [
        f"| {r.get('label', r.get('entity'))} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
        f"{r['support']} |"
        for r in per
        if isinstance(r, dict)
    ]
    out = ["On the held-out evaluation split:", "", "| metric | value |", "|---|---|", *rows]
    if per_rows:
        out += ["", "| class / entity | precision | recall | F1 | support |", "|---|---|---|---|---|", *per_rows]
    return "\n".join(out)


def _data_section(run: FinishedRun) -> str:
    counts = run.results.get("data") or {}
    labels = run.labels
    return (
        f"- Source: {_data_name(run)} (sha256 prefix `{str(counts.get('hash', ''))[:16]}`)\n"
        f"- Examples: {counts.get('train', '?')} training, {counts.get('eval', '?')} evaluation\n"
        f"- Labels ({len(labels)}): {', '.join(map(str, labels[:40]))}{' …' if len(labels) > 40 else ''}"
    )


def _limitations(run: FinishedRun) -> str:
    notes = [
        f"Trained on {(run.results.get('data') or {}).get('train', '?')} examples: scores on new data may "
        "differ, especially for inputs unlike the training data."
    ]
    report = _read_report(run)
    warnings = [p["message"] for p in report.get("problems") or [] if p.get("level") == "warning"]
    notes += [f"Data check: {w}" for w in warnings[:5]]
    return "\n".join(f"- {n}" for n in notes)


def _read_report(run: FinishedRun) -> dict[str, Any]:
    from .. import runfiles as rf

    return rf.read_json(run.run_dir / rf.REPORT, {}) or {}


def _training(run: FinishedRun) -> str:
    cfg = public_config(run)
    timing = run.results.get("timing") or {}
    settings = yaml.safe_dump({k: cfg[k] for k in ("method", "train", "method_params") if k in cfg}, sort_keys=False)
    return (
        f"- Epochs run: {run.results.get('epochs_run')}, steps: {run.results.get('steps')}, "
        f"time: {timing.get('total_s', 0):.0f} s, peak memory: {run.results.get('peak_memory_mb', 0):.0f} MB\n"
        f"- Model class: `{AUTO_CLASSES[run.task]}`\n\n```yaml\n{settings.strip()}\n```\n\n"
        "Retrain with `python -m tl_core train --preset training_config.yaml --data YOUR_FILE`."
    )
