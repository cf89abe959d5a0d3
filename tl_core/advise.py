"""The advisor: before any run, which method and settings fit this data on this machine, and what each costs.

It reads the data as a run will (counts, lengths or image sizes), runs a zero-training probe (logistic regression
on frozen features of a sample, cached like a run's features) against the majority class, and asks the cost model
(costmodel.py calibrations, estimate.py arithmetic) for each method's wall time and peak memory. The rules are in
recommend.py. ``advise()`` returns one plain dict: the ``--json`` output and what the browser panel shows.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from . import costmodel, paths, settings
from . import estimate as est
from . import recommend as rec
from .config import DataConfig, RunConfig
from .errors import UserError

PROBE_CAP = {"local": (1000, 500), "public": (300, 150)}  # (train, eval) examples the probe may look at
LENGTH_SAMPLE = 1000  # texts tokenized to learn the length distribution
PREP_SAMPLE = {"text": 500, "ner": 500, "image": 48}  # examples timed through tokenising / decoding
METHODS = ("features", "lora", "full")


def profile_data(
    task: str, data: DataConfig, processor: Any, work_dir: Path | None = None
) -> tuple[Any, est.DataProfile]:
    """Read and check the data exactly as a run will (timed), then sample lengths or image sizes."""
    from .data import load_task_data

    t = time.perf_counter()
    td = load_task_data(task, data, work_dir=work_dir)
    load_s = time.perf_counter() - t
    if task == "ner":
        counts = Counter(td.labels[t] for row in td.train["tags"] for t in row)
    else:
        counts = Counter(td.labels[y] for y in td.train["label"])
    profile = est.DataProfile(task, len(td.train), len(td.eval), td.labels, dict(counts), load_s=load_s)
    rng = random.Random(0)
    if task == "image":
        _image_profile(profile, td, rng)
    else:
        _text_profile(profile, td, processor, rng)
    return td, profile


def _sample(n: int, k: int, rng: random.Random) -> list[int]:
    return sorted(rng.sample(range(n), k)) if n > k else list(range(n))


def _text_profile(profile: est.DataProfile, td: Any, tokenizer: Any, rng: random.Random) -> None:
    column = "text" if profile.task == "text" else "tokens"
    idx = _sample(len(td.train), LENGTH_SAMPLE, rng)
    rows = list(td.train.select(idx)[column])
    t = time.perf_counter()
    enc = tokenizer(rows, truncation=True, max_length=4096, is_split_into_words=profile.task == "ner")
    per = (time.perf_counter() - t) / max(1, len(rows))
    profile.lengths = [len(ids) for ids in enc["input_ids"]]
    profile.prep_s_per_example["tokens"] = per


def _image_profile(profile: est.DataProfile, td: Any, rng: random.Random) -> None:
    from PIL import Image

    idx = _sample(len(td.train), PREP_SAMPLE["image"], rng)
    sides = []
    for path in td.train.select(idx)["image"]:
        with Image.open(path) as im:  # the header only: no decode
            sides.append(min(im.size))
    profile.image_side = sorted(sides)[len(sides) // 2] if sides else None
    profile.image_sample = list(td.train.select(idx)["image"])


def image_prep_seconds(profile: est.DataProfile, size: int, processor: Any) -> float:
    """Seconds to decode and resize one image to ``size`` (the run does this once per image), timed on a sample."""
    key = str(size)
    if key not in profile.prep_s_per_example:
        from .data import load_rgb
        from .tasks.image_classification import image_norm, resize_crop

        _, _, resample = image_norm(processor)
        paths_ = profile.image_sample
        t = time.perf_counter()
        for p in paths_:
            resize_crop(load_rgb(p), size, resample)
        profile.prep_s_per_example[key] = (time.perf_counter() - t) / max(1, len(paths_))
    return profile.prep_s_per_example[key]


# --- the probe --------------------------------------------------------------------------------------------------------
def probe_caps(public: bool | None = None) -> tuple[int, int]:
    public = settings.public_mode() if public is None else public
    return PROBE_CAP["public" if public else "local"]


def run_probe(cfg: RunConfig, td: Any, processor: Any, caps: tuple[int, int]) -> dict[str, Any]:
    """Logistic regression on frozen features of a sample, scored on a sample of the evaluation split."""
    from . import models
    from .features import cache_key, cached_extract, extract, resolve_pooling
    from .hardware import use_bf16
    from .methods import parse_params
    from .registry import get_task

    t0 = time.perf_counter()
    task, tc = get_task(cfg.task), cfg.train
    rng = random.Random(1)
    pooling = resolve_pooling(parse_params("features", cfg.method_params).pooling, cfg.task, cfg.model)  # as the run
    bf16 = use_bf16(tc.precision, cfg.task)
    backbone = None
    tensors, hits = {}, []
    for split, ds, cap in (("train", td.train, caps[0]), ("eval", td.eval, caps[1])):
        idx = _sample(len(ds), cap, rng)
        key = cache_key(
            kind="advisor-probe", split=split, idx=idx, model=models.model_fingerprint(cfg.model, cfg.revision, cfg.task),
            pooling=pooling, max_length=tc.max_length, image_size=tc.image_size, data=td.data_hash, bf16=bf16,
        )  # fmt: skip

        def compute(ds: Any = ds, idx: list[int] = idx) -> dict[str, Any]:
            nonlocal backbone
            backbone = backbone or models.load_backbone(cfg.task, cfg.model, cfg.revision)
            pre = task.preprocess(ds.select(idx), processor, tc)
            return extract(task, backbone, pre, task.collator(processor, tc), tc.eval_batch_size, pooling, bf16)

        tensors[split], hit = cached_extract(paths.home() / "advisor" / "features", key, compute)
        hits.append(hit)
    score, majority, metric = fit_probe(
        tensors["train"]["features"].numpy(),
        tensors["train"]["labels"].numpy(),
        tensors["eval"]["features"].numpy(),
        tensors["eval"]["labels"].numpy(),
        ner=cfg.task == "ner",
    )
    return {
        "metric": metric,
        "value": score,
        "majority": majority,
        "lift": rec.lift(score, majority),
        "n_train": int(len(tensors["train"]["labels"])),
        "n_eval": int(len(tensors["eval"]["labels"])),
        "seconds": time.perf_counter() - t0,
        "cached": all(hits),
    }


def fit_probe(x_train: Any, y_train: Any, x_eval: Any, y_eval: Any, ner: bool = False) -> tuple[float, float, str]:
    """(probe score, majority-class score, metric name). Classification: accuracy. NER: micro F1 over the words
    that carry an entity tag (label 0 is "O"), where always answering "O" scores 0."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    classes = np.unique(y_train)
    if len(classes) < 2:
        pred = np.full_like(y_eval, classes[0] if len(classes) else 0)
    else:
        scaler = StandardScaler().fit(x_train)
        clf = LogisticRegression(max_iter=300, C=0.5).fit(scaler.transform(x_train), y_train)
        pred = clf.predict(scaler.transform(x_eval))
    if ner:
        hit = float(np.sum((pred == y_eval) & (y_eval != 0)))
        guessed, truth = float(np.sum(pred != 0)), float(np.sum(y_eval != 0))
        f1 = 2 * hit / (guessed + truth) if guessed + truth else 0.0
        return f1, 0.0, "word_f1"
    top = Counter(y_train.tolist()).most_common(1)[0][0]
    return float(np.mean(pred == y_eval)), float(np.mean(y_eval == top)), "accuracy"


# --- cost: calibration + estimate -------------------------------------------------------------------------------------
def calibration_spec(cfg: RunConfig, profile: est.DataProfile) -> dict[str, Any]:
    """What to measure for ``cfg``: its model, method and batch shape (features: the full model's forward)."""
    from . import models
    from .hardware import use_bf16

    tc = cfg.train
    method = "full" if cfg.method == "features" else cfg.method
    shape = {
        "batch": tc.batch_size,
        "length": est.shape_length(profile, tc),
        "peak_length": est.peak_length(profile, tc),
        "eval_batch": tc.eval_batch_size,
        "bf16": use_bf16(tc.precision, cfg.task),
        "n_labels": profile.n_labels,
        "method_params": cfg.method_params if method == "lora" else {},
    }
    return {
        "fp": models.model_fingerprint(cfg.model, cfg.revision, cfg.task),
        "key": costmodel.shape_key(cfg.task, method, shape),
        "task": cfg.task,
        "model": cfg.model,
        "revision": cfg.revision,
        "method": method,
        "shape": shape,
    }


def calibration_for(cfg: RunConfig, profile: est.DataProfile) -> tuple[dict[str, Any], dict[str, Any]]:
    """(machine, model) calibrations for ``cfg``: cached, measured on first use."""
    machine, (model,) = costmodel.calibrations([calibration_spec(cfg, profile)])
    return machine, model


def features_cached(cfg: RunConfig, data_hash: str, cache_dir: Path) -> bool:
    """Does the shared feature cache already hold both splits of what this features run would extract?"""
    from .features import resolve_pooling, run_cache_keys
    from .hardware import use_bf16
    from .methods import parse_params

    pooling = resolve_pooling(parse_params("features", cfg.method_params).pooling, cfg.task, cfg.model)
    keys = run_cache_keys(cfg, data_hash, pooling, use_bf16(cfg.train.precision, cfg.task))
    return all((cache_dir / f"{key}.safetensors").is_file() for key in keys.values())


def estimate_config(cfg: RunConfig, profile: est.DataProfile, processor: Any, cached: bool = False) -> dict[str, Any]:
    """Wall time, peak memory and the batch size that fits, for one run config (the calibration's own batch);
    ``cached``: a features run whose features are in the shared cache already."""
    if cfg.task == "image":
        image_prep_seconds(profile, cfg.train.image_size, processor)
    machine, model = calibration_for(cfg, profile)
    out = est.estimate_run(cfg.method, cfg.train, profile, machine, model, cached)
    free = est.free_memory_mb(machine)
    fit = est.batch_that_fits(cfg.method, cfg.train, profile, machine, model, free)
    out.update(
        batch_size=cfg.train.batch_size,
        batch_size_that_fits=fit,
        fits=fit >= min(rec.WORKABLE_BATCH, cfg.train.batch_size),
        free_memory_mb=round(free),
        _calibration=(machine, model),
    )
    return out


def memory_warning(method: str, e: dict[str, Any]) -> str | None:
    """The warning, in the page's words, for a run that will not fit; None when it fits."""
    from .registry import method_title

    if e["batch_size_that_fits"] >= e["batch_size"]:
        return None
    need, free = e["peak_memory_mb"] / 1024, e["free_memory_mb"] / 1024
    head = f"{method_title(method)} with batch size {e['batch_size']} needs about {need:.1f} GB, more than the {free:.1f} GB free here"
    if e["batch_size_that_fits"] < 1:
        return head + ": it does not fit even with batch size 1. Choose a smaller model or another method."
    return head + f": batch size {e['batch_size_that_fits']} fits."


def _fit_batch(cfg: RunConfig, profile: est.DataProfile, e: dict[str, Any]) -> dict[str, Any]:
    """Shrink ``cfg``'s batch to the one that fits (when any does) and estimate again with the same calibration."""
    fit = e["batch_size_that_fits"]
    if not 1 <= fit < cfg.train.batch_size:
        return e
    cfg.train = rec.with_batch(cfg.train, fit)
    machine, model = e["_calibration"]
    again = est.estimate_run(cfg.method, cfg.train, profile, machine, model, e["features_cached"])
    return {**e, **again, "batch_size": fit}


# --- the advice ---------------------------------------------------------------------------------------------------------
def advise(
    task: str,
    data: DataConfig,
    model: str | None = None,
    revision: str | None = None,
    *,
    current: RunConfig | None = None,
    public: bool | None = None,
    work_dir: Path | None = None,
    feature_cache: Path | None = None,
) -> dict[str, Any]:
    """The recommendation, the probe, per-method estimates and memory warnings (``current``: the settings the user
    has chosen so far, checked too). ``feature_cache``: where this user's runs cache features (default: the
    command line's); a features run whose features are there already is estimated without its extraction pass.
    Raises UserError for data or a model that cannot be used."""
    from . import models

    processor = models.load_processor(task, model, revision)
    td, profile = profile_data(task, data, processor, work_dir)
    configs = {}
    for m in METHODS:
        cfg = rec.recommended_config(task, m, model, profile.n_train, profile.lengths, profile.image_side)
        configs[m] = dataclasses.replace(cfg, data=data, revision=revision)
    try:
        probe = run_probe(configs["features"], td, processor, probe_caps(public))
    except (UserError, ValueError) as err:  # a model without features, one class only: advise without a probe
        probe = {"metric": None, "value": None, "majority": profile.majority_share, "error": str(err)}
    specs = [calibration_spec(cfg, profile) for cfg in configs.values()]
    if current is not None:
        specs.append(calibration_spec(current, profile))
    costmodel.calibrations(specs)  # everything missing measured in one process, before the estimates read it
    cache_dir = feature_cache or paths.feature_cache()
    estimates, warnings = {}, []
    for m, cfg in configs.items():
        first = estimate_config(
            cfg, profile, processor, m == "features" and features_cached(cfg, td.data_hash, cache_dir)
        )
        if (warning := memory_warning(m, first)) and first["batch_size_that_fits"] >= 1:
            warnings.append(warning.replace(" fits.", " fits, and the recommended settings use it."))
        estimates[m] = _fit_batch(cfg, profile, first)
    facts = rec.Facts(
        per_class=profile.median_per_class,
        n_train=profile.n_train,
        majority=probe.get("majority", profile.majority_share),
        probe=probe.get("value"),
        fits={m: e["fits"] for m, e in estimates.items()},
        full_wall_s=estimates["full"]["wall_s"],
    )
    method, reason = rec.choose(facts)
    out = {
        "recommended": {"method": method, "settings": rec.user_settings(configs[method])},
        "reason": reason,
        "probe": probe,
        "estimates": {m: _public(e) for m, e in estimates.items()},
        "warnings": warnings,
        "data": _data_summary(profile),
        "hardware": {
            k: v for k, v in estimates["full"]["_calibration"][0].items() if k in ("cpu", "cores", "gpu", "gpu_mb")
        },
    }
    if current is not None:
        mine_cfg = dataclasses.replace(current, data=data)
        cached = current.method == "features" and features_cached(mine_cfg, td.data_hash, cache_dir)
        mine = estimate_config(mine_cfg, profile, processor, cached)
        out["current"] = {**_public(mine), "method": current.method, "warning": memory_warning(current.method, mine)}
    return out


def _public(e: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "wall_s",
        "peak_memory_mb",
        "features_cached",
        "fits",
        "batch_size",
        "batch_size_that_fits",
        "steps",
        "parts_s",
        "free_memory_mb",
    )
    return {k: (round(e[k], 1) if isinstance(e[k], float) else e[k]) for k in keep if k in e}


def _data_summary(profile: est.DataProfile) -> dict[str, Any]:
    out: dict[str, Any] = {
        "train": profile.n_train,
        "eval": profile.n_eval,
        "labels": profile.n_labels,
        "examples_per_class": {"min": profile.min_per_class, "median": profile.median_per_class},
        "majority_share": round(profile.majority_share, 3),
    }
    if profile.lengths:
        out["tokens"] = {"mean": round(profile.mean_tokens(10**6), 1), "p95": profile.length_quantile(0.95)}
    if profile.image_side:
        out["image_side_px"] = profile.image_side
    return out


def format_advice(result: dict[str, Any]) -> str:
    """The advice as plain text lines (CLI; the browser panel shows the same facts)."""
    from .registry import method_title

    rec_ = result["recommended"]
    lines = [f"Recommended: {method_title(rec_['method'])}", f"  why: {result['reason']}"]
    lines.append("  settings: " + ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in rec_["settings"].items()))
    probe = result["probe"]
    if probe.get("value") is not None:
        lines.append(
            f"Probe (no training, {probe['n_train']} examples): {probe['metric']} {probe['value']:.3f} "
            f"vs {probe['majority']:.3f} for the majority class ({probe['seconds']:.1f} s)"
        )
    else:
        lines.append(f"Probe: not run ({probe.get('error')})")
    lines.append("Estimated cost per method (recommended settings):")
    for m, e in result["estimates"].items():
        notes = "" if e["fits"] else "  (does not fit in memory)"
        notes += "  (features already computed for this data)" if e.get("features_cached") else ""
        lines.append(
            f"  {method_title(m):<28} {e['wall_s'] / 60:6.1f} min  {e['peak_memory_mb'] / 1024:5.1f} GB  "
            f"batch size {e['batch_size']}{notes}"
        )
    for w in result["warnings"] + ([result["current"]["warning"]] if result.get("current", {}).get("warning") else []):
        lines.append(f"Warning: {w}")
    return "\n".join(lines)
