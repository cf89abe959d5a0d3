"""RunConfig: everything a run needs, loaded from YAML presets or JSON, saved resolved in each run folder.

Unknown keys are errors (with the key's name) so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

TASKS = ("text", "image", "ner")
METHODS = ("full", "lora", "features")


def setting(
    default: Any = None,
    help: str = "",
    *,
    label: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    choices: tuple[str, ...] = (),
    tasks: tuple[str, ...] = (),
    **kw: Any,
) -> Any:
    """A config field with what the UI and the checks need: ``label`` (shown as a form field when set), ``help``
    (the field's hint), inclusive ``minimum``/``maximum``, an exclusive lower bound ``above``, allowed ``choices``,
    and the ``tasks`` it applies to (empty: all). The form, the CLI and the trainer all read these."""
    meta = {
        "help": help,
        "label": label,
        "minimum": minimum,
        "maximum": maximum,
        "above": above,
        "choices": choices,
        "tasks": tasks,
    }
    if callable(default) and not isinstance(default, str):
        return field(default_factory=default, metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


@dataclass
class DataConfig:
    train_file: str | None = setting(None, "File, folder or zip; empty = the task's bundled sample.")
    eval_file: str | None = setting(None, "Optional separate evaluation file; else a split of the training file.")
    text_column: str | None = setting(None, "Text column (text task); auto-detected when empty.")
    label_column: str | None = setting(None, "Label column (text and image tasks); auto-detected when empty.")
    image_column: str | None = setting(None, "Image-path column of a CSV/JSONL index; auto-detected when empty.")
    eval_fraction: float = setting(
        0.2, "Share held out for evaluation when there is no evaluation file.", minimum=0.01, maximum=0.9
    )
    stratify: bool = setting(True, "Same class mix in both parts.")
    seed: int = setting(42, "Same seed, same split.", minimum=0, maximum=2**32 - 1)
    max_rows: int | None = setting(None, "Cap on training rows for quick experiments; empty = all.", minimum=1)


@dataclass
class TrainConfig:
    learning_rate: float = setting(
        5e-5, "Fine-tuning ~2e-5..1e-4; a head on features ~1e-3..1e-2.", label="Learning rate", above=0, maximum=1
    )
    epochs: float = setting(3.0, "Passes over the training data.", label="Epochs", above=0, maximum=1000)
    batch_size: int = setting(16, "Lower it if memory runs out.", label="Batch size", minimum=1, maximum=4096)
    max_length: int = setting(
        128, "Longer texts are cut.", label="Max length (tokens)", minimum=8, maximum=8192, tasks=("text", "ner")
    )
    image_size: int = setting(
        224, "Images are resized to this.", label="Image size (px)", minimum=32, maximum=1024, tasks=("image",)
    )
    early_stopping_patience: int = setting(
        0,
        "Epochs without improvement before stopping; 0 = off.",
        label="Early-stopping patience",
        minimum=0,
        maximum=1000,
    )
    scheduler: str = setting(
        "linear", "How the rate decays.", label="LR schedule", choices=("linear", "cosine", "constant_with_warmup")
    )
    warmup: float = setting(0.06, "< 1: share of steps; >= 1: number of steps.", label="Warmup", minimum=0)
    eval_batch_size: int = setting(64, "Batch size for evaluation and feature extraction.", minimum=1, maximum=4096)
    weight_decay: float = setting(0.01, "L2-style weight decay of AdamW.", minimum=0, maximum=1)
    precision: str = setting("auto", "auto = bf16 where the hardware runs it fast.", choices=("auto", "bf16", "fp32"))
    group_by_length: bool = setting(True, "Text: batch similar lengths together (less padding).")
    logging_steps: int = setting(0, "0 = auto: about 30 loss points per run, however short.", minimum=0)
    save_total_limit: int = setting(2, "Checkpoints kept.", minimum=1, maximum=100)
    save_steps: int = setting(
        0,
        "> 0: also save a checkpoint every this many steps (less work lost to a crash in long epochs); "
        "0 = at the end of each epoch only.",
        minimum=0,
    )
    seed: int = setting(42, "Seed of initialisation and data order.", minimum=0, maximum=2**32 - 1)
    max_steps: int = setting(-1, "> 0 overrides epochs (smoke tests); -1 = off.", minimum=-1)
    cpu_yield: bool = setting(True, "CPU runs pause for the milliseconds a playground prediction takes.")
    profile_steps: int = setting(
        0, "> 0: torch.profiler over this many steps, table in the run's profile.txt.", minimum=0
    )

    def __post_init__(self) -> None:
        if self.save_steps > 0 and self.early_stopping_patience > 0:
            raise ConfigError(
                "Saving every N steps cannot be combined with early stopping, which saves a checkpoint at each "
                "evaluation (every epoch): set one of them to 0.",
                cli_hint="set train.save_steps=0 or train.early_stopping_patience=0",
            )


@dataclass
class RunConfig:
    task: str
    method: str
    model: str | None = None  # Hub id, local folder or "bundled:<name>"; None = the task's bundled default
    revision: str | None = None  # Hub revision (branch, tag or commit)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    method_params: dict[str, Any] = field(default_factory=dict)  # checked against the method's params dataclass
    name: str | None = None  # free text shown in run lists

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"Unknown task '{self.task}'. Choose one of: {', '.join(TASKS)}.")
        if self.method not in METHODS:
            raise ConfigError(f"Unknown method '{self.method}'. Choose one of: {', '.join(METHODS)}.")
        if isinstance(self.data, dict):
            self.data = _build(DataConfig, self.data, "data")
        if isinstance(self.train, dict):
            self.train = _build(TrainConfig, self.train, "train")
        if self.method_params is None:
            self.method_params = {}
        from .methods import parse_params  # methods imports this module: import when first used

        parse_params(self.method, self.method_params)  # the CLI refuses the same bad values as the page

    # --- (de)serialisation -------------------------------------------------
    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        if not isinstance(raw, dict):
            raise ConfigError("A run configuration must be a mapping of keys to values.")
        return _build(cls, raw, "")

    @classmethod
    def from_file(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Config file not found: {path}.")
        text = path.read_text(encoding="utf-8")
        try:
            raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as err:
            raise ConfigError(f"{path.name} is not valid YAML/JSON: {err}") from None
        return cls.from_dict(raw or {})

    @classmethod
    def from_yaml_text(cls, text: str) -> RunConfig:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"Not valid YAML: {err}") from None
        return cls.from_dict(raw or {})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

    def with_overrides(self, assignments: list[str]) -> RunConfig:
        """Apply ``key=value`` strings with dotted keys (``train.epochs=1``); values parsed as YAML scalars."""
        raw = self.to_dict()
        for item in assignments:
            if "=" not in item:
                raise ConfigError(f"'--set {item}' needs the form key=value, e.g. train.epochs=1.")
            key, value = item.split("=", 1)
            parts = key.strip().split(".")
            target = raw
            for part in parts[:-1]:
                if part not in target or not isinstance(target[part], dict):
                    raise ConfigError(f"Unknown config key '{key}'. Known sections: data, train, method_params.")
                target = target[part]
            leaf = parts[-1]
            if target is not raw.get("method_params") and leaf not in target:
                raise ConfigError(f"Unknown config key '{key}'.")
            target[leaf] = yaml.safe_load(value) if value.strip() else None
        return RunConfig.from_dict(raw)


def build(cls: type, raw: dict[str, Any], prefix: str) -> Any:
    """The one dict -> dataclass converter (config sections and method params): unknown keys are errors that
    name the key, values are coerced to the field's type and checked against its range and choices."""
    if not isinstance(raw, dict):
        raise ConfigError(f"'{prefix or 'config'}' must be a mapping, got {type(raw).__name__}.")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        where = f" in '{prefix}'" if prefix else ""
        raise ConfigError(
            f"Unknown config key{'s' if len(unknown) > 1 else ''}{where}: {', '.join(unknown)}. "
            f"Allowed: {', '.join(known) or 'none'}."
        )
    values: dict[str, Any] = {}
    for name, value in raw.items():
        key = f"{prefix}.{name}" if prefix else name
        values[name] = check_range(known[name], _coerce(known[name], value, key), key)
    try:
        return cls(**values)
    except TypeError as err:  # a required key is missing
        raise ConfigError(f"Incomplete config: {err}") from None


_build = build  # RunConfig's own name for it


def _coerce(f: dataclasses.Field, value: Any, key: str) -> Any:
    kind = str(f.type)
    if value is None or kind.startswith(("DataConfig", "TrainConfig", "dict")):
        return value
    try:
        if kind.startswith("float"):
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind.startswith("int"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind.startswith("bool"):
            return _to_bool(value)
        if kind.startswith("str"):
            return str(value)
    except (TypeError, ValueError):
        kinds = {"float": "a number", "int": "a whole number", "bool": "yes or no", "str": "text"}
        raise ConfigError(
            f"{field_label(f)} must be {kinds.get(kind.split(' ')[0], kind)}, got {value!r}.", cli_hint=key
        ) from None
    return value


def field_label(f: dataclasses.Field) -> str:
    """What a person calls a setting: its form label, else its name in words (``eval_batch_size`` -> ``Eval batch
    size``). Messages use it so the browser never shows a config key; the key goes into the CLI hint."""
    label = (f.metadata or {}).get("label")
    return label or f.name.replace("_", " ").capitalize()


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
        return False
    raise ValueError(value)


def check_range(f: dataclasses.Field, value: Any, key: str) -> Any:
    """Refuse a value outside the field's declared range or choices, naming the allowed values."""
    meta = f.metadata
    if value is None or isinstance(value, bool) or not meta:
        return value
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{field_label(f)} must be one of {', '.join(meta['choices'])}; got {value!r}.", cli_hint=key)
    if isinstance(value, (int, float)):
        low, high, above = meta.get("minimum"), meta.get("maximum"), meta.get("above")
        if (
            value != value
            or (above is not None and value <= above)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise ConfigError(
                f"{field_label(f)} must be {_describe_range(low, high, above)} (got {value:g}).", cli_hint=key
            )
    return value


def _describe_range(low: float | None, high: float | None, above: float | None) -> str:
    lower = f"more than {above:g}" if above is not None else (f"at least {low:g}" if low is not None else "")
    upper = f"at most {high:g}" if high is not None else ""
    return " and ".join(filter(None, [lower, upper])) or "a number"


def load_preset(task: str, method: str, presets_dir: str | Path | None = None) -> RunConfig:
    """The preset for task x method (``presets/{task}-{method}.yaml``)."""
    presets_dir = Path(presets_dir) if presets_dir else Path(__file__).resolve().parent.parent / "presets"
    return RunConfig.from_file(presets_dir / f"{task}-{method}.yaml")
