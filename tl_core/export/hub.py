"""Where an export goes: a zip for download, or the Hugging Face Hub (a model repo, or a demo Space).

The Hub token is used for one call and then dropped: it is never written to disk, logged, or returned, and
it is scrubbed from any error message before that message reaches the user.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..errors import UserError

REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def zip_folder(folder: Path, target: Path, top: str) -> Path:
    """Zip ``folder`` as ``top/...`` into ``target`` atomically (a half-written zip is never offered)."""
    partial = target.with_name(f".{target.name}.part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                zf.write(file, Path(top) / file.relative_to(folder))
    partial.replace(target)
    return target


def zip_model(run_dir: Path, dest_dir: Path, demo: bool = False) -> Path:
    """``dest_dir/<run>-model.zip`` (or ``-demo.zip``): the export folder, or the standalone demo app."""
    from . import export_demo, export_model

    run_dir, dest_dir = Path(run_dir), Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    kind = "demo" if demo else "model"
    with tempfile.TemporaryDirectory(dir=dest_dir) as tmp:
        staged = (export_demo if demo else export_model)(run_dir, Path(tmp) / kind)
        return zip_folder(staged, dest_dir / f"{run_dir.name}-{kind}.zip", f"{run_dir.name}-{kind}")


def _hub_upload(folder: Path, repo_id: str, token: str, private: bool, repo_type: str = "model") -> str:
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    extra = {"space_sdk": "gradio"} if repo_type == "space" else {}
    url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type=repo_type, **extra)
    api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        repo_type=repo_type,
        commit_message="Upload from the transfer-learning dashboard",
    )
    return str(url)


def push_to_hub(
    run_dir: Path,
    repo_id: str,
    token: str,
    private: bool = True,
    upload: Callable[..., str] | None = None,
    demo: bool = False,
) -> str:
    """Upload the export (or, with ``demo``, the demo app as a new Space) to ``repo_id``; returns the repo URL.
    ``upload`` is injectable for tests."""
    from . import export_demo, export_model

    repo_id, token = _checked(repo_id, token)
    with tempfile.TemporaryDirectory(prefix="tl-push-") as tmp:
        folder = (export_demo if demo else export_model)(Path(run_dir), Path(tmp) / "upload")
        return push_folder(folder, repo_id, token, private, "space" if demo else "model", upload)


def _checked(repo_id: str, token: str) -> tuple[str, str]:
    repo_id, token = (repo_id or "").strip(), (token or "").strip()
    if not REPO_ID_RE.fullmatch(repo_id):
        raise UserError("Give the Hub repository as 'your-name/model-name' (letters, digits, '-', '_', '.').")
    if not token:
        raise UserError(
            "Sign in with Hugging Face, or paste an access token with write permission (it is used once, never stored)."
        )
    return repo_id, token


def push_folder(
    folder: Path,
    repo_id: str,
    token: str,
    private: bool,
    repo_type: str = "model",
    upload: Callable[..., str] | None = None,
) -> str:
    """One upload; every failure becomes a plain message that never contains the token."""
    upload = upload or _hub_upload
    try:
        return upload(folder, repo_id, token, private, repo_type)
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - every failure becomes a plain message without the token
        hint = "unset HF_HUB_OFFLINE to allow uploads" if _offline_mode(err) else None
        raise UserError(_plain_hub_error(err, repo_id, token), cli_hint=hint) from None


def _offline_mode(err: Exception) -> bool:
    """huggingface_hub refuses every request when the server runs with HF_HUB_OFFLINE: no network is involved."""
    return type(err).__name__ == "OfflineModeIsEnabled" or "offline mode is enabled" in str(err).lower()


def _plain_hub_error(err: Exception, repo_id: str, token: str) -> str:
    text = str(err).replace(token, "***").splitlines()[0][:300] if str(err) else type(err).__name__
    if "401" in text or "Unauthorized" in text or ("Invalid" in text and "token" in text.lower()):
        return (
            "The Hub rejected the token. Create a token with write access at huggingface.co/settings/tokens "
            "and paste it again."
        )
    if "403" in text:
        return f"The token may not write to '{repo_id}'. Use your own namespace or a token with write access."
    if _offline_mode(err):
        return (
            "This server is set up to work offline, so it cannot upload to the Hugging Face Hub. Download the "
            "model zip instead and upload it from your own computer."
        )
    if "offline" in text.lower() or "connection" in text.lower() or "resolve" in text.lower():
        return "The Hugging Face Hub cannot be reached from this machine. Check the connection and try again."
    return f"The upload to '{repo_id}' failed: {text}. Check the connection and try again."
