"""The shared feature cache's housekeeping: which entries runs still use, and freeing the others.

Where the cache lives is paths.feature_cache: one per workspace in the app (inside the workspace folder, so its
disk quota and its cleanup include it) and one per TL_HOME for the command line. Entries are written by
features.cached_extract (atomic rename) and named ``<split>-<key>.safetensors``.

Deleting runs must not silently leave a large cache behind: when a run is deleted in the app, the entries that no
remaining run of the workspace lists in its results.json (``features.cache_keys``) are deleted too. While one of
the workspace's runs is still queued or running nothing is deleted (it may be about to reuse an entry, and its keys
are only known once it finishes); the next deletion frees them. The CLI's cache is never pruned by itself: it is a
cache, and deleting ``$TL_HOME/feature_cache`` at any time only costs a recomputation.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import runfiles as rf

SUFFIX = ".safetensors"
STALE_TMP_S = 3600.0  # a temporary file this old belongs to a writer that died (a live one renames within minutes)


def used_keys(runs_dir: Path) -> set[str]:
    """Cache entry names (without suffix) listed by the finished runs under ``runs_dir``."""
    keys: set[str] = set()
    for run_dir in Path(runs_dir).glob("*/"):
        features = (rf.read_json(run_dir / rf.RESULTS, {}) or {}).get("features") or {}
        keys.update(str(k) for k in (features.get("cache_keys") or {}).values())
    return keys


def busy(runs_dir: Path) -> bool:
    """True while a run under ``runs_dir`` is queued, loading or training (it may read or write the cache)."""
    for run_dir in Path(runs_dir).glob("*/"):
        if (run_dir / rf.CONFIG).is_file():
            phase = (rf.read_json(run_dir / rf.STATUS, {}) or {}).get("phase", "queued")
            if phase not in rf.FINAL_PHASES:
                return True
    return False


def prune_unused(cache_dir: Path, runs_dir: Path, now: float | None = None) -> int:
    """Delete the entries of ``cache_dir`` that no run under ``runs_dir`` uses, and temporary files left by dead
    writers; nothing while a run is active. Returns the bytes freed."""
    cache_dir = Path(cache_dir)
    if not cache_dir.is_dir() or busy(runs_dir):
        return 0
    now = time.time() if now is None else now
    keep = used_keys(runs_dir)
    freed = 0
    for path in cache_dir.iterdir():
        try:
            stat = path.stat()
            if path.name.endswith(SUFFIX) and not path.name.startswith("."):
                unused = path.name[: -len(SUFFIX)] not in keep
            else:  # ".<entry>.<pid>-<hex>.tmp" of features.cached_extract
                unused = path.name.endswith(".tmp") and now - stat.st_mtime > STALE_TMP_S
            if unused and path.is_file():
                path.unlink()
                freed += stat.st_size
        except OSError:
            continue  # removed meanwhile
    return freed


def size_bytes(cache_dir: Path) -> int:
    total = 0
    for path in Path(cache_dir).glob("*") if Path(cache_dir).is_dir() else ():
        try:
            total += path.stat().st_size
        except OSError:
            pass
    return total
