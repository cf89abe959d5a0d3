"""Every environment variable the dashboard reads, with its meaning and default: the one list.

Deployment settings live here (where files go, upload caps, which slot to use). Settings that change what a run
computes or writes are not environment variables: they are fields of ``RunConfig`` (config.py), so a run's
``config.json`` alone reproduces it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    meaning: str

    def get(self) -> str:
        value = os.environ.get(self.name)
        return self.default if value is None or value == "" else value


HOME = Setting(
    "TL_HOME",
    "~/.cache/tl_dashboard",
    "Data folder: workspaces, runs, caches, converted models (a Space's storage bucket, for example).",
)
MAX_UPLOAD = Setting("TL_MAX_UPLOAD", "500mb", "Largest file the page accepts in one upload (gradio size string).")
SLOT = Setting("TL_SLOT", "", "'gpu' forces the GPU queue slot; by default it is chosen from the hardware.")
FEATURE_CACHE = Setting(
    "TL_FEATURE_CACHE", "", "Folder for cached frozen-backbone features; empty = each run's own feature_cache/."
)
TRAIN_NICE = Setting(
    "TL_TRAIN_NICE", "0", "CPU priority (nice) of training processes; > 0 keeps the page responsive on small machines."
)
SERVER_NAME = Setting("GRADIO_SERVER_NAME", "127.0.0.1", "Address the page listens on (0.0.0.0 in Docker/Spaces).")
SERVER_PORT = Setting("GRADIO_SERVER_PORT", "7860", "Port the page listens on.")
SPACE_ID = Setting("SPACE_ID", "", "Set by Hugging Face Spaces; with OAUTH_CLIENT_ID it turns on sign-in.")
OAUTH_CLIENT_ID = Setting("OAUTH_CLIENT_ID", "", "Set by Spaces with hf_oauth: true.")
BENCH_DATA = Setting("TL_BENCH_DATA", "", "bench/ only: where benchmark datasets are prepared.")


def all_settings() -> tuple[Setting, ...]:
    """Every Setting defined in this module, in the order written (new ones need no second edit)."""
    return tuple(v for v in globals().values() if isinstance(v, Setting))


def table() -> str:
    """The settings as a Markdown table (README and ``tl settings`` print it)."""
    rows = [f"| `{s.name}` | `{s.default}` | {s.meaning} |" for s in all_settings()]
    return "\n".join(["| variable | default | meaning |", "|---|---|---|", *rows])


# --- uploads ---
MAX_ROWS = Setting("TL_MAX_ROWS", "1000000", "Most rows (or NER sentences) read from one data file; more is refused.")
MAX_UPLOAD_MB = Setting(
    "TL_MAX_UPLOAD_MB",
    "500",
    "Largest data file the readers accept, in MB (also the most a Parquet file may unpack to).",
)
MAX_JSON_MB = Setting("TL_MAX_JSON_MB", "50", "Largest whole-JSON file (.json) read at once, in MB; JSON Lines stream.")
MAX_COLUMNS = Setting("TL_MAX_COLUMNS", "1000", "Most columns read from one table file.")
MAX_LINE_KB = Setting("TL_MAX_LINE_KB", "1024", "Longest line read from a CSV, TSV, JSON Lines or CoNLL file, in KB.")
MAX_UNZIP_MB = Setting("TL_MAX_UNZIP_MB", "2048", "Most an uploaded zip may unpack to, in MB.")
MAX_ZIP_FILES = Setting("TL_MAX_ZIP_FILES", "200000", "Most files in an uploaded zip.")
