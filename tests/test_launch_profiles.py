"""Hardware profiles are real accelerate config files: accelerate's own loader reads each one back."""

from __future__ import annotations

from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file

from tl_core.errors import ConfigError
from tl_core.launch_profiles import PROFILES, LaunchPlan, available_profiles, write_config


@pytest.mark.parametrize("profile", ["local", "ddp", "fsdp", "deepspeed2", "deepspeed3"])
def test_every_profile_writes_a_config_accelerate_loads(profile, tmp_path: Path, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: object() if name == "deepspeed" else real(name, *a)
    )
    plan = LaunchPlan(profile, num_machines=2, machine_rank=1, main_process_ip="10.0.0.1", main_process_port=29511)
    loaded = load_config_from_file(str(write_config(plan, tmp_path, gpus=8)))
    assert loaded.num_machines == 2 and loaded.machine_rank == 1 and loaded.main_process_ip == "10.0.0.1"
    assert loaded.num_processes == (2 if profile == "local" else 16)
    expected = {
        "local": "MULTI_GPU",
        "ddp": "MULTI_GPU",
        "fsdp": "FSDP",
        "deepspeed2": "DEEPSPEED",
        "deepspeed3": "DEEPSPEED",
    }[profile]
    assert str(loaded.distributed_type).endswith(expected)
    if profile == "fsdp":
        assert loaded.fsdp_config["fsdp_sharding_strategy"] == "FULL_SHARD"
        assert loaded.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    if profile.startswith("deepspeed"):
        assert loaded.deepspeed_config["zero_stage"] == int(profile[-1])


def test_single_machine_cpu_and_gpu_defaults(tmp_path: Path) -> None:
    cpu = load_config_from_file(str(write_config(LaunchPlan("local"), tmp_path, gpus=0)))
    assert cpu.num_processes == 1 and cpu.use_cpu and str(cpu.distributed_type).endswith("NO")
    ddp = load_config_from_file(str(write_config(LaunchPlan("ddp"), tmp_path, gpus=4)))
    assert ddp.num_processes == 4 and not ddp.use_cpu


def test_bad_plans_are_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="main machine's address"):
        LaunchPlan("ddp", num_machines=2)
    with pytest.raises(ConfigError, match="machine rank"):
        LaunchPlan("ddp", num_machines=2, machine_rank=2, main_process_ip="10.0.0.1")
    with pytest.raises(ConfigError, match="Unknown hardware profile"):
        LaunchPlan("tpu")
    assert set(available_profiles()) <= set(PROFILES) and "local" in available_profiles()
