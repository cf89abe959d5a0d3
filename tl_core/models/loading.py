"""Loading processors and models for a task, with the safety rules applied to every load.

Weights load only from safetensors (``use_safetensors=True``; pickle-only folders are refused earlier by
``resolve_model_ref``), ``trust_remote_code`` is always False, and every failure becomes a ``ModelError``.
"""

from __future__ import annotations

from typing import Any

import torch  # the dtype defaults below need it at import time

from ..errors import ModelError
from .catalog import DEFAULT_MODEL, TASK_NAMES
from .hub import hub_call, resolve_model_ref

# Byte-level BPE tokenizers need add_prefix_space=True for pre-split words (NER input).
_PREFIX_SPACE_TYPES = {"roberta", "longformer", "bart", "gpt2", "deberta", "mvp", "led", "codegen", "gpt_neox"}


def _load_config(task: str, resolved: str, revision: str | None) -> Any:
    from transformers import AutoConfig

    config = hub_call(
        resolved,
        revision,
        lambda lfo: AutoConfig.from_pretrained(
            resolved, revision=revision, trust_remote_code=False, local_files_only=lfo
        ),
    )
    _check_fits(task, config, resolved)
    return config


def _adapter_kwargs(local_files_only: bool) -> dict[str, Any]:
    """transformers 5 looks for a PEFT adapter_config.json without passing on local_files_only, which costs
    ~25 s of network retries when the Hub is unreachable; hand the flag to that lookup ourselves."""
    return {"adapter_kwargs": {"local_files_only": True}} if local_files_only else {}


def _head_mapping(task: str) -> dict[str, str]:
    from transformers.models.auto import modeling_auto as ma

    return {
        "text": ma.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
        "ner": ma.MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES,
        "image": ma.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES,
    }[task]


def _check_fits(task: str, config: Any, resolved: str) -> None:
    model_type = getattr(config, "model_type", None)
    if model_type not in _head_mapping(task):
        kind = next((TASK_NAMES[t] for t in ("image", "text") if model_type in _head_mapping(t)), None)
        also = f" It looks like a model for {kind}." if kind else ""
        raise ModelError(
            f"'{resolved}' (architecture '{model_type}') cannot be used for {TASK_NAMES[task]}.{also} "
            f"Choose a model for {TASK_NAMES[task]}, e.g. {DEFAULT_MODEL[task]}."
        )


def load_processor(task: str, ref: str | None, revision: str | None = None) -> Any:
    """Fast tokenizer for text/NER (NER needs word_ids), image processor for images."""
    resolved = resolve_model_ref(ref, task)
    config = _load_config(task, resolved, revision)
    if task == "image":
        from transformers import AutoImageProcessor

        return hub_call(
            resolved,
            revision,
            lambda lfo: AutoImageProcessor.from_pretrained(
                resolved, revision=revision, trust_remote_code=False, local_files_only=lfo
            ),
        )
    from transformers import AutoTokenizer

    extra = {"add_prefix_space": True} if task == "ner" and config.model_type in _PREFIX_SPACE_TYPES else {}
    tokenizer = hub_call(
        resolved,
        revision,
        lambda lfo: AutoTokenizer.from_pretrained(
            resolved, revision=revision, trust_remote_code=False, local_files_only=lfo, **extra
        ),
    )
    if task == "ner" and not getattr(tokenizer, "is_fast", False):
        raise ModelError(f"'{resolved}' has no fast tokenizer (tokenizer.json), which NER needs. Choose another model.")
    return tokenizer


def _auto_head_class(task: str) -> Any:
    import transformers

    return {
        "text": transformers.AutoModelForSequenceClassification,
        "ner": transformers.AutoModelForTokenClassification,
        "image": transformers.AutoModelForImageClassification,
    }[task]


def load_model(
    task: str,
    ref: str | None,
    labels: list[str],
    revision: str | None = None,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str | None = None,
) -> Any:
    """The task's AutoModelFor... with a ``len(labels)`` head; a pretrained head of another size is replaced."""
    if not labels:
        raise ModelError("The model needs at least one label; the data gave none.")
    resolved = resolve_model_ref(ref, task)
    _load_config(task, resolved, revision)
    cls = _auto_head_class(task)
    return hub_call(
        resolved,
        revision,
        lambda lfo: cls.from_pretrained(
            resolved,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            ignore_mismatched_sizes=True,
            use_safetensors=True,
            trust_remote_code=False,
            dtype=dtype,
            revision=revision,
            local_files_only=lfo,
            **({"attn_implementation": attn_implementation} if attn_implementation else {}),
            **_adapter_kwargs(lfo),
        ),
    )


def load_backbone(task: str, ref: str | None, revision: str | None = None, dtype: torch.dtype = torch.float32) -> Any:
    """The headless AutoModel, for feature extraction: the tasks' ``features()`` pool its output (``image_features`` for images).

    For the bundled EfficientNet this is a ``TimmWrapperModel`` (timm model built with num_classes=0).
    """
    from transformers import AutoModel

    resolved = resolve_model_ref(ref, task)
    _load_config(task, resolved, revision)
    return hub_call(
        resolved,
        revision,
        lambda lfo: AutoModel.from_pretrained(
            resolved,
            use_safetensors=True,
            trust_remote_code=False,
            dtype=dtype,
            revision=revision,
            local_files_only=lfo,
            **_adapter_kwargs(lfo),
        ),
    )


def image_features(backbone: Any, pixel_values: torch.Tensor) -> torch.Tensor:
    """Pooled features [batch, hidden] from a ``load_backbone("image", ...)`` model: exactly what the model's own
    ``…ForImageClassification`` head reads, so a head trained on them exports as that standard class.

    TimmWrapperModel, ResNet, ConvNeXt, Swin: ``pooler_output`` (a parameter-free global pool; EfficientNet-Lite0
    gives [B, 1280]; ResNet's [B, C, 1, 1] is flattened). ViT-like models have a trained dense+tanh pooler that
    their classification head does not use: they give the (layer-normed) CLS token instead. Models without a
    pooler: CLS token of a sequence output, or the spatial mean of a feature map.
    """
    out = backbone(pixel_values=pixel_values)
    pooled = getattr(out, "pooler_output", None)
    pooler = getattr(backbone, "pooler", None)
    trained_pooler = pooler is not None and any(True for _ in pooler.parameters())
    if pooled is not None and not trained_pooler:
        return pooled.flatten(1)
    hidden = out.last_hidden_state
    return hidden[:, 0] if hidden.ndim == 3 else hidden.mean(dim=(2, 3))
