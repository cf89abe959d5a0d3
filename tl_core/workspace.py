"""Per-browser workspaces: each identity owns ``TL_HOME/sessions/<id>/`` with ``uploads/``, ``runs/``, ``downloads/``.

The id is a random token kept in the browser (or derived from a signed-in user's name). Every id that comes
back from a client is checked against a strict pattern before it is used as a folder name, and every run name
is checked to lie inside the workspace, so a client can never point the app at a path outside its own folder.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import paths, runs, settings
from .errors import UserError

SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
RUN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
_SAFE_FILE = re.compile(r"[^A-Za-z0-9._-]+")
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")  # Hub user and org names
USER_PREFIX = "u-"


def sessions_root() -> Path:
    return paths.sessions_root()


def new_session_id() -> str:
    """A fresh random identity (192 bits, URL-safe, 32 characters); never in the signed-in users' ``u-`` space."""
    while True:
        value = secrets.token_urlsafe(24)
        if not value.startswith(USER_PREFIX):
            return value


def oauth_enabled(env: Any = None) -> bool:
    """True on a Hugging Face Space with ``hf_oauth: true`` (the Space then sets SPACE_ID and OAUTH_CLIENT_ID).

    Anywhere else (``python app.py`` on a laptop) sign-in is off and the identity lives in the browser only.
    """
    env = os.environ if env is None else env
    return bool(env.get(settings.SPACE_ID.name) and env.get(settings.OAUTH_CLIENT_ID.name))


def user_session_id(username: str) -> str:
    """A stable id for a signed-in user (OAuth on a Space).

    A keyed hash (HMAC with the app's secret): the name never becomes a path, and nobody can work out another
    user's id from their public username and send it to the app's API.
    """
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise UserError("The signed-in account name is not valid. Sign out and in again.")
    digest = hmac.new(browser_secret().encode(), f"tl-user:{username.lower()}".encode(), hashlib.sha256)
    return USER_PREFIX + digest.hexdigest()[:40]


def resolve_identity(stored: Any, username: str | None = None) -> str:
    """The workspace id for a page load.

    Signed in (OAuth on a Space): derived from the username, the same in every browser. Otherwise the id kept in
    this browser's storage if it is a valid random one, else a fresh random id. A stored signed-in id is not
    reused without the sign-in (after a sign-out the browser must not keep the user's workspace).
    """
    if username:
        try:
            return user_session_id(username)
        except UserError:
            pass  # an odd name from the identity provider: fall back to the browser's own id
    if is_valid_id(stored) and not stored.startswith(USER_PREFIX):
        return stored
    return new_session_id()


def is_valid_id(session_id: Any) -> bool:
    return isinstance(session_id, str) and bool(SESSION_RE.fullmatch(session_id))


def browser_secret() -> str:
    """The key that encrypts the id in the browser's storage, persisted so ids survive app restarts."""
    path = paths.home() / ".browser_secret"
    try:
        value = path.read_text(encoding="utf-8").strip()
        if len(value) >= 32:
            return value
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    tmp = path.with_name(f".browser_secret.{os.getpid()}.tmp")
    tmp.write_text(value, encoding="utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path.read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class Workspace:
    id: str
    root: Path

    @classmethod
    def open(cls, session_id: Any) -> Workspace:
        """The workspace of a validated id (folders created on first use)."""
        if not is_valid_id(session_id):
            raise UserError("This browser session is not recognised. Reload the page to start a new session.")
        root = sessions_root() / session_id
        for sub in ("uploads", "runs", "downloads"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        return cls(session_id, root)

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    def contains(self, path: str | Path) -> bool:
        try:
            Path(path).resolve().relative_to(self.root.resolve())
            return True
        except ValueError:
            return False

    def run_path(self, name: Any) -> Path:
        """The folder of one of this workspace's runs, by its name (never a client-given path)."""
        if not isinstance(name, str) or not RUN_NAME_RE.fullmatch(name):
            raise UserError("Choose one of your runs first.")
        path = (self.runs_dir / name).resolve()
        if path.parent != self.runs_dir.resolve() or not (path / "config.json").is_file():
            raise UserError(f"There is no run called '{name}' in this session.")
        return path

    def list_runs(self) -> list[dict[str, Any]]:
        """This workspace's runs only, newest first (see tl_core.runs.list_runs)."""
        return runs.list_runs(self.runs_dir)

    def save_upload(self, src: str | Path, kind: str = "data") -> Path:
        """Copy an uploaded file (from the web server's temp folder) into this workspace; returns the copy."""
        src = Path(src)
        if not src.is_file():
            raise UserError("The upload did not arrive completely. Please upload the file again.")
        name = _SAFE_FILE.sub("_", src.name).strip("._") or "upload"
        folder = self.uploads / kind / secrets.token_hex(4)
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / name
        shutil.copyfile(src, dest)
        return dest

    def upload_path(self, relative: Any) -> Path:
        """A file this workspace uploaded earlier, by its path relative to ``uploads/`` (checked to stay inside)."""
        if not isinstance(relative, str) or not relative or relative.startswith("/") or ".." in Path(relative).parts:
            raise UserError("Upload the data file again.")
        path = (self.uploads / relative).resolve()
        if not self.contains(path) or not path.exists():
            raise UserError("The uploaded file is gone. Upload it again.")
        return path

    def relative_upload(self, path: Path) -> str:
        return str(Path(path).resolve().relative_to(self.uploads.resolve()))
