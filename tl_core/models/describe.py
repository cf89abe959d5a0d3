"""Facts about a model for the UI (size, architecture, memory estimate) without loading its weights."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from .. import fair_use
from ..errors import ModelError
from .catalog import CURATED_HUB_MODELS, DEFAULT_MODEL
from .hub import hub_status, is_local, resolve_model_ref


def describe_model(task: str, ref: str | None, revision: str | None = None) -> dict[str, Any]:
    """Facts for the UI without loading weights. Local folders need no network; Hub ids try one quick request."""
    resolved = resolve_model_ref(ref, task, user_input=True)
    info: dict[str, Any] = {
        "ref": (ref or "").strip() or DEFAULT_MODEL[task],
        "resolved": resolved,
        "params": None,
        "model_type": None,
        "memory_mb_estimate": None,
        "offline": is_local(resolved),
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
        status, detail = hub_status(resolved, revision)
        if status == "ok":
            info["model_type"] = (getattr(detail, "config", None) or {}).get("model_type")
            st = getattr(detail, "safetensors", None)
            if st is not None and getattr(st, "total", None):
                info["params"] = int(st.total)
            try:
                fair_use.check_model_size(resolved, detail)  # public mode: say so while the form is filled
            except ModelError as err:
                info["note"] = str(err)
        else:
            info["note"] = {
                "missing": f"The Hub has no model '{resolved}'.",
                "gated": f"'{resolved}' is gated: log in and accept its licence to use it.",
            }.get(status, f"The Hub is unreachable; '{resolved}' works only if it is already in the local cache.")
    info["memory_mb_estimate"] = _memory_mb(info["params"])
    return info


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
