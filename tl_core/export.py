"""Export a finished run: a zip of its model for download, or a push to the Hugging Face Hub with a model card.

The Hub token is used for one call and then dropped: it is never written to disk, logged, or returned, and
it is scrubbed from any error message before that message reaches the user.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

import yaml

from . import runfiles as rf
from .errors import UserError
from .registry import method_title, task_title

REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
BUNDLED_SOURCES = {  # where the offline models come from, for the card's base_model
    "bundled:minilm": "sentence-transformers/all-MiniLM-L6-v2",
    "bundled:efficientnet-lite0": "timm/efficientnet_lite0 (ImageNet)",
}
PIPELINE_TAGS = {"text": "text-classification", "ner": "token-classification", "image": "image-classification"}


def _finished(run_dir: Path) -> dict[str, Any]:
    results = rf.read_json(Path(run_dir) / rf.RESULTS)
    if not results or not (Path(run_dir) / rf.MODEL).is_dir():
        raise UserError("This run has no finished model yet. Export works once a run is done.")
    return results


def public_config(run_dir: Path) -> dict[str, Any]:
    """The run's config with server paths reduced to file names (a card must not leak the host's folders)."""
    cfg = rf.read_json(Path(run_dir) / rf.CONFIG, {}) or {}
    data = dict(cfg.get("data") or {})
    for key in ("train_file", "eval_file"):
        if data.get(key):
            data[key] = Path(data[key]).name
    model = cfg.get("model")
    if model and not str(model).startswith("bundled:") and Path(str(model)).is_absolute():
        model = Path(str(model)).name
    return {**cfg, "data": data, "model": model}


def reproduce_command(run_dir: Path) -> str:
    """The CLI that retrains this run from its config (saved next to the model as ``training_config.yaml``)."""
    cfg = public_config(run_dir)
    data = cfg.get("data", {}).get("train_file") or "<bundled sample>"
    cmd = "python -m tl_core train --preset training_config.yaml"
    if cfg.get("data", {}).get("train_file"):
        cmd += f" --data {data}"
    return cmd


def model_card(run_dir: Path) -> str:
    """A README.md for the exported model: base model, data statistics, method, metrics, reproducible command."""
    run_dir = Path(run_dir)
    results = _finished(run_dir)
    cfg = public_config(run_dir)
    report = rf.read_json(run_dir / rf.REPORT, {}) or {}
    stats = report.get("stats") or {}
    status = rf.read_json(run_dir / rf.STATUS, {}) or {}
    task, method = cfg.get("task", ""), cfg.get("method", "")
    model_ref = cfg.get("model") or {"image": "bundled:efficientnet-lite0"}.get(task, "bundled:minilm")
    base = BUNDLED_SOURCES.get(model_ref, model_ref)
    front: dict[str, Any] = {"library_name": "transformers", "pipeline_tag": PIPELINE_TAGS.get(task),
                             "tags": ["tl-dashboard", method]}
    if "/" in base and " " not in base:
        front["base_model"] = base
    metrics = results.get("metrics") or {}
    metric_rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in metrics.items() if isinstance(v, (int, float)))
    splits = stats.get("splits") or (results.get("data") or {})
    labels = results.get("labels") or []
    params = results.get("params") or {}
    timing = results.get("timing") or {}
    lines = [
        "---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
        f"# {cfg.get('name') or run_dir.name}", "",
        f"{task_title(task)} model trained with the transfer-learning dashboard.", "",
        "## Base model", "", f"- **Base model:** `{base}`" + (f" (`{model_ref}`)" if base != model_ref else ""),
        f"- **Method:** {method_title(method)}",
        f"- **Parameters:** {params.get('trainable', 0):,} trainable of {params.get('total', 0):,}", "",
        "## Data", "",
        f"- **Source:** {stats.get('source') or (cfg.get('data') or {}).get('train_file') or 'bundled sample'}",
        f"- **Examples:** {splits.get('train', '?')} training, {splits.get('eval', '?')} evaluation"
        + (f" ({stats['eval_source']})" if stats.get("eval_source") else ""),
        f"- **Labels ({len(labels)}):** {', '.join(map(str, labels[:40]))}" + (" ..." if len(labels) > 40 else ""), "",
        "## Evaluation", "", "| metric | value |", "|---|---|", metric_rows or "| (none) | |", "",
        "## Training", "",
        f"- epochs run: {results.get('epochs_run')}, steps: {results.get('steps')}, "
        f"time: {timing.get('total_s', 0):.0f} s, peak memory: {results.get('peak_memory_mb', 0):.0f} MB", "",
        "```yaml", yaml.safe_dump({k: cfg[k] for k in ("train", "method_params") if k in cfg}, sort_keys=False).strip(),
        "```", "",
        "## Reproduce", "", "```bash", reproduce_command(run_dir), "```", "",
    ]
    if status.get("command"):
        lines += ["The original run was launched as:", "", "```bash",
                  re.sub(r"\S*/runs/", "runs/", str(status["command"])), "```", ""]
    return "\n".join(lines)


def _add_files(run_dir: Path, dest: Path) -> None:
    """Stage the model folder plus card, config and results into ``dest``."""
    shutil.copytree(run_dir / rf.MODEL, dest, dirs_exist_ok=True)
    if (run_dir / rf.MERGED).is_dir():
        shutil.copytree(run_dir / rf.MERGED, dest / rf.MERGED, dirs_exist_ok=True)
    (dest / "README.md").write_text(model_card(run_dir), encoding="utf-8")
    (dest / "training_config.yaml").write_text(yaml.safe_dump(public_config(run_dir), sort_keys=False), encoding="utf-8")
    results = rf.read_json(run_dir / rf.RESULTS, {})
    (dest / "results.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")


def stage(run_dir: Path, dest: Path) -> Path:
    """The exact folder a push uploads (for inspection and tests)."""
    run_dir, dest = Path(run_dir), Path(dest)
    _finished(run_dir)
    dest.mkdir(parents=True, exist_ok=True)
    _add_files(run_dir, dest)
    return dest


def zip_model(run_dir: Path, dest_dir: Path) -> Path:
    """``dest_dir/<run>-model.zip`` holding the model, its card, config and results."""
    run_dir, dest_dir = Path(run_dir), Path(dest_dir)
    _finished(run_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{run_dir.name}-model.zip"
    with tempfile.TemporaryDirectory(dir=dest_dir) as tmp:
        staged = stage(run_dir, Path(tmp) / "model")
        partial = dest_dir / f".{target.name}.part"
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for file in sorted(staged.rglob("*")):
                if file.is_file():
                    zf.write(file, Path(run_dir.name) / file.relative_to(staged))
        partial.replace(target)
    return target


def _hub_upload(folder: Path, repo_id: str, token: str, private: bool) -> str:
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model",
                      commit_message="Upload model trained with the transfer-learning dashboard")
    return str(url)


def push_to_hub(run_dir: Path, repo_id: str, token: str, private: bool = True,
                upload: Callable[[Path, str, str, bool], str] | None = None) -> str:
    """Upload the staged model folder to ``repo_id``; returns the repo URL. ``upload`` is injectable for tests."""
    repo_id = (repo_id or "").strip()
    token = (token or "").strip()
    if not REPO_ID_RE.fullmatch(repo_id):
        raise UserError("Give the Hub repository as 'your-name/model-name' (letters, digits, '-', '_', '.').")
    if not token:
        raise UserError("Paste a Hugging Face access token with write permission (it is used once, never stored).")
    upload = upload or _hub_upload
    with tempfile.TemporaryDirectory(prefix="tl-push-") as tmp:
        folder = stage(Path(run_dir), Path(tmp) / "model")
        try:
            return upload(folder, repo_id, token, private)
        except UserError:
            raise
        except Exception as err:  # noqa: BLE001 - every failure becomes a plain message without the token
            text = str(err).replace(token, "***").splitlines()[0][:300] if str(err) else type(err).__name__
            if "401" in text or "Unauthorized" in text or "Invalid" in text and "token" in text.lower():
                raise UserError("The Hub rejected the token. Create a token with write access at "
                                "huggingface.co/settings/tokens and paste it again.") from None
            if "403" in text:
                raise UserError(f"The token may not write to '{repo_id}'. Use your own namespace or a token "
                                "with write access to that organisation.") from None
            raise UserError(f"The upload to '{repo_id}' failed: {text}. Check the connection and try again.") from None
        finally:
            del token
