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


@dataclass
class DataConfig:
    train_file: str | None = None  # file, folder or zip; None = the task's bundled sample
    eval_file: str | None = None  # optional separate evaluation file; else a split of train_file
    text_column: str | None = None  # text task; auto-detected when None
    label_column: str | None = None  # text/image tasks; auto-detected when None
    image_column: str | None = None  # image task with a CSV/JSONL index; auto-detected when None
    eval_fraction: float = 0.2  # share of train_file held out when there is no eval_file
    stratify: bool = True
    seed: int = 42
    max_rows: int | None = None  # cap on training rows (quick experiments); None = all


@dataclass
class TrainConfig:
    epochs: float = 3.0
    batch_size: int = 16
    eval_batch_size: int = 64
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup: float = 0.06  # < 1: share of total steps; >= 1: number of steps
    scheduler: str = "linear"  # linear | cosine | constant_with_warmup
    max_length: int = 128  # text/NER: longer inputs are truncated
    image_size: int = 224  # image: shorter side resized to this, centre-cropped square
    early_stopping_patience: int = 0  # evaluations without improvement before stopping; 0 = off
    precision: str = "auto"  # auto | bf16 | fp32 ; auto = bf16 where the hardware runs it fast
    group_by_length: bool = True  # text: batch similar lengths together (less padding)
    fast_dropout: bool = True  # CPU training: cheaper dropout masks, same rate and scaling (tl_core/fast_dropout.py)
    logging_steps: int = 0  # 0 = auto: about 30 loss points per run, however short
    save_total_limit: int = 2
    seed: int = 42
    max_steps: int = -1  # > 0 overrides epochs (smoke tests)


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

    # --- (de)serialisation -------------------------------------------------
    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RunConfig":
        if not isinstance(raw, dict):
            raise ConfigError("A run configuration must be a mapping of keys to values.")
        return _build(cls, raw, "")

    @classmethod
    def from_file(cls, path: str | Path) -> "RunConfig":
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
    def from_yaml_text(cls, text: str) -> "RunConfig":
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

    def with_overrides(self, assignments: list[str]) -> "RunConfig":
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


def _build(cls: type, raw: dict[str, Any], prefix: str) -> Any:
    """Instantiate a dataclass from a dict, rejecting unknown keys and coercing simple types."""
    if not isinstance(raw, dict):
        raise ConfigError(f"'{prefix or 'config'}' must be a mapping, got {type(raw).__name__}.")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        where = f" in '{prefix}'" if prefix else ""
        raise ConfigError(
            f"Unknown config key{'s' if len(unknown) > 1 else ''}{where}: {', '.join(unknown)}. "
            f"Allowed: {', '.join(known)}."
        )
    values: dict[str, Any] = {}
    for name, value in raw.items():
        values[name] = _coerce(known[name], value, f"{prefix}.{name}" if prefix else name)
    try:
        return cls(**values)
    except TypeError as err:  # a required key is missing
        raise ConfigError(f"Incomplete config: {err}") from None


def _coerce(f: dataclasses.Field, value: Any, key: str) -> Any:
    kind = str(f.type)
    if value is None or kind.startswith(("DataConfig", "TrainConfig", "dict")):
        return value
    try:
        if kind.startswith("float"):
            return float(value)
        if kind.startswith("int"):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind.startswith("bool"):
            if isinstance(value, str):
                if value.lower() in ("true", "yes", "1"):
                    return True
                if value.lower() in ("false", "no", "0"):
                    return False
                raise ValueError
            return bool(value)
        if kind.startswith("str"):
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"'{key}' must be {kind.split(' ')[0]}, got {value!r}.") from None
    return value


def load_preset(task: str, method: str, presets_dir: str | Path | None = None) -> RunConfig:
    """The preset for task x method (``presets/{task}-{method}.yaml``)."""
    presets_dir = Path(presets_dir) if presets_dir else Path(__file__).resolve().parent.parent / "presets"
    return RunConfig.from_file(presets_dir / f"{task}-{method}.yaml")
