"""The dashboard's logic, kept out of app.py and free of UI objects: form <-> RunConfig, data inspection,
model checks, run tables, error analysis and playground formatting. Everything returns plain Python data.

Modules that pull in torch / transformers / datasets are imported inside functions, so the web page is
served before they load.
"""
from __future__ import annotations

import dataclasses
import html
import json
import time
from pathlib import Path
from typing import Any

from . import runfiles as rf
from .config import DataConfig, RunConfig, TrainConfig, load_preset
from .errors import ConfigError, DataError, UserError
from .registry import METHOD_ORDER, TASK_ORDER, headline, metric_name  # noqa: F401 - re-exported for the UI
from .tasks.token_classification import bio_spans
from .workspace import Workspace

METHOD_WHEN = {
    "features": "**When:** small data (tens to a few hundred examples per class) that looks like what the model "
                "was pretrained on. Fastest: the model runs once, only a small head learns.",
    "lora": "**When:** a few hundred to many thousands of examples, or memory is tight. Nearly as good as full "
            "fine-tuning, and the saved adapter is tiny.",
    "full": "**When:** thousands of examples, or data unlike the pretraining domain (special jargon, medical "
            "images). Best accuracy, slowest, most memory.",
}
TRAIN_FIELDS = ("learning_rate", "epochs", "batch_size", "max_length", "image_size", "early_stopping_patience",
                "scheduler", "warmup")
DATA_FIELDS = ("text_column", "label_column", "image_column", "eval_fraction", "stratify", "seed", "max_rows")
SAMPLE = "sample"  # the data choice meaning "the task's bundled sample"
SCHEDULERS = ("linear", "cosine", "constant_with_warmup")
# The first-screen sample runs must finish in well under two minutes on a 2-core CPU: NER's preset trains its
# per-word head for 30 epochs of 32-word batches (~2,500 steps on the sample); bigger batches and 15 epochs reach
# the same F1 in an eighth of the steps.
QUICK_TRAIN = {"ner": {"epochs": 15, "batch_size": 128}}


# --- task and model ------------------------------------------------------------------------------------------
def model_choices(task: str) -> list[tuple[str, str]]:
    """(label, reference) for the model picker: bundled offline models first, then curated Hub models."""
    from .models import BUNDLED, CURATED_HUB_MODELS

    out = [(f"{m.title} · works offline", f"bundled:{m.name}") for m in BUNDLED.values() if task in m.tasks]
    for m in CURATED_HUB_MODELS.get(task, []):
        out.append((f"{m['id']} · {m['params'] / 1e6:.0f}M params · {m['note']} · Hub download", m["id"]))
    return out


def default_model(task: str) -> str:
    from .models import DEFAULT_MODEL

    return DEFAULT_MODEL[task]


def _human(n: int | None) -> str:
    if not n:
        return "unknown"
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n:,}"


def describe(task: str, ref: str | None) -> list[list[str]]:
    """Rows [field, value] describing a model without loading its weights."""
    from .models import describe_model

    info = describe_model(task, ref)
    mem = info.get("memory_mb_estimate")
    rows = [
        ["Model", str(info["ref"])],
        ["Parameters", _human(info.get("params"))],
        ["Fine-tuning memory", f"~{mem / 1024:.1f} GB (estimate)" if mem and mem >= 1024 else (f"~{mem} MB (estimate)" if mem else "unknown")],
        ["Works offline", "yes" if info.get("offline") else "no: downloaded from the Hub on first use"],
    ]
    if info.get("model_type"):
        rows.insert(2, ["Architecture", str(info["model_type"])])
    if info.get("note"):
        rows.append(["Note", str(info["note"])])
    return rows


def check_model(task: str, ref: str | None, revision: str | None = None) -> str:
    """Refuse a model that cannot be loaded here (bad id, missing on the Hub, offline and not cached)."""
    from .models import check_available

    return check_available(task, ref, revision)


# --- data ----------------------------------------------------------------------------------------------------
def data_file(ws: Workspace, choice: str | None) -> str | None:
    """The DataConfig path for a data choice: None for the sample, else an upload inside the workspace."""
    if not choice:
        raise DataError("Choose data first: upload a file or click 'Use sample data'.")
    if choice == SAMPLE:
        return None
    return str(ws.upload_path(choice))


def table_columns(path: str | None) -> list[str]:
    """Column names of a table file (empty for folders, zips, CoNLL)."""
    if not path:
        return []
    from .data import TABLE_EXTS, read_table

    p = Path(path)
    if p.is_file() and p.suffix.lower() in TABLE_EXTS:
        try:
            return [str(c) for c in read_table(p).columns]
        except UserError:
            return []
    return []


def inspect_data(ws: Workspace, task: str, data: DataConfig) -> dict[str, Any]:
    """Validate without loading any model: report, detected columns, preview rows and label counts."""
    from .data import load_task_data

    td = load_task_data(task, data, work_dir=ws.root / "data_cache", validate_only=True)
    report = td.report.to_dict()
    stats = report["stats"]
    preview: list[list[Any]] = []
    headers: list[str] = []
    ds = td.train
    n = min(8, len(ds))
    if task == "text":
        headers = ["text", "label"]
        preview = [[_clip(ds[i]["text"], 160), td.labels[ds[i]["label"]]] for i in range(n)]
    elif task == "image":
        headers = ["image", "label"]
        preview = [[Path(ds[i]["image"]).name, td.labels[ds[i]["label"]]] for i in range(n)]
    elif task == "ner":
        headers = ["sentence", "entities"]
        for i in range(n):
            tokens, tags = ds[i]["tokens"], [td.labels[t] for t in ds[i]["tags"]]
            ents = "; ".join(f"{' '.join(tokens[a:b + 1])} ({k})" for k, a, b in bio_spans(tags))
            preview.append([_clip(" ".join(tokens), 160), ents or "-"])
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


def stats_rows(stats: dict[str, Any]) -> list[list[str]]:
    splits = stats.get("splits") or {}
    rows = [
        ["Source", str(stats.get("source", ""))],
        ["Training examples", str(splits.get("train", 0))],
        ["Evaluation examples", f"{splits.get('eval', 0)} ({stats.get('eval_source', '')})"],
        ["Classes / tags", str(stats.get("num_labels", 0))],
        ["Empty rows skipped", str(stats.get("empty_rows", 0))],
        ["Duplicates", str(stats.get("duplicates", 0))],
        ["Train/eval overlap", str(stats.get("overlap", 0))],
    ]
    if "rows_before_max_rows" in stats:
        rows.insert(2, ["Rows before the row cap", str(stats["rows_before_max_rows"])])
    return rows


def _clip(text: str, n: int) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


# --- settings <-> config ----------------------------------------------------------------------------------------
def method_param_fields() -> dict[str, list[dict[str, Any]]]:
    """Per method, its params' name, default, type and help (the UI builds one field from each)."""
    from .methods import METHODS

    out: dict[str, list[dict[str, Any]]] = {}
    for name, method in METHODS.items():
        out[name] = [
            {"name": f.name, "default": f.default, "type": type(f.default).__name__, "help": f.metadata.get("help", "")}
            for f in dataclasses.fields(method.params)
        ]
    return out


def preset(task: str, method: str) -> RunConfig:
    return load_preset(task, method)


def form_values(cfg: RunConfig) -> dict[str, Any]:
    """Flat values the settings form shows for a config."""
    values: dict[str, Any] = {f: getattr(cfg.train, f) for f in TRAIN_FIELDS}
    values.update({f"data.{f}": getattr(cfg.data, f) for f in DATA_FIELDS})
    values.update({f"mp.{k}": v for k, v in (cfg.method_params or {}).items()})
    values.update(task=cfg.task, method=cfg.method, model=cfg.model, name=cfg.name)
    return values


def build_config(task: str, method: str, model: str | None, train: dict[str, Any], data: dict[str, Any],
                 method_params: dict[str, Any], name: str | None = None) -> RunConfig:
    """A RunConfig from the task x method preset plus the form's values (types checked by RunConfig)."""
    if not task:
        raise ConfigError("Choose a task first (Task & model tab).")
    if not method:
        raise ConfigError("Choose a training method (Method & settings tab).")
    cfg = load_preset(task, method)
    raw = cfg.to_dict()
    raw["model"] = (model or "").strip() or cfg.model
    raw["name"] = (name or "").strip() or None
    for key, value in train.items():
        if value is None or value == "":
            continue
        raw["train"][key] = value
    for key, value in data.items():
        raw["data"][key] = None if value == "" else value
    allowed = {f["name"] for f in method_param_fields()[method]}
    raw["method_params"] = {**(raw.get("method_params") or {}),
                            **{k: v for k, v in method_params.items() if k in allowed and v is not None and v != ""}}
    for int_key in ("epochs",):
        if int_key in raw["train"] and raw["train"][int_key] is not None and float(raw["train"][int_key]) <= 0:
            raise ConfigError("Epochs must be more than 0.")
    if raw["data"].get("max_rows") in (0, None):
        raw["data"]["max_rows"] = None
    cfg = RunConfig.from_dict(raw)
    _check_ranges(cfg)
    from .methods import parse_params

    parse_params(cfg.method, cfg.method_params)
    return cfg


def _check_ranges(cfg: RunConfig) -> None:
    t, d = cfg.train, cfg.data
    problems = []
    if not 0 < t.learning_rate < 1:
        problems.append("the learning rate must be between 0 and 1 (e.g. 5e-5 for fine-tuning, 5e-3 for a head)")
    if t.batch_size < 1:
        problems.append("the batch size must be at least 1")
    if not 8 <= t.max_length <= 4096:
        problems.append("max length must be between 8 and 4096 tokens")
    if not 16 <= t.image_size <= 1024:
        problems.append("image size must be between 16 and 1024 pixels")
    if not 0.05 <= d.eval_fraction <= 0.5:
        problems.append("the evaluation share must be between 5% and 50%")
    if t.early_stopping_patience < 0:
        problems.append("early-stopping patience cannot be negative")
    if t.scheduler not in SCHEDULERS:
        problems.append(f"the scheduler must be one of {', '.join(SCHEDULERS)}")
    if problems:
        raise ConfigError("Please fix the settings: " + "; ".join(problems) + ".")


def public_yaml(cfg: RunConfig) -> str:
    return cfg.to_yaml()


def show_command(ws: Workspace, cfg: RunConfig) -> str:
    """The CLI that reproduces the run (the app launches the same trainer under ``accelerate launch``)."""
    import shlex

    args = ["python", "-m", "tl_core", "train", "--preset", "config.yaml"]
    if cfg.data.train_file:
        args += ["--data", Path(cfg.data.train_file).name]
    return (
        "# 1. save the YAML below as config.yaml, then:\n" + shlex.join(args) + "\n\n"
        "# the dashboard starts the same trainer as a background process:\n"
        "accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no"
        + (" --cpu" if not Path("/dev/nvidiactl").exists() else "") + " -m tl_core.train RUN_DIR"
    )


# --- runs ---------------------------------------------------------------------------------------------------------
def start_run(ws: Workspace, cfg: RunConfig) -> tuple[Path, int]:
    """Validate data + model, create the run in the workspace and queue it. Returns (run folder, queue position)."""
    from . import runs, scheduler
    from .data import load_task_data

    check_model(cfg.task, cfg.model, cfg.revision)
    td = load_task_data(cfg.task, cfg.data, work_dir=ws.root / "data_cache", validate_only=True)
    td.report.raise_if_blocking()
    run_dir = runs.create_run(cfg, runs_root=ws.runs_dir)
    return run_dir, scheduler.submit(run_dir)


def active_run(ws: Workspace) -> str | None:
    """The newest run of this workspace that is queued or running (for re-attaching after a reload)."""
    for row in ws.list_runs():
        if row["phase"] not in rf.FINAL_PHASES:
            return Path(row["run_dir"]).name
    return None


def run_label(row: dict[str, Any]) -> str:
    key, value = headline(row["task"], row.get("metrics") or {})
    score = f" · {metric_name(key)} {value:.3f}" if value is not None else ""
    return f"{row['name']} · {row['phase']}{score}"


def runs_table(ws: Workspace) -> tuple[list[str], list[list[Any]]]:
    from . import scheduler

    headers = ["run", "task", "model", "method", "data", "metric", "duration", "status"]
    rows = []
    for row in ws.list_runs():
        key, value = headline(row["task"], row.get("metrics") or {})
        phase = row["phase"]
        if phase == "queued":
            pos = scheduler.position(Path(row["run_dir"]))
            phase = f"queued (#{pos})" if pos else "queued"
        dur = row.get("duration_s")
        rows.append([
            Path(row["run_dir"]).name, row["task"], row.get("model") or "default", row["method"],
            Path(row["data"]).name if row.get("data") else "sample",
            f"{key} {value:.3f}" if value is not None else "",
            f"{dur:.0f} s" if isinstance(dur, (int, float)) else "", phase,
        ])
    return headers, rows


def finished_runs(ws: Workspace, task: str | None = None) -> list[tuple[str, str]]:
    out = []
    for row in ws.list_runs():
        if row["phase"] == "done" and (task is None or row["task"] == task):
            out.append((run_label(row), Path(row["run_dir"]).name))
    return out


def all_runs(ws: Workspace) -> list[tuple[str, str]]:
    return [(run_label(row), Path(row["run_dir"]).name) for row in ws.list_runs()]


def _fmt_s(s: Any) -> str:
    if not isinstance(s, (int, float)):
        return "–"
    s = int(s)
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


def status_html(run_dir: Path | None, st: dict[str, Any] | None, records: list[dict[str, Any]] | None = None,
                position: int | None = None) -> str:
    """A compact status card: phase, progress bar, ETA, throughput, memory, error."""
    if run_dir is None or not st:
        return ("<div class='tl-status tl-idle'><b>No run yet.</b> Choose a task, data and method, then press "
                "<b>Start training</b>, or use a <b>Try it with sample data</b> button on the first tab.</div>")
    phase = st.get("phase", "queued")
    progress = float(st.get("progress") or 0.0)
    if phase == "done":
        progress = 1.0
    train = [r for r in (records or []) if r.get("phase") == "train"]
    sps = train[-1].get("samples_per_second") if train else None
    res = rf.read_json(run_dir / rf.RESULTS, {}) or {}
    mem = res.get("peak_memory_mb")
    label = {"queued": "Waiting in the queue", "loading": "Loading data and model",
             "preparing features": "Computing features (once)", "training": "Training", "evaluating": "Evaluating",
             "saving": "Saving the model", "done": "Finished", "failed": "Failed", "stopped": "Stopped"}.get(phase, phase)
    if phase == "queued" and position:
        label += f" · position {position}" + (" (another run is using the accelerator)" if position >= 1 else "")
    cells = [
        ("Phase", label),
        ("Progress", f"{progress * 100:.0f}%"),
        ("ETA", _fmt_s(st.get("eta_s")) if phase not in rf.FINAL_PHASES else "–"),
        ("Samples/s", f"{sps:.0f}" if isinstance(sps, (int, float)) else "–"),
        ("Peak memory", f"{mem:.0f} MB" if isinstance(mem, (int, float)) else "–"),
        ("Step", f"{st.get('max_steps') if phase == 'done' else st.get('step', '–')} / {st.get('max_steps', '–')}"),
    ]
    body = "".join(f"<div class='tl-cell'><span>{k}</span><b>{html.escape(str(v))}</b></div>" for k, v in cells)
    extra = ""
    if phase == "failed" and st.get("error"):
        extra = f"<div class='tl-error'>{html.escape(str(st['error']))}</div>"
    elif phase == "done":
        key, value = headline(res.get("task", ""), res.get("metrics") or {})
        if value is not None:
            extra = (f"<div class='tl-ok'>Done: {key} {value:.3f} on the evaluation split. See the "
                     f"<b>Evaluate</b> and <b>Playground</b> tabs.</div>")
    elif phase == "stopped":
        extra = "<div class='tl-note'>Stopped. <b>Resume</b> continues from the last checkpoint.</div>" \
            if rf.last_checkpoint(run_dir) else "<div class='tl-note'>Stopped before the first checkpoint.</div>"
    bar = (f"<div class='tl-bar'><div class='tl-fill tl-{phase.replace(' ', '-')}' style='width:{progress * 100:.1f}%'>"
           f"</div></div>")
    return (f"<div class='tl-status'><div class='tl-run'>{html.escape(run_dir.name)}</div>{bar}"
            f"<div class='tl-grid'>{body}</div>{extra}</div>")


def log_tail(run_dir: Path, lines: int = 12) -> str:
    path = run_dir / rf.LOG
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --- evaluation -------------------------------------------------------------------------------------------------
def results(run_dir: Path) -> dict[str, Any]:
    res = rf.read_json(run_dir / rf.RESULTS)
    if not res:
        st = rf.read_json(run_dir / rf.STATUS, {}) or {}
        raise UserError(f"{run_dir.name} has no evaluation yet (status: {st.get('phase', 'unknown')}).")
    return res


def metrics_rows(res: dict[str, Any]) -> list[list[Any]]:
    rows = [[k, round(v, 4)] for k, v in (res.get("metrics") or {}).items() if isinstance(v, (int, float))]
    data = res.get("data") or {}
    params = res.get("params") or {}
    timing = res.get("timing") or {}
    rows += [["evaluation examples", data.get("eval")], ["training examples", data.get("train")],
             ["trainable parameters", f"{params.get('trainable', 0):,}"],
             ["training time (s)", round(timing.get("total_s") or 0, 1)]]
    return rows


def per_class_rows(res: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    report = res.get("report") or {}
    if "per_entity" in report:
        return ["entity", "precision", "recall", "f1", "support"], [
            [r["entity"], round(r["precision"], 3), round(r["recall"], 3), round(r["f1"], 3), r["support"]]
            for r in report["per_entity"]]
    return ["label", "precision", "recall", "f1", "support"], [
        [r["label"], round(r["precision"], 3), round(r["recall"], 3), round(r["f1"], 3), r["support"]]
        for r in report.get("per_class", [])]


def confusion_rows(res: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The confusion matrix as a table (rows: true class, columns: predicted class); empty when there is none."""
    cm = (res.get("report") or {}).get("confusion_matrix") or {}
    labels, matrix = [str(x) for x in cm.get("labels") or []], cm.get("matrix") or []
    if not labels or len(matrix) != len(labels):
        return [], []
    return [TRUE_VS_PRED, *labels], [[label, *row] for label, row in zip(labels, matrix)]


TRUE_VS_PRED = "true \\ predicted"


def pick_filter(res: dict[str, Any], table: str, index: Any) -> tuple[str, str]:
    """(true, predicted) filter for a click on a results table; 'any' where the click does not fix one.

    ``table`` is "confusion" (row = true class, column = predicted class, the first column = the whole row) or
    "per_class" (a row of the per-class / per-entity table = that class's mistakes). Only the position is taken
    from the client; the class names come from the run's own results.
    """
    try:
        row, col = (int(index[0]), int(index[1])) if isinstance(index, (list, tuple)) else (int(index), 0)
    except (TypeError, ValueError, IndexError):
        raise UserError("Click a cell of the table to filter the mistakes.") from None
    if table == "confusion":
        _, rows = confusion_rows(res)
        labels = [r[0] for r in rows]
        if not 0 <= row < len(labels) or not 0 <= col <= len(labels):
            raise UserError("Click a cell of the confusion table.")
        return labels[row], labels[col - 1] if col >= 1 else "any"
    _, rows = per_class_rows(res)
    if not 0 <= row < len(rows):
        raise UserError("Click a row of the per-class table.")
    return str(rows[row][0]), "any"


def error_summary(res: dict[str, Any], true: str, pred: str, shown: int) -> str:
    """One line saying which mistakes are listed."""
    def set_(v: str | None) -> bool:
        return v not in (None, "", "any")

    if "per_entity" in (res.get("report") or {}):
        what = f"sentences with a wrong **{true}** tag" if set_(true) else "sentences with a wrong tag"
    elif set_(true) and set_(pred):
        what = f"examples of **{true}** predicted as **{pred}**"
    elif set_(true):
        what = f"misclassified examples of **{true}**"
    elif set_(pred):
        what = f"examples wrongly predicted as **{pred}**"
    else:
        what = "misclassified examples"
    if shown == 0:
        return f"No {what} in the evaluation split."
    return f"Showing {shown} {what}."


def eval_examples(run_dir: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        with open(run_dir / rf.EVAL_PREDICTIONS, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    rows.append(json.loads(line))
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
            kinds = {t.split("-", 1)[-1] for t, p in zip(row["true"], row["pred"]) if t != p for t in (t, p) if t != "O"}
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


def ner_highlight(row: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(word, label) pairs for a sentence: correct entities by type, mistakes as 'wrong: pred (true)'."""
    out = []
    for word, t, p in zip(row["tokens"], row["true"], row["pred"]):
        if t == p:
            out.append((word, t.split("-", 1)[-1] if t != "O" else None))
        else:
            tp = p.split("-", 1)[-1] if p != "O" else "O"
            tt = t.split("-", 1)[-1] if t != "O" else "O"
            out.append((word, f"✗ {tp} (true {tt})"))
    spaced: list[tuple[str, str | None]] = []
    for i, (word, label) in enumerate(out):
        if i:
            same = label is not None and out[i - 1][1] == label
            spaced.append((" ", label if same else None))
        spaced.append((word, label))
    return spaced


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
    from .predict import rows_to_csv

    predictor = predictor_for(run_dir)
    rows = predictor.predict_file(Path(upload))
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
        from .cpu_yield import YieldFlag

        self._predictor, self._flag = predictor, YieldFlag.default()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._predictor, name)

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        with self._flag.priority():
            return self._predictor.predict(*args, **kwargs)


def predictor_for(run_dir: Path) -> Any:
    """A loaded Predictor, cached (two at most) so the playground answers in milliseconds after the first call."""
    from .predict import Predictor

    key = str(run_dir)
    stamp = (run_dir / rf.RESULTS).stat().st_mtime if (run_dir / rf.RESULTS).exists() else 0
    hit = _PREDICTORS.get(key)
    if hit and hit[0] == stamp:
        return hit[1]
    import torch

    # The app process never trains: one thread keeps playground latency low while a run uses the other cores
    # (bench: 39-53 ms -> 26 ms during a run on 2 cores, 13 -> 16.5 ms idle).
    torch.set_num_threads(1)
    pred = _PlaygroundPredictor(Predictor.from_run(run_dir))
    while len(_PREDICTORS) >= 2:
        _PREDICTORS.pop(next(iter(_PREDICTORS)))
    _PREDICTORS[key] = (stamp, pred)
    return pred


def ner_entities(pred: dict[str, Any]) -> dict[str, Any]:
    """Predictor NER output -> what a highlighted-text view takes ({"text", "entities": [{entity,start,end}]})."""
    return {"text": pred["text"], "entities": [
        {"entity": f"{e['entity']} {e['score']:.2f}", "start": e["start"], "end": e["end"]} for e in pred["entities"]]}


def config_diff(run_dirs: list[Path]) -> tuple[list[str], list[list[Any]]]:
    """Settings that differ between runs (one row per key, one column per run)."""
    flat = []
    for d in run_dirs:
        cfg = rf.read_json(d / rf.CONFIG, {}) or {}
        row: dict[str, Any] = {}
        for k, v in cfg.items():
            if isinstance(v, dict):
                row.update({f"{k}.{kk}": vv for kk, vv in v.items()})
            else:
                row[k] = v
        flat.append(row)
    keys = sorted(set().union(*flat)) if flat else []
    diff = [[k] + [str(f.get(k, "")) for f in flat] for k in keys if len({json.dumps(f.get(k), default=str) for f in flat}) > 1]
    return ["setting"] + [d.name for d in run_dirs], diff
