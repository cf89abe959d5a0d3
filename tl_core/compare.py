"""Compare training methods on the same data in one go: one run per method, queued cheapest first, one table.

Every method starts from its preset (presets/<task>-<method>.yaml), with the same data config (file, columns,
split seed and share, row cap) and the same model, so every run trains and is scored on the same split; the
runs' results.json ``data.hash`` (a hash of the split rows) proves it afterwards. The runs go through the normal
scheduler (one at a time, features first: its answer arrives first) and nothing in a preset is switched off, so a
preset's early stopping restores the best checkpoint here as anywhere.

The comparison (``comparison.json``) has one row per method: the task's headline metric with its 95% interval
from the evaluation set size (stats.py), wall time, peak memory, trainable parameters and the size of the saved
model/ folder, plus a one-sentence recommendation (compare_verdict.py). The CLI (``python -m tl_core compare``)
and the Method tab both build on this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import fair_use, runs, scheduler, settings
from . import runfiles as rf
from .compare_verdict import majority_baseline, recommend
from .config import RunConfig, load_preset
from .errors import ConfigError, UserError
from .registry import METHOD_ORDER, headline, metric_name
from .stats import wilson_interval
from .workspace import Workspace, folder_bytes

COMPARISON = "comparison.json"
# How the data is seen (token length, image size): one value for every method, or they would not see the same data.
SHARED_TRAIN = ("max_length", "image_size")


def order_methods(methods: Iterable[str]) -> list[str]:
    """The chosen methods, each once, cheapest first (features, lora, full); unknown names are refused."""
    chosen = [m.strip() for m in methods if m and m.strip()]
    unknown = sorted(set(chosen) - set(METHOD_ORDER))
    if unknown:
        raise ConfigError(f"Unknown method '{unknown[0]}'. Choose from: {', '.join(METHOD_ORDER)}.")
    if not chosen:
        raise ConfigError(f"Choose at least one method to compare ({', '.join(METHOD_ORDER)}).")
    return [m for m in METHOD_ORDER if m in chosen]


def method_configs(
    task: str,
    methods: Iterable[str],
    data: dict[str, Any] | None = None,
    model: str | None = None,
    overrides: Iterable[str] = (),
    train: dict[str, Any] | None = None,
    presets_dir: str | Path | None = None,
    name: str | None = None,
) -> list[RunConfig]:
    """One RunConfig per method: its preset, with the shared ``data`` settings, ``model`` and ``train`` values
    (SHARED_TRAIN only). ``overrides`` are ``key=value`` for every method, or ``METHOD:key=value`` for one
    (``lora:method_params.r=4``): a test limits steps with ``train.max_steps=2``. ``name`` labels the runs
    ("<name> (lora)"); without it run lists show the run folder's name, which says task, method and time."""
    order = order_methods(methods)
    configs = []
    for method in order:
        raw = load_preset(task, method, presets_dir).to_dict()
        raw["data"].update(data or {})
        raw["model"] = model or raw["model"]
        raw["train"].update({k: v for k, v in (train or {}).items() if k in SHARED_TRAIN and v not in (None, "")})
        raw["name"] = f"{name} ({method})" if name else None
        mine = []
        for item in overrides:
            scope, sep, rest = item.partition(":")
            if not sep or "=" in scope:  # no "METHOD:" prefix (a value may contain ':')
                mine.append(item)
            elif scope not in METHOD_ORDER:
                raise ConfigError(f"'{item}': '{scope}' is not a method ({', '.join(METHOD_ORDER)}).")
            elif scope == method:
                mine.append(rest)
        configs.append(RunConfig.from_dict(raw).with_overrides(mine))
    models = {cfg.model for cfg in configs}
    if len(models) > 1:  # presets of one task share their model; a difference would compare models, not methods
        raise ConfigError(f"The presets name different models ({', '.join(map(str, models))}): pass --model.")
    return configs


def check_room(configs: list[RunConfig], runs_root: Path) -> None:
    """Public mode: refuse, before anything is created, a comparison that would not fit in the workspace's share
    of the queue (one training and TL_MAX_QUEUED_PER_WORKSPACE waiting), or whose runs are too long."""
    waiting = fair_use.active_limit(settings.MAX_QUEUED_PER_WORKSPACE)
    if waiting is not None:
        allowed, n = 1 + int(waiting), len(configs)
        load = sum(1 for row in runs.list_runs(runs_root) if row["phase"] not in rf.FINAL_PHASES)
        if load + n > allowed:
            s = "s" if n > 1 else ""
            raise fair_use.LimitError(
                f"Comparing {n} method{s} queues {n} run{s}, and you already have {load} training or waiting; each "
                f"workspace may have {allowed} at a time (one training, {int(waiting)} waiting). Compare fewer "
                "methods, or wait until your runs finish. " + fair_use.raise_hint(settings.MAX_QUEUED_PER_WORKSPACE)
            )
    for cfg in configs:
        scheduler.check_room(cfg.to_dict(), runs_root)  # epochs and steps (room: checked above, for all of them)


def submit(configs: list[RunConfig], runs_root: Path, start: Callable[..., Any] | None = None) -> list[Path]:
    """Create one run per config and queue them in order (the first starts at once if the machine is free).
    If one is refused, the ones already queued are cancelled: a comparison is queued whole or not at all."""
    check_room(configs, Path(runs_root))
    run_dirs = [runs.create_run(cfg, runs_root=runs_root) for cfg in configs]
    queued: list[Path] = []
    try:
        for run_dir in run_dirs:
            scheduler.submit(run_dir, start=start)
            queued.append(run_dir)
    except UserError as err:
        for run_dir in queued:
            scheduler.request_stop(run_dir)
        for run_dir in run_dirs[len(queued) :]:
            rf.update_status(run_dir, "failed", error=f"Not started: {err}")
        raise
    return run_dirs


def start_in_workspace(ws: Workspace, configs: list[RunConfig]) -> list[Path]:
    """The page's comparison: the checks of dashboard.start_run (quota, model, data) once, then submit."""
    from . import dashboard
    from .data import load_task_data  # heavy: datasets

    ws.check_quota()
    check_room(configs, ws.runs_dir)
    first = configs[0]
    dashboard.check_model(first.task, first.model, first.revision)
    td = load_task_data(first.task, first.data, work_dir=ws.root / "data_cache", validate_only=True)
    td.report.raise_if_blocking()
    return submit(configs, ws.runs_dir)


# --- reading the runs back ------------------------------------------------------------------------------------
def _all_cached(features: dict[str, Any] | None) -> bool | None:
    hits = (features or {}).get("cache_hit")
    return all(hits.values()) if isinstance(hits, dict) and hits else None


def row(run_dir: Path) -> dict[str, Any]:
    """One method's line: its status, headline metric with 95% interval, and costs (None until it finished)."""
    run_dir = Path(run_dir)
    cfg = rf.read_json(run_dir / rf.CONFIG, {}) or {}
    st = runs.status(run_dir)
    res = rf.read_json(run_dir / rf.RESULTS, {}) or {}
    done = st.get("phase") == "done" and bool(res)
    key, value = headline(cfg.get("task", ""), res.get("metrics"))
    n = int((res.get("data") or {}).get("eval") or 0)
    low, high = wilson_interval(value, n) if value is not None else (None, None)
    model_dir = run_dir / rf.MODEL
    return {
        "method": cfg.get("method"),
        "run": run_dir.name,
        "run_dir": str(run_dir),
        "phase": st.get("phase"),
        "progress": st.get("progress"),
        "error": st.get("error"),
        "metrics": res.get("metrics") or {},
        "metric": {"key": key, "name": metric_name(key), "value": value, "low": low, "high": high, "n": n},
        "wall_s": (res.get("timing") or {}).get("total_s"),
        "peak_memory_mb": res.get("peak_memory_mb"),
        "trainable_params": (res.get("params") or {}).get("trainable"),
        "artifact_mb": folder_bytes(model_dir) / 2**20 if done and model_dir.is_dir() else None,
        "data_hash": (res.get("data") or {}).get("hash"),
        "cache_hit": _all_cached(res.get("features")),
    }


def summarize(run_dirs: list[Path]) -> dict[str, Any]:
    """The comparison of ``run_dirs`` as it stands: rows (cheapest method first), whether every finished run
    used the same split, the majority baseline and the recommendation once every run is over."""
    rows = [row(d) for d in run_dirs]
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    rows.sort(key=lambda r: order.get(r["method"], 99))
    first_cfg = rf.read_json(Path(run_dirs[0]) / rf.CONFIG, {}) if run_dirs else {}
    task = (first_cfg or {}).get("task", "")
    key, _ = headline(task, {})
    hashes = {r["data_hash"] for r in rows if r["data_hash"]}
    finished = all(r["phase"] in rf.FINAL_PHASES for r in rows)
    baseline = None
    for r in rows:
        if r["phase"] == "done" and baseline is None:
            baseline = majority_baseline(task, rf.read_json(Path(r["run_dir"]) / rf.RESULTS, {}) or {})
    out = {
        "task": task,
        "metric": {"key": key, "name": metric_name(key)},
        "rows": rows,
        "same_split": len(hashes) <= 1 if hashes else None,
        "baseline": baseline,
        "finished": finished,
        "recommendation": recommend(rows, baseline) if finished else None,
    }
    if len(hashes) > 1:  # one data config gives one hash; a per-method data override could break it: say so
        out["recommendation"] = {
            "method": None,
            "reason": "The runs did not train on the same split (their data hashes differ): they cannot be compared.",
        }
    return out


def write(out_dir: Path, comparison: dict[str, Any]) -> Path:
    path = Path(out_dir) / COMPARISON
    rf.write_json(path, comparison)
    return path


# --- text for the command line ----------------------------------------------------------------------------------
def _fmt(value: Any, spec: str, unit: str = "") -> str:
    return f"{value:{spec}}{unit}" if isinstance(value, (int, float)) else "-"


def size_text(mb: float | None) -> str:
    """A model's size in words: LoRA adapters are a few hundred KB, so MB alone would read "0.0 MB"."""
    if not isinstance(mb, (int, float)):
        return "-"
    return f"{mb * 1024:.0f} KB" if mb < 1 else f"{mb:.1f} MB"


def metric_cell(r: dict[str, Any]) -> str:
    """``0.912 (0.87-0.94)``: the score and its 95% interval."""
    m = r["metric"]
    if m["value"] is None:
        return "-"
    return f"{m['value']:.3f} ({m['low']:.2f}-{m['high']:.2f})"


def table_lines(comparison: dict[str, Any]) -> list[str]:
    """The comparison as aligned text lines (header first)."""
    name = comparison["metric"]["name"]
    head = ["method", "status", f"{name} (95% interval)", "time", "peak memory", "trainable", "model size"]
    body = [
        [
            r["method"],
            r["phase"],
            metric_cell(r),
            _fmt(r["wall_s"], ".0f", " s"),
            _fmt(r["peak_memory_mb"], ".0f", " MB"),
            _fmt(r["trainable_params"], ",d"),
            size_text(r["artifact_mb"]),
        ]
        for r in comparison["rows"]
    ]
    widths = [max(len(str(line[i])) for line in [head, *body]) for i in range(len(head))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in [head, *body]]


def follow(
    run_dirs: list[Path], out_dir: Path, echo: Callable[[str], None] = print, poll_s: float = 1.0
) -> dict[str, Any]:
    """Drive the queue until every run is over (nothing else may be dispatching it from the command line), print
    each row as its run finishes, keep ``out_dir/comparison.json`` current; Ctrl-C stops the runs."""
    shown: set[str] = set()
    try:
        while True:
            scheduler.dispatch()
            comparison = summarize(run_dirs)
            newly = [r for r in comparison["rows"] if r["phase"] in rf.FINAL_PHASES and r["run"] not in shown]
            if newly:
                write(out_dir, comparison)
                echo("\n".join(table_lines(comparison)) + "\n")
                shown.update(r["run"] for r in newly)
            if comparison["finished"]:
                write(out_dir, comparison)
                return comparison
            time.sleep(poll_s)
    except KeyboardInterrupt:
        echo("Stopping the comparison's runs ...")
        for run_dir in run_dirs:
            scheduler.request_stop(run_dir)
        raise


# --- the chart ------------------------------------------------------------------------------------------------------
def figure(comparison: dict[str, Any]) -> Any:
    """One bar per method: the headline metric with its 95% interval, the majority baseline as a dotted line."""
    import plotly.graph_objects as go

    from . import charts
    from .compare_verdict import title

    name = comparison["metric"]["name"] or "score"
    # charts.py's private helpers on purpose: every figure of the app shares its layout and empty-state look
    fig = charts._layout(go.Figure(), f"{name} per method (bars: 95% interval)", "", name, height=300)
    rows = [r for r in comparison["rows"] if r["metric"]["value"] is not None]
    if not rows:
        return charts._empty(fig, "Each method's score appears here as soon as its run finishes.")
    values = [r["metric"]["value"] for r in rows]
    colour = {m: charts.PALETTE[i] for i, m in enumerate(METHOD_ORDER)}
    fig.add_trace(
        go.Bar(
            x=[title(r["method"]) for r in rows],
            y=values,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [r["metric"]["high"] - v for r, v in zip(rows, values)],
                "arrayminus": [v - r["metric"]["low"] for r, v in zip(rows, values)],
            },
            marker_color=[colour.get(r["method"], charts.ACCENT) for r in rows],
            text=[f"{v:.3f}" for v in values],
            textposition="inside",
            hovertext=[f"{_fmt(r['wall_s'], '.0f', ' s')} · {size_text(r['artifact_mb'])}" for r in rows],
            showlegend=False,
        )
    )
    baseline = comparison.get("baseline")
    if baseline:
        fig.add_hline(y=baseline["value"], line_dash="dot", line_color="#64748b", annotation_text="majority baseline")
    fig.update_yaxes(range=[0, 1.05])
    return fig
