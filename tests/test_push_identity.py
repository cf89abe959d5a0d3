"""The Hub push uses the signed-in account's token on a Space (gr.OAuthToken, never a component value) unless a
token is pasted, and pushes the demo as a Space when asked; the token box is emptied after use."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from tl_core.workspace import Workspace, new_session_id
from webui.components import runs_export


def _handlers(tl_home: Path):
    tab = SimpleNamespace(
        token="token", repo_id="repo", private="private", push_kind="kind", export_run="run", push_out="out"
    )
    page = SimpleNamespace(runs=tab, session=SimpleNamespace(sid="sid"))
    sid = new_session_id()
    run = Workspace.open(sid).runs_dir / "run-1"  # a run folder of this session (the push itself is faked)
    run.mkdir(parents=True)
    (run / "config.json").write_text('{"task": "text", "method": "features"}')
    return runs_export.RunsHandlers(page), sid


@pytest.mark.parametrize("pasted,kind", [("", "model"), ("hf_pasted", "demo")])
def test_push_takes_the_oauth_token_unless_one_is_pasted(pasted, kind, tl_home, monkeypatch):
    seen = {}

    def fake_push(run_dir, repo, token, private, demo=False):
        seen.update(run=Path(run_dir).name, repo=repo, token=token, private=private, demo=demo)
        return f"https://huggingface.co/{repo}"

    monkeypatch.setattr(runs_export.export, "push_to_hub", fake_push)
    h, sid = _handlers(tl_home)
    values = {"sid": sid, "run": "run-1", "repo": "al/model", "token": pasted, "private": True, "kind": kind}
    out = h.push(values, gr.OAuthToken(token="hf_from_oauth", scope="write-repos", expires_at=0))
    assert seen["token"] == (pasted or "hf_from_oauth") and seen["demo"] is (kind == "demo")
    assert seen["run"] == "run-1" and out["token"] == "" and "al/model" in out["out"]


def test_push_without_any_token_asks_to_sign_in_or_paste(tl_home):
    """The refusal is said in the message area; the token box is not an output of it (no red "Error" pill)."""
    h, sid = _handlers(tl_home)
    values = {"sid": sid, "run": "run-1", "repo": "al/model", "token": "", "private": True, "kind": "model"}
    out = h.push(values, None)
    assert "Sign in with Hugging Face, or paste an access token" in out["out"] and "token" not in out
