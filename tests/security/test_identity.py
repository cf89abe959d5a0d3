"""Workspaces cannot be forged: with sign-in on, every handler takes the workspace from the server-side OAuth
profile (gradio fills it from the session cookie; an API client cannot), a signed-in user's id sent without that
sign-in reaches nothing, the key of those ids never leaves the server, and an anonymous id must be one this server
made. Handlers are called the way gradio calls them (gradio.helpers.special_args with a request whose session
holds, or does not hold, a sign-in), and once through gradio_client against `python app.py` on a faked Space.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest
from gradio import helpers, utils

from tests.test_dashboard_parts import make_run
from tl_core import runfiles as rf
from tl_core import workspace as w
from webui.interface import create_page

VICTIM = "victim"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TL_HOME", str(tmp_path / "home"))
    for name in ("TL_PUBLIC", "SPACE_ID", "TL_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def request(username: str | None = None, host: str = "203.0.113.7") -> Any:
    """A request as gradio hands it to special_args: signed in when its session holds the provider's userinfo."""
    session: dict[str, Any] = {}
    if username:
        userinfo = {"name": username.title(), "preferred_username": username, "profile": "", "picture": ""}
        session["oauth_info"] = {
            "userinfo": userinfo,
            "access_token": "hf_oauth_token",
            "scope": "openid profile",
            "expires_at": time.time() + 3600,
        }
    return SimpleNamespace(scope={"session": session}, headers={}, client=SimpleNamespace(host=host))


def call(demo: gr.Blocks, api_name: str, given: dict[Any, Any], req: Any) -> Any:
    """Run the listener ``api_name`` as gradio does: its inputs as {component: value}, then the special arguments
    (the OAuth profile and token from the request's session, the request itself) filled in by gradio's own code."""
    (fn,) = [d for d in demo.fns.values() if d.api_name == api_name]
    values = {c: given.get(c) for c in fn.inputs}
    args, *_ = helpers.special_args(fn.fn, inputs=[values], request=req)
    return fn.fn(*args)


def legacy_user_id(key: str, username: str) -> str:
    """A signed-in id as earlier versions made it: keyed with the secret they published in /config."""
    return w.USER_PREFIX + hmac.new(key.encode(), f"tl-user:{username}".encode(), hashlib.sha256).hexdigest()[:40]


def test_every_handler_that_takes_the_id_is_given_the_server_side_profile(home: Path) -> None:
    """No handler can forget the check: each one that receives the browser's id also declares the OAuth profile
    parameter gradio fills on the server (and a signed-in request reaches the user's own workspace through it)."""
    demo, page = create_page(oauth=False)
    sid = page.session.sid
    taking_id = [d for d in demo.fns.values() if sid in d.inputs]
    assert len(taking_id) >= 20
    for d in taking_id:
        hints = utils.get_type_hints(d.fn)
        assert gr.OAuthProfile | None in hints.values(), f"{d.api_name} does not get the server-side profile"
    listed = call(demo, "init", {sid: None}, request(VICTIM))
    assert listed[sid] == w.user_session_id(VICTIM)


def test_a_signed_in_users_id_without_the_sign_in_reaches_nothing(home: Path, monkeypatch) -> None:
    demo, page = create_page(oauth=False)
    s, ev, rt, pg = page.session, page.evaluate, page.runs, page.playground
    victim_id = call(demo, "init", {s.sid: None}, request(VICTIM))[s.sid]
    run = make_run(w.Workspace.open(victim_id).runs_dir, "secret-run", phase="done", finished=True)
    legacy_key = "published-in-config-by-earlier-versions-0123456789"
    (home / w.LEGACY_SECRET_FILE).write_text(legacy_key)
    pushed: list[Any] = []
    monkeypatch.setattr("webui.components.runs_export.export.push_to_hub", lambda *a, **k: pushed.append(a) or "x")
    # the victim, signed in, sees the run (so the refusals below are the identity check, nothing else)
    mine = call(demo, "list_runs", {s.sid: "ignored"}, request(VICTIM))
    assert "secret-run" in mine[rt.runs_df].to_string()
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    forged = (victim_id, legacy_user_id(legacy_key, VICTIM), legacy_user_id(legacy_key, VICTIM.title()))
    attempts = {
        "list_runs": {},
        "evaluate": {ev.eval_run: "secret-run"},
        "stop_run": {s.run_name: "secret-run"},
        "resume_run": {s.run_name: "secret-run"},
        "download_zip": {rt.export_run: "secret-run"},
        "download_demo": {rt.export_run: "secret-run"},
        "push_to_hub": {rt.export_run: "secret-run", rt.repo_id: "evil/x", rt.token: "hf_evil", rt.push_kind: "model"},
        "delete_run": {rt.delete_run: "secret-run"},
        "predict": {pg.play_run: "secret-run", pg.play_text: "hello"},
        "compare_runs": {rt.compare_sel: ["secret-run", "secret-run"]},
    }
    for fake in forged:
        for api_name, given in attempts.items():
            with pytest.raises(gr.Error, match="signed out"):
                call(demo, api_name, {s.sid: fake, **given}, request(None))
        # the page load hands the forger a fresh random workspace, not the victim's
        assert call(demo, "init", {s.sid: fake}, request(None))[s.sid] not in forged
    # signed in as someone else, the victim's id leads to the caller's own (empty) workspace
    theirs = call(demo, "list_runs", {s.sid: victim_id}, request("mallory"))
    assert "secret-run" not in theirs[rt.runs_df].to_string()
    with pytest.raises(gr.Error, match="no run called"):
        call(demo, "evaluate", {s.sid: victim_id, ev.eval_run: "secret-run"}, request("mallory"))
    assert not pushed and not (run / rf.STOP).exists()
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
    assert not any(w.Workspace.open(victim_id).downloads.iterdir())


def test_anonymous_ids_must_be_made_by_this_server(home: Path) -> None:
    demo, page = create_page(oauth=False)
    s = page.session
    mine = call(demo, "init", {s.sid: None}, request(None))[s.sid]
    assert len(mine) == 32 and w.is_valid_id(mine) and (w.sessions_root() / mine).is_dir()
    assert call(demo, "list_runs", {s.sid: mine}, request(None))  # the browser's own id works
    made_up = w.new_session_id()  # well-formed, never handed out: no workspace springs up for it
    with pytest.raises(gr.Error, match="not recognised"):
        call(demo, "list_runs", {s.sid: made_up}, request(None))
    assert not (w.sessions_root() / made_up).exists()


def test_earlier_signed_in_workspaces_move_to_the_new_id_on_sign_in(home: Path) -> None:
    """Nothing saved is lost: the workspace under the old (forgeable) id moves to the new one when its owner signs
    in, and the old id stops existing."""
    legacy_key = "the-old-published-browser-secret-0123456789"
    home.mkdir(parents=True)
    (home / w.LEGACY_SECRET_FILE).write_text(legacy_key)
    old = w.sessions_root() / legacy_user_id(legacy_key, VICTIM)
    make_run(old / "runs", "kept-run", phase="done", finished=True)
    demo, page = create_page(oauth=False)
    new_id = call(demo, "init", {page.session.sid: None}, request(VICTIM))[page.session.sid]
    assert new_id != old.name and not old.exists()
    assert (w.sessions_root() / new_id / "runs" / "kept-run" / rf.RESULTS).is_file()


def test_the_id_key_is_never_published(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for given in (None, "k" * 40):  # the generated key file, then a key set by the owner
        if given:
            monkeypatch.setenv("TL_SECRET_KEY", given)
        demo, _ = create_page(oauth=False)
        config = json.dumps(demo.get_config_file(), default=str)
        secret = w.server_secret().decode()
        assert secret not in config and w.storage_key() in config  # only the derived, one-way browser key
        assert w.storage_key() != secret[:32]
    monkeypatch.setenv("TL_SECRET_KEY", "too-short")
    with pytest.raises(ValueError, match="at least 32 characters"):
        w.server_secret()


# --- through the public API of a running app that believes it is a Space with sign-in ---------------------------
SPACE_ENV = {
    "SYSTEM": "spaces",
    "SPACE_ID": "someone/tl-dashboard",
    "OAUTH_CLIENT_ID": "client-id",
    "OAUTH_CLIENT_SECRET": "client-secret",
    "OAUTH_SCOPES": "openid profile",
    "OPENID_PROVIDER_URL": "https://huggingface.co",
    "TL_SECRET_KEY": "s" * 16 + "server-only-key-0123456789",
}


@pytest.mark.slow
def test_forged_ids_through_gradio_client_get_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("gradio_client")
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from tests.test_app import start_app

    home = tmp_path / "home"
    monkeypatch.setenv("TL_HOME", str(home))
    monkeypatch.setenv("TL_SECRET_KEY", SPACE_ENV["TL_SECRET_KEY"])
    legacy_key = "the-old-published-browser-secret-0123456789"
    home.mkdir()
    (home / w.LEGACY_SECRET_FILE).write_text(legacy_key)
    victim_new = w.sessions_root() / w.user_session_id(VICTIM)
    victim_old = w.sessions_root() / legacy_user_id(legacy_key, VICTIM)
    runs = [make_run(ws / "runs", "secret-run", phase="done", finished=True) for ws in (victim_new, victim_old)]
    proc, url = start_app(home, SPACE_ENV)
    try:
        config = urllib_get(url + "config")
        assert SPACE_ENV["TL_SECRET_KEY"] not in config and legacy_key not in config
        c = Client(url, verbose=False)
        for forged in (victim_old.name, victim_new.name):
            with pytest.raises(AppError, match="signed out"):
                c.predict(forged, api_name="/list_runs")
            for api_name, args in (
                ("/evaluate", ("secret-run",)),
                ("/stop_run", ()),
                ("/download_zip", ("secret-run",)),
                ("/push_to_hub", ("secret-run", "evil/x", "hf_evil", True, "model")),
            ):
                with pytest.raises(AppError):
                    c.predict(forged, *args, api_name=api_name)
            assert c.predict(forged, api_name="/init")[0] not in (victim_old.name, victim_new.name)
        # an ordinary anonymous visitor still works on this Space (the refusals above are not a blanket "no")
        sid = c.predict(None, api_name="/init")[0]
        assert "secret-run" not in json.dumps(c.predict(sid, api_name="/list_runs")[0], default=str)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)
    for run in runs:
        assert (run / rf.RESULTS).is_file() and not (run / rf.STOP).exists()
    assert not any(victim_new.glob("downloads/*")) and not any(victim_old.glob("downloads/*"))


def urllib_get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode("utf-8", "replace")
