"""Preprocessing through ``datasets.map``: written to memory-mapped Arrow files in the run folder (not held in RAM),
and in several processes when the data is big enough to pay for starting them.

Without a :class:`MapCache` (tests, quick checks) the result stays in memory; a run always passes one, so its
tokenised texts and decoded pixels cost disk, not RAM, however many rows there are.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Below these sizes one process does the work. A worker costs a fork, a pickled copy of its shard (and of the
# tokenizer) and its own Arrow file: a second or so. Decoding and resizing images is Python + PIL, about one core
# per process and a few hundred small images a second at best, so a worker's 2,000 images take several seconds
# and pay for its start. Fast tokenizers already spread each batch over every core in one process (datasets turns
# that off in workers), so text gains from workers only where there are more cores than that covers: measured on
# 2 cores in one prepare(), 80,000 texts in 2 processes went at the same ~3,000 texts/s as 20,000 in one. Hence
# the high text threshold, and no text workers below 4 CPUs. The bundled samples (hundreds of rows) always stay in one process.
TEXT_ROWS_PER_PROC = 50_000
TEXT_MIN_CPUS = 4
IMAGE_ROWS_PER_PROC = 2_000
MAX_PROCS = 8  # more workers than this mostly contend for disk; the run's own training starts right after

PREPARED_DIR = "prepared"  # under the run's data folder (removed when the run is done), never a global cache in ~


@dataclass(frozen=True)
class MapCache:
    """Where one split's preprocessed rows go, and when to split the work into processes.

    ``key`` names the content: the same data and the same preprocessing settings give the same key, so a resumed
    run reads the files its first attempt wrote instead of tokenising or decoding again."""

    folder: Path
    key: str
    rows_per_proc: int | None = None  # None: the task's default (TEXT_/IMAGE_ROWS_PER_PROC); tests force a low one

    def file(self, name: str) -> Path:
        return self.folder / f"{name}-{self.key}.arrow"


def cache_key(**parts: Any) -> str:
    """A short stable key over everything that shapes the preprocessed rows."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def usable_cpus() -> int:
    """CPUs this process may run on (a container's or taskset's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def num_proc(n_rows: int, rows_per_proc: int, cpus: int | None = None, min_cpus: int = 1) -> int:
    """Processes for ``n_rows``: one per ``rows_per_proc`` rows, at most one per CPU (and MAX_PROCS); one when
    there are fewer than ``min_cpus`` CPUs."""
    cpus = usable_cpus() if cpus is None else cpus
    if cpus < min_cpus:
        return 1
    return max(1, min(n_rows // max(1, rows_per_proc), cpus, MAX_PROCS))


def run_map(
    dataset,
    fn: Callable[[dict[str, list]], dict[str, Any]],
    *,
    cache: MapCache | None,
    name: str,
    rows_per_proc: int,
    min_cpus: int = 1,
    features=None,
    batch_size: int = 1000,
    cpus: int | None = None,
):
    """``dataset.map(fn, batched=True)`` replacing every column; on disk under ``cache`` (memory-mapped), in
    ``num_proc`` processes when there are enough rows; in memory when ``cache`` is None."""
    common = dict(
        batched=True,
        batch_size=batch_size,
        # Rows are written every batch: for images a batch of 224 px pixels is ~150 KB a row, so the writer's
        # default of 1,000 rows would hold 150 MB in RAM before each write.
        writer_batch_size=batch_size,
        remove_columns=dataset.column_names,
        features=features,
    )
    if cache is None:
        return dataset.map(fn, keep_in_memory=True, **common)
    from filelock import FileLock

    path = cache.file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    procs = num_proc(len(dataset), cache.rows_per_proc or rows_per_proc, cpus, min_cpus)
    # Every rank of a multi-process run prepares its data: the lock lets the first one write the files and the
    # others read them (datasets writes each file under a temporary name and renames it when complete).
    with FileLock(str(path) + ".lock"):
        return dataset.map(
            fn,
            cache_file_name=str(path),
            load_from_cache_file=True,
            new_fingerprint=f"{name}-{cache.key}",  # our key: no hashing of the tokenizer to make one
            num_proc=procs if procs > 1 else None,
            desc=f"Preparing {name}",  # datasets adds "(num_proc=N)" when there are workers
            **common,
        )
