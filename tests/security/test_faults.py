"""Runs survive faults: kill -9 at any moment, a restarted app whose old pids now belong to strangers, a torn or
disk-full checkpoint save, a diverging loss; and the run process never sees the app's secrets.

Each test fails when its protection is removed (checked by disabling each one while writing them).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tl_core import run_process, runs, train
from tl_core import runfiles as rf
from tl_core.config import RunConfig
from tl_core.errors import ConfigError, UserError

from .. import test_training
from ..run_fakes import spawn_run_process, write_complete_checkpoint
from ..test_training import tiny_config

assets = test_training.assets  # the fixture: tiny models and data sets, built once per module

SECRETS = {
    "HF_TOKEN": "hf_fake_token",
    "OAUTH_CLIENT_SECRET": "fake-oauth-secret",
    "AWS_SECRET_ACCESS_KEY": "fake-aws",
    "AWS_ACCESS_KEY_ID": "fake-aws-id",
    "GITHUB_TOKEN": "ghp_fake",
    "TL_API_KEY": "fake-tl-key",  # an allowed prefix does not let a secret through
    "DATABASE_PASSWORD": "fake-password",
}


def make_run(root: Path, name: str = "run", phase: str = "training", **status) -> Path:
    run_dir = (root / name).resolve()
    run_dir.mkdir(parents=True)
    (run_dir / rf.CONFIG).write_text(json.dumps({"task": "text", "method": "full"}))
    rf.update_status(run_dir, phase, **status)
    return run_dir


@pytest.fixture
def stranger():
    """An unrelated live process (the kind that inherits a pid after a restart)."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


# --- 1. process identity ---------------------------------------------------------------------------------------
def test_a_pid_now_owned_by_another_process_is_not_the_run_and_is_never_signalled(tmp_path, stranger):
    # after a restart: status.json names the old process (pid + its start time); the pid now runs something else
    reused = make_run(tmp_path, "reused", pid=stranger.pid, proc_start="proc:1")
    bare = make_run(tmp_path, "bare", pid=stranger.pid)  # no start time recorded: the command line decides
    write_complete_checkpoint(reused, 4)
    st = runs.stop(bare, grace_s=0.5)  # a stop request of the user: nothing of ours runs, so nothing is signalled
    assert st["phase"] == "stopped"
    for run_dir in (reused, bare):
        assert not runs.is_active(run_dir)
        assert runs.terminate(run_dir, grace_s=0.5) is False
    assert runs.terminate(stranger.pid, grace_s=0.5) is False  # a bare pid: only a training process is signalled
    assert stranger.poll() is None, "an unrelated process was signalled"
    st = runs.status(reused)
    assert st["phase"] == "failed" and st["error"].startswith(runs.RESTARTED)
    assert "Resume it from its last checkpoint" in st["error"]
    assert runs.resumable(reused)[0]


def test_reconcile_stale_fails_orphaned_runs_and_keeps_live_and_queued_ones(tmp_path, stranger):
    root = tmp_path / "home"
    sessions = root / "sessions" / "abc" / "runs"
    orphan = make_run(sessions, "orphan", pid=stranger.pid, proc_start="proc:1")
    no_ckpt = make_run(sessions, "early", phase="loading", pid=999_999_999)
    queued = make_run(sessions, "waiting", phase="queued")
    live = make_run(root / "runs", "live")
    write_complete_checkpoint(orphan, 6)
    proc = spawn_run_process(live)
    try:
        changed = runs.reconcile_stale(root)
        assert sorted(changed) == sorted([orphan, no_ckpt])
        orphan_st, early_st = rf.read_json(orphan / rf.STATUS), rf.read_json(no_ckpt / rf.STATUS)
        assert orphan_st["phase"] == "failed"
        assert orphan_st["error"] == (
            "The app restarted while this run was training. Resume it from its last checkpoint."
        )
        assert early_st["phase"] == "failed" and "start it again" in early_st["error"]
        assert rf.read_json(queued / rf.STATUS)["phase"] == "queued"
        assert runs.is_active(live) and rf.read_json(live / rf.STATUS)["phase"] == "training"
        st = runs.stop(live, grace_s=0.5)  # ignores the stop file: the run's own process group is terminated
        assert proc.wait(timeout=15) is not None and st["phase"] == "stopped"
    finally:
        proc.kill()
        proc.wait()
    assert stranger.poll() is None


@pytest.mark.parametrize("proc_fs", [True, False], ids=["linux-proc", "psutil"])
def test_identity_works_with_and_without_proc(tmp_path, stranger, monkeypatch, proc_fs):
    monkeypatch.setattr(run_process, "HAS_PROC", proc_fs)  # macOS laptops have no /proc
    run_dir = make_run(tmp_path)
    proc = spawn_run_process(run_dir)
    try:
        start = run_process.process_start(proc.pid)
        assert start is not None and start.startswith("proc:" if proc_fs else "psutil:")
        assert run_process.identify(proc.pid, start, run_dir) == run_process.ALIVE
        assert run_process.identify(proc.pid, start + "1", run_dir) == run_process.OTHER  # same pid, later process
        assert run_process.identify(stranger.pid, None, run_dir) == run_process.OTHER
        assert runs.is_active(run_dir)
    finally:
        proc.kill()
        proc.wait()
    assert run_process.identify(proc.pid, start, run_dir) == run_process.GONE


# --- 2. complete checkpoints only ------------------------------------------------------------------------------
TEARS = {
    "trainer_state cut off": lambda c: (c / "trainer_state.json").write_text('{"global_step": 6, "log_hi'),
    "weights missing": lambda c: (c / "model.safetensors").unlink(),
    "weights cut off": lambda c: os.truncate(c / "model.safetensors", (c / "model.safetensors").stat().st_size - 9),
    "optimizer missing": lambda c: (c / "optimizer.pt").unlink(),
    "scheduler missing": lambda c: (c / "scheduler.pt").unlink(),
    "rng state missing": lambda c: (c / "rng_state.pth").unlink(),
}


@pytest.mark.parametrize("tear", list(TEARS))
def test_last_checkpoint_passes_over_a_torn_one_and_resume_clears_it(tmp_path, tear):
    run_dir = make_run(tmp_path, phase="failed")
    write_complete_checkpoint(run_dir, 2)
    good = write_complete_checkpoint(run_dir, 4)
    torn = write_complete_checkpoint(run_dir, 6)
    assert rf.last_checkpoint(run_dir) == torn
    TEARS[tear](torn)
    assert rf.checkpoint_problem(torn) is not None
    assert rf.last_checkpoint(run_dir) == good
    assert runs.resumable(run_dir) == (True, "Resumes from step 4, its last complete checkpoint.")
    assert rf.discard_torn_checkpoints(run_dir) == [torn]
    assert sorted(p.name for p in (run_dir / rf.CHECKPOINTS).iterdir()) == ["checkpoint-2", "checkpoint-4"]


def test_adapter_and_sharded_weights_count_as_complete(tmp_path):
    run_dir = make_run(tmp_path)
    lora = write_complete_checkpoint(run_dir, 3)
    (lora / "model.safetensors").rename(lora / "adapter_model.safetensors")
    assert rf.checkpoint_problem(lora) is None
    sharded = write_complete_checkpoint(run_dir, 5)
    (sharded / "model.safetensors").rename(sharded / "model-00001-of-00001.safetensors")
    index = {"weight_map": {"weight": "model-00001-of-00001.safetensors"}}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    assert rf.checkpoint_problem(sharded) is None
    (sharded / "model-00001-of-00001.safetensors").unlink()
    assert rf.last_checkpoint(run_dir) == lora


# --- 3. metrics after a resume ---------------------------------------------------------------------------------
def test_truncate_metrics_keeps_records_up_to_the_checkpoint_and_drops_a_cut_line(tmp_path):
    run_dir = make_run(tmp_path)
    lines = [json.dumps({"step": s, "phase": "train", "loss": 1.0 / s}) for s in range(1, 11)]
    lines.insert(6, json.dumps({"step": 6, "phase": "eval", "eval_loss": 0.5}))
    (run_dir / rf.METRICS).write_text("\n".join(lines) + '\n{"step": 11, "pha')
    assert rf.truncate_metrics(run_dir, 6) == 5
    records, _ = rf.read_metrics(run_dir)
    assert [(r["step"], r["phase"]) for r in records] == [(s, "train") for s in range(1, 7)] + [(6, "eval")]
    assert [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")] == []


# --- 6. which runs can be resumed ------------------------------------------------------------------------------
def test_resumable_says_why_for_each_kind_of_run(tmp_path):
    created = make_run(tmp_path, "created", phase="queued")
    assert runs.resumable(created) == (
        False,
        "This run has no complete checkpoint to resume from; start it again instead.",
    )
    done = make_run(tmp_path, "done", phase="done")
    write_complete_checkpoint(done, 3)
    assert runs.resumable(done)[0] is False and "finished" in runs.resumable(done)[1]
    diverged = make_run(tmp_path, "diverged", phase="failed", diverged=True)
    write_complete_checkpoint(diverged, 3)
    assert runs.resumable(diverged)[0] is False and "lower learning rate" in runs.resumable(diverged)[1]
    with pytest.raises(UserError, match="lower learning rate"):
        runs.resume(diverged)
    for phase in ("failed", "stopped"):
        run_dir = make_run(tmp_path, phase, phase=phase)
        write_complete_checkpoint(run_dir, 3)
        assert runs.resumable(run_dir) == (True, "Resumes from step 3, its last complete checkpoint.")
    live = make_run(tmp_path, "live", phase="failed")
    proc = spawn_run_process(live)
    try:
        assert runs.resumable(live) == (False, "This run is still active. Stop it first, or wait for it to finish.")
    finally:
        proc.kill()
        proc.wait()


def test_save_steps_cannot_be_combined_with_early_stopping():
    raw = {"task": "text", "method": "full", "train": {"save_steps": 5, "early_stopping_patience": 2}}
    with pytest.raises(ConfigError, match="Saving every N steps cannot be combined with early stopping") as err:
        RunConfig.from_dict(raw)
    assert "train.save_steps" in err.value.cli_hint
    raw["train"]["early_stopping_patience"] = 0
    assert RunConfig.from_dict(raw).train.save_steps == 5


# --- 7. the child's environment --------------------------------------------------------------------------------
def test_child_environment_is_allow_listed():
    parent = {
        **SECRETS,
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": "/src",
        "TL_HOME": "/data",
        "HF_HOME": "/data/hf",
        "CUDA_VISIBLE_DEVICES": "0",
        "MASTER_ADDR": "10.0.0.1",
        "TOKENIZERS_PARALLELISM": "false",
        "SPACE_ID": "someone/space",
        "GRADIO_SERVER_NAME": "0.0.0.0",
        "SSH_AUTH_SOCK": "/tmp/agent",
    }
    env = run_process.child_environment(parent, {"TL_TRAIN_NICE": "5", "EXTRA_SECRET": "x"})
    assert set(env) == {
        "PATH", "HOME", "LC_ALL", "PYTHONPATH", "TL_HOME", "HF_HOME", "CUDA_VISIBLE_DEVICES", "MASTER_ADDR",
        "TOKENIZERS_PARALLELISM", "TL_TRAIN_NICE",
    }  # fmt: skip


def _group_environments(pgid: int) -> list[dict[str, str]]:
    """The environments of every process in the run's process group (the launcher and the training process)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            raw = (stat.parent / "environ").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        found.append(dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item))
    return found


def _wait_for(condition, timeout_s: float, what: str, run_dir: Path):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    log = (run_dir / rf.LOG).read_text()[-3000:] if (run_dir / rf.LOG).exists() else ""
    raise AssertionError(f"timed out waiting for {what}: {rf.read_json(run_dir / rf.STATUS)}\n{log}")


def _steps(run_dir: Path, phase: str = "train") -> list[int]:
    records, _ = rf.read_metrics(run_dir)
    return [r["step"] for r in records if r.get("phase") == phase]


def _kill_after_checkpoint(run_dir: Path, after_step: int) -> Path:
    """Wait until two complete checkpoints exist, the newest past ``after_step``, and training went on beyond
    it; then kill -9 the whole process group."""

    def ready() -> Path | None:
        ckpts = [p for p in (run_dir / rf.CHECKPOINTS).glob("checkpoint-*") if rf.checkpoint_problem(p) is None]
        newest = max(ckpts, key=rf.checkpoint_step, default=None)
        if (
            len(ckpts) >= 2
            and rf.checkpoint_step(newest) > after_step
            and max(_steps(run_dir), default=0) > rf.checkpoint_step(newest) + 1
        ):
            return newest
        return None

    newest = _wait_for(ready, 240, f"a checkpoint after step {after_step}", run_dir)
    pid = rf.read_json(run_dir / rf.STATUS)["pid"]
    os.killpg(pid, signal.SIGKILL)
    _wait_for(lambda: not runs.is_active(run_dir), 30, "the killed run to be gone", run_dir)
    return newest


@pytest.mark.slow
def test_kill_9_at_any_moment_then_resume_writes_every_step_once(assets, tmp_path, tl_home, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    cfg = tiny_config("text", "full", assets, max_steps=60, save_steps=5, logging_steps=1, batch_size=4)
    run_dir = runs.create_run(cfg, run_dir=tmp_path / "run")
    full_speed = test_training.FULL_SPEED
    pid = runs.start(run_dir, env=full_speed)

    # 7. no secret reaches the launcher or the training process
    _wait_for(lambda: len(_group_environments(pid)) >= 2, 60, "the training process", run_dir)
    for env in _group_environments(pid):
        assert not set(SECRETS) & set(env), set(SECRETS) & set(env)
        assert env["TL_HOME"] == str(tl_home)

    # a kill -9 between checkpoints: the run is failed, resumable, and continues from the newest checkpoint
    first = _kill_after_checkpoint(run_dir, 0)
    st = runs.status(run_dir)
    assert st["phase"] == "failed" and "Resume it from its last checkpoint" in st["error"], st
    assert max(_steps(run_dir)) > rf.checkpoint_step(first)
    assert runs.resumable(run_dir)[0]
    runs.resume(run_dir, env=full_speed)

    # a kill -9 during a save: the newest checkpoint is cut off (trainer_state.json half written, no weights yet)
    torn = _kill_after_checkpoint(run_dir, rf.checkpoint_step(first))
    state = torn / "trainer_state.json"
    state.write_text(state.read_text()[:40])
    (torn / "model.safetensors").unlink()
    previous = rf.last_checkpoint(run_dir)
    assert previous is not None and rf.checkpoint_step(previous) < rf.checkpoint_step(torn)
    runs.resume(run_dir, env=full_speed)
    st = runs.wait(run_dir, timeout_s=240)
    assert st["phase"] == "done", (st, (run_dir / rf.LOG).read_text()[-3000:])
    assert st["resumed_from"] == str(previous)

    for phase in ("train", "eval"):
        steps = _steps(run_dir, phase)
        assert steps == sorted(set(steps)), f"{phase} steps written twice: {steps}"
    assert _steps(run_dir) == list(range(1, 61))  # logging_steps=1: every step, once
    assert rf.read_json(run_dir / rf.RESULTS)["steps"] == 60
    assert all(rf.checkpoint_problem(p) is None for p in (run_dir / rf.CHECKPOINTS).glob("checkpoint-*"))


# --- 4. a full disk --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_full_disk_during_a_save_fails_plainly_and_keeps_the_previous_checkpoint(
    assets, tmp_path, tl_home, monkeypatch
):
    from transformers import Trainer

    original = Trainer._save_optimizer_and_scheduler
    calls = []

    def disk_fills_up(self, output_dir):
        calls.append(output_dir)
        if len(calls) == 2:  # the second checkpoint: the weights are written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, output_dir)

    monkeypatch.setattr(Trainer, "_save_optimizer_and_scheduler", disk_fills_up)
    cfg = tiny_config("text", "full", assets, max_steps=8, save_steps=2, logging_steps=1)
    run_dir = runs.create_run(cfg, run_dir=tmp_path / "run")
    assert train.run(run_dir) == 1
    st = rf.read_json(run_dir / rf.STATUS)
    assert st["phase"] == "failed" and st["error"].startswith("The disk is full"), st
    assert "Free space" in st["error"] and "then resume" in st["error"] and "train.save_total_limit" in st["cli_hint"]
    assert rf.last_checkpoint(run_dir).name == "checkpoint-2"
    assert [p.name for p in (run_dir / rf.CHECKPOINTS).iterdir()] == ["checkpoint-2"]  # the cut-off one is gone
    assert not (run_dir / rf.RESULTS).exists()
    assert runs.resumable(run_dir)[0]


@pytest.mark.parametrize(
    "err",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError(
            "[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file data/3: file write failed"
        ),
        Exception(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
        ),
    ],
)
def test_disk_full_is_recognised_however_it_is_reported(err):
    from tl_core.training.pipeline import is_disk_full

    assert is_disk_full(err)
    wrapped = RuntimeError("save failed")
    wrapped.__cause__ = err
    assert is_disk_full(wrapped)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))


# --- 5. a diverging loss ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_nan_loss_fails_the_run_with_a_learning_rate_hint_and_never_counts_as_done(
    assets, tmp_path, tl_home, monkeypatch
):
    from tl_core.training.trainer import RunTrainer

    original = RunTrainer.compute_loss

    def diverging(self, model, inputs, *args, **kwargs):
        loss = original(self, model, inputs, *args, **kwargs)
        if self.state.global_step >= 3:  # from the 4th step on
            return (loss[0] * float("nan"), *loss[1:]) if isinstance(loss, tuple) else loss * float("nan")
        return loss

    monkeypatch.setattr(RunTrainer, "compute_loss", diverging)
    cfg = tiny_config("text", "full", assets, max_steps=12, logging_steps=2, learning_rate=1e-3)
    run_dir = runs.create_run(cfg, run_dir=tmp_path / "run")
    assert train.run(run_dir) == 2
    st = rf.read_json(run_dir / rf.STATUS)
    assert st["phase"] == "failed" and st["diverged"] is True, st
    assert "at step 4" in st["error"] and "lower learning rate" in st["error"] and "0.0001" in st["error"]
    assert "train.learning_rate" not in st["error"] and "train.learning_rate=0.0001" in st["cli_hint"]
    assert not (run_dir / rf.RESULTS).exists() and not (run_dir / rf.MODEL).exists()
    records, _ = rf.read_metrics(run_dir)
    assert [r["step"] for r in records if r["phase"] == "train"] == [2]  # the NaN never reached the charts
    assert runs.resumable(run_dir)[0] is False
