"""Training methods: one params dataclass (its field help becomes the UI hint) + one apply function each.

full      every weight trains
lora      low-rank adapters on attention/conv layers + a trainable new head (peft)
features  frozen backbone, features computed once and cached, only a small head trains (see features.py)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

from .config import build, setting
from .errors import ConfigError


@dataclass
class FullParams:
    """Fine-tune every weight. Best with a few thousand examples or data unlike the model's pretraining."""


@dataclass
class LoraParams:
    """Train small low-rank adapters plus the new head. Close to full fine-tuning, a fraction of the memory and a tiny artifact."""

    r: int = setting(
        16,
        "Adapter rank: capacity of the update. 8-16 is typical; higher for harder tasks.",
        label="LoRA rank",
        minimum=1,
        maximum=1024,
    )
    alpha: int = setting(
        32,
        "Scaling of the update (often 2 x r). Larger = stronger adapter effect.",
        label="LoRA alpha",
        minimum=1,
        maximum=4096,
    )
    dropout: float = setting(
        0.1,
        "Dropout on the adapter input; 0.05-0.1 helps on small data.",
        label="LoRA dropout",
        minimum=0,
        maximum=0.95,
    )
    target_modules: str = setting(
        "auto",
        "Layers to adapt, comma-separated; 'auto' picks per architecture, 'all-linear' adapts every linear layer.",
        label="LoRA layers",
    )
    merge: bool = setting(
        False,
        "Also save a merged model (adapter folded into the weights) for plain transformers use.",
        label="Save a merged model",
    )


@dataclass
class FeatureParams:
    """Freeze the pretrained model, compute its features once, train only a small head. Fastest; great for small data close to the pretraining domain."""

    pooling: str = setting(
        "auto",
        "Text: how token vectors become one vector. 'auto' = mean for sentence-transformers models, else first token.",
        label="Pooling",
        choices=("auto", "mean", "cls"),
    )
    head_dropout: float = setting(
        0.1, "Dropout before the head; regularises on small data.", label="Head dropout", minimum=0, maximum=0.95
    )


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    params: type

    @property
    def description(self) -> str:
        return (self.params.__doc__ or "").strip()


METHODS: dict[str, Method] = {
    "full": Method("full", "Full fine-tuning", FullParams),
    "lora": Method("lora", "LoRA (parameter-efficient)", LoraParams),
    "features": Method("features", "Feature extraction (frozen backbone)", FeatureParams),
}


def parse_params(method: str, raw: dict[str, Any] | None) -> Any:
    """The method's params dataclass from a plain dict, through the config's one converter (same coercion and
    range checks as every other setting); unknown keys are errors that name the key."""
    if method not in METHODS:
        raise ConfigError(f"Unknown method '{method}'. Choose one of: {', '.join(METHODS)}.")
    return build(METHODS[method].params, dict(raw or {}), "method_params")


def params_dict(params: Any) -> dict[str, Any]:
    return asdict(params)


# --- LoRA -------------------------------------------------------------------------
# Attention projections to adapt, first match wins. Names differ by architecture and by transformers
# version (v5 renamed ViT's query/value to q_proj/v_proj), so we look at the model instead of its type.
ATTENTION_PAIRS = [("query", "value"), ("q_proj", "v_proj"), ("q_lin", "v_lin"), ("query_proj", "value_proj")]
# timm EfficientNet/MobileNet (no attention): the 1x1 expansion/projection convs and the final conv.
TIMM_CONV_TARGETS = r".*\.(conv_pw|conv_pwl|conv_head)"
# The new classification head per model_type for images (peft has no image task type).
IMAGE_HEADS: dict[str, list[str]] = {"timm_wrapper": ["timm_model.classifier"]}


def auto_lora_targets(model: torch.nn.Module) -> list[str] | str:
    import torch

    if getattr(model.config, "model_type", "") == "timm_wrapper":
        return TIMM_CONV_TARGETS
    leaf_names = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)}
    for pair in ATTENTION_PAIRS:
        if set(pair) <= leaf_names:
            return list(pair)
    return "all-linear"


def apply_lora(model: torch.nn.Module, task_type: str | None, params: LoraParams) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model

    model_type = getattr(model.config, "model_type", "")
    if params.target_modules == "auto":
        targets: Any = auto_lora_targets(model)
    elif params.target_modules == "all-linear":
        targets = "all-linear"
    else:
        targets = [t.strip() for t in params.target_modules.split(",") if t.strip()]
    kwargs: dict[str, Any] = {}
    if task_type:
        kwargs["task_type"] = task_type  # keeps classifier/score trainable
    else:
        kwargs["modules_to_save"] = IMAGE_HEADS.get(model_type, ["classifier"])
    config = LoraConfig(
        r=params.r, lora_alpha=params.alpha, lora_dropout=params.dropout, target_modules=targets, **kwargs
    )
    try:
        return get_peft_model(model, config)
    except ValueError as err:
        raise ConfigError(
            f"LoRA could not find layers to adapt in this {model_type or 'model'} ({err}). "
            "Set 'LoRA layers' to layer names of this model, or use 'all-linear'.",
            cli_hint="method_params.target_modules=all-linear",
        ) from None


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": int(trainable), "total": int(total)}
