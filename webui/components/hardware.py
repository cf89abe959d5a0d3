"""The Method tab's Hardware block: where a run trains (this machine, every GPU with DDP, FSDP, DeepSpeed ZeRO-2/3),
how many processes and machines. The choice becomes the run's launch plan (tl_core.launch_profiles), stored in the
run folder with its accelerate config file, which "Show command" repeats and offers as a download."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from tl_core import launch_profiles as lp
from tl_core import settings
from tl_core.errors import UserError


@dataclass
class HardwareBlock:
    profile: gr.Radio
    processes: gr.Number
    machines: gr.Number
    main_ip: gr.Textbox
    main_port: gr.Number
    config_file: gr.File

    @property
    def inputs(self) -> set[Any]:
        return {self.profile, self.processes, self.machines, self.main_ip, self.main_port}


def _where() -> str:
    gpus = lp.gpu_count()
    here = f"This machine has {gpus} GPU(s)." if gpus else "This machine has no GPU: runs train on its CPU."
    lines = [here]
    lines += [f"~~{lp.PROFILES[k]}~~: unavailable. {why}" for k, why in lp.unavailable_profiles().items()]
    if settings.public_mode():
        lines.append("This shared dashboard trains on this machine only, with at most one process per GPU.")
    return "\n\n".join(lines)


def build() -> HardwareBlock:
    public = settings.public_mode()
    with gr.Accordion("Hardware (where the run trains)", open=False):
        gr.Markdown(_where(), elem_id="hardware-where")
        profile = gr.Radio(
            [(title, key) for key, title in lp.available_profiles().items()],
            value=lp.default_plan().profile,
            label="Hardware profile",
            elem_id="hardware-profile",
        )
        with gr.Row():
            processes = gr.Number(
                None,
                label="Processes per machine",
                info="Empty: one for 'This machine', one per GPU otherwise. The batch size stays the global batch.",
                precision=0,
                minimum=1,
                elem_id="hardware-processes",
            )
            machines = gr.Number(
                1,
                label="Machines",
                precision=0,
                minimum=1,
                interactive=not public,
                info="Several machines: not on this shared dashboard."
                if public
                else "Show command gives each its line.",
                elem_id="hardware-machines",
            )
            main_ip = gr.Textbox(label="Main machine address", placeholder="10.0.0.1", interactive=not public)
            main_port = gr.Number(lp.DEFAULT_PORT, label="Main machine port", precision=0, interactive=not public)
        config_file = gr.File(label="accelerate config (from Show command)", interactive=False)
    return HardwareBlock(profile, processes, machines, main_ip, main_port, config_file)


def read_plan(block: HardwareBlock | None, values: dict[Any, Any]) -> lp.LaunchPlan:
    """The launch plan the block describes (refused in the user's words when it cannot run here)."""
    if block is None:
        return lp.default_plan()
    processes = values.get(block.processes)
    machines = int(values.get(block.machines) or 1)
    plan = lp.LaunchPlan(
        values.get(block.profile) or lp.default_plan().profile,
        num_processes=int(processes) if processes else None,
        num_machines=machines,
        main_process_ip=(values.get(block.main_ip) or "").strip() or None,
        main_process_port=int(values.get(block.main_port) or lp.DEFAULT_PORT),
    )
    lp.check_public(plan, lp.gpu_count())
    return plan


def config_download(folder: Path, plan: lp.LaunchPlan) -> str:
    """The plan's accelerate config file in ``folder`` (the workspace's downloads), for the download box."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return str(lp.write_config(plan, folder, lp.gpu_count()))
    except OSError as err:
        raise UserError(f"Could not write the accelerate config file ({err.strerror}).") from None
