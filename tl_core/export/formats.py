"""The model files of an export, per method, each in a format a standard library loads.

full      the fine-tuned ``…For<Task>`` folder, as transformers saves it
lora      the merged model at the top level (transformers) and the adapter in ``adapter/`` (peft)
features  the frozen backbone with the trained head copied into the standard ``…For<Task>`` head where the
          pooling has one (first-sub-word NER vectors, pooled image features); for text (mean or first-token
          pooling, which no ``…ForSequenceClassification`` computes) a sentence-transformers model whose last module
          is the head, with the transformer in ``0_Transformer/`` so that ``pipeline()`` refuses the folder instead
          of loading a random classifier.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from .. import models
from ..errors import UserError
from ..features import HEAD_CONFIG, HEAD_FILE
from .run_info import PIPELINE_TAGS, FinishedRun

AUTO_CLASSES = {
    "text": "AutoModelForSequenceClassification",
    "ner": "AutoModelForTokenClassification",
    "image": "AutoModelForImageClassification",
}
PEFT_CLASSES = {"text": "AutoPeftModelForSequenceClassification", "ner": "AutoPeftModelForTokenClassification"}


@dataclass
class Written:
    """What kind of folder was written: the library that loads it and whether ``pipeline()`` may load it."""

    library: str  # "transformers" | "sentence-transformers" | "peft"
    pipeline_tag: str | None  # set only when pipeline() reproduces the app's predictions
    adapter: bool = False  # an adapter/ folder is included
    adapter_base: str | None = None  # the Hub id the adapter adapts (None: it names no loadable base)


def write_model(run: FinishedRun, out: Path, merge: bool = True) -> Written:
    if run.method == "full":
        return _write_full(run, out)
    if run.method == "lora":
        return _write_lora(run, out, merge)
    return _write_features(run, out)


def _processor(run: FinishedRun, ref: str) -> Any:
    processor = models.load_processor(run.task, ref, None)
    if run.task in ("text", "ner") and hasattr(processor, "model_max_length"):
        processor.model_max_length = run.config.train.max_length  # pipeline(truncation=True) cuts where the app did
    return processor


def _save_transformers(model: Any, processor: Any, out: Path, image_size: int | None = None) -> None:
    config = model.config
    if getattr(config, "label_names", None) is not None:  # timm configs save label_names, not id2label: keep in step
        config.label_names = [config.id2label[i] for i in range(len(config.id2label))]
    if image_size and isinstance(getattr(config, "pretrained_cfg", None), dict):
        # timm's eval transform = the app's: shorter side to image_size, centre crop of image_size (crop_pct 1).
        config.pretrained_cfg = {
            **config.pretrained_cfg,
            "input_size": [3, image_size, image_size],
            "crop_pct": 1.0,
            "crop_mode": "center",
        }
    model.save_pretrained(str(out), safe_serialization=True)
    processor.save_pretrained(str(out))


def _image_size(run: FinishedRun) -> int | None:
    return run.config.train.image_size if run.task == "image" else None


def _write_full(run: FinishedRun, out: Path) -> Written:
    model = models.load_model(run.task, str(run.model_dir), run.labels)
    _save_transformers(model, _processor(run, str(run.model_dir)), out, _image_size(run))
    return Written("transformers", PIPELINE_TAGS[run.task])


def _lora_model(run: FinishedRun) -> Any:
    from peft import PeftModel

    meta = json.loads((run.model_dir / "tl_model.json").read_text())
    base = models.load_model(run.task, run.config.model, run.labels, meta.get("revision"))
    return PeftModel.from_pretrained(base, str(run.model_dir))


def _write_lora(run: FinishedRun, out: Path, merge: bool) -> Written:
    peft_model = _lora_model(run)
    processor = _processor(run, run.config.model)
    adapter_dir = out / "adapter"
    peft_model.save_pretrained(str(adapter_dir), safe_serialization=True)
    processor.save_pretrained(str(adapter_dir))
    (adapter_dir / "README.md").unlink(missing_ok=True)  # peft's stub card names the base by its server path
    _point_adapter_at_hub(adapter_dir, run)
    (adapter_dir / "labels.json").write_text(json.dumps(run.labels, indent=2), encoding="utf-8")
    if not merge:
        return Written("peft", None, adapter=True, adapter_base=run.base_hub_id)
    _save_transformers(peft_model.merge_and_unload(), processor, out, _image_size(run))
    return Written("transformers", PIPELINE_TAGS[run.task], adapter=True, adapter_base=run.base_hub_id)


def _point_adapter_at_hub(adapter_dir: Path, run: FinishedRun) -> None:
    """The adapter's base is a Hub id (never a server path). Without one, it names none: peft then refuses to
    load the adapter alone rather than adapting different weights."""
    path = adapter_dir / "adapter_config.json"
    cfg = json.loads(path.read_text())
    cfg["base_model_name_or_path"] = run.base_hub_id
    path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")


def _head(run: FinishedRun) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    meta = json.loads((run.model_dir / HEAD_CONFIG).read_text())
    return load_file(str(run.model_dir / HEAD_FILE)), meta


def _write_features(run: FinishedRun, out: Path) -> Written:
    head, meta = _head(run)
    if run.task == "text":
        return _write_sentence_transformer(run, out, head, meta)
    backbone = models.load_backbone(run.task, str(run.model_dir))
    model = _transplant(run, backbone, head)
    _save_transformers(model, _processor(run, str(run.model_dir)), out, _image_size(run))
    return Written("transformers", PIPELINE_TAGS[run.task])


def _transplant(run: FinishedRun, backbone: Any, head: dict[str, torch.Tensor]) -> Any:
    """A standard ``…For<Task>`` model: the frozen backbone's weights plus the trained linear head."""
    import transformers

    config = backbone.config
    config.num_labels = len(run.labels)
    config.id2label, config.label2id = dict(enumerate(run.labels)), {name: i for i, name in enumerate(run.labels)}
    model = getattr(transformers, AUTO_CLASSES[run.task]).from_config(config)
    state = backbone.state_dict()
    prefix = f"{model.base_model_prefix}."
    if state and all(k.startswith(prefix) for k in state):  # timm wrapper: keys already carry the prefix
        state = {k[len(prefix) :]: v for k, v in state.items()}
    classifier = _classifier_of(model, head["classifier.weight"].shape)
    missing, _ = model.base_model.load_state_dict(state, strict=False)
    head_names = {f"{n}.weight" for n, m in model.base_model.named_modules() if m is classifier}
    head_names |= {f"{n}.bias" for n, m in model.base_model.named_modules() if m is classifier}
    if set(missing) - head_names:
        raise UserError(
            f"This model's backbone does not fit its standard {AUTO_CLASSES[run.task]} "
            f"(missing {sorted(set(missing) - head_names)[:3]}). Export the run trained with LoRA or "
            "full fine-tuning instead."
        )
    classifier.load_state_dict({"weight": head["classifier.weight"], "bias": head["classifier.bias"]})
    return model.eval()


def _classifier_of(model: Any, shape: torch.Size) -> torch.nn.Linear:
    """The head layer: the one Linear of the model's output shape (``classifier`` in BERT, ViT, timm…)."""
    getter = getattr(getattr(model, "timm_model", None), "get_classifier", None)
    candidates = [getter()] if getter else [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    fits = [m for m in candidates if isinstance(m, torch.nn.Linear) and tuple(m.weight.shape) == tuple(shape)]
    if not fits:
        raise UserError("The exported model has no head of the trained head's shape; export a LoRA or full run.")
    return fits[-1]


def _write_sentence_transformer(
    run: FinishedRun, out: Path, head: dict[str, torch.Tensor], meta: dict[str, Any]
) -> Written:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Pooling, Transformer

    staging = out / "0_Transformer"
    backbone = models.load_backbone("text", str(run.model_dir))
    _save_transformers(backbone, _processor(run, str(run.model_dir)), staging)
    transformer = Transformer(str(staging), max_seq_length=run.config.train.max_length)
    hidden, n = head["classifier.weight"].shape[1], head["classifier.weight"].shape[0]
    pooling = Pooling(hidden, pooling_mode="mean" if meta["pooling"] == "mean" else "cls")
    dense = Dense(
        hidden,
        n,
        activation_function=torch.nn.Identity(),
        init_weight=head["classifier.weight"],
        init_bias=head["classifier.bias"],
    )
    model = SentenceTransformer(modules=[transformer, pooling, dense], device="cpu")
    shutil.rmtree(staging)
    model.save(str(out), safe_serialization=True)
    _move_transformer_into_subfolder(out)
    (out / "labels.json").write_text(json.dumps(run.labels, indent=2), encoding="utf-8")
    return Written("sentence-transformers", None)


def _move_transformer_into_subfolder(out: Path) -> None:
    """sentence-transformers saves its first module at the top, where ``pipeline()`` would load the backbone with
    a RANDOM classifier. In ``0_Transformer/`` it still loads in sentence-transformers, and pipeline() refuses."""
    modules_path = out / "modules.json"
    modules = json.loads(modules_path.read_text())
    sub = out / "0_Transformer"
    sub.mkdir(exist_ok=True)
    own = {"modules.json", "README.md", "config_sentence_transformers.json", "labels.json"}
    module_dirs = {m["path"] for m in modules if m.get("path")}
    for item in list(out.iterdir()):
        if item.name not in own and item.name not in module_dirs and item != sub:
            shutil.move(str(item), str(sub / item.name))
    modules[0]["path"] = "0_Transformer"
    modules_path.write_text(json.dumps(modules, indent=2), encoding="utf-8")
