"""The "Advise me" panel (Data and Method tabs): which method and settings suit this data on this machine, how long
and how much memory each method takes, and a "Use this" button that fills the Method tab with the advice.

The work is tl_core.advise (probe + calibrated cost model); this module only asks and shows. On a public deployment
the advisor is rate limited per workspace (like predictions) and its probe looks at a capped sample.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import gradio as gr

from tl_core import paths, ratelimit
from tl_core.config import load_preset
from tl_core.errors import UserError
from tl_core.registry import method_title

from .. import form
from ..handler import handler, workspace
from ..state import Page

SETTING_WORDS = {  # the form's own labels, so the advice speaks the page's language
    "epochs": "Epochs",
    "batch_size": "Batch size",
    "learning_rate": "Learning rate",
    "max_length": "Max length (tokens)",
    "image_size": "Image size (px)",
}


@dataclass
class AdvisorPanel:
    advise_btn: gr.Button
    apply_btn: gr.Button
    result: gr.Markdown
    advice: gr.State  # the last advice's method and settings (what "Use this" applies)
    in_method_tab: bool


def build(in_method_tab: bool) -> AdvisorPanel:
    """The panel; element ids differ per tab (advise-btn in Data, method-advise-btn in Method)."""
    prefix = "method-" if in_method_tab else ""
    with gr.Accordion("Advise me: which method suits this data?", open=True, elem_id=f"{prefix}advise-panel"):
        with gr.Row():
            advise_btn = gr.Button("Advise me", variant="secondary", elem_id=f"{prefix}advise-btn")
            apply_btn = gr.Button("Use this", variant="primary", interactive=False, elem_id=f"{prefix}advise-apply-btn")
        result = gr.Markdown(
            "Checks your data with the chosen model (a quick test without training) and measures this machine, "
            "then recommends a method and settings with the time and memory each method needs. The first time "
            "takes a minute or two; later advice comes from the measurements kept.",
            elem_id=f"{prefix}advise-out",
        )
    return AdvisorPanel(advise_btn, apply_btn, result, gr.State(None), in_method_tab)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def advice_md(result: dict[str, Any]) -> str:
    """The advice as the page shows it: no config keys, no command-line flags."""
    rec = result["recommended"]
    settings = ", ".join(f"{SETTING_WORDS.get(k, k)} {v:g}" for k, v in rec["settings"].items())
    lines = [f"### Recommended: {method_title(rec['method'])}", result["reason"], "", f"**Settings:** {settings}"]
    probe = result["probe"]
    if probe.get("value") is not None:
        what = "accuracy" if probe["metric"] == "accuracy" else "entity-word F1"
        lines.append(
            f"\n**Quick test without training** ({probe['n_train']:,} examples): {what} {probe['value']:.0%}, "
            f"against {probe['majority']:.0%} for always guessing the most common class."
        )
    lines += ["", "| method | time | peak memory | batch size |", "|---|---|---|---|"]
    for method, e in result["estimates"].items():
        fits = "" if e["fits"] else " (does not fit)"
        cached = " (features already computed for this data)" if e.get("features_cached") else ""
        lines.append(
            f"| {method_title(method)} | about {_minutes(e['wall_s'])}{cached} | {e['peak_memory_mb'] / 1024:.1f} GB"
            f"{fits} | {e['batch_size']} |"
        )
    warnings = list(result.get("warnings") or [])
    if (result.get("current") or {}).get("warning"):
        warnings.insert(0, "Your current settings: " + result["current"]["warning"])
    lines += [f"\n⚠️ {w}" for w in warnings]
    return "\n".join(lines)


class AdvisorHandlers:
    def __init__(self, page: Page, panel: AdvisorPanel):
        self.page, self.panel = page, panel

    @handler
    def advise(self, values: dict[Any, Any]) -> dict[Any, Any]:
        from tl_core.advise import advise

        ws = workspace(self.page.session, values)
        ratelimit.check("advise", ws.id)  # a probe and a calibration cost CPU: strangers get a budget
        cfg = form.read_config(self.page, ws, values)
        result = advise(
            cfg.task,
            cfg.data,
            cfg.model,
            cfg.revision,
            current=cfg if self.panel.in_method_tab else None,
            work_dir=ws.root / "data_cache",
            feature_cache=paths.workspace_feature_cache(ws.root),  # this workspace's runs' features only
        )
        keep = {"task": cfg.task, "model": cfg.model, **result["recommended"]}
        return {
            self.panel.result: advice_md(result),
            self.panel.advice: keep,
            self.panel.apply_btn: gr.update(interactive=True),
        }

    @handler
    def apply(self, values: dict[Any, Any]) -> dict[Any, Any]:
        """Select the recommended method and fill in its settings (the preset's, changed where the advice says)."""
        advice = values[self.panel.advice]
        if not advice:
            raise UserError("Click 'Advise me' first.")
        m = self.page.method
        cfg = load_preset(advice["task"], advice["method"])
        cfg.train = dataclasses.replace(cfg.train, **advice["settings"])
        out = {m.method: advice["method"], **form.settings_updates(m, cfg)}
        if not self.panel.in_method_tab:
            out[self.page.tabs] = gr.update(selected="method")
        gr.Info(f"{method_title(advice['method'])} selected with the advised settings.")
        return out


def wire(page: Page, panel: AdvisorPanel) -> None:
    h = AdvisorHandlers(page, panel)
    name = "method_" if panel.in_method_tab else ""
    outputs = [panel.result, panel.advice, panel.apply_btn]
    panel.advise_btn.click(h.advise, {*form.inputs(page), panel.advice}, outputs, api_name=f"{name}advise")
    apply_out = [page.method.method, *form.settings_outputs(page.method)]
    if not panel.in_method_tab:
        apply_out.append(page.tabs)
    panel.apply_btn.click(h.apply, {panel.advice}, apply_out, api_name=f"{name}advise_apply")
