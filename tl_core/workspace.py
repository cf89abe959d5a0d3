"""Per-browser workspaces: each identity owns ``TL_HOME/sessions/<id>/`` with ``uploads/``, ``runs/``, ``downloads/``.

The id is a random token (192 bits) this server made and the browser keeps, or, for a user signed in on a Space,
a keyed hash (HMAC with a server-only secret) of the name from the server-side OAuth profile. Every id that comes
back from a client is checked against a strict pattern and must name a workspace this server made; a signed-in
user's id is only ever derived, never accepted from a client. Every run name is checked to lie inside the
workspace, so a client can never point the app at a path outside its own folder.

On a public deployment (settings.public_mode) a workspace has a disk quota, and anonymous workspaces left idle
are removed by ``cleanup()`` (with downloads older than a few hours, in every workspace).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import paths, runs, settings
from .errors import UserError
from .runfiles import FINAL_PHASES

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


# --- the server's secret ----------------------------------------------------------------------------------------
SECRET_FILE = ".server_secret"
# Earlier versions keyed signed-in ids with this file's value AND published it to every browser (/config): it is
# only read to move such a user's workspace to its new id once they sign in, never trusted as a key.
LEGACY_SECRET_FILE = ".browser_secret"


def server_secret() -> bytes:
    """The key of signed-in users' workspace ids: ``TL_SECRET_KEY``, else a random key in ``TL_HOME/.server_secret``
    (mode 0600, made on first use). It never leaves the server: no component, page or log shows it."""
    given = settings.SECRET_KEY.get()
    if given:
        if len(given) < 32:
            raise ValueError(f"{settings.SECRET_KEY.name} must be at least 32 characters long (a random string).")
        return given.encode()
    return _persisted_secret(paths.home() / SECRET_FILE).encode()


def _persisted_secret(path: Path) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
        if len(value) >= 32:
            return value
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others, not even briefly
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_urlsafe(32))
    os.replace(tmp, path)
    return path.read_text(encoding="utf-8").strip()


def storage_key() -> str:
    """The key gradio's BrowserState encrypts the id with. gradio publishes it in /config, so it protects nothing
    and is derived one-way from the server secret: knowing it tells nothing about the secret or any user's id.
    Stable across restarts, so a reloaded browser still finds its workspace."""
    return hmac.new(server_secret(), b"tl-browser-storage-key", hashlib.sha256).hexdigest()[:32]


# --- ids ----------------------------------------------------------------------------------------------------------
def user_session_id(username: str) -> str:
    """A stable id for a signed-in user (OAuth on a Space).

    A keyed hash (HMAC with the server-only secret): the name never becomes a path, and nobody can work out another
    user's id from their public username. Handlers take the name from the server-side OAuth profile only.
    """
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise UserError("The signed-in account name is not valid. Sign out and in again.")
    digest = hmac.new(server_secret(), f"tl-user:{username.lower()}".encode(), hashlib.sha256)
    return USER_PREFIX + digest.hexdigest()[:40]


def _signed_in_id(username: str | None) -> str | None:
    """The signed-in user's id, or None when nobody is signed in or the provider gave an odd name."""
    if not username:
        return None
    try:
        return user_session_id(username)
    except UserError:
        return None  # an odd name from the identity provider: treated as not signed in


def _move_legacy_workspace(username: str, new_id: str) -> None:
    """A signed-in user's workspace made by an earlier version (keyed with the published secret) moves to the new
    id on their first sign-in, so nothing saved is lost and the old, forgeable id stops existing."""
    legacy = paths.home() / LEGACY_SECRET_FILE
    try:
        key = legacy.read_text(encoding="utf-8").strip()
    except OSError:
        return
    old = sessions_root() / (
        USER_PREFIX + hmac.new(key.encode(), f"tl-user:{username.lower()}".encode(), hashlib.sha256).hexdigest()[:40]
    )
    new = sessions_root() / new_id
    if old.is_dir() and not new.exists():
        os.replace(old, new)


def resolve_identity(stored: Any, username: str | None = None) -> str:
    """The workspace id for a page load.

    Signed in (OAuth on a Space): derived from the username, the same in every browser. Otherwise the id kept in
    this browser's storage if it is a random id this server made (its workspace exists), else a fresh random id
    (the caller creates it). A stored signed-in id is not reused without the sign-in (after a sign-out the browser
    must not keep the user's workspace).
    """
    user_id = _signed_in_id(username)
    if user_id:
        _move_legacy_workspace(str(username), user_id)
        return user_id
    if _known_anonymous(stored):
        return stored
    return new_session_id()


def verified_id(claimed: Any, username: str | None) -> str:
    """The workspace a request may use: the signed-in user's own (whatever id the client sent), else the random id
    the client sent, if this server made it. A signed-in user's id is never accepted without their sign-in."""
    user_id = _signed_in_id(username)
    if user_id:
        return user_id
    if isinstance(claimed, str) and claimed.startswith(USER_PREFIX):
        raise UserError(
            "You are signed out. Sign in with Hugging Face to reach your workspace, or reload the page to work "
            "without an account."
        )
    if claimed is None:  # the page load has not settled the identity yet
        raise UserError("The page is still setting up your session. Wait a second and try again.")
    if not _known_anonymous(claimed):
        raise UserError("This browser session is not recognised (or it expired). Reload the page to start a new one.")
    return claimed


def _known_anonymous(session_id: Any) -> bool:
    return (
        is_valid_id(session_id) and not session_id.startswith(USER_PREFIX) and (sessions_root() / session_id).is_dir()
    )


def is_valid_id(session_id: Any) -> bool:
    return isinstance(session_id, str) and bool(SESSION_RE.fullmatch(session_id))


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
        """Copy an uploaded file (from the web server's temp folder) into this workspace; returns the copy.
        On a public deployment the copy must fit in the workspace's quota (checked before anything is written)."""
        src = Path(src)
        if not src.is_file():
            raise UserError("The upload did not arrive completely. Please upload the file again.")
        self.check_quota(adding=src.stat().st_size)
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

    # --- disk quota and activity (public deployments) ----------------------------------------------------------
    def usage_bytes(self) -> int:
        """Bytes this workspace holds on disk (uploads, runs, downloads, its data cache)."""
        return folder_bytes(self.root)

    def check_quota(self, adding: int = 0) -> None:
        """On a public deployment, refuse (saying how to free space) when ``adding`` more bytes would not fit."""
        quota = quota_bytes()
        if not quota:
            return
        used = self.usage_bytes()
        if used + adding <= quota:
            return
        needs = f", and this file needs {human_bytes(adding)}" if adding else ""
        raise QuotaExceeded(
            f"Your workspace is full: it holds {human_bytes(used)} of the {human_bytes(quota)} each workspace may "
            f"use{needs}. Delete runs you no longer need (Runs & export tab, 'Delete run'), then try again; the "
            f"owner of a private deployment can raise {settings.WORKSPACE_QUOTA_MB.name}."
        )

    def touch(self) -> None:
        """Mark the workspace as in use now (idle anonymous workspaces are cleaned up); at most once a minute."""
        marker = self.root / ACTIVITY_FILE
        try:
            if time.time() - marker.stat().st_mtime < 60:
                return
        except OSError:
            pass
        marker.touch()


class QuotaExceeded(UserError):
    """A workspace would grow past its disk quota."""


ACTIVITY_FILE = ".last_active"


def quota_bytes() -> int:
    """The per-workspace quota in bytes; 0 = none (local mode, or TL_WORKSPACE_QUOTA_MB=0)."""
    if not settings.public_mode():
        return 0
    return max(0, int(settings.number(settings.WORKSPACE_QUOTA_MB) * 1024 * 1024))


def folder_bytes(root: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass  # removed meanwhile
    return total


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


# --- cleanup (public deployments) -------------------------------------------------------------------------------
def last_activity(root: Path) -> float:
    """When a workspace was last used: its activity marker, else the folder's own time."""
    for path in (root / ACTIVITY_FILE, root):
        try:
            return path.stat().st_mtime
        except OSError:
            continue
    return 0.0


def has_active_run(root: Path) -> bool:
    """True while one of the workspace's runs is queued, loading or training."""
    return any(row["phase"] not in FINAL_PHASES for row in runs.list_runs(root / "runs"))


def cleanup(now: float | None = None) -> dict[str, int]:
    """Remove anonymous workspaces idle longer than TL_ANON_TTL_HOURS (never one with a run queued or running,
    never a signed-in user's) and downloads older than TL_DOWNLOADS_TTL_HOURS. Returns what was removed."""
    now = time.time() if now is None else now
    ttl_s = settings.number(settings.ANON_TTL_HOURS) * 3600
    downloads_ttl_s = settings.number(settings.DOWNLOADS_TTL_HOURS) * 3600
    removed = {"workspaces": 0, "downloads": 0}
    root = sessions_root()
    if not root.is_dir():
        return removed
    for leftover in root.glob(".trash-*"):  # a cleanup interrupted half-way
        shutil.rmtree(leftover, ignore_errors=True)
    for ws in sorted(root.iterdir()):
        if not ws.is_dir() or not is_valid_id(ws.name):
            continue
        anonymous = not ws.name.startswith(USER_PREFIX)
        if anonymous and ttl_s > 0 and now - last_activity(ws) > ttl_s and not has_active_run(ws):
            trash = ws.with_name(f".trash-{ws.name}")
            os.replace(ws, trash)  # at once: a request arriving now finds no workspace rather than half of one
            shutil.rmtree(trash, ignore_errors=True)
            removed["workspaces"] += 1
            continue
        removed["downloads"] += _prune_downloads(ws / "downloads", now - downloads_ttl_s)
    return removed


def _prune_downloads(folder: Path, before: float) -> int:
    count = 0
    for path in folder.glob("*") if folder.is_dir() else ():
        try:
            if path.is_file() and path.stat().st_mtime < before:
                path.unlink()
                count += 1
        except OSError:
            pass
    return count
