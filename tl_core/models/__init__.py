"""Model references -> loaded models: Hub ids, local folders and the two bundled offline models.

Every user-facing failure is a ``ModelError`` with a plain-language fix. Safety rules kept in this package:
weights load only from safetensors (pickle checkpoints can run code), ``trust_remote_code`` is never True,
and no user file is ever passed to ``torch.load``.

catalog   what can be chosen: bundled models, task defaults, popular Hub models (plain data)
bundled   the bundled models' folders; EfficientNet-Lite0 converted once to safetensors
hub       resolving references, fast-failing Hub access, fingerprints
describe  size and architecture for the UI without loading weights
loading   processors, models with a task head, headless backbones
"""

from __future__ import annotations

from .bundled import EFFICIENTNET_LITE0_PRETRAINED_CFG, EFFICIENTNET_LITE0_SHA256, ensure_bundled
from .catalog import BUNDLED, CURATED_HUB_MODELS, DEFAULT_MODEL, BundledModel
from .describe import describe_model
from .hub import check_available, is_sentence_transformer, model_fingerprint, resolve_model_ref
from .loading import image_features, load_backbone, load_model, load_processor

__all__ = [
    "BUNDLED",
    "CURATED_HUB_MODELS",
    "DEFAULT_MODEL",
    "EFFICIENTNET_LITE0_PRETRAINED_CFG",
    "EFFICIENTNET_LITE0_SHA256",
    "BundledModel",
    "check_available",
    "describe_model",
    "ensure_bundled",
    "image_features",
    "is_sentence_transformer",
    "load_backbone",
    "load_model",
    "load_processor",
    "model_fingerprint",
    "resolve_model_ref",
]
