"""Model references: ``bundled:NAME``, a local folder or a Hub id, checked before anything is downloaded.

Also the Hub access that fails fast when offline (one quick probe instead of ~25 s of retries per file), the
plain-language messages for what cannot be reached, and the cache keys (fingerprints) of models.

A resolved reference is a local folder exactly when it is an absolute path (Hub ids never are), so no later step
looks on the disk for a Hub id. In public mode (fair_use.py) a user's reference is never looked up on the disk:
model paths are refused with one message whether they exist or not, and Hub models above the size limit are
refused from their Hub metadata before anything is downloaded.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import fair_use
from ..errors import ModelError
from .bundled import ensure_bundled
from .catalog import BUNDLED, DEFAULT_MODEL, TASK_NAMES, check_task, offline_choices

_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


# --------------------------------------------------------------------------------------------------------------
# Resolving references
# --------------------------------------------------------------------------------------------------------------
def resolve_model_ref(ref: str | None, task: str, user_input: bool = False) -> str:
    """A local folder path for bundled names and local folders; a Hub id unchanged. Refuses what cannot work.

    Checking here (before any download or compute) lets the UI show the problem while the user fills the form.
    ``user_input``: the reference comes from a user (the form, a run config), not from the app's own folders; in
    public mode such a reference must be a bundled name or a Hub id.
    """
    check_task(task)
    ref = (ref or "").strip() or DEFAULT_MODEL[task]
    if ref.startswith("bundled:"):
        return _resolve_bundled(ref, task)
    if fair_use.public_mode():
        if user_input and _looks_like_path(ref):
            raise fair_use.local_model_refused()  # decided from the text alone: says nothing about the disk
        if user_input or not os.path.isabs(ref):  # the app's own folders (runs, exports) are absolute paths
            _validate_hub_id(ref)
            return ref

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


def _resolve_bundled(ref: str, task: str) -> str:
    name = ref.split(":", 1)[1]
    info = BUNDLED.get(name)
    if info is None:
        choices = ", ".join(f"bundled:{n}" for n in BUNDLED)
        raise ModelError(f"There is no bundled model called '{name}'. Bundled models: {choices}.")
    if task not in info.tasks:
        raise ModelError(
            f"{ref} is made for {' and '.join(TASK_NAMES[t] for t in info.tasks)}, not {TASK_NAMES[task]}. "
            f"Use {DEFAULT_MODEL[task]} (or a Hub model for {TASK_NAMES[task]}) instead."
        )
    return str(ensure_bundled(name))


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
            f"(letters, digits, '-', '_', '.'), e.g. distilbert-base-uncased. Or use {offline_choices()}."
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
        # files_metadata: the weight files' sizes, for the size limit (fair_use.check_model_size)
        info = HfApi().model_info(repo_id, revision=revision, timeout=10, files_metadata=True)
        result: tuple[str, Any] = ("ok", info)
    except GatedRepoError as err:
        result = ("gated", err)
    except (RepositoryNotFoundError, RevisionNotFoundError) as err:
        result = ("missing", err)
    except Exception as err:  # DNS, connection, timeout, offline mode, HTTP 5xx
        result = ("unreachable", err)
    _probe_cache[key] = (time.monotonic(), *result)
    return result


def hub_status(repo_id: str, revision: str | None) -> tuple[str, Any]:
    """The probe's answer, or ("unreachable", None) without a request when offline mode is on."""
    return ("unreachable", None) if _offline_mode() else _probe_hub(repo_id, revision)


def _unreachable_message(repo_id: str) -> str:
    return (
        f"Could not load '{repo_id}': the Hugging Face Hub is unreachable from here (or offline mode is on) and "
        f"the model is not in the local cache, or the id is wrong. Offline choices: {offline_choices()}."
    )


def is_local(resolved: str) -> bool:
    """True for a resolved local folder (bundled or a path), False for a Hub id."""
    return os.path.isabs(resolved)


def hub_call(resolved: str, revision: str | None, load: Callable[[bool], Any]) -> Any:
    """Run ``load(local_files_only)`` for a local folder or Hub id, turning every failure into a ModelError.

    In public mode a Hub model above the size limit is refused here, before ``load`` downloads anything.
    """
    if is_local(resolved):
        return _wrap(resolved, lambda: load(False))
    status, detail = hub_status(resolved, revision)
    if status == "unreachable":  # offline, or the Hub is down for us: a cached copy still works
        return _wrap(resolved, lambda: load(True), offline=True)
    if status == "missing":
        what = f"revision '{revision}' of '{resolved}'" if revision else f"'{resolved}'"
        raise ModelError(
            f"The Hugging Face Hub has no model {what} (or it is private). Check the spelling, or use "
            f"{offline_choices()}."
        )
    if status == "gated":
        raise ModelError(
            f"'{resolved}' is gated: accept its licence on huggingface.co and sign in with Hugging Face, or choose "
            "another model.",
            cli_hint="set HF_TOKEN to a token of an account that accepted the licence",
        )
    fair_use.check_model_size(resolved, detail)
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
        if "safetensors" in text and not is_local(resolved):
            raise ModelError(
                f"'{resolved}' has no safetensors weights on the Hub, only pickle files, which can execute code "
                "when loaded. Pick a model with *.safetensors files, or convert it on a machine you trust "
                "(model.save_pretrained(dir, safe_serialization=True)) and use that folder."
            ) from err
        if offline or (not is_local(resolved) and isinstance(err, OSError)):
            raise ModelError(_unreachable_message(resolved)) from err
        raise ModelError(f"Could not load the model '{resolved}': {text.splitlines()[0] if text else err!r}") from err


def check_available(task: str, ref: str | None, revision: str | None = None) -> str:
    """Resolve ``ref`` and refuse a model that cannot be loaded here, without loading it; returns the resolved ref.

    Bundled models and local folders always pass. A Hub id must exist and not be gated; when the Hub cannot be
    reached (or offline mode is on) it must already be in the local cache. Public mode also refuses model paths
    and Hub models above the size limit. Raises ModelError with what to do.
    """
    resolved = resolve_model_ref(ref, task, user_input=True)
    if is_local(resolved):
        return resolved
    status, detail = hub_status(resolved, revision)
    if status == "missing":
        what = f"revision '{revision}' of '{resolved}'" if revision else f"'{resolved}'"
        raise ModelError(
            f"The Hugging Face Hub has no model {what}. Check the spelling, or pick a model marked 'works offline'."
        )
    if status == "gated":
        raise ModelError(f"'{resolved}' is gated: accept its licence on huggingface.co first, or choose another model.")
    if status == "unreachable":
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(resolved, "config.json", revision=revision), str):
            raise ModelError(_unreachable_message(resolved))
    if status == "ok":
        fair_use.check_model_size(resolved, detail)
    return resolved


# --------------------------------------------------------------------------------------------------------------
# Fingerprints and kinds
# --------------------------------------------------------------------------------------------------------------
def model_fingerprint(ref: str | None, revision: str | None = None, task: str | None = None) -> str:
    """Stable cache key. Local folders: sha256 of config.json + safetensors names/sizes/mtimes; Hub ids: id@revision.

    ``task`` is needed only to resolve ``ref=None`` (the task's default model).
    """
    ref = (ref or "").strip()
    if not ref:
        if task is None:
            raise ModelError("No model chosen: pass a model reference or the task (for its default model).")
        ref = DEFAULT_MODEL[task]
    local = not fair_use.public_mode() or os.path.isabs(ref)  # public mode: a relative reference is a Hub id
    if ref.startswith("bundled:"):
        folder = ensure_bundled(ref.split(":", 1)[1])
    elif local and Path(ref).expanduser().is_dir():
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
    if (is_local(resolved_ref) or not fair_use.public_mode()) and folder.is_dir():
        return any((folder / n).exists() for n in ("modules.json", "sentence_bert_config.json", "1_Pooling"))
    return resolved_ref.startswith("sentence-transformers/")  # Hub id: judged by name, no network call
