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


FEATURE_CACHE_DIR = "feature_cache"


def feature_cache(run_dir: Path | None = None) -> Path:
    """Where a run's frozen-backbone features are cached, shared by every run that may reuse them.

    ``$TL_FEATURE_CACHE`` when set (one cache for everything). Otherwise one cache per workspace for a run inside
    ``sessions/<id>/runs/`` (so it counts toward that workspace's disk quota, goes with the workspace, and no
    workspace reads features computed from another's data), and ``$TL_HOME/feature_cache`` for any other run
    (the command line). Entries are keyed by content (features.cache_key), so sharing never mixes data up."""
    if run_dir is not None:
        try:
            rel = Path(run_dir).resolve().relative_to(sessions_root().resolve())
        except ValueError:
            rel = None
        if rel is not None and len(rel.parts) >= 3 and rel.parts[1] == "runs":
            return workspace_feature_cache(sessions_root() / rel.parts[0])
    return workspace_feature_cache(home())


def workspace_feature_cache(root: Path) -> Path:
    """The feature cache of a workspace folder (or of TL_HOME), unless ``$TL_FEATURE_CACHE`` names one for all."""
    given = settings.FEATURE_CACHE.get()
    return Path(given).expanduser().resolve() if given else Path(root) / FEATURE_CACHE_DIR
