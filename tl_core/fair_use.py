"""Fair use of one shared machine: the limits a public deployment puts on each workspace and run, and their checks.

Why: a public Space is shared by strangers. Without limits one visitor can queue twenty runs, ask for 1000 epochs,
or pick a 7-billion-parameter model, and everyone else waits behind them. In public mode (``settings.public_mode``)
the checks below refuse such requests up front, with a message that says what the limit is and what to do instead;
on a laptop (local mode) they change nothing. The one exception is the playground's pre-emption share
(``TL_YIELD_MAX_SHARE``): capping how long predictions may pause a training run is a fairness fix everywhere.

Where they are enforced (all in tl_core):
  queue length, fair order, epochs, steps   scheduler.submit (and scheduler.check_room before a run folder exists)
  run wall time                             scheduler.dispatch, which runs on every UI poll
  model size, model folders                 models.check_available / describe_model, and before any Hub download
  pre-emption share                         cpu_yield.YieldFlag.wait
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import paths, settings
from .errors import ModelError, UserError
from .settings import Setting, public_mode

__all__ = ["LIMITS", "LimitError", "limits_table", "public_mode"]

CLI_OWNER = "(command line)"  # runs outside any workspace (the CLI, --run-dir) share one place in the queue
TIME_LIMIT_MARK = "time-limit"  # written into a run's STOP file when the wall-time limit stopped it


class LimitError(UserError):
    """A request above a fair-use limit of this shared machine; the message says the limit and what to do."""


@dataclass(frozen=True)
class Limit:
    setting: Setting
    what: str  # what is limited, in the words of the README's table
    refusal: str  # what the user sees, in short


LIMITS: tuple[Limit, ...] = (
    Limit(
        settings.MAX_QUEUED_PER_WORKSPACE,
        "runs waiting per workspace (besides the one training)",
        "Start is refused: wait for a run to finish or cancel a waiting one.",
    ),
    Limit(settings.MAX_EPOCHS, "epochs per run", "Start is refused: lower Epochs."),
    Limit(settings.MAX_STEPS, "training steps per run (when a step count is set)", "Start is refused: fewer steps."),
    Limit(
        settings.MAX_RUN_MINUTES,
        "minutes one run may train",
        "The run is stopped at a checkpoint and says why; Resume continues it (it queues again).",
    ),
    Limit(
        settings.MAX_MODEL_PARAMS_M,
        "millions of parameters of a Hub model",
        "The model is refused before download: choose a smaller one.",
    ),
    Limit(settings.MAX_MODEL_MB, "MB of a Hub model's weights", "The model is refused before download."),
    Limit(
        settings.PUBLIC,
        "model folders on the server (public mode accepts only bundled and Hub models)",
        "The reference is refused, with the same words whether the folder exists or not.",
    ),
    Limit(
        settings.YIELD_MAX_SHARE,
        "share of any 10 s a CPU run pauses for playground predictions (also in local mode)",
        "Predictions wait their turn instead of stalling training; no message.",
    ),
)


def limits_table() -> str:
    """The fair-use limits as a Markdown table (limit, variable, default, what a user sees)."""
    rows = [f"| {lim.what} | `{lim.setting.name}` | `{lim.setting.default}` | {lim.refusal} |" for lim in LIMITS]
    return "\n".join(["| limit | variable | default | when reached |", "|---|---|---|---|", *rows])


def active_limit(setting: Setting) -> float | None:
    """The limit in force: None in local mode or when the owner set it to 0 (off)."""
    if not public_mode():
        return None
    value = settings.number(setting)
    return value or None


def raise_hint(*names: Setting) -> str:
    """The closing sentence of every refusal: who can change the limit, and how."""
    listed = " and ".join(s.name for s in names)
    noun = "variables" if len(names) > 1 else "variable"
    return f"(The owner of a private deployment can raise this limit with the environment {noun} {listed}.)"


# --- queue --------------------------------------------------------------------------------------------------------
def owner_of(run_dir: Path | str) -> str:
    """The workspace a run belongs to (``sessions/<id>/runs/<name>``): queue limits and order are per workspace."""
    try:
        rel = Path(run_dir).resolve().relative_to(paths.sessions_root().resolve())
    except ValueError:
        return CLI_OWNER
    return rel.parts[0] if len(rel.parts) > 1 else CLI_OWNER


def check_queue_room(load: int) -> None:
    """Refuse a new run when the workspace already has ``load`` runs waiting or training, at its limit."""
    waiting = active_limit(settings.MAX_QUEUED_PER_WORKSPACE)
    if waiting is None:
        return
    allowed = 1 + int(waiting)
    if load >= allowed:
        raise LimitError(
            f"You already have {load} runs training or waiting on this shared machine, and each workspace may "
            f"have {allowed} at a time (one training, {int(waiting)} waiting). Wait until one of them finishes, or "
            f"stop a waiting one, then try again; nothing you saved is lost. "
            + raise_hint(settings.MAX_QUEUED_PER_WORKSPACE)
        )


# --- run length ---------------------------------------------------------------------------------------------------
def check_run_length(config: dict[str, Any]) -> None:
    """Refuse a run config asking for more epochs or steps than one run may take here.

    A step count (> 0) replaces epochs in training, so only it is checked then; otherwise the epochs are.
    """
    train = config.get("train") or {}
    steps, epochs = _as_number(train.get("max_steps", -1)), _as_number(train.get("epochs", 0))
    step_cap, epoch_cap = active_limit(settings.MAX_STEPS), active_limit(settings.MAX_EPOCHS)
    if steps > 0:
        if step_cap is not None and steps > step_cap:
            raise LimitError(
                f"This run asks for {steps:g} training steps, and one run on this shared machine may take at most "
                f"{step_cap:g}. Ask for {step_cap:g} steps or fewer, or set no step count and use Epochs instead. "
                + raise_hint(settings.MAX_STEPS)
            )
        return
    if epoch_cap is not None and epochs > epoch_cap:
        raise LimitError(
            f"This run asks for {epochs:g} epochs, and one run on this shared machine may train for at most "
            f"{epoch_cap:g}. Set Epochs to {epoch_cap:g} or fewer. " + raise_hint(settings.MAX_EPOCHS)
        )


def _as_number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def run_time_limit_s() -> float | None:
    """Seconds one run may hold the machine (from its launch), or None when there is no limit."""
    minutes = active_limit(settings.MAX_RUN_MINUTES)
    return None if minutes is None else minutes * 60.0


def time_limit_note() -> str:
    minutes = settings.number(settings.MAX_RUN_MINUTES)
    return (
        f"Stopped: the {minutes:g}-minute limit for one run on this shared machine was reached. Resume continues "
        "from the last checkpoint (the run waits its turn in the queue again); if it stopped before its first "
        "checkpoint, start a shorter run (fewer epochs or less data). " + raise_hint(settings.MAX_RUN_MINUTES)
    )


# --- models -------------------------------------------------------------------------------------------------------
def local_model_refused() -> ModelError:
    """The one refusal of a model path in public mode. It never depends on what exists on the server's disk."""
    return ModelError(
        "Model folders on the server cannot be used on this shared machine. Choose a bundled model "
        "(bundled:minilm for text and NER, bundled:efficientnet-lite0 for images) or a Hugging Face Hub id such as "
        "distilbert-base-uncased. (A private deployment accepts model folders: its owner leaves TL_PUBLIC unset "
        "and runs it outside Spaces.)"
    )


def check_model_size(repo_id: str, info: Any) -> None:
    """Refuse a Hub model above the size limits, judged from its Hub metadata before anything is downloaded.

    ``info`` is a ``huggingface_hub.ModelInfo`` (from ``model_info(..., files_metadata=True)``): the parameter
    count comes from its safetensors summary, the bytes from the sizes of the weight files a load would fetch.
    Metadata without either (no safetensors weights) passes: such a model cannot be loaded here anyway.
    """
    params_cap, mb_cap = active_limit(settings.MAX_MODEL_PARAMS_M), active_limit(settings.MAX_MODEL_MB)
    if info is None or (params_cap is None and mb_cap is None):
        return
    params, size = hub_params(info), hub_weight_bytes(info)
    too_many = params_cap is not None and params is not None and params > params_cap * 1e6
    too_big = mb_cap is not None and size is not None and size > mb_cap * 2**20
    if not (too_many or too_big):
        return
    facts = [
        f"about {params / 1e6:,.0f}M parameters" if params else "",
        f"{size / 2**20:,.0f} MB of weights" if size else "",
    ]
    limits = [f"{params_cap:g}M parameters" if params_cap else "", f"{mb_cap:g} MB" if mb_cap else ""]
    raise ModelError(
        f"'{repo_id}' is too big for this shared machine: it has {' and '.join(filter(None, facts))}, and the limit "
        f"is {' and '.join(filter(None, limits))}. Choose a smaller model, such as distilbert-base-uncased, "
        "bundled:minilm (text and NER) or bundled:efficientnet-lite0 (images). "
        + raise_hint(settings.MAX_MODEL_PARAMS_M, settings.MAX_MODEL_MB)
    )


def hub_params(info: Any) -> int | None:
    st = getattr(info, "safetensors", None)
    total = getattr(st, "total", None) if st is not None else None
    return int(total) if isinstance(total, (int, float)) and total > 0 else None


def hub_weight_bytes(info: Any) -> int | None:
    """Bytes of the weights ``from_pretrained`` fetches: ``model.safetensors`` or its shards; else every top-level
    ``*.safetensors`` file (a larger estimate, never a smaller one)."""
    files = {
        s.rfilename: s.size
        for s in getattr(info, "siblings", None) or []
        if s.rfilename.endswith(".safetensors") and "/" not in s.rfilename and isinstance(s.size, int)
    }
    main = {n: b for n, b in files.items() if n == "model.safetensors" or n.startswith("model-")}
    chosen = main or files
    return sum(chosen.values()) if chosen else None


# --- playground pre-emption ---------------------------------------------------------------------------------------
def yield_max_share() -> float:
    """Most of any 10 s window a CPU training run may spend paused for predictions (local and public mode)."""
    return min(1.0, settings.number(settings.YIELD_MAX_SHARE))


# --- fair order ---------------------------------------------------------------------------------------------------
def fair_order(waiting: list[tuple[str, str]], served: dict[str, float]) -> list[int]:
    """Indices of ``waiting`` ((entry name, owner) in submission order) in the order they get the machine.

    Workspaces take turns: every workspace's first waiting run comes before anyone's second, and within a turn
    the workspace served longest ago (``served``: owner -> when it last got the machine; never = first) goes
    first. A workspace that queued three runs therefore never holds up another workspace's first one.
    """
    turn: dict[str, int] = {}
    keys = []
    for i, (name, owner) in enumerate(waiting):
        k = turn.get(owner, 0)
        turn[owner] = k + 1
        keys.append((k, served.get(owner, 0.0), name, i))
    return [key[-1] for key in sorted(keys)]
