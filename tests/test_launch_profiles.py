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


# --- the plan reaches the launch: CLI flags, the run folder, "Show command" ---------------------------------------
def _gpus(monkeypatch, n: int) -> None:
    from tl_core import launch_profiles

    monkeypatch.setattr(launch_profiles, "gpu_count", lambda: n)


def test_show_command_gives_one_command_per_machine(monkeypatch) -> None:
    import shlex

    from tl_core import runs

    _gpus(monkeypatch, 8)
    plan = LaunchPlan("ddp", num_machines=2, main_process_ip="10.0.0.1", main_process_port=29511)
    shown = runs.show_command("RUN_DIR", plan=plan)
    lines = [line for line in shown.splitlines() if not line.startswith("#")]
    assert len(lines) == 2 and "# machine 1" in shown
    for rank, line in enumerate(lines):
        argv = shlex.split(line)
        assert argv[:2] == ["accelerate", "launch"] and argv[-3:] == ["-m", "tl_core.train", "RUN_DIR"]
        flags = dict(zip(argv[2:-3:2], argv[3:-3:2]))
        assert flags["--config_file"] == "RUN_DIR/accelerate_config.yaml" and flags["--machine_rank"] == str(rank)
        assert flags["--num_processes"] == "16" and flags["--num_machines"] == "2"
        assert flags["--main_process_ip"] == "10.0.0.1" and flags["--main_process_port"] == "29511"
    _gpus(monkeypatch, 0)  # CPU machines: torchrun, one line per machine naming its rank
    cpu = runs.show_command("RUN_DIR", plan=LaunchPlan("local", 2, 2, main_process_ip="10.0.0.1"))
    lines = [line for line in cpu.splitlines() if not line.startswith("#")]
    assert lines[1].startswith("ACCELERATE_USE_CPU=true torchrun --nproc_per_node 2 --nnodes 2 --node_rank 1 ")
    assert "--master_addr 10.0.0.1 --master_port 29500" in lines[1]


def _preset(tmp_path: Path) -> str:
    from tl_core.config import load_preset

    path = tmp_path / "config.yaml"
    path.write_text(load_preset("text", "full").to_yaml())
    return str(path)


def test_cli_hardware_flags_are_stored_with_the_run_and_launched(tmp_path: Path, tl_home, monkeypatch) -> None:
    from tl_core import runs
    from tl_core.__main__ import main as cli

    _gpus(monkeypatch, 4)
    started = []
    monkeypatch.setattr(runs, "start", lambda run_dir, **kw: started.append(run_dir) or 1)
    run_dir = tmp_path / "run"
    flags = ["--profile", "fsdp", "--num-processes", "4", "--num-machines", "2", "--machine-rank", "1"]
    flags += ["--main-process-ip", "10.0.0.2", "--main-process-port", "29555", "--no-wait"]
    assert cli(["train", "--preset", _preset(tmp_path), "--run-dir", str(run_dir), *flags]) == 0
    assert started == [run_dir.resolve()]
    loaded = load_config_from_file(str(run_dir / "accelerate_config.yaml"))  # the profile, written with the run
    assert str(loaded.distributed_type).endswith("FSDP") and loaded.num_processes == 8 and loaded.machine_rank == 1
    argv = runs.launch_command(run_dir.resolve(), resume=True)  # what start and a resume run: the stored plan
    flags_out = dict(zip(argv[3:-4:2], argv[4:-4:2]))
    assert flags_out["--machine_rank"] == "1" and flags_out["--num_processes"] == "8"
    assert flags_out["--main_process_ip"] == "10.0.0.2" and flags_out["--main_process_port"] == "29555"
    assert argv[-1] == "--resume"


def test_own_accelerate_config_is_copied_and_its_counts_apply(tmp_path: Path, tl_home, monkeypatch) -> None:
    from tl_core import runs
    from tl_core.__main__ import main as cli

    _gpus(monkeypatch, 0)
    monkeypatch.setattr(runs, "start", lambda run_dir, **kw: 1)
    own = write_config(LaunchPlan("ddp", num_processes=2), tmp_path, gpus=2)
    text = own.read_text() + "# mine\n"
    own.write_text(text)
    run_dir = tmp_path / "run"
    assert (
        cli(
            [
                "train",
                "--preset",
                _preset(tmp_path),
                "--run-dir",
                str(run_dir),
                "--accelerate-config",
                str(own),
                "--no-wait",
            ]
        )
        == 0
    )
    assert (run_dir / "accelerate_config.yaml").read_text() == text  # used as is
    argv = runs.launch_command(run_dir.resolve())
    assert argv[2:5] == ["torch.distributed.run", "--nproc_per_node", "2"]  # 2 CPU processes: torchrun


def test_public_mode_keeps_runs_on_this_machine_within_its_limit(tmp_path: Path, tl_home, monkeypatch) -> None:
    from tl_core import runs
    from tl_core.config import load_preset
    from tl_core.errors import UserError

    monkeypatch.setenv("TL_PUBLIC", "1")
    _gpus(monkeypatch, 0)
    cfg = load_preset("text", "full")
    with pytest.raises(UserError, match="this one machine only"):
        runs.create_run(cfg, run_dir=tmp_path / "a", plan=LaunchPlan("ddp", 1, 2, main_process_ip="10.0.0.1"))
    with pytest.raises(UserError, match="at most 1 process"):
        runs.create_run(cfg, run_dir=tmp_path / "b", plan=LaunchPlan("local", num_processes=2))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before anything was made
    _gpus(monkeypatch, 2)
    run_dir = runs.create_run(cfg, run_dir=tmp_path / "c", plan=LaunchPlan("ddp"))  # every GPU of this machine
    assert load_config_from_file(str(run_dir / "accelerate_config.yaml")).num_processes == 2


def test_gpu_check_on_a_machine_without_gpu_says_so_and_succeeds() -> None:
    """bench/gpu_check.sh runs unchanged everywhere: without a GPU it measures nothing and exits 0."""
    import subprocess
    import sys

    from tl_core.paths import PROJECT_ROOT

    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}  # hide any GPU
    proc = subprocess.run(
        ["bash", str(PROJECT_ROOT / "bench" / "gpu_check.sh")], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "no GPU" in proc.stdout


def test_hardware_block_values_become_the_plan_and_its_download(tmp_path: Path, monkeypatch) -> None:
    """The Method tab's Hardware block (webui/components/hardware.py) -> the launch plan the Start button stores."""
    from tl_core.errors import UserError
    from webui.components.hardware import HardwareBlock, config_download, read_plan

    _gpus(monkeypatch, 4)
    block = HardwareBlock("profile", "processes", "machines", "ip", "port", "file")  # component stand-ins as keys
    values = {"profile": "fsdp", "processes": None, "machines": 2, "ip": " 10.0.0.9 ", "port": 29601}
    plan = read_plan(block, values)
    assert plan == LaunchPlan("fsdp", None, 2, 0, "10.0.0.9", 29601)
    loaded = load_config_from_file(config_download(tmp_path / "downloads", plan))
    assert str(loaded.distributed_type).endswith("FSDP") and loaded.num_processes == 8
    assert read_plan(None, {}) == LaunchPlan("ddp")  # no block: the default, every GPU of this machine
    _gpus(monkeypatch, 0)
    assert read_plan(None, {}) == LaunchPlan()  # no GPU: this machine's one process
    _gpus(monkeypatch, 4)
    monkeypatch.setenv("TL_PUBLIC", "1")
    with pytest.raises(UserError, match="this one machine only"):
        read_plan(block, values)
    assert read_plan(block, {**values, "machines": 1, "processes": 4}).num_processes == 4  # one per GPU is fine


def test_dashboard_show_command_carries_the_hardware(tmp_path: Path, monkeypatch) -> None:
    from tl_core import dashboard
    from tl_core.config import load_preset

    _gpus(monkeypatch, 8)
    plan = LaunchPlan("fsdp", num_machines=2, main_process_ip="10.0.0.1")
    shown = dashboard.show_command(None, load_preset("text", "full"), plan)
    assert "--profile fsdp --num-machines 2 --main-process-ip 10.0.0.1" in shown  # the tl line
    assert shown.count("accelerate launch --config_file RUN_DIR/accelerate_config.yaml") == 2  # one per machine
