"""Which process is a run's, and what it may inherit: process identity beyond the pid, and the child's environment.

A pid alone names a process only while it lives: after the app or the machine restarts, the pid in a run's
status.json can belong to anything (another user's job, the app itself). A run's process is recognised by its pid
AND its start time (recorded at launch) AND a command line that names the run folder; nothing is signalled
unless all three match.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ALIVE, GONE, OTHER = "alive", "gone", "other"  # ours and running / no such process / the pid is someone else's
HAS_PROC = os.path.exists("/proc/self/stat")  # Linux; macOS laptops go through psutil


def process_start(pid: int) -> str | None:
    """When ``pid`` started, as an opaque string that differs between two processes given the same pid.

    Linux: field 22 of /proc/<pid>/stat (clock ticks since boot). Elsewhere: psutil's create_time (psutil comes
    with accelerate). None when the process does not exist or cannot be inspected."""
    if HAS_PROC:
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
                # The command name (field 2) may hold spaces and ")": the fields after the LAST ")" are fixed.
                fields = f.read().rsplit(")", 1)[1].split()
            if fields[0] == "Z":  # a zombie has exited: it is not running anything
                return None
            return f"proc:{fields[19]}"  # field 22 overall; fields[0] is field 3 (state)
        except (FileNotFoundError, ProcessLookupError):
            return None
        except (OSError, IndexError):
            pass
    try:
        import psutil

        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return f"psutil:{proc.create_time():.3f}"
    except ImportError:
        return _exists_marker(pid)
    except Exception:  # noqa: BLE001 - psutil.NoSuchProcess / AccessDenied: nothing we may rely on
        return None


def _exists_marker(pid: int) -> str | None:
    """Neither /proc nor psutil: all that can be told is whether the pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return "unknown"
    return "unknown"


def command_line(pid: int) -> list[str] | None:
    """The process's argv, or None when it cannot be read."""
    if HAS_PROC:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                raw = f.read()
            return [part.decode("utf-8", "surrogateescape") for part in raw.split(b"\0") if part]
        except (FileNotFoundError, ProcessLookupError):
            return None
        except OSError:
            pass
    try:
        import psutil

        return psutil.Process(pid).cmdline()
    except Exception:  # noqa: BLE001 - no psutil, no such process, access denied
        return None


def identify(pid: int | None, start: str | None, run_dir: Path | str) -> str:
    """ALIVE when ``pid`` is the run's process (same start time when one was recorded, and a command line naming
    ``run_dir``); GONE when no such process runs; OTHER when the pid now belongs to another process."""
    if not pid:
        return GONE
    now = process_start(int(pid))
    if now is None:
        return GONE
    if start and now != "unknown" and now != start:
        return OTHER
    argv = command_line(int(pid))
    if argv is None:
        # Nothing to read (no /proc, no psutil): only a platform without either gets here; trust the start time.
        return ALIVE if start and now == start else OTHER
    return ALIVE if str(Path(run_dir).resolve()) in argv else OTHER


# --- the child's environment ------------------------------------------------------------------------------------
# Only what training needs crosses into the run's process: the Space's own secrets (HF_TOKEN, OAUTH_CLIENT_SECRET,
# cloud keys) must not be readable from a process that runs user-chosen models and data.
ALLOWED_NAMES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TMP", "TEMP", "LD_LIBRARY_PATH",
        "HF_HOME", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "HF_ENDPOINT", "HF_HUB_DISABLE_TELEMETRY", "XDG_CACHE_HOME",
        "MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK",
        "GROUP_RANK", "TOKENIZERS_PARALLELISM", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    }
)  # fmt: skip
ALLOWED_PREFIXES = (
    "LC_", "PYTHON", "TL_", "TRANSFORMERS_", "HF_DATASETS_", "CUDA_", "NVIDIA_", "NCCL_", "GLOO_", "OMP_", "MKL_",
    "OPENBLAS_", "KMP_", "ACCELERATE_", "TORCH", "PYTORCH_", "HIP_", "ROCR_", "HSA_",
)  # fmt: skip
SECRET_MARKS = ("TOKEN", "SECRET", "KEY", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE")
NOT_SECRET = frozenset({"TOKENIZERS_PARALLELISM"})  # has "TOKEN" in its name, holds "true" or "false"


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return name not in NOT_SECRET and (upper.startswith("AWS_") or any(m in upper for m in SECRET_MARKS))


def passes_to_child(name: str) -> bool:
    """Whether an environment variable of the app may reach the run's process: allow-listed and not a secret."""
    allowed = name in ALLOWED_NAMES or name.startswith(ALLOWED_PREFIXES)
    return allowed and not is_secret_name(name)


def child_environment(parent: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The run process's environment: the allow-listed part of ``parent``, then ``extra`` (the caller's explicit
    additions; secrets are dropped from those too)."""
    env = {k: v for k, v in parent.items() if passes_to_child(k)}
    env.update({k: v for k, v in (extra or {}).items() if not is_secret_name(k)})
    return env
