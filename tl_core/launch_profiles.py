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

import dataclasses
import importlib.util
import json
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import settings
from .errors import ConfigError, UserError

PROFILES = {
    "local": "This machine (one process: CPU or one GPU)",
    "ddp": "All GPUs, data parallel (DDP)",
    "fsdp": "All GPUs, fully sharded (FSDP)",
    "deepspeed2": "DeepSpeed ZeRO-2",
    "deepspeed3": "DeepSpeed ZeRO-3",
}
CUSTOM = "custom"  # the user's own accelerate config file (tl train --accelerate-config FILE), copied as is
CONFIG_NAME = "accelerate_config.yaml"
PLAN_NAME = "launch.json"  # the plan a run was started with: a resume launches it the same way
DEFAULT_PORT = 29500
DEEPSPEED_MISSING = "DeepSpeed is not installed here: pip install deepspeed, or choose FSDP."


@dataclass(frozen=True)
class LaunchPlan:
    profile: str = "local"
    num_processes: int | None = None  # per machine; None = one per GPU (1 without GPUs)
    num_machines: int = 1
    machine_rank: int = 0
    main_process_ip: str | None = None
    main_process_port: int = DEFAULT_PORT

    def __post_init__(self) -> None:
        if self.profile not in PROFILES and self.profile != CUSTOM:
            raise ConfigError(f"Unknown hardware profile '{self.profile}'. Choose one of: {', '.join(PROFILES)}.")
        if self.num_machines < 1 or not 0 <= self.machine_rank < self.num_machines:
            raise ConfigError("The machine rank must be between 0 and the number of machines minus one.")
        if self.num_machines > 1 and not self.main_process_ip:
            raise ConfigError("Several machines need the main machine's address (--main-process-ip).")
        if self.num_processes is not None and self.num_processes < 1:
            raise ConfigError("The number of processes must be at least 1.")
        if self.profile.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
            raise ConfigError(DEEPSPEED_MISSING)


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


def unavailable_profiles() -> dict[str, str]:
    """Profiles this machine cannot run, with the reason the page shows next to them."""
    return {k: DEEPSPEED_MISSING for k in PROFILES if k not in available_profiles()}


def default_plan(gpus: int | None = None) -> LaunchPlan:
    """What a run gets when nobody chose: every GPU of this machine (DDP) when it has several, as runs always had;
    else this machine's one process."""
    gpus = gpu_count() if gpus is None else gpus
    return LaunchPlan("ddp") if gpus > 1 else LaunchPlan()


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


# --- a plan kept in the run folder ----------------------------------------------------------------------------
def save_plan(plan: LaunchPlan, run_dir: Path, gpus: int, custom_file: Path | None = None) -> Path:
    """``RUN_DIR/launch.json`` (the plan) and ``RUN_DIR/accelerate_config.yaml`` (the profile's config file, or a
    copy of the user's own). Both stay with the run, so a resume, the download and "Show command" use the same."""
    run_dir = Path(run_dir)
    if custom_file is not None:
        shutil.copyfile(custom_file, run_dir / CONFIG_NAME)
    elif plan.profile != CUSTOM:
        write_config(plan, run_dir, gpus)
    (run_dir / PLAN_NAME).write_text(json.dumps(dataclasses.asdict(plan), indent=2), encoding="utf-8")
    return run_dir / CONFIG_NAME


def load_plan(run_dir: Path | str) -> LaunchPlan:
    """The plan stored with the run; a run made before plans existed gets the default plan."""
    path = Path(run_dir) / PLAN_NAME
    if not path.is_file():
        return default_plan()
    return LaunchPlan(**json.loads(path.read_text(encoding="utf-8")))


def plan_from_file(config_file: Path, **overrides: Any) -> LaunchPlan:
    """A plan for the user's own accelerate config: the process and machine counts come from the file (accelerate's
    own loader reads it), so the CPU path (torchrun) and the shown commands agree with it; flags given win."""
    from accelerate.commands.config.config_args import load_config_from_file

    try:
        cfg = load_config_from_file(str(config_file))
    except Exception as err:  # noqa: BLE001 - any parse error: the user's file, the user's words
        raise ConfigError(f"{config_file} is not an accelerate config file accelerate can read ({err}).") from None
    machines = int(overrides.get("num_machines") or cfg.num_machines or 1)
    values = {
        "num_processes": max(1, int(cfg.num_processes or 1) // machines),
        "num_machines": machines,
        "machine_rank": int(cfg.machine_rank or 0),
        "main_process_ip": cfg.main_process_ip,
        "main_process_port": int(cfg.main_process_port or DEFAULT_PORT),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return LaunchPlan(CUSTOM, **values)


def check_public(plan: LaunchPlan, gpus: int) -> None:
    """Public mode: one machine, and no more processes than this machine has GPUs (one on a CPU-only machine)."""
    if not settings.public_mode():
        return
    if plan.num_machines > 1:
        raise UserError(
            "This shared dashboard trains on this one machine only. Choose 'This machine' or 'All GPUs' and one "
            "machine; to train on several machines, run the dashboard on your own computers."
        )
    limit = max(1, gpus)
    if processes_per_machine(plan, gpus) > limit:
        where = f"{gpus} GPU(s)" if gpus else "no GPU"
        raise UserError(
            f"This machine has {where}, so a run here can use at most {limit} process(es). Lower the number of "
            "processes, or leave it empty for one per GPU."
        )


# --- the launch command -----------------------------------------------------------------------------------------
def command(plan: LaunchPlan, run_dir: str, resume: bool, gpus: int) -> tuple[list[str], dict[str, str]]:
    """(argv, extra environment) that starts ``plan``'s processes on this machine (its ``machine_rank``).

    GPUs: ``accelerate launch --config_file RUN_DIR/accelerate_config.yaml`` (the profile), with the counts repeated
    as flags so the command reads on its own. CPU with several processes: ``accelerate launch --cpu
    --num_processes N`` starts ONE process, and a MULTI_CPU config needs mpirun; torchrun with
    ``ACCELERATE_USE_CPU=true`` (Accelerator(cpu=True) then joins torchrun's ranks over gloo) is what gives N real
    ranks, so that is what runs there."""
    per = processes_per_machine(plan, gpus)
    tail = ["-m", "tl_core.train", str(run_dir)] + (["--resume"] if resume else [])
    if gpus == 0 and (per > 1 or plan.num_machines > 1):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(per)]
        if plan.num_machines == 1:
            cmd.append("--standalone")  # a free port on this machine: parallel runs never collide on 29500
        else:
            cmd += ["--nnodes", str(plan.num_machines), "--node_rank", str(plan.machine_rank)]
            cmd += ["--master_addr", str(plan.main_process_ip), "--master_port", str(plan.main_process_port)]
        return cmd + tail, {"ACCELERATE_USE_CPU": "true"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", f"{run_dir}/{CONFIG_NAME}"]
    cmd += ["--num_processes", str(per * plan.num_machines), "--num_machines", str(plan.num_machines)]
    if plan.num_machines > 1:
        cmd += ["--machine_rank", str(plan.machine_rank), "--main_process_ip", str(plan.main_process_ip)]
        cmd += ["--main_process_port", str(plan.main_process_port)]
    return cmd + tail, {}


def as_typed(argv: list[str], env: dict[str, str]) -> str:
    """The argv as a user types it: the console scripts ``accelerate launch`` / ``torchrun`` for ``python -m``."""
    if argv[1:3] == ["-m", "accelerate.commands.launch"]:
        text = "accelerate launch " + shlex.join(argv[3:])
    elif argv[1:3] == ["-m", "torch.distributed.run"]:
        text = "torchrun " + shlex.join(argv[3:])
    else:
        text = shlex.join(argv)
    return "".join(f"{k}={shlex.quote(v)} " for k, v in sorted(env.items())) + text


def commands_per_machine(plan: LaunchPlan, run_dir: str, resume: bool, gpus: int) -> str:
    """What to type on each machine: one command, or one per machine (same files, its own ``--machine_rank``)."""
    if plan.num_machines == 1:
        return as_typed(*command(plan, run_dir, resume, gpus))
    lines = [
        f"# {plan.num_machines} machines: copy the project and RUN_DIR (config.json, {CONFIG_NAME}, the data) to "
        f"each, then run its line; machine 0 ({plan.main_process_ip}) is the main one and writes the run's files."
    ]
    for rank in range(plan.num_machines):
        one = dataclasses.replace(plan, machine_rank=rank)
        lines += [f"# machine {rank}", as_typed(*command(one, run_dir, resume, gpus))]
    return "\n".join(lines)


def cli_flags(plan: LaunchPlan) -> list[str]:
    """The ``tl train`` flags that give ``plan`` (none for this machine's default); with several machines, each
    machine adds its own ``--machine-rank``."""
    flags = [] if plan.profile in ("local", CUSTOM) else ["--profile", plan.profile]
    if plan.num_processes:
        flags += ["--num-processes", str(plan.num_processes)]
    if plan.num_machines > 1:
        flags += ["--num-machines", str(plan.num_machines), "--main-process-ip", str(plan.main_process_ip)]
        flags += ["--main-process-port", str(plan.main_process_port), "--machine-rank", str(plan.machine_rank)]
    return flags
