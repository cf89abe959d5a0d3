"""What the dashboard asks of the library, without any UI objects: model choices and checks, data inspection,
form values -> RunConfig, starting runs, reading a finished run's predictions, the playground's predictor.

The page (webui/) turns these plain results into what its components show (webui/presenters.py); the CLI can
use them as they are. Modules that pull in torch / transformers / datasets are imported inside the functions
that need them (marked "heavy"), so the web page is served before they load.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import time
from pathlib import Path
from typing import Any

from . import feature_cache, launch_profiles, paths, runs, scheduler
from . import runfiles as rf
from .config import DataConfig, RunConfig, load_preset
from .errors import ConfigError, DataError, UserError
from .methods import METHODS
from .predict import Predictor, rows_to_csv
from .tasks.token_classification import bio_spans
from .workspace import Workspace

SAMPLE = "sample"  # the data choice meaning "the task's bundled sample"
# The first-screen sample runs must finish in well under two minutes on a 2-core CPU: NER's preset trains its
# per-word head for 30 epochs of 32-word batches (~2,500 steps on the sample); bigger batches and 15 epochs reach
# the same F1 in an eighth of the steps.
QUICK_TRAIN = {"ner": {"epochs": 15, "batch_size": 128}}


# --- task and model ------------------------------------------------------------------------------------------
def model_choices(task: str) -> list[tuple[str, str]]:
    """(label, reference) for the model picker: bundled offline models first, then curated Hub models."""
    from .models import BUNDLED, CURATED_HUB_MODELS  # heavy: torch

    out = [(f"{m.title} · works offline", f"bundled:{m.name}") for m in BUNDLED.values() if task in m.tasks]
    for m in CURATED_HUB_MODELS.get(task, []):
        out.append((f"{m['id']} · {m['params'] / 1e6:.0f}M params · {m['note']} · Hub download", m["id"]))
    return out


def default_model(task: str) -> str:
    from .models import DEFAULT_MODEL  # heavy: torch

    return DEFAULT_MODEL[task]


def model_facts(task: str, ref: str | None) -> dict[str, Any]:
    """What is known about a model without loading its weights (size, architecture, offline, memory estimate)."""
    from .models import describe_model  # heavy: torch

    return describe_model(task, ref)


def check_model(task: str, ref: str | None, revision: str | None = None) -> str:
    """Refuse a model that cannot be loaded here (bad id, missing on the Hub, offline and not cached)."""
    from .models import check_available  # heavy: torch

    return check_available(task, ref, revision)


# --- data ----------------------------------------------------------------------------------------------------
def data_file(ws: Workspace, choice: str | None) -> str | None:
    """The DataConfig path for a data choice: None for the sample, else an upload inside the workspace."""
    if not choice:
        raise DataError("Choose data first: upload a file or click 'Use sample data'.")
    if choice == SAMPLE:
        return None
    if choice.startswith("hub:"):  # a Hugging Face dataset (data/hub_datasets.py), not a file in the workspace
        return choice
    return str(ws.upload_path(choice))


def inspect_data(ws: Workspace, task: str, data: DataConfig) -> dict[str, Any]:
    """Validate without loading any model: report, detected columns, preview rows and label counts."""
    from .data import load_task_data  # heavy: datasets

    td = load_task_data(task, data, work_dir=ws.root / "data_cache", validate_only=True)
    report = td.report.to_dict()
    stats = report["stats"]
    headers, preview = _preview(task, td)
    return {
        "ok": report["ok"],
        "errors": [p["message"] for p in report["problems"] if p["level"] == "error"],
        "warnings": [p["message"] for p in report["problems"] if p["level"] == "warning"],
        "stats": stats,
        "columns": td.columns,
        "labels": td.labels,
        "preview_headers": headers,
        "preview": preview,
        "class_balance": stats.get("class_balance") or {},
    }


def _preview(task: str, td: Any, n: int = 8) -> tuple[list[str], list[list[Any]]]:
    """The first training examples as (headers, rows): what the model will learn from, as a person reads it."""
    ds = td.train
    n = min(n, len(ds))
    if task == "text":
        return ["text", "label"], [[_clip(ds[i]["text"], 160), td.labels[ds[i]["label"]]] for i in range(n)]
    if task == "image":
        return ["image", "label"], [[Path(ds[i]["image"]).name, td.labels[ds[i]["label"]]] for i in range(n)]
    rows = []
    for i in range(n):
        tokens, tags = ds[i]["tokens"], [td.labels[t] for t in ds[i]["tags"]]
        ents = "; ".join(f"{' '.join(tokens[a : b + 1])} ({k})" for k, a, b in bio_spans(tags))
        rows.append([_clip(" ".join(tokens), 160), ents or "-"])
    return ["sentence", "entities"], rows


def _clip(text: str, n: int) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def load_image(path: str | Path) -> Any:
    """An image file as an RGB PIL image (the same decoding the trainer uses)."""
    from .data import load_rgb  # heavy: datasets

    return load_rgb(path)


# --- form values -> config ------------------------------------------------------------------------------------
def build_config(
    task: str,
    method: str,
    model: str | None,
    train: dict[str, Any],
    data: dict[str, Any],
    method_params: dict[str, Any],
    name: str | None = None,
) -> RunConfig:
    """A RunConfig from the task x method preset plus the form's values. Empty values keep the preset's; types,
    ranges and choices are checked by the config's one converter (config.build)."""
    if not task:
        raise ConfigError("Choose a task first (Task & model tab).")
    if not method:
        raise ConfigError("Choose a training method (Method & settings tab).")
    raw = load_preset(task, method).to_dict()
    raw["model"] = (model or "").strip() or raw["model"]
    raw["name"] = (name or "").strip() or None
    raw["train"].update({k: v for k, v in train.items() if v is not None and v != ""})
    raw["data"].update({k: None if v == "" else v for k, v in data.items()})
    if raw["data"].get("max_rows") == 0:  # the form's "0 = all"
        raw["data"]["max_rows"] = None
    allowed = {f.name for f in dataclasses.fields(METHODS[method].params)} if method in METHODS else set()
    given = {k: v for k, v in method_params.items() if k in allowed and v is not None and v != ""}
    raw["method_params"] = {**(raw.get("method_params") or {}), **given}
    return RunConfig.from_dict(raw)


def quick_start_config(task: str) -> RunConfig:
    """The first-screen run: feature extraction on the task's bundled sample, tuned to finish in about a minute."""
    return build_config(
        task, "features", None, dict(QUICK_TRAIN.get(task, {})), {"train_file": None}, {}, f"sample-{task}"
    )


def show_command(ws: Workspace, cfg: RunConfig, plan: Any = None) -> str:
    """The CLI that reproduces the run (the app launches the same trainer under ``accelerate launch``)."""
    args = ["python", "-m", "tl_core", "train", "--preset", "config.yaml"]
    if cfg.data.train_file:
        args += ["--data", Path(cfg.data.train_file).name]
    args += launch_profiles.cli_flags(plan) if plan is not None else []
    return (
        "# 1. save the YAML below as config.yaml, then:\n" + shlex.join(args) + "\n\n"
        "# the dashboard starts the same trainer as a background process (RUN_DIR holds config.json and the\n"
        "# accelerate config offered for download):\n" + runs.show_command(cfg, plan=plan)
    )


# --- runs ---------------------------------------------------------------------------------------------------------
def start_run(ws: Workspace, cfg: RunConfig, notes: list[str] | None = None, plan: Any = None) -> tuple[Path, int]:
    """Validate data + model, create the run in the workspace and queue it. Returns (run folder, queue position);
    what the user should know about the run as created (scaled epochs) is appended to ``notes``. ``plan``: the
    launch plan (launch_profiles.LaunchPlan; None = this machine's default)."""
    ws.check_quota()  # a public deployment's disk quota: refused before any work, saying how to free space
    from .data import load_task_data  # heavy: datasets
    from .epoch_scaling import scale_epochs, units_per_epoch

    scheduler.check_room(cfg.to_dict(), ws.runs_dir)  # public mode: fair-use limits, before anything is made
    check_model(cfg.task, cfg.model, cfg.revision)
    td = load_task_data(cfg.task, cfg.data, work_dir=ws.root / "data_cache", validate_only=True)
    td.report.raise_if_blocking()
    cfg, note = scale_epochs(cfg, units_per_epoch(cfg, td.train))  # capped at the fair-use epochs
    if note and notes is not None:
        notes.append(note)
    run_dir = runs.create_run(cfg, runs_root=ws.runs_dir, plan=plan)
    return run_dir, scheduler.submit(run_dir)


def active_run(ws: Workspace) -> str | None:
    """The newest run of this workspace that is queued or running (for re-attaching after a reload)."""
    for row in ws.list_runs():
        if row["phase"] not in rf.FINAL_PHASES:
            return Path(row["run_dir"]).name
    return None


def delete_run(ws: Workspace, name: str) -> None:
    """Delete one of the workspace's runs that is over (finished, failed or stopped); one still queued or running
    is refused, so deleting never stops anything."""
    run_dir = ws.run_path(name)
    st = runs.status(run_dir)
    if st.get("phase") not in rf.FINAL_PHASES or runs.is_active(run_dir):
        raise UserError(f"{name} is still queued or running. Stop it first (Train tab), then delete it.")
    trash = run_dir.with_name(f".deleting-{run_dir.name}")
    os.replace(run_dir, trash)  # at once: the run leaves every list before its files are gone
    shutil.rmtree(trash, ignore_errors=True)
    cache = paths.feature_cache(run_dir)
    if cache == ws.root / paths.FEATURE_CACHE_DIR:  # the workspace's own cache only, never a shared TL_FEATURE_CACHE
        feature_cache.prune_unused(cache, ws.runs_dir)  # features no remaining run uses go with their last user


def log_tail(run_dir: Path, lines: int = 12) -> str:
    """The last lines of the run's train.log (reads at most the last 8 KB)."""
    try:
        with open(run_dir / rf.LOG, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def config_diff(run_dirs: list[Path]) -> tuple[list[str], list[list[Any]]]:
    """Settings that differ between runs, in user terms (one row per labelled setting, one column per run):
    "LoRA rank", file names only, "bundled sample" (config_view)."""
    from .config_view import settings_diff

    configs = [rf.read_json(d / rf.CONFIG, {}) or {} for d in run_dirs]
    return settings_diff(configs, [d.name for d in run_dirs])


# --- a finished run: results, mistakes, predictions -------------------------------------------------------------
def results(run_dir: Path) -> dict[str, Any]:
    """results.json of a finished run; a readable error while there is none yet."""
    res = rf.read_json(run_dir / rf.RESULTS)
    if not res:
        st = rf.read_json(run_dir / rf.STATUS, {}) or {}
        raise UserError(f"{run_dir.name} has no evaluation yet (status: {st.get('phase', 'unknown')}).")
    return res


def eval_examples(run_dir: Path) -> list[dict[str, Any]]:
    """Every evaluation example with its true and predicted label(s), as the trainer saved them."""
    rows = []
    try:
        with open(run_dir / rf.EVAL_PREDICTIONS, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except OSError:
        pass
    return rows


def errors_for(run_dir: Path, true: str | None, pred: str | None, limit: int = 60) -> list[dict[str, Any]]:
    """Misclassified evaluation examples; filter by true and/or predicted class ('any' = no filter).

    NER: sentences with at least one wrong tag; ``true`` filters by an entity type involved in the mistake.
    """
    out = []
    for row in eval_examples(run_dir):
        if "tokens" in row:
            if row.get("correct", row["true"] == row["pred"]):
                continue
            wrong = [(t, p) for t, p in zip(row["true"], row["pred"]) if t != p]
            kinds = {tag.split("-", 1)[-1] for pair in wrong for tag in pair if tag != "O"}
            if true and true != "any" and true not in kinds:
                continue
        else:
            if row["true"] == row["pred"]:
                continue
            if true and true != "any" and row["true"] != true:
                continue
            if pred and pred != "any" and row["pred"] != pred:
                continue
        out.append(row)
        if len(out) >= limit:
            break
    return out


def error_thumbnails(rows: list[dict[str, Any]], limit: int = 24, size: int = 96) -> list[tuple[Any, str]]:
    """(thumbnail, "true → predicted") for the first image mistakes; an image that has vanished is left out."""
    thumbs = []
    for r in rows[:limit]:
        try:
            img = load_image(r["input"])
        except Exception:  # noqa: BLE001 - a vanished or unreadable image just has no thumbnail
            continue
        img.thumbnail((size, size))
        thumbs.append((img, f"{r['true']} → {r['pred']}"))
    return thumbs


def example_inputs(run_dir: Path, k: int = 6) -> list[Any]:
    """A few evaluation inputs for the playground (texts, image paths, or NER sentences)."""
    out: list[Any] = []
    for row in eval_examples(run_dir):
        out.append(" ".join(row["tokens"]) if "tokens" in row else row.get("input"))
        if len(out) >= k:
            break
    return [x for x in out if x]


def batch_predict(ws: Workspace, run_dir: Path, upload: str | Path) -> tuple[Path, list[dict[str, Any]]]:
    """Score an uploaded file with a run's model; the CSV goes to the workspace's downloads folder."""
    rows = predictor_for(run_dir).predict_file(Path(upload))
    if not rows:
        raise DataError("Nothing to score in that file.")
    for row in rows:  # image rows carry the server-side path of the extracted file: keep the name only
        if isinstance(row.get("image"), str):
            row["image"] = Path(row["image"]).name
    out = ws.downloads / f"{run_dir.name}-predictions-{time.strftime('%H%M%S')}.csv"
    out.write_text(rows_to_csv(rows), encoding="utf-8")
    return out, rows


_PREDICTORS: dict[str, Any] = {}


class _PlaygroundPredictor:
    """A Predictor whose single predictions ask CPU training runs on this machine to hold still meanwhile
    (cpu_yield.py): the playground answers as fast during a run as without one."""

    def __init__(self, predictor: Any):
        from .cpu_yield import YieldFlag  # heavy: torch

        self._predictor, self._flag = predictor, YieldFlag.default()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._predictor, name)

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        with self._flag.priority():
            return self._predictor.predict(*args, **kwargs)


def predictor_for(run_dir: Path) -> Any:
    """A loaded Predictor, cached (two at most) so the playground answers in milliseconds after the first call."""
    key = str(run_dir)
    stamp = (run_dir / rf.RESULTS).stat().st_mtime if (run_dir / rf.RESULTS).exists() else 0
    hit = _PREDICTORS.get(key)
    if hit and hit[0] == stamp:
        return hit[1]
    import torch  # heavy

    # The app process never trains: one thread keeps playground latency low while a run uses the other cores
    # (bench: 39-53 ms -> 26 ms during a run on 2 cores, 13 -> 16.5 ms idle).
    torch.set_num_threads(1)
    pred = _PlaygroundPredictor(Predictor.from_run(run_dir))
    while len(_PREDICTORS) >= 2:
        _PREDICTORS.pop(next(iter(_PREDICTORS)))
    _PREDICTORS[key] = (stamp, pred)
    return pred
