"""Fair use of a public deployment: per-minute limits on predictions, polls and new workspaces, a disk quota per
workspace (with Delete run to free space), and the cleanup of idle anonymous workspaces and old downloads. Each
limit refuses with a message that names the limit and the variable that raises it; local mode has none of them.
Handlers are called as gradio calls them (see test_identity.call)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from tests.security.test_identity import call, request
from tests.test_dashboard_parts import make_run
from tl_core import dashboard, ratelimit
from tl_core import workspace as w
from tl_core.workspace import QuotaExceeded
from webui.interface import create_page, start_housekeeping


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TL_HOME", str(tmp_path / "home"))
    for name in ("TL_PUBLIC", "SPACE_ID", "TL_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    ratelimit.BUCKETS.clear()
    yield tmp_path / "home"
    ratelimit.BUCKETS.clear()


@pytest.fixture
def public(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TL_PUBLIC", "1")
    return home


def new_page() -> tuple[gr.Blocks, Any, str]:
    demo, page = create_page(oauth=False)
    sid = call(demo, "init", {page.session.sid: None}, request(None))[page.session.sid]
    return demo, page, sid


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    now = [0.0]
    buckets = ratelimit.Buckets(clock=lambda: now[0])
    assert all(buckets.take("k", "a", 3) for _ in range(3))
    assert not buckets.take("k", "a", 3) and buckets.take("k", "b", 3)  # per key
    now[0] += 20.0  # a third of a minute: one call's worth back
    assert buckets.take("k", "a", 3) and not buckets.take("k", "a", 3)
    assert all(buckets.take("k", "a", 0) for _ in range(100))  # 0 = no limit


class FakePredictor:
    config = type("Cfg", (), {"task": "text"})()

    def predict(self, text: str, top_k: int = 5) -> dict[str, float]:
        return {"positive": 0.9, "negative": 0.1}


@pytest.mark.parametrize("mode", ["public", "local"])
def test_predictions_per_minute(mode: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if mode == "public":
        monkeypatch.setenv("TL_PUBLIC", "1")
    monkeypatch.setenv("TL_RATE_PREDICT", "2")
    monkeypatch.setattr(dashboard, "predictor_for", lambda run_dir: FakePredictor())
    demo, page, sid = new_page()
    make_run(w.Workspace.open(sid).runs_dir, "r1", phase="done", finished=True)
    pg = page.playground
    given = {page.session.sid: sid, pg.play_run: "r1", pg.play_text: "great"}
    for _ in range(2):
        assert call(demo, "predict", given, request(None))[pg.play_label]["positive"] == 0.9
    if mode == "local":  # a laptop has no limits
        assert all(call(demo, "predict", given, request(None)) for _ in range(5))
        return
    with pytest.raises(gr.Error, match=r"Too many predictions in a minute \(limit 2\).*TL_RATE_PREDICT") as err:
        call(demo, "predict", given, request(None))
    assert "Wait a few seconds" in str(err.value)
    _, _, other = new_page()  # another workspace has its own budget
    make_run(w.Workspace.open(other).runs_dir, "r1", phase="done", finished=True)
    assert call(demo, "predict", {**given, page.session.sid: other}, request(None))[pg.play_label]


def test_polls_over_the_limit_skip_quietly(public: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TL_RATE_POLL", "3")
    demo, page, sid = new_page()
    make_run(w.Workspace.open(sid).runs_dir, "r1", phase="training")
    ratelimit.BUCKETS.clear()  # the page load counted as a refresh: start from a full minute's budget
    s, t = page.session, page.train
    given = {s.sid: sid, s.run_name: "r1", s.offset: 0, s.records: []}
    for _ in range(3):
        assert t.status_box in call(demo, "poll", given, request(None))
    assert call(demo, "poll", given, request(None)) == {}  # no error, no change: the timer keeps ticking
    with pytest.warns(UserWarning, match=r"Too many refreshes in a minute \(limit 3\).*TL_RATE_POLL"):
        assert call(demo, "list_runs", {s.sid: sid}, request(None)) == {}


def test_new_anonymous_workspaces_per_client_address(public: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TL_RATE_NEW_WORKSPACES", "3")
    demo, page = create_page(oauth=False)
    sid = page.session.sid
    made = [call(demo, "init", {sid: None}, request(None, host="198.51.100.1"))[sid] for _ in range(3)]
    with pytest.raises(
        gr.Error, match=r"Too many new sessions .* \(limit 3\).*reload the page.*TL_RATE_NEW_WORKSPACES"
    ):
        call(demo, "init", {sid: None}, request(None, host="198.51.100.1"))
    assert len(list(w.sessions_root().iterdir())) == 3  # the refused call made nothing
    # a reload keeps its workspace, a signed-in user and another address are not held back
    assert call(demo, "init", {sid: made[0]}, request(None, host="198.51.100.1"))[sid] == made[0]
    assert call(demo, "init", {sid: None}, request("alice", host="198.51.100.1"))[sid] == w.user_session_id("alice")
    assert call(demo, "init", {sid: None}, request(None, host="198.51.100.2"))[sid]
    # API calls other than the page load never make a workspace
    with pytest.raises(gr.Error, match="not recognised"):
        call(demo, "list_runs", {sid: w.new_session_id()}, request(None, host="198.51.100.3"))


def test_local_mode_makes_workspaces_freely(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TL_RATE_NEW_WORKSPACES", "1")
    demo, page = create_page(oauth=False)
    assert len({call(demo, "init", {page.session.sid: None}, request(None))[page.session.sid] for _ in range(5)}) == 5


def test_quota_refuses_uploads_and_runs_and_delete_run_frees_space(
    public: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TL_WORKSPACE_QUOTA_MB", "1")
    demo, page, sid = new_page()
    ws = w.Workspace.open(sid)
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 600_000)
    ws.save_upload(big)  # 0.6 MB of the 1 MB
    old = make_run(ws.runs_dir, "old-run", phase="done", finished=True)
    (old / "model" / "model.safetensors").write_bytes(b"w" * 300_000)
    d = page.data
    upload = {page.session.sid: sid, d.upload: str(big), page.task_model.task: "text"}
    with pytest.raises(
        gr.Error, match=r"Your workspace is full: .* of the 1\.0 MB .*Delete run.*TL_WORKSPACE_QUOTA_MB"
    ):
        call(demo, "upload_data", upload, request(None))
    assert len(list(ws.uploads.rglob("big.csv"))) == 1  # the refused upload was not saved
    (ws.downloads / "model.zip").write_bytes(b"z" * 200_000)  # now over the quota: no run may start
    with pytest.raises(QuotaExceeded, match="Delete runs you no longer need"):
        dashboard.start_run(ws, dashboard.quick_start_config("text"))
    assert [p.name for p in ws.runs_dir.iterdir()] == ["old-run"]
    # Delete run (Runs & export) frees the space; the listing shows the use against the quota
    rt = page.runs
    listed = call(demo, "delete_run", {page.session.sid: sid, rt.delete_run: "old-run"}, request(None))
    assert not old.exists() and "of the 1.0 MB" in listed[rt.usage_md]
    (ws.downloads / "model.zip").unlink()
    small = tmp_path / "small.csv"
    small.write_bytes(b"x" * 400_000)
    assert ws.save_upload(small, kind="eval").is_file()  # fits again
    monkeypatch.delenv("TL_PUBLIC")  # local mode: no quota
    ws.save_upload(big)


def test_delete_run_never_stops_anything(home: Path) -> None:
    demo, page, sid = new_page()
    ws = w.Workspace.open(sid)
    for name, phase in (("waiting", "queued"), ("going", "training"), ("stopped", "stopped"), ("broke", "failed")):
        make_run(ws.runs_dir, name, phase=phase)
    rt, s = page.runs, page.session
    listed = call(demo, "list_runs", {s.sid: sid}, request(None))
    offered = {value for _, value in listed[rt.delete_run].constructor_args["choices"]}
    assert offered == {"stopped", "broke"}
    for name in ("waiting", "going"):
        with pytest.raises(gr.Error, match="still queued or running. Stop it first"):
            call(demo, "delete_run", {s.sid: sid, rt.delete_run: name}, request(None))
        assert (ws.runs_dir / name).is_dir()
    for name in ("stopped", "broke"):
        call(demo, "delete_run", {s.sid: sid, rt.delete_run: name}, request(None))
    assert sorted(p.name for p in ws.runs_dir.iterdir()) == ["going", "waiting"]


def _age(path: Path, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def test_cleanup_removes_idle_anonymous_workspaces_and_old_downloads(public: Path) -> None:
    demo, page, _ = new_page()
    idle, recent, busy, used = (w.Workspace.open(w.new_session_id()) for _ in range(4))
    user = w.Workspace.open(w.user_session_id("alice"))
    make_run(busy.runs_dir, "going", phase="training")
    for ws in (idle, busy, used, user):
        _age(ws.root, 49)
    (recent.downloads / "fresh.zip").write_bytes(b"z")
    (recent.downloads / "stale.zip").write_bytes(b"z")
    _age(recent.downloads / "stale.zip", 7)
    call(demo, "list_runs", {page.session.sid: used.id}, request(None))  # any event marks a workspace in use
    removed = w.cleanup()
    assert removed == {"workspaces": 1, "downloads": 1}
    assert not idle.root.exists()
    assert recent.root.exists() and busy.root.exists() and used.root.exists() and user.root.exists()
    assert [p.name for p in recent.downloads.iterdir()] == ["fresh.zip"]
    with pytest.raises(gr.Error, match="not recognised"):  # the browser that held it is told to reload
        call(demo, "list_runs", {page.session.sid: idle.id}, request(None))


def test_cleanup_runs_at_start(public: Path) -> None:
    idle = w.Workspace.open(w.new_session_id())
    _age(idle.root, 49)
    start_housekeeping(interval_s=3600)
    deadline = time.time() + 10
    while idle.root.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert not idle.root.exists()
