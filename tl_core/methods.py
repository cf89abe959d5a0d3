"""Training methods: one params dataclass (its field help becomes the UI hint) + one apply function each.

full      every weight trains
lora      low-rank adapters on attention/conv layers + a trainable new head (peft)
features  frozen backbone, features computed once and cached, only a small head trains (see features.py)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

from .errors import ConfigError


def hint(text: str, **kw: Any) -> Any:
    return field(metadata={"help": text}, **kw)


@dataclass
class FullParams:
    """Fine-tune every weight. Best with a few thousand examples or data unlike the model's pretraining."""


@dataclass
class LoraParams:
    """Train small low-rank adapters plus the new head. Close to full fine-tuning, a fraction of the memory and a tiny artifact."""

    r: int = hint("Adapter rank: capacity of the update. 8-16 is typical; higher for harder tasks.", default=16)
    alpha: int = hint("Scaling of the update (often 2 x r). Larger = stronger adapter effect.", default=32)
    dropout: float = hint("Dropout on the adapter input; 0.05-0.1 helps on small data.", default=0.1)
    target_modules: str = hint("Layers to adapt, comma-separated; 'auto' picks per architecture, 'all-linear' adapts every linear layer.", default="auto")
    merge: bool = hint("Also save a merged model (adapter folded into the weights) for plain transformers use.", default=False)


@dataclass
class FeatureParams:
    """Freeze the pretrained model, compute its features once, train only a small head. Fastest; great for small data close to the pretraining domain."""

    pooling: str = hint("Text: how token vectors become one vector. 'auto' = mean for sentence-transformers models, else first token.", default="auto")
    head_dropout: float = hint("Dropout before the head; regularises on small data.", default=0.1)


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
    """The method's params dataclass from a plain dict; unknown keys are errors that name the key."""
    if method not in METHODS:
        raise ConfigError(f"Unknown method '{method}'. Choose one of: {', '.join(METHODS)}.")
    cls = METHODS[method].params
    known = {f.name: f for f in fields(cls)}
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(known))
    if unknown:
        allowed = ", ".join(known) or "none"
        raise ConfigError(f"Unknown method_params for '{method}': {', '.join(unknown)}. Allowed: {allowed}.")
    values = {}
    for name, value in raw.items():
        default = known[name].default
        try:
            values[name] = type(default)(value) if not isinstance(default, bool) else _to_bool(value)
        except (TypeError, ValueError):
            raise ConfigError(f"method_params.{name} must be {type(default).__name__}, got {value!r}.") from None
    params = cls(**values)
    _check(method, params)
    return params


def params_dict(params: Any) -> dict[str, Any]:
    return asdict(params)


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _check(method: str, params: Any) -> None:
    if method == "lora":
        if params.r < 1 or params.alpha < 1:
            raise ConfigError("LoRA r and alpha must be at least 1 (try r=16, alpha=32).")
        if not 0 <= params.dropout < 1:
            raise ConfigError("LoRA dropout must be between 0 and 1 (try 0.1).")
    if method == "features" and params.pooling not in ("auto", "mean", "cls"):
        raise ConfigError("pooling must be 'auto', 'mean' or 'cls'.")


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
    config = LoraConfig(r=params.r, lora_alpha=params.alpha, lora_dropout=params.dropout, target_modules=targets, **kwargs)
    try:
        return get_peft_model(model, config)
    except ValueError as err:
        raise ConfigError(
            f"LoRA could not find layers to adapt in this {model_type or 'model'} ({err}). "
            "Set method_params.target_modules to layer names of this model, or use 'all-linear'."
        ) from None


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": int(trainable), "total": int(total)}
