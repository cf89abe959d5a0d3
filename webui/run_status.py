"""The Train tab's status card: phase, progress, throughput, and a finished run's outcome judged honestly (green
only when it clearly beats guessing, amber with the likely cause and next step when not; tl_core.verdict).

Pure functions of their arguments (no files, no gradio), re-exported by presenters.
"""

from __future__ import annotations

import html
from typing import Any

from tl_core import runfiles as rf
from tl_core.registry import headline, metric_name

PHASE_LABELS = {
    "queued": "Waiting in the queue",
    "loading": "Loading data and model",
    "preparing features": "Computing features (once)",
    "training": "Training",
    "evaluating": "Evaluating",
    "saving": "Saving the model",
    "done": "Finished",
    "failed": "Failed",
    "stopped": "Stopped",
}


def status_html(
    run: str | None,
    st: dict[str, Any] | None,
    records: list[dict[str, Any]] | None = None,
    position: int | None = None,
    results: dict[str, Any] | None = None,
    resumable: bool = False,
) -> str:
    """A compact status card: phase, progress bar, ETA, throughput, memory, and the outcome once final."""
    if run is None or not st:
        return (
            "<div class='tl-status tl-idle'><b>No run yet.</b> Choose a task, data and method, then press "
            "<b>Start training</b>, or use a <b>Try it with sample data</b> button on the first tab.</div>"
        )
    phase = st.get("phase", "queued")
    progress = 1.0 if phase == "done" else float(st.get("progress") or 0.0)
    train = [r for r in (records or []) if r.get("phase") == "train"]
    sps = train[-1].get("samples_per_second") if train else None
    mem = (results or {}).get("peak_memory_mb")
    label = PHASE_LABELS.get(phase, phase)
    if phase == "queued" and position:
        label += f" · position {position} (another run is using the accelerator)"
    cells = [
        ("Phase", label),
        ("Progress", f"{progress * 100:.0f}%"),
        ("ETA", _fmt_s(st.get("eta_s")) if phase not in rf.FINAL_PHASES else "–"),
        ("Samples/s", f"{sps:.0f}" if isinstance(sps, (int, float)) else "–"),
        ("Peak memory", f"{mem:.0f} MB" if isinstance(mem, (int, float)) else "–"),
        ("Step", f"{st.get('max_steps') if phase == 'done' else st.get('step', '–')} / {st.get('max_steps', '–')}"),
    ]
    body = "".join(f"<div class='tl-cell'><span>{k}</span><b>{html.escape(str(v))}</b></div>" for k, v in cells)
    bar = (
        f"<div class='tl-bar'><div class='tl-fill tl-{phase.replace(' ', '-')}' style='width:{progress * 100:.1f}%'>"
        f"</div></div>"
    )
    return (
        f"<div class='tl-status'><div class='tl-run'>{html.escape(run)}</div>{bar}"
        f"<div class='tl-grid'>{body}</div>{_outcome(phase, st, results or {}, resumable)}</div>"
    )


def _outcome(phase: str, st: dict[str, Any], results: dict[str, Any], resumable: bool) -> str:
    if phase == "failed" and st.get("error"):
        more = " <b>Resume</b> continues from the last complete checkpoint." if resumable else ""
        return f"<div class='tl-error'>{html.escape(str(st['error']))}{more}</div>"
    if phase == "done":
        return done_html(results, st.get("verdict") or results.get("verdict"))
    if phase == "stopped":
        if st.get("note"):  # a stop the run did not ask for (e.g. the time limit of a shared machine) says why
            return f"<div class='tl-note'>{html.escape(str(st['note']))}</div>"
        if resumable:
            return "<div class='tl-note'>Stopped. <b>Resume</b> continues from the last checkpoint.</div>"
        return "<div class='tl-note'>Stopped before the first checkpoint.</div>"
    return ""


def done_html(results: dict[str, Any], verdict: dict[str, Any] | None) -> str:
    """A finished run's outcome: green only when it clearly beats guessing; amber, with the likely cause and the
    next step, when it does not (a useless model must not look like a success)."""
    key, value = headline(results.get("task", ""), results.get("metrics"))
    score = f"{metric_name(key)} {value:.3f}" if value is not None else "no score"
    verdict = verdict or {}
    if verdict.get("level") == "weak":
        parts = [f"<b>{html.escape(verdict.get('headline') or 'Done, but no better than guessing.')}</b>"]
        if verdict.get("cause"):
            parts.append(f"<b>Likely cause:</b> {html.escape(verdict['cause'])}")
        if verdict.get("next_step"):
            parts.append(f"<b>Next step:</b> {html.escape(verdict['next_step'])}")
        parts.append(f"({score} on the evaluation split.)")
        return f"<div class='tl-note tl-weak'>{'<br>'.join(parts)}</div>"
    if value is None:
        return ""
    judged = f" {html.escape(verdict['headline'])}" if verdict.get("headline") else ""
    return (
        f"<div class='tl-ok'>Done: {score} on the evaluation split.{judged} See the <b>Evaluate</b> and "
        f"<b>Playground</b> tabs.</div>"
    )


def _fmt_s(s: Any) -> str:
    if not isinstance(s, (int, float)):
        return "–"
    s = int(s)
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"
