"""Hugging Face Hub datasets as a data source: ``hub:ID[:CONFIG][@SPLIT]`` becomes files the upload readers read.

A split is loaded with ``datasets.load_dataset`` and written once, under ``$TL_HOME/hub_datasets``, in the form an
upload would have: a Parquet table (text), JSON Lines with tokens and tags (NER), or PNG files plus an index table
(images). ``load_task_data`` then reads those files like any upload, so column mapping, the validation report, the
limits, the split and the feature cache are the same for both sources, and a run's process reads the written files
without touching the network. Label ids of ``ClassLabel`` columns become their names (what a person reads).

Safety: ``datasets`` 5 runs no loading scripts and has no ``trust_remote_code`` (it stays off everywhere); a local
folder that brings a loading script is refused. The row and byte limits of uploads apply, checked from the Hub's
metadata before anything is downloaded where the Hub knows them, and again on what was loaded. ``ID`` may also be
a local dataset folder (README + Parquet files), which is how the tests run offline.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import paths, settings
from ..config import DataConfig
from ..errors import DataError
from . import limits

PREFIX = "hub:"
EVAL_SPLITS = ("validation", "valid", "dev", "test")
_REF = re.compile(r"^(?P<id>[^:@]+?)(?::(?P<config>[^@]+))?(?:@(?P<split>.+))?$")
OFFLINE = (
    "The Hugging Face Hub cannot be reached from here (or offline mode is on), and the dataset '{id}' has not been "
    "downloaded on this machine before. Upload the data as a file instead, or try again when the Hub is reachable."
)


@dataclass(frozen=True)
class HubRef:
    id: str
    config: str | None = None
    split: str | None = None

    def text(self) -> str:
        return PREFIX + self.id + (f":{self.config}" if self.config else "") + (f"@{self.split}" if self.split else "")


def is_hub(value: str | None) -> bool:
    return bool(value) and str(value).startswith(PREFIX)


def parse(value: str) -> HubRef:
    """``hub:imdb``, ``hub:user/name:config@validation``, ``hub:beans@train[:500]`` (datasets' slice syntax)."""
    m = _REF.match(value[len(PREFIX) :].strip() if is_hub(value) else value.strip())
    if not m or not m.group("id").strip():
        raise DataError(
            f"'{value}' is not a Hugging Face dataset reference. Write the dataset's name, e.g. imdb, "
            f"or name:configuration@split, e.g. conll2003@validation."
        )
    return HubRef(
        m.group("id").strip(), (m.group("config") or "").strip() or None, (m.group("split") or "").strip() or None
    )


def resolve(task: str, data: DataConfig) -> DataConfig:
    """``data`` with its Hub references replaced by the local files written for them (evaluation: the explicit
    reference, else the dataset's validation/test split when the training reference names no split)."""
    train_ref = parse(data.train_file) if is_hub(data.train_file) else None
    eval_file = data.eval_file
    if is_hub(eval_file):
        eval_file = str(materialize(task, parse(eval_file)))
    elif train_ref and not eval_file and not train_ref.split:
        found = _eval_split(train_ref)
        eval_file = str(materialize(task, replace(train_ref, split=found))) if found else None
    train_file = data.train_file
    if train_ref:
        train_file = str(materialize(task, replace(train_ref, split=train_ref.split or "train")))
    return replace(data, train_file=train_file, eval_file=eval_file)


def materialize(task: str, ref: HubRef) -> Path:
    """The file written for ``ref`` (on first use): a .parquet (text), a .jsonl (NER) or a .csv index of images/."""
    key = hashlib.sha256(json.dumps([task, ref.id, ref.config, ref.split, 1]).encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{ref.id}-{ref.config or ''}-{ref.split}").strip("-")[:80]
    folder = paths.home() / "hub_datasets" / key
    target = folder / f"{name}.{ {'text': 'parquet', 'ner': 'jsonl', 'image': 'csv'}[task] }"
    if (folder / ".complete").is_file():
        return target
    ds = load_split(ref)
    tmp = folder.with_name(f"{key}.tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    _WRITERS[task](ds, tmp / target.name)
    (tmp / ".complete").write_text(ref.text())
    if folder.exists():  # another process finished first: keep its copy
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    else:
        os.replace(tmp, folder)
    return target


def _refuse_scripts(ref: HubRef) -> None:
    folder = Path(ref.id).expanduser()
    if settings.public_mode() and (folder.is_absolute() or ref.id.startswith((".", "~")) or folder.exists()):
        # strangers must not read this server's folders through a "dataset name"
        raise DataError(
            f"'{ref.id}' is not a dataset name on the Hugging Face Hub. Write a name like imdb or user/name."
        )
    if folder.is_dir() and any(folder.glob("*.py")):
        raise DataError(
            f"The dataset '{ref.id}' comes with a loading script, which runs code. This app never runs dataset code: "
            f"use a dataset stored as data files (Parquet, CSV, JSON), or upload the data as a file."
        )


def load_split(ref: HubRef) -> Any:
    """One split as a ``datasets.Dataset``, within the upload limits; every failure a DataError in user words."""
    import datasets

    _refuse_scripts(ref)
    local = Path(ref.id).expanduser().is_dir()
    reachable = local or _probe(ref)
    try:
        with _offline(not reachable):
            ds = datasets.load_dataset(_path(ref), ref.config, split=ref.split or "train")
    except ConnectionError:
        raise DataError(OFFLINE.format(id=ref.id)) from None
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - datasets raises many kinds; the user needs the sentence
        raise DataError(_load_failed(ref, err, reachable)) from None
    limits.check_rows(ref.text(), len(ds))
    limits.check_unpacked_size(ref.text(), int(ds.data.nbytes))
    return ds


def _path(ref: HubRef) -> str:
    folder = Path(ref.id).expanduser()
    return str(folder) if folder.is_dir() else ref.id


def _load_failed(ref: HubRef, err: Exception, reachable: bool) -> str:
    text = str(err)
    if "script" in text.lower():
        return (
            f"The dataset '{ref.id}' needs a loading script, which runs code. This app never runs dataset code: "
            f"choose a dataset stored as data files, or upload the data as a file."
        )
    if not reachable and isinstance(err, (FileNotFoundError, OSError)):
        return OFFLINE.format(id=ref.id)
    if "split" in text.lower() or "config" in text.lower():
        return f"'{ref.text()}' could not be loaded: {text[:300]}. Check the configuration and split names."
    return f"The dataset '{ref.id}' could not be loaded ({type(err).__name__}: {text[:300]}). Check its name."


def _probe(ref: HubRef) -> bool:
    """One quick request (no retries): True when the Hub answers. A dataset the Hub does not know is refused here;
    one whose card says it is over the limits too, before anything is downloaded."""
    from huggingface_hub import HfApi, is_offline_mode
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    if is_offline_mode():
        return False
    try:
        info = HfApi().dataset_info(ref.id, timeout=10)
    except (RepositoryNotFoundError, GatedRepoError):
        raise DataError(
            f"There is no public dataset '{ref.id}' on the Hugging Face Hub (or it needs a sign-in). Check the name."
        ) from None
    except Exception:  # noqa: BLE001 - DNS, connection, timeout, HTTP 5xx: try the local cache
        return False
    _check_card_size(ref, getattr(info, "card_data", None) or {})
    return True


@contextlib.contextmanager
def _offline(on: bool) -> Iterator[None]:
    """datasets retries an unreachable Hub for about half a minute per file: when the probe found no Hub, load from
    the local cache only (offline mode, switched on for this call)."""
    if not on:
        yield
        return
    import datasets.config
    import huggingface_hub.constants as hub_constants

    before = (hub_constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE)
    hub_constants.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hub_constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE = before


def _check_card_size(ref: HubRef, card: Any) -> None:
    """Refuse when the dataset card already says the split is over the limits (no download needed to know)."""
    for cfg in (card.get("dataset_info") if hasattr(card, "get") else None) or []:
        if not isinstance(cfg, dict) or cfg.get("config_name", "default") != (ref.config or "default"):
            continue
        for split in cfg.get("splits") or []:
            if split.get("name") == (ref.split or "train") and "[" not in (ref.split or ""):
                limits.check_rows(ref.text(), int(split.get("num_examples") or 0))
                limits.check_unpacked_size(ref.text(), int(split.get("num_bytes") or 0))


def _eval_split(ref: HubRef) -> str | None:
    """The dataset's own evaluation split (validation first), if it has one."""
    import datasets

    local = Path(ref.id).expanduser().is_dir()
    try:
        with _offline(not (local or _probe(ref))):
            names = datasets.get_dataset_split_names(_path(ref), ref.config)
    except DataError:
        raise
    except Exception:  # noqa: BLE001 - no split list: the training split is split as for uploads
        return None
    return next((s for s in EVAL_SPLITS if s in names), None)


# --- writers: the Dataset -> the files an upload would be ----------------------------------------------------------------
def _names(ds: Any, column: str) -> Any:
    """A function turning a column's values into label names (ClassLabel ids -> names, lists element-wise)."""
    feature = ds.features[column]
    inner = getattr(feature, "feature", None)  # Sequence / List of ClassLabel (NER tags)
    names = getattr(feature, "names", None) or getattr(inner, "names", None)
    if not names:
        return lambda v: v
    return lambda v: [names[i] for i in v] if isinstance(v, list) else names[v]


def _write_text(ds: Any, target: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({c: [_names(ds, c)(v) for v in ds[c]] for c in ds.column_names if _is_plain(ds, c)})
    frame.to_parquet(target, index=False)


def _is_plain(ds: Any, column: str) -> bool:
    return type(ds.features[column]).__name__ in ("Value", "ClassLabel")


def _write_ner(ds: Any, target: Path) -> None:
    """JSON Lines of {"tokens", "tags"}: the dataset's word list and its entity tags (ner_tags before other tags,
    so a CoNLL-style dataset's part-of-speech and chunk tags are not mistaken for entities)."""
    lists = [c for c in ds.column_names if type(ds.features[c]).__name__ in ("Sequence", "List", "LargeList")]
    tokens = next((c for c in ("tokens", "words") if c in lists), lists[0] if lists else None)
    rest = [c for c in lists if c != tokens]
    tags = next((c for c in ("ner_tags", "tags", "labels", "ner") if c in rest), rest[0] if rest else None)
    if tokens is None or tags is None:
        raise DataError("This dataset has no word list with tags per word. Choose a NER dataset, or change the task.")
    to_names = _names(ds, tags)
    with open(target, "w", encoding="utf-8") as f:
        for row in ds.select_columns([tokens, tags]):
            f.write(json.dumps({"tokens": list(row[tokens]), "tags": to_names(list(row[tags]))}) + "\n")


def _write_images(ds: Any, target: Path) -> None:
    import pandas as pd

    image_col = next((c for c in ds.column_names if type(ds.features[c]).__name__ == "Image"), None)
    if image_col is None:
        raise DataError("This dataset has no image column. Choose an image dataset, or change the task.")
    others = [c for c in ds.column_names if c != image_col and _is_plain(ds, c)]
    # an index table beside an images/ folder (paths relative to the table): a folder holding both would be read
    # as an image folder with one class named "images"
    (target.parent / "images").mkdir(parents=True)
    rows = []
    for i, row in enumerate(ds):
        name = f"images/{i:07d}.png"
        row[image_col].convert("RGB").save(target.parent / name)
        rows.append({"image": name, **{c: _names(ds, c)(row[c]) for c in others}})
    pd.DataFrame(rows).to_csv(target, index=False)


_WRITERS = {"text": _write_text, "ner": _write_ner, "image": _write_images}
