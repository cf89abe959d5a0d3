"""What every event handler shares: readable errors instead of stack traces, and the session's own workspace."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from tl_core.errors import UserError
from tl_core.workspace import Workspace

from .state import Session

log = logging.getLogger("tl_dashboard")


def handler(fn: Callable) -> Callable:
    """Show every user error as a readable gr.Error; log anything else and show a plain summary (no trace)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UserError as err:
            raise gr.Error(str(err), title="Please check") from None
        except Exception as err:  # noqa: BLE001
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error(f"Something went wrong ({type(err).__name__}). The details are in the server log.") from None

    return wrapper


def workspace(session: Session, values: dict[Any, Any]) -> Workspace:
    """The workspace of the id this browser sent (checked: a forged id is refused, never used as a path)."""
    return Workspace.open(values[session.sid])
