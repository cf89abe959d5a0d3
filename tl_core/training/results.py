"""Step 5: the final evaluation in dataset order, eval_predictions.jsonl (one row per example, for error analysis)
and results.json (metrics, reports, parameter counts, timing)."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from transformers import Trainer

from .. import runfiles as rf
from .. import verdict
from ..features import regroup_token_logits
from ..hardware import peak_memory_mb
from ..methods import params_dict
from ..tasks.base import EvalOutput
from .build import Built
from .callbacks import RunCallback
from .context import RunFolder
from .prepare import Prepared
from .trainer import Trained


def evaluate(
    folder: RunFolder, prep: Prepared, built: Built, trainer: Trainer, progress: RunCallback
) -> EvalOutput | None:
    """Predict the evaluation split on every process (predict gathers across ranks); the main process scores it."""
    folder.status("evaluating", eta_s=None)
    pred = trainer.predict(built.eval_ds, metric_key_prefix="eval")
    if progress.skip_final:  # the evaluation the last epoch skipped, for the charts
        metrics = {k: v for k, v in pred.metrics.items() if k.startswith("eval_")}
        state = trainer.state
        folder.append_metrics(
            {"time": time.time(), "step": state.global_step, "epoch": state.epoch, "phase": "eval", **metrics}
        )
    if not folder.is_main:
        return None
    logits, label_ids = _in_dataset_order(pred.predictions, pred.label_ids, prep, built)
    return prep.task.evaluate(prep.data.labels, logits, label_ids, prep.data.eval)


def _in_dataset_order(logits: Any, label_ids: Any, prep: Prepared, built: Built) -> tuple[np.ndarray, np.ndarray]:
    """Undo what made evaluation fast: the length order (build.py) and, for the NER head, the flat list of words."""
    if isinstance(logits, tuple):
        logits = logits[0]
    if built.eval_order is not None:
        back = np.argsort(built.eval_order)
        logits, label_ids = logits[back], label_ids[back]
    if built.features is not None and prep.cfg.task == "ner":
        logits, label_ids = regroup_token_logits(logits, label_ids, built.features.eval_word_counts)
    return logits, label_ids


def write_results(
    folder: RunFolder, prep: Prepared, built: Built, trainer: Trainer, trained: Trained, evaluation: EvalOutput | None
) -> None:
    if not folder.is_main or evaluation is None:
        return
    with open(folder.path / rf.EVAL_PREDICTIONS, "w", encoding="utf-8") as f:
        for row in evaluation.examples:
            f.write(json.dumps(row) + "\n")
    cfg, data, state = prep.cfg, prep.data, trainer.state
    results = {
        "task": cfg.task,
        "method": cfg.method,
        "model": cfg.model,
        "labels": data.labels,
        "metrics": evaluation.metrics,
        "report": evaluation.report,
        "params": built.counts,
        "bf16": trainer.accelerator.mixed_precision == "bf16",
        "world_size": trainer.args.world_size,
        "features": built.features.info if built.features is not None else None,
        "timing": {
            "total_s": time.time() - folder.started,
            "train_s": trained.seconds,
            "train_samples_per_second": trained.samples_per_second,
        },
        "peak_memory_mb": peak_memory_mb(),
        "data": {"train": len(data.train), "eval": len(data.eval), "hash": data.data_hash},
        "method_params": params_dict(prep.params),
        "epochs_run": state.epoch,
        "steps": state.global_step,
    }
    # judged on the page that shows the score: against what guessing gets on this same evaluation split
    target = "tags" if cfg.task == "ner" else "label"
    results["baselines"] = verdict.baselines(cfg.task, data.labels, data.eval[target])
    results["verdict"] = verdict.judge(results, rf.read_metrics(folder.path, 0)[0])
    folder.write_json(rf.RESULTS, results)
    folder.status(
        "done", progress=1.0, eta_s=None, metrics=evaluation.metrics, verdict=results["verdict"], finished=time.time()
    )
