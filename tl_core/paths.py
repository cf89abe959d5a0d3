"""Where the dashboard keeps its files: the one definition of the home folder and its sub-folders.

``TL_HOME`` (see settings.py) moves everything, e.g. onto a Space's mounted storage bucket. The app and the
training subprocess both resolve it here, so they always agree.
"""

from __future__ import annotations

from pathlib import Path

from . import settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    """The data folder: ``$TL_HOME`` (``~`` expanded), default ``~/.cache/tl_dashboard``; always absolute."""
    return Path(settings.HOME.get()).expanduser().resolve()


def runs_root() -> Path:
    """Runs started from the command line without ``--run-dir``."""
    return home() / "runs"


def sessions_root() -> Path:
    """One folder per workspace (browser or signed-in user): uploads, runs, downloads."""
    return home() / "sessions"


def models_cache() -> Path:
    """Bundled models converted once into safetensors folders."""
    return home() / "models"


def samples_cache() -> Path:
    """Samples generated at run time (the digits image set)."""
    return home() / "samples"


def extracted_root() -> Path:
    """Zip uploads unpacked for reading."""
    return home() / "extracted"


def queue_root() -> Path:
    """The scheduler's queue files."""
    return home() / "queue"
