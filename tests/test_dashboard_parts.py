"""Dashboard building blocks without a browser: workspace isolation, the run queue, export, charts, the page's
parts (form fields generated from the config, presenters, the page-load identity)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import gradio as gr
import gradio.oauth
import pytest

from tl_core import charts, dashboard, scheduler
from tl_core import runfiles as rf
from tl_core import workspace as w
from tl_core.config import TrainConfig, load_preset, setting
from tl_core.errors import ConfigError, UserError
from tl_core.methods import FeatureParams, LoraParams, parse_params
from tl_core.workspace import Workspace, is_valid_id, new_session_id, server_secret, storage_key, user_session_id
from webui import create_ui, fields, form, presenters
from webui.interface import create_page

from .run_fakes import spawn_run_process, write_complete_checkpoint


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def make_run(root: Path, name: str, phase: str = "queued", finished: bool = False) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / rf.CONFIG).write_text(
        json.dumps(
            {
                "task": "text",
                "method": "features",
                "model": "bundled:minilm",
                "name": name,
                "data": {"train_file": "/srv/private/reviews.csv"},
                "train": {"epochs": 2},
                "method_params": {},
            }
        )
    )
    rf.update_status(run, phase, command=f"accelerate launch -m tl_core.train {run}")
    if finished:
        (run / rf.MODEL).mkdir()
        (run / rf.MODEL / "model.safetensors").write_bytes(b"weights")
        rf.write_json(
            run / rf.RESULTS,
            {
                "task": "text",
                "labels": ["neg", "pos"],
                "metrics": {"accuracy": 0.91, "f1_macro": 0.9},
                "params": {"trainable": 770, "total": 22_714_498},
                "timing": {"total_s": 12.0},
                "epochs_run": 2,
                "steps": 8,
                "peak_memory_mb": 900,
                "data": {"train": 320, "eval": 80},
            },
        )
        rf.write_json(
            run / rf.REPORT,
            {
                "stats": {
                    "source": "reviews.csv",
                    "splits": {"train": 320, "eval": 80},
                    "eval_source": "20% of reviews.csv",
                }
            },
        )
    return run


# --- workspace -------------------------------------------------------------------------------------------------
def test_workspace_ids_are_strict_and_runs_are_private(home: Path) -> None:
    a, b = Workspace.open(new_session_id()), Workspace.open(new_session_id())
    for bad in (None, "", "short", "../" * 12, "a" * 31, "a" * 30 + "/.", "x" * 65, 42):
        assert not is_valid_id(bad)
        with pytest.raises(UserError):
            Workspace.open(bad)
    assert is_valid_id(user_session_id("alice")) and user_session_id("alice") != user_session_id("bob")
    make_run(a.runs_dir, "run-a", finished=True)
    assert [Path(r["run_dir"]).name for r in a.list_runs()] == ["run-a"]
    assert b.list_runs() == []
    with pytest.raises(UserError, match="no run called"):
        b.run_path("run-a")
    for sneaky in ("../run-a", "/etc/passwd", f"../../{a.id}/runs/run-a", ".."):
        with pytest.raises(UserError):
            b.run_path(sneaky)
    with pytest.raises(UserError):
        a.upload_path("../../../etc/passwd")


def test_server_secret_is_persisted_and_private(home: Path) -> None:
    first = server_secret()
    assert server_secret() == first and len(first) >= 32
    assert (home / ".server_secret").stat().st_mode & 0o077 == 0
    # the browser-storage key (published by gradio) is a different value, stable across restarts
    assert storage_key() == storage_key() and storage_key().encode() not in first


# --- scheduler -------------------------------------------------------------------------------------------------
class FakeLauncher:
    """Stands in for runs.start: marks the run as running under this (live) process id."""

    def __init__(self) -> None:
        self.started: list[tuple[str, bool]] = []
        self.procs: list = []

    def __call__(self, run_dir: Path, resume: bool = False) -> int:
        """A live stand-in process recorded as the run's own (pid, start time, command line), as runs.start does."""
        self.started.append((run_dir.name, resume))
        self.procs.append(spawn_run_process(run_dir))
        return self.procs[-1].pid


def test_queue_runs_one_at_a_time_in_order_and_survives_restarts(home: Path) -> None:
    launch = FakeLauncher()
    runs = [make_run(home / "sessions" / f"s{i}", f"run-{i}") for i in range(3)]
    assert scheduler.submit(runs[0], start=launch) == 0
    assert scheduler.submit(runs[1], start=launch) == 1
    assert scheduler.submit(runs[2], start=launch) == 2
    assert launch.started == [("run-0", False)]
    with pytest.raises(UserError, match="already running or waiting"):
        scheduler.submit(runs[1], start=launch)
    # a "restarted UI" only has the files: positions and the slot holder come back from disk
    assert [scheduler.position(r) for r in runs] == [0, 1, 2]
    assert scheduler.dispatch(start=launch) is None  # run-0 still holds the accelerator
    rf.update_status(runs[0], "done")
    assert scheduler.dispatch(start=launch) == runs[1].resolve()
    assert [scheduler.position(r) for r in runs] == [None, 0, 1]
    # cancelling a waiting run removes it from the line and marks it stopped
    assert scheduler.cancel(runs[2]) is True
    assert rf.read_json(runs[2] / rf.STATUS)["phase"] == "stopped"
    rf.update_status(runs[1], "failed")
    assert scheduler.dispatch(start=launch) is None
    assert [name for name, _ in launch.started] == ["run-0", "run-1"]


def test_resume_goes_through_the_queue(home: Path) -> None:
    launch = FakeLauncher()
    run = make_run(home / "sessions" / "s", "run-r", phase="stopped")
    (run / rf.STOP).write_text("1")
    assert scheduler.submit(run, start=launch, resume=True) == 0
    assert launch.started == [("run-r", True)] and not (run / rf.STOP).exists()


def test_a_launch_failure_does_not_wedge_the_queue(home: Path) -> None:
    def broken(run_dir: Path, resume: bool = False) -> int:
        raise UserError("no such file")

    run = make_run(home / "sessions" / "s", "run-x")
    scheduler.submit(run, start=broken)
    assert rf.read_json(run / rf.STATUS)["phase"] == "failed"
    ok = make_run(home / "sessions" / "s", "run-y")
    launch = FakeLauncher()
    assert scheduler.submit(ok, start=launch) == 0


# --- charts ----------------------------------------------------------------------------------------------------
def test_charts_from_metrics_records() -> None:
    records = [
        {"phase": "train", "step": s, "epoch": s / 4, "loss": 1 / s, "learning_rate": 1e-3 * (1 - s / 9)}
        for s in range(1, 9)
    ]
    records += [
        {"phase": "eval", "step": 4 * e, "epoch": e, "eval_loss": 0.5 / e, "eval_f1_macro": 0.6 + e / 10}
        for e in (1, 2)
    ]
    loss = charts.loss_figure(records)
    assert list(loss.data[0].y) == [1 / s for s in range(1, 9)]
    ev = charts.eval_figure(records)
    assert [t.name for t in ev.data] == ["eval loss", "macro F1"] and list(ev.data[1].y) == [0.7, 0.8]
    assert len(charts.lr_figure(records).data[0].x) == 8
    assert not charts.loss_figure([]).data  # empty state: a message, no traces
    cm = charts.confusion_figure(["a", "b"], [[3, 1], [0, 4]])
    assert [list(row) for row in cm.data[0].z] == [[3, 1], [0, 4]]
    dist = charts.label_distribution({"train": {"a": 5, "b": 3}, "eval": {"a": 1, "b": 1}})
    assert [t.name for t in dist.data] == ["train", "eval"]
    comp = charts.compare_figure([("r1", records), ("r2", records[:4])])
    assert {t.name for t in comp.data} >= {"r1", "r2"}


# --- identity: browser storage, or the signed-in user on a Space with OAuth --------------------------------------
def test_identity_from_browser_or_signed_in_user(home: Path) -> None:
    assert not w.oauth_enabled({}) and not w.oauth_enabled({"SPACE_ID": "me/app"})  # a Space without hf_oauth
    assert w.oauth_enabled({"SPACE_ID": "me/app", "OAUTH_CLIENT_ID": "abc"})
    # not signed in: the id this browser keeps (one this server made), else a fresh random one
    mine = w.Workspace.open(w.new_session_id()).id
    assert w.resolve_identity(mine, None) == mine
    fresh = w.resolve_identity(None, None)
    assert w.is_valid_id(fresh) and fresh != mine and not fresh.startswith(w.USER_PREFIX)
    never_made = w.new_session_id()  # well-formed, but chosen by the client: not adopted
    assert w.resolve_identity(never_made, None) != never_made
    assert w.resolve_identity("../../etc", None) not in ("../../etc", fresh)
    # signed in: the same workspace in every browser, a different one per user, a valid folder name
    alice = w.resolve_identity(mine, "alice")
    assert alice == w.resolve_identity(None, "alice") == w.resolve_identity(w.new_session_id(), "Alice")
    assert alice != w.resolve_identity(None, "bob") and w.is_valid_id(alice) and alice.startswith(w.USER_PREFIX)
    assert w.Workspace.open(alice).root.parent == w.sessions_root()
    # keyed with the app's secret: not the plain hash anyone could compute from the public username
    assert alice[2:] != hashlib.sha256(b"tl-user:alice").hexdigest()[:40]
    # after signing out, the browser does not keep the user's workspace
    assert w.resolve_identity(alice, None) != alice
    # a name that is not a Hub name never becomes an id: the browser's own id is used
    for odd in ("../../x", "a b", "x" * 200):
        assert w.resolve_identity(mine, odd) == mine
        with pytest.raises(UserError):
            w.user_session_id(odd)


def test_login_button_only_with_oauth(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not create_ui(oauth=False).expects_oauth  # offline: no sign-in button (it would need an HF login to mock)
    pytest.importorskip("itsdangerous", reason="OAuth needs gradio[oauth] (itsdangerous, authlib)")
    # What a Space with hf_oauth provides (else gradio mocks OAuth, which needs a local HF login).
    for key, value in {
        "SYSTEM": "spaces",
        "SPACE_ID": "someone/tl-dashboard",
        "OAUTH_CLIENT_ID": "id",
        "OAUTH_CLIENT_SECRET": "secret",
        "OAUTH_SCOPES": "openid profile",
        "OPENID_PROVIDER_URL": "https://huggingface.co",
    }.items():
        monkeypatch.setenv(key, value)
        if hasattr(gradio.oauth, key):  # gradio reads these once, at import
            monkeypatch.setattr(gradio.oauth, key, value)
    demo = create_ui()  # on a Space with hf_oauth the sign-in is on by default
    assert demo.expects_oauth
    assert any(isinstance(b, gr.LoginButton) for b in demo.blocks.values())


def test_on_load_uses_the_signed_in_user(home: Path) -> None:
    """The page-load handler turns the OAuth profile gradio injects into the user's workspace id."""
    demo = create_ui(oauth=False)
    (init,) = [d for d in demo.fns.values() if d.api_name == "init"]
    (sid,) = init.inputs  # the id this browser keeps
    stored = w.Workspace.open(w.new_session_id()).id
    profile = gr.OAuthProfile({"name": "Alice", "preferred_username": "alice", "profile": "", "picture": ""})
    assert init.fn({sid: stored}, profile)[sid] == w.user_session_id("alice")
    assert init.fn({sid: stored}, None)[sid] == stored


# --- model availability (public helper in tl_core.models) -----------------------------------------------------
def test_check_available_offline(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tl_core import models  # heavy (torch): only the tests that need it load it
    from tl_core.errors import ModelError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models.hub, "_offline_mode", lambda: True)
    with pytest.raises(ModelError, match="no-such-org/nothing-here-42"):
        models.check_available("text", "no-such-org/nothing-here-42")
    with pytest.raises(ModelError):
        dashboard.check_model("text", "bad id!")
    monkeypatch.setattr(models.hub, "_offline_mode", lambda: False)
    monkeypatch.setattr(models.hub, "_probe_hub", lambda ref, rev: ("missing", None))
    with pytest.raises(ModelError, match="has no model"):
        dashboard.check_model("text", "org/missing")
    monkeypatch.setattr(models.hub, "_probe_hub", lambda ref, rev: ("gated", None))
    with pytest.raises(ModelError, match="gated"):
        models.check_available("text", "org/gated")
    monkeypatch.setattr(models.hub, "_probe_hub", lambda ref, rev: ("ok", None))
    assert models.check_available("text", "org/fine") == "org/fine"


# --- error analysis: a click on a table cell becomes a (true, predicted) filter ---------------------------------
def _cls_results() -> dict:
    return {
        "task": "image",
        "report": {
            "confusion_matrix": {"labels": ["cat", "dog", "fox"], "matrix": [[5, 2, 0], [1, 6, 0], [0, 3, 4]]},
            "per_class": [
                {"label": x, "precision": 0.8, "recall": 0.7, "f1": 0.75, "support": 7} for x in ("cat", "dog", "fox")
            ],
        },
    }


def test_confusion_table_and_click_filters(tmp_path: Path) -> None:
    d = presenters
    res = _cls_results()
    headers, rows = d.confusion_rows(res)
    assert headers == [d.TRUE_VS_PRED, "cat", "dog", "fox"] and rows[2] == ["fox", 0, 3, 4]
    assert d.pick_filter(res, "confusion", [2, 2]) == ("fox", "dog")  # row fox, column "dog"
    assert d.pick_filter(res, "confusion", [0, 0]) == ("cat", "any")  # the row header: all of cat's mistakes
    assert d.pick_filter(res, "per_class", [1, 3]) == ("dog", "any")
    for bad in ([3, 1], [0, 4], [-1, 0], None, "x"):
        with pytest.raises(UserError):
            d.pick_filter(res, "confusion", bad)
    assert d.confusion_rows({"report": {"per_entity": []}}) == ([], [])
    # the filter picks exactly the examples of that cell from the run's saved predictions
    run = tmp_path / "run"
    run.mkdir()
    preds = [
        {"input": f"{t}{i}.png", "true": t, "pred": p, "confidence": 0.6}
        for i, (t, p) in enumerate([("fox", "dog")] * 3 + [("cat", "dog")] * 2 + [("dog", "cat"), ("cat", "cat")])
    ]
    (run / rf.EVAL_PREDICTIONS).write_text("\n".join(json.dumps(p) for p in preds))
    assert [r["input"] for r in dashboard.errors_for(run, "fox", "dog")] == ["fox0.png", "fox1.png", "fox2.png"]
    assert {r["true"] for r in dashboard.errors_for(run, "any", "dog")} == {"fox", "cat"}
    assert len(dashboard.errors_for(run, "cat", "any")) == 2
    assert d.error_summary(res, "fox", "dog", 3) == "Showing 3 examples of **fox** predicted as **dog**."
    assert d.error_summary(res, "cat", "any", 0).startswith("No misclassified examples of **cat**")
    ner = {
        "task": "ner",
        "report": {"per_entity": [{"entity": "PER", "precision": 1, "recall": 1, "f1": 1, "support": 3}]},
    }
    assert d.pick_filter(ner, "per_class", [0, 0]) == ("PER", "any")
    assert "wrong **PER** tag" in d.error_summary(ner, "PER", "any", 2)


def test_ner_errors_mark_the_wrong_spans() -> None:
    row = {
        "tokens": ["Ann", "met", "Bob", "in", "Rome"],
        "true": ["B-PER", "O", "B-PER", "O", "B-LOC"],
        "pred": ["B-PER", "O", "O", "O", "B-ORG"],
    }
    spans = [s for s in presenters.ner_highlight(row) if s[0].strip()]
    assert spans == [
        ("Ann", "PER"),
        ("met", None),
        ("Bob", "✗ O (true PER)"),
        ("in", None),
        ("Rome", "✗ ORG (true LOC)"),
    ]


def test_status_card_shows_queue_position() -> None:
    html = presenters.status_html("run-q", {"phase": "queued", "progress": 0}, [], position=2)
    assert "Waiting in the queue · position 2" in html
    assert "position" not in presenters.status_html("run-q", {"phase": "training", "progress": 0.5}, [], None)


# --- the run form: generated from the config dataclasses, read and written through one mapping -----------------
def test_a_labelled_setting_becomes_a_form_field_without_a_ui_edit() -> None:
    @dataclasses.dataclass
    class Extended(TrainConfig):  # what adding settings to TrainConfig looks like
        new_setting: float = setting(0.0, "A new knob.", label="New setting", minimum=0, maximum=1)
        new_image_setting: int = setting(4, "Images only.", label="New image setting", tasks=("image",))

    with gr.Blocks():
        group = fields.generate(Extended)
        lora = fields.generate(LoraParams, id_prefix="lora-")
        feats = fields.generate(FeatureParams, id_prefix="features-")
    labelled = [f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("label")]
    assert list(group.components) == labelled + ["new_setting", "new_image_setting"]
    new, image_only = group.components["new_setting"], group.components["new_image_setting"]
    assert isinstance(new, gr.Number) and new.label == "New setting" and new.info == "A new knob."
    assert new.elem_id == "new-setting" and image_only.precision == 0
    assert group.components["epochs"].elem_id == "epochs"  # the browser tests find these by id
    assert group.components["image_size"].elem_id == "image-size"
    assert isinstance(group.components["scheduler"], gr.Dropdown)  # declared choices make a dropdown
    assert isinstance(lora.components["merge"], gr.Checkbox)
    assert isinstance(lora.components["target_modules"], gr.Textbox)
    assert isinstance(feats.components["pooling"], gr.Dropdown) and lora.components["r"].elem_id == "lora-r"
    # written from a config (task-specific fields shown for their task only) and read back unchanged
    cfg = Extended(learning_rate=0.01, new_setting=0.2, new_image_setting=8)
    shown = group.write(cfg, task="text")
    assert shown[new] == 0.2 and shown[image_only]["visible"] is False and shown[image_only]["value"] == 8
    values = {c: v["value"] if isinstance(v, dict) else v for c, v in shown.items()}
    assert Extended(**group.read(values)) == Extended(**{k: getattr(cfg, k) for k in group.components})


def test_the_form_round_trips_a_config(home: Path) -> None:
    """A preset written into the page's form and read back gives the same run config."""
    _, page = create_page(oauth=False)
    ws = Workspace.open(new_session_id())
    cfg = load_preset("image", "lora").with_overrides(
        ["train.epochs=7", "method_params.r=4", "data.max_rows=50", "data.eval_fraction=0.3", "data.stratify=false"]
    )
    shown = {**form.settings_updates(page.method, cfg), **form.split_updates(page.data, cfg)}
    values = {
        c: v["value"] if isinstance(v, dict) else v for c, v in shown.items() if not isinstance(v, dict) or "value" in v
    }
    values.update(
        {
            page.task_model.task: "image",
            page.task_model.model: cfg.model,
            page.method.method: "lora",
            page.method.run_label: "",
            page.session.sid: ws.id,
            page.session.data_choice: dashboard.SAMPLE,
            page.session.eval_choice: None,
        }
    )
    values.update({page.data.fields[name]: "" for name in form.COLUMNS})
    back = form.read_config(page, ws, {c: values[c] if c in values else c.value for c in form.inputs(page)})
    assert back.train == cfg.train and back.data == cfg.data and back.model == cfg.model
    assert parse_params("lora", back.method_params) == parse_params("lora", cfg.method_params)
    assert shown[page.method.param_groups["lora"]]["visible"] and not shown[page.method.param_groups["full"]]["visible"]
    assert shown[page.method.train.components["max_length"]]["visible"] is False  # an image run has no tokens
    # the config's own checks refuse what the form cannot hold
    values[page.method.train.components["learning_rate"]] = 5
    with pytest.raises(ConfigError, match="Learning rate must be"):
        form.read_config(page, ws, {c: values[c] if c in values else c.value for c in form.inputs(page)})


def test_resume_needs_a_stopped_run_with_a_checkpoint(home: Path) -> None:
    launch = FakeLauncher()
    done = make_run(home / "sessions" / "s", "run-done", phase="done")
    with pytest.raises(UserError, match="finished; there is nothing to resume"):
        scheduler.resume(done, start=launch)
    stopped = make_run(home / "sessions" / "s", "run-stopped", phase="stopped")
    with pytest.raises(UserError, match="no complete checkpoint"):
        scheduler.resume(stopped, start=launch)
    write_complete_checkpoint(stopped, 4)
    assert scheduler.resume(stopped, start=launch) == 0
    assert launch.started == [("run-stopped", True)]


def test_presenters_use_the_registry_names() -> None:
    row = {
        "run_dir": "/x/runs/run-1",
        "name": "first",
        "task": "text",
        "method": "features",
        "phase": "done",
        "metrics": {"f1_macro": 0.8123, "accuracy": 0.9},
        "data": "/srv/private/reviews.csv",
        "duration_s": 12.4,
    }
    assert presenters.run_label(row) == "first · done · macro F1 0.812"
    table = presenters.runs_table(
        [row, {**row, "run_dir": "/x/runs/run-2", "phase": "queued", "metrics": {}, "data": None}], {"run-2": 1}
    )
    assert table.values.tolist() == [
        ["run-1", "text", "default", "features", "reviews.csv", "macro F1 0.812", "12 s", "done"],
        ["run-2", "text", "default", "features", "bundled sample", "", "12 s", "queued (#1)"],
    ]
    done = presenters.status_html("run-1", {"phase": "done"}, [], results={"task": "text", "metrics": row["metrics"]})
    assert "Done: macro F1 0.812" in done
    assert "Resume" in presenters.status_html("run-1", {"phase": "stopped"}, resumable=True)


def test_a_stop_for_the_time_limit_says_why_on_the_page() -> None:
    from webui import presenters

    note = "Stopped: the 60-minute limit for one run on this shared machine was reached."
    html_out = presenters._outcome("stopped", {"note": note}, {}, resumable=True)
    assert note in html_out
    assert "Resume" in presenters._outcome("stopped", {}, {}, resumable=True)
