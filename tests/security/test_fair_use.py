"""Fair use of a shared machine (public mode): per-workspace queue limits, the fair queue order, epoch/step caps,
the wall-time stop, the Hub model size cap and the refusal of model folders. Each refusal's words are checked:
what the limit is, what to do, and which environment variable raises it; never a config key."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tl_core import fair_use, runs, scheduler, settings
from tl_core import runfiles as rf
from tl_core.errors import ModelError, UserError
from tl_core.fair_use import LimitError

from ..run_fakes import spawn_run_process

LIMIT_VARS = [
    "TL_MAX_QUEUED_PER_WORKSPACE",
    "TL_MAX_EPOCHS",
    "TL_MAX_STEPS",
    "TL_MAX_RUN_MINUTES",
    "TL_MAX_MODEL_PARAMS_M",
    "TL_MAX_MODEL_MB",
]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh TL_HOME in public mode with the default limits (whatever the machine's environment says)."""
    monkeypatch.setenv("TL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TL_PUBLIC", "1")
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setenv("TL_SLOT", "cpu")
    for name in LIMIT_VARS:
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def local_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TL_PUBLIC", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)


def make_run(home: Path, workspace: str, name: str, **train: object) -> Path:
    run = home / "sessions" / workspace / "runs" / name
    run.mkdir(parents=True)
    config = {"task": "text", "method": "features", "model": "bundled:minilm", "train": {"epochs": 2, **train}}
    (run / rf.CONFIG).write_text(json.dumps(config))
    rf.update_status(run, "queued")
    return run


class FakeLauncher:
    """Stands in for runs.start: marks the run as training under this (live) process."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def __call__(self, run_dir: Path, resume: bool = False) -> int:
        self.started.append(run_dir.name)
        proc = spawn_run_process(run_dir)  # recorded as the run's own process (pid, start time, command line)
        rf.update_status(run_dir, "training", launched=time.time())
        return proc.pid


def finish(run: Path) -> None:
    rf.update_status(run, "done")


def assert_plain(message: str, *words: str) -> None:
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"
    for key in ("train.", "max_steps", "--set", "config"):  # the browser never sees config keys or CLI flags
        assert key not in message, f"{key!r} in: {message}"


# --- queue: per-workspace limit ----------------------------------------------------------------------------------
def test_a_workspace_may_have_one_run_training_and_n_waiting(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    launch = FakeLauncher()
    a = [make_run(home, "ws-a", f"a{i}") for i in range(4)]
    assert [scheduler.submit(r, start=launch) for r in a[:3]] == [0, 1, 2]  # 1 training + 2 waiting (default 2)
    with pytest.raises(LimitError) as err:
        scheduler.submit(a[3], start=launch)
    assert_plain(
        str(err.value),
        "3 runs",
        "may have 3 at a time",
        "Wait until one of them finishes",
        "TL_MAX_QUEUED_PER_WORKSPACE",
    )
    assert rf.read_json(a[3] / rf.STATUS)["phase"] == "failed"  # the refused new run says why...
    assert scheduler.position(a[3]) is None  # ... and is not queued
    with pytest.raises(LimitError):  # the page checks before it makes a run folder
        scheduler.check_room({"train": {"epochs": 1}}, home / "sessions" / "ws-a" / "runs")
    # another workspace is not held back by ws-a's runs
    b = make_run(home, "ws-b", "b0")
    assert scheduler.submit(b, start=launch) == 1  # fair order: before ws-a's waiting runs
    # a stopped run's resume is refused while the workspace is full, and stays resumable
    stopped = make_run(home, "ws-a", "a-stopped")
    rf.update_status(stopped, "stopped")
    with pytest.raises(LimitError):
        scheduler.submit(stopped, start=launch, resume=True)
    assert rf.read_json(stopped / rf.STATUS)["phase"] == "stopped"
    # once a run finishes there is room again
    finish(a[0])
    scheduler.dispatch(start=launch)
    assert scheduler.submit(a[3], start=launch) >= 1
    # the owner can raise the limit
    monkeypatch.setenv("TL_MAX_QUEUED_PER_WORKSPACE", "10")
    scheduler.check_room({}, home / "sessions" / "ws-a" / "runs")


def test_local_mode_has_no_queue_limit(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local_mode(monkeypatch)
    launch = FakeLauncher()
    runs_ = [make_run(home, "ws-a", f"a{i}", epochs=500) for i in range(5)]
    assert [scheduler.submit(r, start=launch) for r in runs_] == [0, 1, 2, 3, 4]


def test_command_line_runs_count_as_one_workspace(home: Path) -> None:
    assert fair_use.owner_of(home / "runs" / "x") == fair_use.owner_of(Path("/elsewhere/run")) == fair_use.CLI_OWNER
    assert fair_use.owner_of(home / "sessions" / "abc" / "runs" / "x") == "abc"


# --- queue: fair order -------------------------------------------------------------------------------------------
def test_workspaces_take_turns_and_positions_show_the_fair_order(home: Path) -> None:
    launch = FakeLauncher()
    a = [make_run(home, "ws-a", f"a{i}") for i in range(3)]
    for r in a:
        scheduler.submit(r, start=launch)  # a0 trains, a1 and a2 wait
    b1 = make_run(home, "ws-b", "b1")
    scheduler.submit(b1, start=launch)
    assert [scheduler.position(r) for r in (*a, b1)] == [0, 2, 3, 1]  # ws-b's first run goes before a1 and a2
    finish(a[0])
    assert scheduler.dispatch(start=launch) == b1.resolve()
    c1 = make_run(home, "ws-c", "c1")
    scheduler.submit(c1, start=launch)
    assert scheduler.position(c1) == 1  # ws-c was never served: next, ahead of ws-a's second turn
    finish(b1)
    scheduler.dispatch(start=launch)
    finish(c1)
    scheduler.dispatch(start=launch)
    assert launch.started == ["a0", "b1", "c1", "a1"]
    assert scheduler.position(a[2]) == 1


def test_local_mode_keeps_first_come_first_served(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local_mode(monkeypatch)
    launch = FakeLauncher()
    a = [make_run(home, "ws-a", f"a{i}") for i in range(3)]
    for r in a:
        scheduler.submit(r, start=launch)
    b1 = make_run(home, "ws-b", "b1")
    assert scheduler.submit(b1, start=launch) == 3


# --- run length ----------------------------------------------------------------------------------------------------
def test_epochs_and_steps_above_the_limits_are_refused(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    launch = FakeLauncher()
    long = make_run(home, "ws-a", "long", epochs=21)
    with pytest.raises(LimitError) as err:
        scheduler.submit(long, start=launch)
    assert_plain(str(err.value), "21 epochs", "at most 20", "Set Epochs to 20 or fewer", "TL_MAX_EPOCHS")
    with pytest.raises(LimitError) as err:
        scheduler.check_room({"train": {"epochs": 1, "max_steps": 5001}}, home / "sessions" / "ws-a" / "runs")
    assert_plain(str(err.value), "5001 training steps", "at most 5000", "5000 steps or fewer", "TL_MAX_STEPS")
    # a step count replaces epochs in training: a short step count is fine whatever the epochs say
    scheduler.check_room({"train": {"epochs": 1000, "max_steps": 50}}, home / "sessions" / "ws-a" / "runs")
    monkeypatch.setenv("TL_MAX_EPOCHS", "50")
    assert scheduler.submit(make_run(home, "ws-a", "longer", epochs=50), start=launch) == 0
    assert launch.started == ["longer"]


# --- wall time -----------------------------------------------------------------------------------------------------
@pytest.mark.slow  # starts (and stops) a stand-in training process
def test_a_run_past_the_time_limit_is_stopped_and_says_why(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TL_MAX_RUN_MINUTES", "1")
    procs: list[subprocess.Popen] = []

    def launch(run_dir: Path, resume: bool = False) -> int:
        procs.append(spawn_run_process(run_dir, seconds=120))
        runs._CHILDREN[procs[-1].pid] = procs[-1]  # reaped on poll, as runs.start does for real runs
        rf.update_status(run_dir, "training", launched=time.time())
        return procs[-1].pid

    run = make_run(home, "ws-a", "slow")
    waiting = make_run(home, "ws-b", "next")
    try:
        scheduler.submit(run, start=launch)
        proc = procs[0]
        scheduler.submit(waiting, start=FakeLauncher())
        scheduler.dispatch()
        assert not (run / rf.STOP).exists()  # within the limit: untouched
        rf.update_status(run, "training", launched=time.time() - 61)
        scheduler.dispatch()
        assert (run / rf.STOP).exists()  # the same cooperative stop a user's Stop makes (checkpoint, then exit)
        assert proc.poll() is None
        old = time.time() - scheduler.STOP_GRACE_S - 1
        os.utime(run / rf.STOP, (old, old))  # the run ignored the request past the grace period
        scheduler.dispatch()
        assert proc.wait(timeout=10) is not None  # terminated
        started = scheduler.dispatch(start=FakeLauncher())
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    st = runs.status(run)
    assert st["phase"] == "stopped" and st["stop_reason"] == "time limit"
    assert_plain(st["note"], "1-minute limit for one run", "Resume continues", "TL_MAX_RUN_MINUTES")
    assert started == waiting.resolve()  # the machine goes to the next workspace


def test_local_mode_has_no_time_limit(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local_mode(monkeypatch)
    monkeypatch.setenv("TL_MAX_RUN_MINUTES", "1")
    run = make_run(home, "ws-a", "long")
    scheduler.submit(run, start=FakeLauncher())
    rf.update_status(run, "training", launched=time.time() - 3600)
    scheduler.dispatch()
    assert not (run / rf.STOP).exists()


# --- models: size before download ---------------------------------------------------------------------------------
def fake_info(params: int | None = None, weight_bytes: dict[str, int] | None = None) -> SimpleNamespace:
    siblings = [SimpleNamespace(rfilename=n, size=b) for n, b in (weight_bytes or {}).items()]
    siblings.append(SimpleNamespace(rfilename="config.json", size=600))
    st = SimpleNamespace(total=params, parameters={"F32": params}) if params else None
    return SimpleNamespace(safetensors=st, siblings=siblings, config={"model_type": "bert"})


@pytest.fixture
def hub_models(home: Path, monkeypatch: pytest.MonkeyPatch):
    """A fake Hub: model_info answers from this table, and any attempt to download fails the test."""
    from huggingface_hub import HfApi

    from tl_core.models import hub

    table = {
        "org/huge": fake_info(params=1_300_000_000),
        "org/heavy-files": fake_info(weight_bytes={"model.safetensors": 3 * 2**30, "other/x.safetensors": 1}),
        "org/small": fake_info(params=66_000_000, weight_bytes={"model.safetensors": 260 * 2**20}),
    }
    asked: list[dict] = []

    def model_info(self, repo_id, revision=None, timeout=None, files_metadata=False, **kw):
        asked.append({"repo_id": repo_id, "files_metadata": files_metadata})
        return table[repo_id]

    def no_download(*a, **k):
        raise AssertionError("downloaded before the size check")

    monkeypatch.setattr(HfApi, "model_info", model_info)
    monkeypatch.setattr(hub, "_offline_mode", lambda: False)
    monkeypatch.setattr("transformers.AutoConfig.from_pretrained", no_download)
    hub._probe_cache.clear()
    yield asked
    hub._probe_cache.clear()


def test_hub_models_above_the_size_limit_are_refused_before_download(
    hub_models: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tl_core import models

    with pytest.raises(ModelError) as err:
        models.check_available("text", "org/huge")
    assert_plain(
        str(err.value), "too big for this shared machine", "1,300M parameters", "400M parameters", "smaller model"
    )
    assert "TL_MAX_MODEL_PARAMS_M" in str(err.value)
    assert hub_models[0]["files_metadata"] is True  # the weight files' sizes were asked for
    with pytest.raises(ModelError, match="too big"):  # the training process checks again before it downloads
        models.load_model("text", "org/huge", ["a", "b"])
    with pytest.raises(ModelError) as err:
        models.check_available("text", "org/heavy-files")
    assert_plain(str(err.value), "3,072 MB of weights", "2000 MB", "TL_MAX_MODEL_MB")
    assert models.check_available("text", "org/small") == "org/small"
    assert "too big" in models.describe_model("text", "org/huge")["note"]  # shown while the form is filled
    monkeypatch.setenv("TL_MAX_MODEL_PARAMS_M", "2000")
    assert models.check_available("text", "org/huge") == "org/huge"
    local_mode(monkeypatch)
    assert models.check_available("text", "org/heavy-files") == "org/heavy-files"


# --- models: no folders on the server ----------------------------------------------------------------------------
def model_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text('{"model_type": "bert"}')
    (path / "model.safetensors").write_bytes(b"")
    return path


def test_model_folders_are_refused_with_one_message_whatever_exists(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tl_core import models
    from tl_core.models import hub

    real = model_folder(tmp_path / "real-model")
    (tmp_path / "a-file.txt").write_text("x")
    refs = [str(real), str(tmp_path / "missing"), str(tmp_path / "a-file.txt"), "/etc", "~/models/x", "./x", "../x"]
    messages = set()
    for ref in refs:
        for check in (models.check_available, models.describe_model):
            with pytest.raises(ModelError) as err:
                check("text", ref)
            messages.add(str(err.value))
    assert len(messages) == 1  # the same words for an existing folder, a missing one, a file
    assert_plain(messages.pop(), "cannot be used on this shared machine", "bundled:minilm", "Hub id", "TL_PUBLIC")
    # a relative name is always a Hub id: a same-named folder on the server is never opened
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(hub, "_probe_hub", lambda ref, rev: ("missing", None))
    with pytest.raises(ModelError, match="Hub has no model 'real-model'"):
        models.check_available("text", "real-model")
    assert Path(models.check_available("text", "bundled:minilm")).is_dir()  # bundled models still work
    # the app's own folders (a run's model, an export) still load in public mode
    assert models.resolve_model_ref(str(real), "text") == str(real.resolve())
    local_mode(monkeypatch)
    assert models.check_available("text", str(real)) == str(real.resolve())


# --- the table the README lists -----------------------------------------------------------------------------------
def test_every_limit_is_a_setting_in_the_tables() -> None:
    names = {s.name for s in settings.all_settings()}
    assert set(LIMIT_VARS) | {"TL_PUBLIC", "TL_YIELD_MAX_SHARE"} <= names
    table = fair_use.limits_table()
    assert all(f"`{name}`" in table for name in LIMIT_VARS + ["TL_YIELD_MAX_SHARE"])
    assert all(f"`{name}`" in settings.table() for name in LIMIT_VARS)


def test_public_mode_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TL_PUBLIC", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert not settings.public_mode()
    monkeypatch.setenv("SPACE_ID", "someone/space")
    assert settings.public_mode()
    monkeypatch.delenv("SPACE_ID")
    monkeypatch.setenv("TL_PUBLIC", "1")
    assert settings.public_mode()
    monkeypatch.setenv("TL_MAX_EPOCHS", "lots")  # a typo keeps the default limit rather than lifting it
    assert fair_use.active_limit(settings.MAX_EPOCHS) == 20
    monkeypatch.setenv("TL_MAX_EPOCHS", "0")  # 0 turns a limit off
    assert fair_use.active_limit(settings.MAX_EPOCHS) is None


def test_errors_are_user_errors() -> None:
    assert issubclass(LimitError, UserError)
