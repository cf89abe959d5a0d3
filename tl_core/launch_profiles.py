"""Hardware profiles: how a run is spread over processes, GPUs and machines, each written as a real accelerate
config file next to the run (``RUN_DIR/accelerate_config.yaml``), which "Show command" and the downloads repeat.

local       this machine: one process (CPU or one GPU)
ddp         every GPU of each machine, data parallel
fsdp        every GPU, parameters, gradients and optimizer state sharded (FULL_SHARD, transformer-block wrap)
deepspeed2  DeepSpeed ZeRO stage 2 (optimizer state and gradients sharded); needs the deepspeed package
deepspeed3  DeepSpeed ZeRO stage 3 (parameters sharded too); needs the deepspeed package

On a CPU-only machine several processes cannot come from ``accelerate launch`` (``--cpu --num_processes 2``
starts one process, and a MULTI_GPU config without GPUs starts unsynchronised copies): there the run is launched
with ``torchrun`` and ``ACCELERATE_USE_CPU=true``, which gives real ranks over gloo (see runs.launch_command).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

PROFILES = {
    "local": "This machine (one process: CPU or one GPU)",
    "ddp": "All GPUs, data parallel (DDP)",
    "fsdp": "All GPUs, fully sharded (FSDP)",
    "deepspeed2": "DeepSpeed ZeRO-2",
    "deepspeed3": "DeepSpeed ZeRO-3",
}
CONFIG_NAME = "accelerate_config.yaml"
DEFAULT_PORT = 29500


@dataclass(frozen=True)
class LaunchPlan:
    profile: str = "local"
    num_processes: int | None = None  # per machine; None = one per GPU (1 without GPUs)
    num_machines: int = 1
    machine_rank: int = 0
    main_process_ip: str | None = None
    main_process_port: int = DEFAULT_PORT

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ConfigError(f"Unknown hardware profile '{self.profile}'. Choose one of: {', '.join(PROFILES)}.")
        if self.num_machines < 1 or not 0 <= self.machine_rank < self.num_machines:
            raise ConfigError("The machine rank must be between 0 and the number of machines minus one.")
        if self.num_machines > 1 and not self.main_process_ip:
            raise ConfigError("Several machines need the main machine's address (--main-process-ip).")
        if self.num_processes is not None and self.num_processes < 1:
            raise ConfigError("The number of processes must be at least 1.")
        if self.profile.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
            raise ConfigError("DeepSpeed is not installed here: pip install deepspeed, or choose FSDP.")


def available_profiles() -> dict[str, str]:
    """The profiles this machine can run (DeepSpeed only when the package is installed)."""
    has_ds = importlib.util.find_spec("deepspeed") is not None
    return {k: v for k, v in PROFILES.items() if has_ds or not k.startswith("deepspeed")}


def processes_per_machine(plan: LaunchPlan, gpus: int) -> int:
    if plan.num_processes:
        return plan.num_processes
    return max(1, gpus) if plan.profile != "local" else 1


def accelerate_config(plan: LaunchPlan, gpus: int) -> dict[str, Any]:
    """The accelerate config for ``plan`` (the total number of processes spans every machine)."""
    per_machine = processes_per_machine(plan, gpus)
    total = per_machine * plan.num_machines
    cfg: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": _distributed_type(plan, total, gpus),
        "num_processes": total,
        "num_machines": plan.num_machines,
        "machine_rank": plan.machine_rank,
        "main_process_port": plan.main_process_port,
        "mixed_precision": "no",  # the trainer picks bf16 where the hardware runs it fast
        "use_cpu": gpus == 0,
        "rdzv_backend": "static",
        "same_network": True,
        "gpu_ids": "all",
    }
    if plan.main_process_ip:
        cfg["main_process_ip"] = plan.main_process_ip
    cfg.update(_sharding(plan))
    return cfg


def _distributed_type(plan: LaunchPlan, total: int, gpus: int) -> str:
    if plan.profile == "fsdp":
        return "FSDP"
    if plan.profile.startswith("deepspeed"):
        return "DEEPSPEED"
    return "MULTI_GPU" if total > 1 and gpus else ("MULTI_CPU" if total > 1 else "NO")


def _sharding(plan: LaunchPlan) -> dict[str, Any]:
    if plan.profile == "fsdp":
        return {
            "fsdp_config": {
                "fsdp_version": 1,
                "fsdp_sharding_strategy": "FULL_SHARD",
                "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                "fsdp_backward_prefetch": "BACKWARD_PRE",
                "fsdp_state_dict_type": "FULL_STATE_DICT",  # save_model writes one ordinary safetensors file
                "fsdp_offload_params": False,
                "fsdp_sync_module_states": True,
                "fsdp_use_orig_params": True,
                "fsdp_cpu_ram_efficient_loading": True,
            }
        }
    if plan.profile.startswith("deepspeed"):
        stage = int(plan.profile[-1])
        return {
            "deepspeed_config": {
                "zero_stage": stage,
                "gradient_accumulation_steps": 1,
                "offload_optimizer_device": "none",
                "offload_param_device": "none",
                "zero3_init_flag": stage == 3,
                "zero3_save_16bit_model": stage == 3,
            }
        }
    return {}


def write_config(plan: LaunchPlan, run_dir: Path, gpus: int) -> Path:
    """``RUN_DIR/accelerate_config.yaml`` for ``plan``; returns its path."""
    path = Path(run_dir) / CONFIG_NAME
    path.write_text(yaml.safe_dump(accelerate_config(plan, gpus), sort_keys=False), encoding="utf-8")
    return path
