"""The one training entry point: ``accelerate launch -m tl_core.train RUN_DIR [--resume]``.

Reads RUN_DIR/config.json, trains with transformers.Trainer (accelerate underneath) and leaves a complete
run folder: status.json, metrics.jsonl, checkpoints/, model/, results.json, eval_predictions.jsonl.
Runs in its own process, never inside the UI (accelerate state is process-global).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

from . import runfiles as rf, settings
from .errors import UserError


def _callback_class():
    from transformers import TrainerCallback

    def torch_cuda_available() -> bool:
        import torch

        return torch.cuda.is_available()

    class _RunCallback(TrainerCallback):
        """Writes metrics.jsonl / status.json and honours stop requests at the next step."""

        def __init__(self, run_dir: Path, batch_size: int, is_main: bool, yield_flag=None, profile_steps: int = 0):
            self.run_dir, self.batch_size, self.is_main = run_dir, batch_size, is_main
            self.yield_flag = yield_flag  # pause points between the step's unhooked parts (cpu_yield.py)
            self.t_start = self.t_last_log = time.time()
            self.step_last_log = 0
            self.t_status = 0.0
            self.stopped = False
            self.skip_final = True
            # TL_PROFILE_STEPS=N: torch.profiler over N steps from the 10th, op table to RUN_DIR/profile.txt
            self.profile_steps = profile_steps if is_main else 0
            self.profiler = None
            self.first_step = 0

        def on_train_begin(self, args, state, control, **kw):
            self.t_start = self.t_last_log = time.time()
            self.step_last_log = state.global_step
            self.first_step = state.global_step

        def _pause_point(self) -> None:
            if self.yield_flag is not None:
                self.yield_flag.wait()

        def on_pre_optimizer_step(self, args, state, control, **kw):
            self._pause_point()  # after backward and clipping, before the optimizer

        def on_optimizer_step(self, args, state, control, **kw):
            self._pause_point()

        def on_step_begin(self, args, state, control, **kw):
            self._pause_point()
            if self.profile_steps and state.global_step == self.first_step + 10 and self.profiler is None:
                from torch.profiler import ProfilerActivity, profile

                self.profiler = profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]
                                        if torch_cuda_available() else [ProfilerActivity.CPU])
                self.profiler.__enter__()
                self.t_profile = time.time()

        def _finish_profile(self, state) -> None:
            self.profiler.__exit__(None, None, None)
            steps = state.global_step - self.first_step - 10
            table = self.profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=40)
            (self.run_dir / "profile.txt").write_text(
                f"torch.profiler over {steps} training steps ({(time.time() - self.t_profile) / max(steps, 1):.3f} s/step "
                f"under the profiler), from step {self.first_step + 10}\n\n{table}")
            self.profile_steps = 0

        def on_step_end(self, args, state, control, **kw):
            if self.profiler is not None and self.profile_steps and (
                    state.global_step >= self.first_step + 10 + self.profile_steps or state.global_step >= state.max_steps):
                self._finish_profile(state)
            if (self.run_dir / rf.STOP).exists():
                self.stopped = control.should_training_stop = control.should_save = True
            now = time.time()
            if self.is_main and (now - self.t_status > 1.0 or self.stopped):
                self.t_status = now
                done = state.global_step - self.first_step
                left = state.max_steps - state.global_step
                eta = (now - self.t_start) / done * left if done else None
                rf.update_status(self.run_dir, "training", progress=state.global_step / max(1, state.max_steps),
                                 step=state.global_step, max_steps=state.max_steps, epoch=state.epoch, eta_s=eta,
                                 stop_requested=self.stopped)

        def on_epoch_end(self, args, state, control, **kw):
            # The last epoch's evaluation and checkpoint would duplicate the final predict() and save_model():
            # skip them (the final evaluation still lands in metrics.jsonl). Early stopping needs them: keep.
            if self.skip_final and state.global_step >= state.max_steps and not self.stopped:
                control.should_evaluate = control.should_save = False

        def on_log(self, args, state, control, logs=None, **kw):
            if not self.is_main or not logs:
                return
            now = time.time()
            record: dict[str, Any] = {"time": now, "step": state.global_step, "epoch": state.epoch}
            if "loss" in logs:
                steps = state.global_step - self.step_last_log
                record.update(phase="train", loss=logs["loss"], learning_rate=logs.get("learning_rate"),
                              grad_norm=logs.get("grad_norm"),
                              samples_per_second=steps * self.batch_size * args.world_size / max(now - self.t_last_log, 1e-9))
                self.t_last_log, self.step_last_log = now, state.global_step
            elif any(k.startswith("eval_") for k in logs):
                record["phase"] = "eval"
                record.update({k: v for k, v in logs.items() if k.startswith("eval_")})
            else:
                return  # the end-of-training summary goes to results.json instead
            rf.append_metrics(self.run_dir, record)

    return _RunCallback


def _trainer_class(trainer_cls):
    """Trainer with our batching: training batches length-grouped in shuffled order (see batching.py), and
    evaluation in dataset order: with group_by_length, transformers 5 also length-groups evaluation batches, which
    would misalign predictions with the examples they belong to."""
    import torch

    from .batching import ShuffledLengthGroupedSampler

    class _Trainer(trainer_cls):
        def _get_train_sampler(self, train_dataset=None):
            dataset = self.train_dataset if train_dataset is None else train_dataset
            if self.args.train_sampling_strategy != "group_by_length" or dataset is None:
                return super()._get_train_sampler(train_dataset)
            lengths = [len(ids) for ids in dataset["input_ids"]]
            return ShuffledLengthGroupedSampler(lengths, self.args.train_batch_size * self.args.gradient_accumulation_steps)

        def _get_eval_sampler(self, eval_dataset):
            return torch.utils.data.SequentialSampler(eval_dataset)

    return _Trainer


class StopRequested(Exception):
    """A stop request arrived before training started (loading, feature extraction)."""


def _check_stop(run_dir: Path) -> None:
    if (run_dir / rf.STOP).exists():
        raise StopRequested


def auto_logging_steps(n_train: int, tc, world_size: int = 1) -> int:
    """Log about 30 times per run so short runs still draw a curve and long ones don't flood the file."""
    if tc.logging_steps > 0:
        return tc.logging_steps
    per_epoch = math.ceil(n_train / max(1, tc.batch_size * world_size))
    total = tc.max_steps if tc.max_steps > 0 else math.ceil(per_epoch * tc.epochs)
    return max(1, min(50, total // 30))


def run(run_dir: Path, resume: bool = False) -> int:
    run_dir = Path(run_dir).resolve()
    t0 = time.time()
    is_main = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0
    status = (lambda phase, **kw: rf.update_status(run_dir, phase, **kw)) if is_main else (lambda *a, **k: None)
    try:
        return _train(run_dir, resume, status, is_main, t0)
    except StopRequested:
        status("stopped", checkpoint=str(rf.last_checkpoint(run_dir) or "") or None, eta_s=None)
        return 0
    except UserError as err:
        status("failed", error=str(err))
        print(f"ERROR: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - anything else: plain summary on the page, trace in train.log
        traceback.print_exc()
        status("failed", error=_plain_error(err))
        return 1


def _plain_error(err: Exception) -> str:
    text = f"{type(err).__name__}: {err}"
    if "out of memory" in text.lower():
        return "The device ran out of memory. Lower train.batch_size or max_length/image_size, or use LoRA or feature extraction."
    return f"Training stopped with an unexpected error ({text[:500]}). The full trace is in train.log."


def _train(run_dir: Path, resume: bool, status, is_main: bool, t0: float) -> int:
    status("loading", progress=0.0, started=t0, error=None, stop_requested=False)
    import numpy as np
    import torch
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments, set_seed

    from . import models
    from .config import RunConfig
    from .cpu_yield import YieldFlag, install_pause_points
    from .data import add_truncation_stats, load_task_data
    from .features import FeatureDataset, FeatureModel, HeadModel, cache_key, cached_extract, extract, regroup_token_logits
    from .hardware import peak_memory_mb, use_bf16
    from .methods import apply_lora, count_parameters, params_dict, parse_params
    from .registry import get_task

    cfg = RunConfig.from_file(run_dir / rf.CONFIG)
    task = get_task(cfg.task)

    # CPU only: there the playground and training fight over the same cores (cpu_yield.py). GPU runs leave the
    # CPU mostly free. TL_CPU_YIELD=0 turns it off (the bench's on/off lever).
    tc = cfg.train
    yield_flag = None
    if not torch.cuda.is_available() and tc.cpu_yield:
        yield_flag = YieldFlag.default()

    def yield_to_playground(module) -> None:
        if yield_flag is not None:
            install_pause_points(module, yield_flag)

    params = parse_params(cfg.method, cfg.method_params)
    tc = cfg.train
    set_seed(tc.seed)
    bf16 = use_bf16(tc.precision, cfg.task)

    data = load_task_data(cfg.task, cfg.data, work_dir=run_dir / "data")
    _check_stop(run_dir)
    processor = models.load_processor(cfg.task, cfg.model, cfg.revision)
    if cfg.task in ("text", "ner"):
        column = "text" if cfg.task == "text" else "tokens"
        add_truncation_stats(data.report, data.train[column], processor, tc.max_length, is_split_into_words=cfg.task == "ner")
    if is_main:
        rf.write_json(run_dir / rf.REPORT, data.report.to_dict())
    train_ds = task.preprocess(data.train, processor, tc)
    eval_ds = task.preprocess(data.eval, processor, tc)
    collator = task.collator(processor, tc)
    compute_metrics = task.compute_metrics(data.labels)
    head_counts = None

    _check_stop(run_dir)
    if cfg.method == "features":
        status("preparing features", progress=0.0)
        backbone = models.load_backbone(cfg.task, cfg.model, cfg.revision)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        backbone.to(device)
        yield_to_playground(backbone)
        pooling = params.pooling
        if pooling == "auto":
            resolved = models.resolve_model_ref(cfg.model, cfg.task)
            pooling = "mean" if models.is_sentence_transformer(resolved) else "cls"
        key_parts = dict(model=models.model_fingerprint(cfg.model, cfg.revision), task=cfg.task, pooling=pooling,
                         max_length=tc.max_length, image_size=tc.image_size, data=data.data_hash, bf16=bf16)
        cache_dir = Path(settings.FEATURE_CACHE.get() or run_dir / "feature_cache")
        tensors, hits = {}, {}
        for split, ds, share in (("train", train_ds, 0.8), ("eval", eval_ds, 0.2)):
            base = 0.0 if split == "train" else 0.8
            tensors[split], hits[split] = cached_extract(
                cache_dir, f"{split}-{cache_key(split=split, **key_parts)}",
                lambda ds=ds, base=base, share=share: extract(
                    task, backbone, ds, collator, tc.eval_batch_size, pooling, bf16,
                    progress=lambda p: (_check_stop(run_dir), status("preparing features", progress=base + share * p))),
            )
        total_backbone = count_parameters(backbone)["total"]
        hidden = tensors["train"]["features"].shape[1]
        backbone.to("cpu")
        model = HeadModel(hidden, len(data.labels), params.head_dropout)
        train_ds, eval_ds = FeatureDataset(tensors["train"]), FeatureDataset(tensors["eval"])
        collator = None  # default collation stacks the fixed-size feature vectors
        head_counts = tensors["eval"]["counts"].numpy()
        if cfg.task == "ner":  # per-epoch metrics need sentences back, not a flat list of words
            ner_metrics = compute_metrics

            def compute_metrics(pred, counts=head_counts):
                from transformers import EvalPrediction

                logits, labels = regroup_token_logits(pred.predictions, pred.label_ids, counts)
                return ner_metrics(EvalPrediction(predictions=logits, label_ids=labels))
        counts = count_parameters(model)
        counts["total"] += total_backbone
        bf16 = False  # a linear head on cached features: fp32 costs nothing and is exact
        feature_info = {"pooling": pooling, "cache_hit": hits, "cache_dir": str(cache_dir), "hidden_size": hidden}
    else:
        # On CPU, SDPA's attention backward cost 28% of a MiniLM step for <2% of its FLOPs (torch.profiler, bench):
        # eager attention trains 10-25% faster there. GPUs keep SDPA (flash/memory-efficient kernels).
        attn = "eager" if cfg.task in ("text", "ner") and not torch.cuda.is_available() else None
        model = models.load_model(cfg.task, cfg.model, data.labels, cfg.revision, attn_implementation=attn)
        if cfg.method == "lora":
            model = apply_lora(model, task.peft_task_type, params)
        yield_to_playground(model)
        counts = count_parameters(model)
        feature_info = None

    _check_stop(run_dir)
    text_like = cfg.task in ("text", "ner") and cfg.method != "features"
    eval_order = None
    if text_like:
        # Evaluate in length order: batches of 64 random-length texts computed ~2x the real tokens. Predictions
        # go back to dataset order below, so eval_predictions.jsonl still lines up with the rows.
        eval_order = np.argsort([len(ids) for ids in eval_ds["input_ids"]], kind="stable")
        eval_ds = eval_ds.select(eval_order)
    args = TrainingArguments(
        output_dir=str(run_dir / rf.CHECKPOINTS),
        per_device_train_batch_size=tc.batch_size,
        per_device_eval_batch_size=tc.eval_batch_size,
        num_train_epochs=tc.epochs,
        max_steps=tc.max_steps,
        learning_rate=tc.learning_rate,
        weight_decay=tc.weight_decay,
        warmup_steps=tc.warmup,
        lr_scheduler_type=tc.scheduler,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="steps",
        logging_steps=auto_logging_steps(len(train_ds), tc, int(os.environ.get("WORLD_SIZE", "1"))),
        save_total_limit=tc.save_total_limit,
        load_best_model_at_end=tc.early_stopping_patience > 0,
        metric_for_best_model=task.main_metric if tc.early_stopping_patience > 0 else None,
        greater_is_better=True,
        bf16=bf16,
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
        seed=tc.seed,
        disable_tqdm=True,
        dataloader_num_workers=0,  # data is pre-tokenised / pre-decoded: workers would only add IPC
        train_sampling_strategy="group_by_length" if (text_like and tc.group_by_length) else "random",
        remove_unused_columns=False,  # preprocess() already keeps only model inputs (images: cached "pixels")
    )
    callback = _callback_class()(run_dir, tc.batch_size, is_main, yield_flag, tc.profile_steps)
    callback.skip_final = tc.early_stopping_patience <= 0
    callbacks = [callback]
    if tc.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=tc.early_stopping_patience))
    trainer = _trainer_class(Trainer)(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds, data_collator=collator,
                      compute_metrics=compute_metrics, processing_class=processor if cfg.method != "features" else None,
                      callbacks=callbacks)
    checkpoint = rf.last_checkpoint(run_dir) if resume else None
    status("training", progress=0.0, resumed_from=str(checkpoint) if checkpoint else None, params=counts)
    t_train = time.time()
    train_out = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    train_seconds = time.time() - t_train

    if callback.stopped:
        ckpt = rf.last_checkpoint(run_dir)
        status("stopped", checkpoint=str(ckpt) if ckpt else None, eta_s=None)
        return 0

    status("evaluating", eta_s=None)
    pred = trainer.predict(eval_ds, metric_key_prefix="eval")
    if callback.skip_final and is_main:  # the evaluation the last epoch skipped, for the charts
        rf.append_metrics(run_dir, {"time": time.time(), "step": trainer.state.global_step, "epoch": trainer.state.epoch,
                                    "phase": "eval", **{k: v for k, v in pred.metrics.items() if k.startswith("eval_")}})
    logits, label_ids = pred.predictions, pred.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    if eval_order is not None:
        back = np.argsort(eval_order)
        logits, label_ids = logits[back], label_ids[back]
    if cfg.method == "features" and cfg.task == "ner":
        logits, label_ids = regroup_token_logits(logits, label_ids, head_counts)
    evaluation = task.evaluate(data.labels, logits, label_ids, data.eval)

    if not is_main:
        return 0
    status("saving")
    model_dir = run_dir / rf.MODEL
    model_dir.mkdir(exist_ok=True)
    if cfg.method == "features":
        FeatureModel(task, backbone, trainer.model, pooling, data.labels).save(model_dir)
    else:
        trainer.save_model(str(model_dir))
        if cfg.method == "lora" and params.merge:
            merged = trainer.model.merge_and_unload()
            merged.save_pretrained(str(run_dir / rf.MERGED))
            processor.save_pretrained(str(run_dir / rf.MERGED))
    processor.save_pretrained(str(model_dir))
    rf.write_json(model_dir / "tl_model.json", {
        "task": cfg.task, "method": cfg.method, "labels": data.labels, "base_model": cfg.model,
        "base_model_resolved": models.resolve_model_ref(cfg.model, cfg.task), "revision": cfg.revision,
        "max_length": tc.max_length, "image_size": tc.image_size,
    })
    with open(run_dir / rf.EVAL_PREDICTIONS, "w", encoding="utf-8") as f:
        for row in evaluation.examples:
            f.write(json.dumps(row) + "\n")
    results = {
        "task": cfg.task, "method": cfg.method, "model": cfg.model, "labels": data.labels,
        "metrics": evaluation.metrics, "report": evaluation.report,
        "params": counts, "bf16": trainer.accelerator.mixed_precision == "bf16", "features": feature_info,
        "timing": {"total_s": time.time() - t0, "train_s": train_seconds,
                   "train_samples_per_second": train_out.metrics.get("train_samples_per_second")},
        "peak_memory_mb": peak_memory_mb(),
        "data": {"train": len(data.train), "eval": len(data.eval), "hash": data.data_hash},
        "method_params": params_dict(params), "epochs_run": trainer.state.epoch, "steps": trainer.state.global_step,
    }
    rf.write_json(run_dir / rf.RESULTS, results)
    status("done", progress=1.0, eta_s=None, metrics=evaluation.metrics, finished=time.time())
    return 0


def main(argv: list[str] | None = None) -> NoReturn:
    parser = argparse.ArgumentParser(prog="python -m tl_core.train", description=__doc__)
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint")
    ns = parser.parse_args(argv)
    # Training is a background job: a lower CPU priority keeps the UI and playground responsive on small machines.
    nice = int(settings.TRAIN_NICE.get())
    if nice > 0:
        os.nice(nice)
    code = run(Path(ns.run_dir), ns.resume)
    # Every file of the run is written and closed by now; tearing down the interpreter (freeing the model,
    # datasets, thread pools) took another ~2 s of a 1-minute run. Flush and leave.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
