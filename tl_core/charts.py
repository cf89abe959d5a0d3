"""Plotly figures drawn from run files (metrics.jsonl records, results.json, data reports). No UI code here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .registry import metric_name

ACCENT = "#4f46e5"
SECOND = "#f97316"
PALETTE = ["#4f46e5", "#f97316", "#10b981", "#ef4444", "#0ea5e9", "#a855f7", "#eab308", "#64748b"]
HEIGHT = 260
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = HEIGHT) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.02, "y": 0.98, "yanchor": "top", "font": {"size": 14}},
        template="plotly_white",
        height=height,
        margin={"l": 50, "r": 16, "t": 58, "b": 40},
        xaxis_title=x,
        yaxis_title=y,
        legend={"orientation": "h", "y": 1.0, "x": 1, "xanchor": "right", "yanchor": "bottom"},
        font={"family": "Inter, system-ui, sans-serif", "size": 12},
    )
    return fig


def class_order(labels: list[str]) -> list[str]:
    """Classes in display order: numerically when every name is a number or a number word (zero, one, two ...,
    which the data's sorted label list puts as four, one, three ...), else as given (the data's label list)."""

    def number(label: str) -> float | None:
        low = str(label).strip().lower()
        if low in NUMBER_WORDS:
            return float(NUMBER_WORDS.index(low))
        try:
            return float(low)
        except ValueError:
            return None

    values = [number(x) for x in labels]
    if not labels or any(v is None for v in values):
        return list(labels)
    return [x for _, x in sorted(zip(values, labels), key=lambda pair: pair[0])]


def _wrap(message: str, width: int = 38) -> str:
    """Break a message into lines (plotly annotations never wrap: at phone width a long line is cut off)."""
    lines: list[str] = []
    for word in message.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def _empty(fig: go.Figure, message: str) -> go.Figure:
    fig.add_annotation(
        text=_wrap(message),
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"color": "#94a3b8", "size": 13},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def train_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("phase") == "train" and r.get("loss") is not None]


def eval_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("phase") == "eval"]


def main_eval_metric(records: Iterable[dict[str, Any]], preferred: str | None = None) -> str | None:
    """The eval metric to plot: the task's main metric if logged, else accuracy / f1."""
    keys: set[str] = set()
    for r in eval_records(records):
        keys.update(k for k, v in r.items() if k.startswith("eval_") and isinstance(v, (int, float)))
    for name in filter(None, (preferred, "f1_macro", "f1", "accuracy")):
        if f"eval_{name}" in keys:
            return name
    return None


def loss_figure(records: list[dict[str, Any]]) -> go.Figure:
    """Training loss per optimisation step."""
    fig = _layout(go.Figure(), "Training loss", "step", "loss")
    rows = train_records(records)
    if not rows:
        return _empty(fig, "The loss appears here once training logs its first steps.")
    fig.add_trace(
        go.Scatter(
            x=[r["step"] for r in rows],
            y=[r["loss"] for r in rows],
            mode="lines+markers",
            name="train loss",
            line={"color": ACCENT, "width": 2},
            marker={"size": 4},
        )
    )
    return fig


def eval_figure(records: list[dict[str, Any]], metric: str | None = None) -> go.Figure:
    """Evaluation loss (left axis) and the main metric (right axis) per epoch."""
    fig = _layout(go.Figure(), "Evaluation per epoch", "epoch", "eval loss")
    rows = eval_records(records)
    if not rows:
        return _empty(fig, "Evaluation results appear after each epoch.")
    x = [r.get("epoch") for r in rows]
    if any("eval_loss" in r for r in rows):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[r.get("eval_loss") for r in rows],
                mode="lines+markers",
                name="eval loss",
                line={"color": SECOND, "width": 2},
            )
        )
    metric = main_eval_metric(rows, metric)
    if metric:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[r.get(f"eval_{metric}") for r in rows],
                mode="lines+markers",
                name=metric_name(metric),  # the name users read everywhere (macro F1, not f1_macro)
                yaxis="y2",
                line={"color": ACCENT, "width": 2},
            )
        )
        fig.update_layout(
            yaxis2={
                "title": metric_name(metric),
                "overlaying": "y",
                "side": "right",
                "range": [0, 1.02],
                "showgrid": False,
            }
        )
        fig.update_layout(margin={"r": 50})
    return fig


def lr_figure(records: list[dict[str, Any]]) -> go.Figure:
    fig = _layout(go.Figure(), "Learning rate", "step", "learning rate")
    rows = [r for r in train_records(records) if r.get("learning_rate") is not None]
    if not rows:
        return _empty(fig, "The schedule appears once training starts.")
    fig.add_trace(
        go.Scatter(
            x=[r["step"] for r in rows],
            y=[r["learning_rate"] for r in rows],
            mode="lines",
            name="learning rate",
            line={"color": "#10b981", "width": 2},
        )
    )
    fig.update_yaxes(exponentformat="e")
    return fig


def label_distribution(
    counts: dict[str, dict[str, int]] | dict[str, int], title: str = "Label distribution"
) -> go.Figure:
    """Bar chart of examples per class; ``counts`` is {label: n} or {split: {label: n}} (grouped bars)."""
    fig = _layout(go.Figure(), title, "", "examples", height=280)
    if not counts:
        return _empty(fig, "Choose data to see how the labels are distributed.")
    per_split = counts if all(isinstance(v, dict) for v in counts.values()) else {"all": counts}
    top = max((n for values in per_split.values() for n in values.values()), default=0)
    for i, (split, values) in enumerate(per_split.items()):
        labels = class_order(list(values))
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[values[k] for k in labels],
                name=split,
                marker_color=PALETTE[i % len(PALETTE)],
                text=[values[k] for k in labels],
                textposition="outside",
                cliponaxis=False,
            )
        )
    fig.update_layout(barmode="group", showlegend=len(per_split) > 1)
    # head-room for the counts above the bars: at the axis top they would sit under the legend
    fig.update_yaxes(range=[0, max(1, top) * 1.2])
    return fig


def confusion_figure(labels: list[str], matrix: list[list[int]]) -> go.Figure:
    """Confusion-matrix heatmap: rows are true classes, columns predictions; cells show counts."""
    size = max(300, min(520, 120 + 42 * len(labels)))
    fig = _layout(go.Figure(), "Confusion matrix", "predicted", "true", height=size)
    if not labels or not matrix:
        return _empty(fig, "The confusion matrix of a finished run appears here: choose one above.")
    order = [labels.index(x) for x in class_order(labels)]
    labels, matrix = [labels[i] for i in order], [[matrix[i][j] for j in order] for i in order]
    fig.add_trace(
        go.Heatmap(
            z=matrix,
            x=labels,
            y=labels,
            colorscale="Blues",
            showscale=False,
            text=[[str(v) for v in row] for row in matrix],
            texttemplate="%{text}",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{z} examples<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", side="bottom")
    return fig


def per_class_figure(rows: list[dict[str, Any]], key: str = "label") -> go.Figure:
    """F1 per class or entity type as horizontal bars."""
    fig = _layout(go.Figure(), "F1 per " + ("class" if key == "label" else "entity type"), "F1", "")
    if not rows:
        return _empty(fig, "No per-class results.")
    fig.add_trace(go.Bar(y=[r[key] for r in rows], x=[r["f1"] for r in rows], orientation="h", marker_color=ACCENT))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(autorange="reversed")  # top to bottom in the order of the table beside it
    return fig


def compare_figure(runs: list[tuple[str, list[dict[str, Any]]]], metric: str | None = None) -> go.Figure:
    """Training loss (left) and the evaluation metric (right) of several runs on one chart."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Training loss per step", "Evaluation metric per epoch"))
    _layout(fig, "", "", "", height=320)
    fig.update_layout(title=None, margin={"t": 40})
    if not runs:
        return _empty(fig, "Select two or more runs to compare.")
    for i, (name, records) in enumerate(runs):
        color = PALETTE[i % len(PALETTE)]
        rows = train_records(records)
        fig.add_trace(
            go.Scatter(
                x=[r["step"] for r in rows],
                y=[r["loss"] for r in rows],
                mode="lines",
                name=name,
                line={"color": color},
                legendgroup=name,
            ),
            row=1,
            col=1,
        )
        m = main_eval_metric(records, metric)
        ev = eval_records(records)
        if m:
            fig.add_trace(
                go.Scatter(
                    x=[r.get("epoch") for r in ev],
                    y=[r.get(f"eval_{m}") for r in ev],
                    mode="lines+markers",
                    name=f"{name} ({metric_name(m)})",
                    line={"color": color, "dash": "dot"},
                    legendgroup=name,
                    showlegend=False,
                ),
                row=1,
                col=2,
            )
    fig.update_xaxes(title_text="step", row=1, col=1)
    fig.update_xaxes(title_text="epoch", row=1, col=2)
    fig.update_layout(
        legend={"orientation": "h", "y": -0.25, "x": 0, "xanchor": "left", "yanchor": "top"}, margin={"b": 80}
    )
    return fig
