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
    "TL_FEATURE_CACHE",
    "",
    "Folder for cached frozen-backbone features, shared by every run; empty = one per workspace "
    "(sessions/<id>/feature_cache, counted in its quota) and TL_HOME/feature_cache for command-line runs.",
)
TRAIN_NICE = Setting(
    "TL_TRAIN_NICE", "0", "CPU priority (nice) of training processes; > 0 keeps the page responsive on small machines."
)
SERVER_NAME = Setting("GRADIO_SERVER_NAME", "127.0.0.1", "Address the page listens on (0.0.0.0 in Docker/Spaces).")
SERVER_PORT = Setting("GRADIO_SERVER_PORT", "7860", "Port the page listens on.")
SPACE_ID = Setting("SPACE_ID", "", "Set by Hugging Face Spaces; with OAUTH_CLIENT_ID it turns on sign-in.")
OAUTH_CLIENT_ID = Setting("OAUTH_CLIENT_ID", "", "Set by Spaces with hf_oauth: true.")
TRACE_DIR = Setting(
    "TL_TRACE_DIR", "", "Tests only: each training process writes what it did (data order, feature shares) here."
)
BENCH_DATA = Setting("TL_BENCH_DATA", "", "bench/ only: where benchmark datasets are prepared.")


def all_settings() -> tuple[Setting, ...]:
    """Every Setting defined in this module, in the order written (new ones need no second edit)."""
    return tuple(v for v in globals().values() if isinstance(v, Setting))


def table() -> str:
    """The settings as a Markdown table (README and ``tl settings`` print it)."""
    rows = [f"| `{s.name}` | `{s.default}` | {s.meaning} |" for s in all_settings()]
    return "\n".join(["| variable | default | meaning |", "|---|---|---|", *rows])


# --- fair use ---
# Limits for a public deployment, where strangers share one machine (see fair_use.py for the checks and the
# messages). They apply in public mode only, except TL_YIELD_MAX_SHARE. A limit set to 0 is off.
PUBLIC = Setting(
    "TL_PUBLIC", "", "1 = public mode: the fair-use limits below apply (always on when SPACE_ID is set, on a Space)."
)
MAX_QUEUED_PER_WORKSPACE = Setting(
    "TL_MAX_QUEUED_PER_WORKSPACE", "2", "Public mode: runs one workspace may have waiting, besides one running."
)
MAX_EPOCHS = Setting("TL_MAX_EPOCHS", "20", "Public mode: most epochs one run may ask for.")
MAX_STEPS = Setting("TL_MAX_STEPS", "5000", "Public mode: most training steps one run may ask for (max steps).")
MAX_RUN_MINUTES = Setting(
    "TL_MAX_RUN_MINUTES", "60", "Public mode: a run still training after this many minutes is stopped (resumable)."
)
MAX_MODEL_PARAMS_M = Setting(
    "TL_MAX_MODEL_PARAMS_M",
    "400",
    "Public mode: largest Hub model, in millions of parameters (checked before download).",
)
MAX_MODEL_MB = Setting(
    "TL_MAX_MODEL_MB", "2000", "Public mode: largest Hub model, in MB of safetensors weights (checked before download)."
)
YIELD_MAX_SHARE = Setting(
    "TL_YIELD_MAX_SHARE", "0.2", "Most of any 10 s a CPU training run spends paused for playground predictions (0-1)."
)
# --- identity, rate limits, workspace quota and cleanup (public deployments) ---
SECRET_KEY = Setting(
    "TL_SECRET_KEY",
    "",
    "Server-only key (32+ characters) that derives signed-in users' workspace ids; empty = a random key kept "
    "in TL_HOME/.server_secret (readable by the owner only). Never shown to browsers.",
)
RATE_ADVISE = Setting(
    "TL_RATE_ADVISE",
    "6",
    "Public mode: advisor requests (data probe + cost estimate) per workspace per minute; 0 = no limit.",
)
RATE_PREDICT = Setting(
    "TL_RATE_PREDICT",
    "60",
    "Public mode: playground predictions (single or file) per workspace per minute; 0 = no limit.",
)
RATE_POLL = Setting(
    "TL_RATE_POLL",
    "240",
    "Public mode: progress polls and run-list refreshes per workspace per minute (a page following a run polls "
    "once a second); 0 = no limit.",
)
RATE_NEW_WORKSPACES = Setting(
    "TL_RATE_NEW_WORKSPACES", "20", "Public mode: new anonymous workspaces per client address per minute; 0 = no limit."
)
WORKSPACE_QUOTA_MB = Setting(
    "TL_WORKSPACE_QUOTA_MB",
    "2048",
    "Public mode: disk space per workspace (uploads, runs, downloads), in MB; 0 = none.",
)
ANON_TTL_HOURS = Setting(
    "TL_ANON_TTL_HOURS",
    "48",
    "Public mode: anonymous workspaces idle this long are deleted (never one with a run queued or running, never "
    "a signed-in user's); 0 = keep them.",
)
DOWNLOADS_TTL_HOURS = Setting(
    "TL_DOWNLOADS_TTL_HOURS", "6", "Public mode: downloads (model zips, prediction CSVs) older than this are deleted."
)
CLEANUP_MINUTES = Setting(
    "TL_CLEANUP_MINUTES", "30", "Public mode: how often the idle-workspace and downloads cleanup runs (also at start)."
)

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


def public_mode() -> bool:
    """True on a deployment shared by strangers: TL_PUBLIC=1, or running on a Hugging Face Space."""
    return PUBLIC.get().strip() == "1" or bool(SPACE_ID.get())


def number(setting: Setting) -> float:
    """A numeric setting; a value that is not a non-negative number falls back to the default, with a line in the
    log (a typo must not lift a limit)."""
    try:
        value = float(setting.get())
    except ValueError:
        value = float("nan")
    if value == value and value >= 0:
        return value
    import logging

    logging.getLogger("tl_dashboard").warning(
        "%s=%r is not a number: using %s", setting.name, setting.get(), setting.default
    )
    return float(setting.default)
