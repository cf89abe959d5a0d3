"""Speed measurements that are not a whole training run of ours vs the plain script: token and FLOP counts, the
training-step microbenchmarks (attention, torch.compile, profile), the image-cache cost, and playground latency.
bench/speed.py runs them; bench/README.md says what each number means."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from . import common as c
from . import datasets as bd
from . import transfer as tr


# --- (d) useful FLOP/s ------------------------------------------------------------------------------------------------
def text_token_stats(max_length: int = 128, batch: int = 32) -> dict[str, Any]:
    """Real (non-padding) tokens of the training set and the tokens a step computes under each padding policy."""
    import random

    from transformers import AutoTokenizer

    from tl_core import models

    train, _ = tr.text_data()
    texts, _, _ = bd.read_csv(train)
    tok = AutoTokenizer.from_pretrained(models.resolve_model_ref("bundled:minilm", "text"))
    t = time.perf_counter()
    lens = [len(x) for x in tok(texts, truncation=True, max_length=max_length)["input_ids"]]
    tokenise_s = time.perf_counter() - t

    def padded(order: list[int], multiple: int) -> int:
        total = 0
        for s in range(0, len(order), batch):
            longest = max(lens[i] for i in order[s : s + batch])
            total += -(-longest // multiple) * multiple * len(order[s : s + batch])
        return total

    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    from tl_core.batching import length_grouped_order

    rnd = list(range(len(lens)))
    random.Random(0).shuffle(rnd)
    g = torch.Generator().manual_seed(0)
    ours = length_grouped_order(lens, batch, generator=g)
    theirs = get_length_grouped_indices(lens, batch, generator=g)
    real = sum(lens)
    return {
        "n": len(lens),
        "real_tokens": real,
        "mean_len": real / len(lens),
        "max_len": max(lens),
        "sum_len_sq": sum(x * x for x in lens),
        "tokenise_s_per_epoch": tokenise_s,
        "computed_tokens": {
            "pad_to_64": 64 * len(lens),
            "dynamic_random": padded(rnd, 1),
            "transformers_grouped_pad8": padded(theirs, 8),
            "dynamic_length_grouped": padded(ours, 1),  # what training computes on a CPU
            "dynamic_length_grouped_pad8": padded(ours, 8),
        },  # ... and on a GPU
    }


def useful_flops(run: dict[str, Any], stats: dict[str, Any], peaks: dict[str, float]) -> dict[str, Any]:
    """6 x non-embedding params x real tokens + attention (12 x layers x hidden x L^2 per sequence), per second of
    training-loop step time (evaluation and checkpoint intervals excluded)."""
    from transformers import AutoConfig

    from tl_core import models

    cfg = AutoConfig.from_pretrained(models.resolve_model_ref("bundled:minilm", "text"))
    h, layers, inter = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
    per_layer = 4 * h * h + 4 * h + 2 * h * inter + inter + h + 4 * h  # attention, FFN, 2 layer norms
    non_emb = layers * per_layer + h * h + h + 2 * h + 2  # + pooler + classifier (2 labels)
    flops_epoch = 6 * non_emb * stats["real_tokens"] + 12 * layers * h * stats["sum_len_sq"]
    step_s = run.get("loop_step_s")
    steps_per_epoch = -(-stats["n"] // 32)
    if not step_s:
        return {"non_embedding_params": non_emb}
    fps = flops_epoch / (step_s * steps_per_epoch)
    return {
        "non_embedding_params": non_emb,
        "useful_flops_per_epoch": flops_epoch,
        "loop_step_s": step_s,
        "useful_gflops": fps / 1e9,
        "share_of_bf16_peak": fps / 1e9 / peaks["bf16_gflops"],
        "share_of_fp32_peak": fps / 1e9 / peaks["fp32_gflops"],
    }


# --- levers that need no training run ------------------------------------------------------------------------------
def attention_lever(seq: int = 32, steps: int = 4) -> dict[str, Any]:
    """SDPA vs eager attention: training-step time of MiniLM at batch 32, bf16 autocast, same process."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from tl_core import models

    path = models.resolve_model_ref("bundled:minilm", "text")
    out = {}
    for impl in ("sdpa", "eager", "sdpa"):
        torch.manual_seed(0)
        m = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2, attn_implementation=impl)
        opt = torch.optim.AdamW(m.parameters(), 1e-4)
        ids = torch.randint(1000, 20000, (32, seq))
        y = torch.randint(0, 2, (32,))

        def step(m=m, opt=opt, ids=ids, y=y):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = m(input_ids=ids, attention_mask=torch.ones_like(ids), labels=y).loss
            loss.backward()
            opt.step()
            opt.zero_grad()

        step()
        t = time.perf_counter()
        for _ in range(steps):
            step()
        out[impl] = min(out.get(impl, 1e9), (time.perf_counter() - t) / steps)
    return {"seq": seq, "step_s": out, "eager_over_sdpa": out["eager"] / out["sdpa"]}


def _minilm_step(compile_model: bool = False):
    """Our training step outside the Trainer: eager attention, bf16 autocast, fused AdamW, gradient clipping.
    Returns step(seq_len)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from tl_core import models

    torch.manual_seed(0)
    m = AutoModelForSequenceClassification.from_pretrained(
        models.resolve_model_ref("bundled:minilm", "text"), num_labels=2, attn_implementation="eager"
    )
    m.train()
    opt = torch.optim.AdamW(m.parameters(), 5e-5, fused=True)
    fwd = torch.compile(m, dynamic=True) if compile_model else m

    def step(seq: int) -> None:
        ids = torch.randint(1000, 20000, (32, seq))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = fwd(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.randint(0, 2, (32,))).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad()

    return step


def compile_lever(seqs: tuple[int, ...] = (24, 28, 32), steps: int = 6) -> dict[str, Any]:
    """torch.compile (inductor, dynamic shapes) vs eager on our step: compile time and step time per length."""
    out: dict[str, Any] = {}
    for mode in ("eager", "compiled"):
        step = _minilm_step(compile_model=mode == "compiled")
        t = time.perf_counter()
        step(27)
        step(31)  # a second length: dynamic shapes must not recompile per batch
        first = time.perf_counter() - t
        times = {}
        for seq in seqs:
            step(seq)
            t = time.perf_counter()
            for _ in range(steps):
                step(seq)
            times[seq] = (time.perf_counter() - t) / steps
        out[mode] = {"first_two_steps_s": first, "step_s": times}
    e, cc = out["eager"], out["compiled"]
    saved = statistics.mean(e["step_s"][q] - cc["step_s"][q] for q in seqs)
    out["step_ratio_compiled_over_eager"] = statistics.mean(cc["step_s"][q] / e["step_s"][q] for q in seqs)
    out["compile_overhead_s"] = cc["first_two_steps_s"] - e["first_two_steps_s"]
    out["steps_to_pay_back"] = out["compile_overhead_s"] / saved if saved > 0 else None
    return out


GEMM_OPS = ("aten::mm", "aten::addmm", "aten::bmm")


def step_profile(seq: int, steps: int = 5) -> dict[str, Any]:
    """torch.profiler of our training step at the run's mean padded length: where the time goes. The op table is
    written to results/profile_text_step.txt (the evidence behind the FLOP/s number)."""
    from torch.profiler import ProfilerActivity, profile

    step = _minilm_step()
    for _ in range(3):
        step(seq)
    t = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step(seq)
    wall = (time.perf_counter() - t) / steps
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    by_op = sorted(((e.key, e.self_cpu_time_total / total) for e in events), key=lambda kv: -kv[1])
    share = lambda names: sum(v for k, v in by_op if k in names)  # noqa: E731
    out = {
        "seq": seq,
        "batch": 32,
        "step_s_under_profiler": wall,
        "gemm_share": share(GEMM_OPS),
        "dropout_rng_share": share(("aten::random_", "aten::bernoulli_")),
        "cast_copy_share": share(("aten::copy_",)),
        "zero_fill_share": share(("aten::fill_", "aten::zero_")),
        "optimizer_share": share(("aten::_fused_adamw_",)),
        "top_ops": by_op[:15],
    }
    path = c.RESULTS / "profile_text_step.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(events.table(sort_by="self_cpu_time_total", row_limit=40))
    out["table_file"] = str(path)
    return out


def image_cache_lever() -> dict[str, Any]:
    """Per-epoch cost of decoding + resizing every image (what caching saves) vs reading the cached pixels, and
    the cost of the cached-pixel path itself (datasets numpy formatting of nested lists) vs a torch uint8 tensor."""
    import numpy as np
    import torch

    from tl_core import models
    from tl_core.config import load_preset
    from tl_core.data import load_task_data
    from tl_core.registry import get_task

    train, evals = tr.image_data()
    cfg = load_preset("image", "full").with_overrides(
        [f"data.train_file={train}", f"data.eval_file={evals}", f"train.image_size={tr.IMAGE_SIZE}"]
    )
    task = get_task("image")
    data = load_task_data("image", cfg.data, work_dir=c.fresh_dir("image-cache-lever"))
    proc = models.load_processor("image", cfg.model)
    t = time.perf_counter()
    ds = task.preprocess(data.train, proc, cfg.train)
    decode_s = time.perf_counter() - t
    col = task.collator(proc, cfg.train)
    n = min(320, len(ds))
    t = time.perf_counter()
    for s in range(0, n, 32):
        col([ds[i] for i in range(s, min(n, s + 32))])
    rows_s = (time.perf_counter() - t) / n * len(ds)
    pixels = torch.from_numpy(np.stack([np.asarray(ds[i]["pixels"]) for i in range(len(ds))]))
    t = time.perf_counter()
    for s in range(0, len(ds), 32):
        col.normalise(pixels[s : s + 32])
    tensor_s = time.perf_counter() - t
    return {
        "n_train": len(ds),
        "decode_resize_s_per_epoch": decode_s,
        "cached_rows_s_per_epoch": rows_s,
        "torch_tensor_s_per_epoch": tensor_s,
    }


# --- (f) playground latency ------------------------------------------------------------------------------------------
def playground_latency(
    model_run: dict[str, Any], n: int = 30, renice: int = 0, overrides: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The playground's call (dashboard.predictor_for(run).predict(text)) idle vs while a training run is active.
    ``renice`` > 0 lowers the training process group's priority further; ``overrides`` go to the training run's
    config (``train.cpu_yield=false``: the run ignores the playground's pause requests, the lever's off state)."""
    from tl_core import dashboard as dash
    from tl_core import runs

    texts = [
        "An absolute joy from start to finish.",
        "The plot is thin and the jokes fall flat.",
        "Not the best film of the year, but a warm and funny one.",
    ]
    pred = dash.predictor_for(Path(model_run["run_dir"]))
    pred.predict(texts[0])

    def sample() -> list[float]:
        out = []
        for i in range(n):
            t = time.perf_counter()
            pred.predict(texts[i % 3])
            out.append(time.perf_counter() - t)
            time.sleep(0.05)
        return out

    idle = sample()
    # a concurrent full fine-tuning run (the real subprocess), sampled once it is in its training loop
    from tl_core import runfiles as rf
    from tl_core.config import load_preset

    cfg = load_preset("text", "full").with_overrides(tr.text_overrides("full") + list(overrides))
    rd = c.fresh_dir("playground-bg-run")
    runs.create_run(cfg, run_dir=rd)
    pid = runs.start(rd)
    if renice:
        import os

        os.setpriority(os.PRIO_PGRP, os.getpgid(pid), renice)
    try:
        deadline = time.time() + 300
        while (rf.read_json(rd / rf.STATUS, {}) or {}).get("phase") != "training" and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(3)
        busy = sample()
    finally:
        runs.stop(rd, grace_s=5)
    time.sleep(2)
    idle += sample()  # idle before and after the run: this VM's idle latency drifts by +-20% over minutes
    med_idle, med_busy = statistics.median(idle), statistics.median(busy)
    return {
        "renice": renice,
        "overrides": list(overrides),
        "idle_ms": med_idle * 1e3,
        "during_training_ms": med_busy * 1e3,
        "ratio": med_busy / med_idle,
        "idle_all_ms": [x * 1e3 for x in idle],
        "busy_all_ms": [x * 1e3 for x in busy],
    }
