"""What every event handler shares: readable errors instead of stack traces, and the caller's own workspace.

Identity is settled here, once for every handler. ``@handler`` adds two parameters to the handler's signature that
gradio fills on the server: the signed-in user's ``gr.OAuthProfile`` (read from the session cookie; API clients
cannot supply it) and the ``gr.Request`` (the client's address). ``workspace()`` then derives the workspace from
them: a signed-in user always gets their own, whatever id the client sent; anyone else gets the random id their
browser holds, if this server made it. A handler that is not decorated cannot reach any workspace.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import gradio as gr

from tl_core import ratelimit, settings
from tl_core import workspace as identity
from tl_core.errors import UserError
from tl_core.workspace import QuotaExceeded, Workspace

from .state import Session

log = logging.getLogger("tl_dashboard")


@dataclass(frozen=True)
class Caller:
    """Who sent the event, as the server knows it (never from a component value)."""

    username: str | None  # from the server-side OAuth profile; None when not signed in
    host: str  # the client's address (new anonymous workspaces are rate limited per address)


_TITLES = {ratelimit.LimitReached: "Please wait", QuotaExceeded: "Workspace full"}
_CALLER: ContextVar[Caller | None] = ContextVar("tl_caller", default=None)
_EXTRA = (
    inspect.Parameter("tl_profile", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
    inspect.Parameter("tl_request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
)
_EXTRA_TYPES = {"tl_profile": gr.OAuthProfile | None, "tl_request": gr.Request | None}


def handler(fn: Callable) -> Callable:
    """Settle who is calling (see the module's doc), then run ``fn``: every user error shows as a readable gr.Error;
    anything else is logged and shown as a plain summary (no trace)."""
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params), f"{fn.__name__}: positional parameters only"
    full = sig.replace(parameters=[*params, *_EXTRA])

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = full.bind(*args, **kwargs)
        profile = bound.arguments.pop("tl_profile", None)
        request = bound.arguments.pop("tl_request", None)
        token = _CALLER.set(Caller(getattr(profile, "username", None) or None, client_host(request)))
        try:
            return fn(*bound.args, **bound.kwargs)
        except gr.Error:
            raise
        except UserError as err:
            # the user's to fix, not the server's: one log line (with the CLI hint, for whoever reads the log),
            # no trace; the page gets the message alone (never a config key or a flag)
            log.info("%s: %s", fn.__name__, " ".join(err.for_cli().split()))
            raise gr.Error(str(err), title=_TITLES.get(type(err), "Please check")) from None
        except Exception as err:  # noqa: BLE001
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error(f"Something went wrong ({type(err).__name__}). The details are in the server log.") from None
        finally:
            _CALLER.reset(token)

    wrapper.__signature__ = full  # type: ignore[attr-defined]
    # gradio reads these annotations to know what to inject (functools.wraps shares fn's dict: copy it)
    wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), **_EXTRA_TYPES}
    return wrapper


def caller() -> Caller:
    """Who is calling the running handler; outside a ``@handler`` there is no caller and no workspace."""
    found = _CALLER.get()
    if found is None:
        raise RuntimeError("workspace access outside a @handler: the caller's identity is unknown")
    return found


def client_host(request: Any) -> str:
    """The client's address. On a Space the socket peer is Hugging Face's proxy, which passes the client's address
    in X-Forwarded-For."""
    if request is None:
        return "local"
    headers = getattr(request, "headers", None) or {}
    if settings.SPACE_ID.get():
        forwarded = (headers.get("x-forwarded-for") or "").split(",")[0].strip()
        if forwarded:
            return forwarded
    client = getattr(request, "client", None)
    return str(getattr(client, "host", None) or "unknown")


def workspace(session: Session, values: dict[Any, Any]) -> Workspace:
    """The caller's workspace: the signed-in user's own, else the one of the random id this browser sent (a forged,
    unknown or signed-in id without its sign-in is refused, never used as a path)."""
    ws = Workspace.open(identity.verified_id(values[session.sid], caller().username))
    ws.touch()
    return ws


def page_identity(stored: Any) -> str:
    """The page load's identity: the signed-in user's id, the browser's own id, or a new random one (limited per
    client address per minute on a public deployment); its workspace exists afterwards."""
    who = caller()
    sid = identity.resolve_identity(stored, who.username)
    if sid != stored and not sid.startswith(identity.USER_PREFIX):
        ratelimit.check("new_workspace", who.host)
    Workspace.open(sid).touch()
    return sid
