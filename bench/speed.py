"""Issue 4's side-by-side: our path vs the script a user would write, same data / model / epochs / batch, in one
bench process so the ratios share the machine's conditions. See bench/README.md for what each number means."""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from . import common as c
from . import datasets as bd
from . import transfer as tr


def _text_args(frozen: bool = False) -> list[str]:
    from tl_core import models
    from tl_core.config import load_preset

    train, evals = tr.text_data()
    p = load_preset("text", "features" if frozen else "full").train
    return ["--model", models.resolve_model_ref("bundled:minilm", "text"), "--train", str(train), "--eval", str(evals),
            "--epochs", "1", "--batch", "32", "--lr", str(p.learning_rate), "--warmup", str(p.warmup),
            "--wd", str(p.weight_decay)]


def _image_args(frozen: bool = False) -> list[str]:
    from tl_core import models
    from tl_core.config import load_preset

    train, evals = tr.image_data()
    p = load_preset("image", "features" if frozen else "full").train
    return ["--model", models.resolve_model_ref("bundled:efficientnet-lite0", "image"), "--train", str(train),
            "--eval", str(evals), "--epochs", "1", "--batch", "32", "--lr", str(p.learning_rate),
            "--warmup", str(p.warmup), "--wd", str(p.weight_decay), "--image-size", str(tr.IMAGE_SIZE)]


SEEDS = (42, 43, 44, 45, 46)  # training seeds of (a) (--seeds picks how many); the data split is the same for all (bench data seed 0)


def _spread(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "all": values}


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
            longest = max(lens[i] for i in order[s:s + batch])
            total += -(-longest // multiple) * multiple * len(order[s:s + batch])
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
        "n": len(lens), "real_tokens": real, "mean_len": real / len(lens), "max_len": max(lens),
        "sum_len_sq": sum(x * x for x in lens), "tokenise_s_per_epoch": tokenise_s,
        "computed_tokens": {"pad_to_64": 64 * len(lens), "dynamic_random": padded(rnd, 1),
                            "transformers_grouped_pad8": padded(theirs, 8),
                            "dynamic_length_grouped": padded(ours, 1),  # what training computes on a CPU
                            "dynamic_length_grouped_pad8": padded(ours, 8)},  # ... and on a GPU
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
    return {"non_embedding_params": non_emb, "useful_flops_per_epoch": flops_epoch, "loop_step_s": step_s,
            "useful_gflops": fps / 1e9, "share_of_bf16_peak": fps / 1e9 / peaks["bf16_gflops"],
            "share_of_fp32_peak": fps / 1e9 / peaks["fp32_gflops"]}


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

        def step():
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
    """Our training step outside the Trainer: eager attention, bf16 autocast, fast CPU dropout, fused AdamW,
    gradient clipping. Returns (step(seq_len), model)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from tl_core import models
    from tl_core.hardware import reuse_freed_memory

    reuse_freed_memory()  # as tl_core.train does for a run
    torch.manual_seed(0)
    m = AutoModelForSequenceClassification.from_pretrained(models.resolve_model_ref("bundled:minilm", "text"),
                                                           num_labels=2, attn_implementation="eager")
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
    from tl_core.fast_dropout import cpu_fast_dropout

    out: dict[str, Any] = {}
    for mode in ("eager", "compiled"):
        with cpu_fast_dropout():
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

    from tl_core.fast_dropout import cpu_fast_dropout

    with cpu_fast_dropout():
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
    out = {"seq": seq, "batch": 32, "step_s_under_profiler": wall,
           "gemm_share": share(GEMM_OPS), "dropout_rng_share": share(("aten::random_", "aten::bernoulli_")),
           "cast_copy_share": share(("aten::copy_",)), "zero_fill_share": share(("aten::fill_", "aten::zero_")),
           "optimizer_share": share(("aten::_fused_adamw_",)), "top_ops": by_op[:15]}
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

    from tl_core.config import load_preset
    from tl_core.data import load_task_data
    from tl_core.registry import get_task
    from tl_core import models

    train, evals = tr.image_data()
    cfg = load_preset("image", "full").with_overrides(
        [f"data.train_file={train}", f"data.eval_file={evals}", f"train.image_size={tr.IMAGE_SIZE}"])
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
        col.normalise(pixels[s:s + 32])
    tensor_s = time.perf_counter() - t
    return {"n_train": len(ds), "decode_resize_s_per_epoch": decode_s, "cached_rows_s_per_epoch": rows_s,
            "torch_tensor_s_per_epoch": tensor_s}


# --- (f) playground latency ------------------------------------------------------------------------------------------
def playground_latency(model_run: dict[str, Any], n: int = 30, renice: int = 0,
                       env: dict[str, str] | None = None) -> dict[str, Any]:
    """The playground's call (dashboard.predictor_for(run).predict(text)) idle vs while a training run is active.
    ``renice`` > 0 lowers the training process group's priority further; ``env`` goes to the training run
    (``TL_CPU_YIELD=0``: the run ignores the playground's pause requests, the lever's off state)."""
    from tl_core import dashboard as dash
    from tl_core import runs

    texts = ["An absolute joy from start to finish.", "The plot is thin and the jokes fall flat.",
             "Not the best film of the year, but a warm and funny one."]
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

    cfg = load_preset("text", "full").with_overrides(tr.text_overrides("full"))
    rd = c.fresh_dir("playground-bg-run")
    runs.create_run(cfg, run_dir=rd)
    pid = runs.start(rd, env=env)
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
    return {"renice": renice, "env": env or {}, "idle_ms": med_idle * 1e3, "during_training_ms": med_busy * 1e3, "ratio": med_busy / med_idle,
            "idle_all_ms": [x * 1e3 for x in idle], "busy_all_ms": [x * 1e3 for x in busy]}


# --- text levers measured as a whole 1-epoch run with the lever off -------------------------------------------------
TEXT_LEVERS = (  # result key, run name, config overrides, run environment (all: turn the lever off)
    ("lever_group_by_length", "text-full-nogroup", ["train.group_by_length=false"], None),
    ("lever_fast_dropout", "text-full-torch-dropout", ["train.fast_dropout=false"], None),
    ("lever_malloc", "text-full-glibc-malloc", [], {"TL_MALLOC_TUNING": "0"}),
)
TEXT_LEVER_TITLES = {"lever_group_by_length": "length grouping", "lever_fast_dropout": "fast CPU dropout",
                     "lever_malloc": "malloc reuse"}


def _text_lever_off(on: dict[str, Any], run_name: str, overrides: list[str], env: dict[str, str] | None) -> dict[str, Any]:
    off = c.memo(run_name, lambda: c.run_ours(run_name, "text", "full", tr.text_overrides("full") + overrides, env=env))
    return {"on": on, "off": off, "loop_step_ratio_off_over_on": c.ratio(off["loop_step_s"], on["loop_step_s"]),
            "accuracy_delta": on["accuracy"] - off["accuracy"],
            "peak_memory_mb": {"on": on["peak_memory_mb"], "off": off["peak_memory_mb"]}}


# --- main ------------------------------------------------------------------------------------------------------------
def main(levers: bool = True) -> dict[str, Any]:
    res: dict[str, Any] = {}
    peaks = c.matmul_peaks()
    res["peaks"] = peaks
    c.say(f"matmul peaks: fp32 {peaks['fp32_gflops']:.0f} GFLOP/s, bf16 {peaks['bf16_gflops']:.0f} GFLOP/s")

    # (a) full fine-tuning vs plain Trainer, over several training seeds: one seed on 1,000 sentences has a
    # standard error of ~1.2 points, more than the 1-point margin the comparison asks for.
    ours_full = c.memo("text-full", lambda: c.run_ours("text-full", "text", "full", tr.text_overrides("full")))
    base_full = c.memo("base-text-full", lambda: c.run_baseline("base-text-full", "text-full", _text_args()))
    ours_seeds, base_seeds = [ours_full], [base_full]
    for seed in SEEDS[1:c.SEEDS]:
        ours_seeds.append(c.memo(f"text-full-seed{seed}", lambda s=seed: c.run_ours(
            f"text-full-seed{s}", "text", "full", tr.text_overrides("full") + [f"train.seed={s}"])))
        base_seeds.append(c.memo(f"base-text-full-seed{seed}", lambda s=seed: c.run_baseline(
            f"base-text-full-seed{s}", "text-full", _text_args() + ["--seed", str(s)])))
    res["a_full"] = {"ours": ours_full, "baseline": base_full, "seeds": SEEDS[:len(ours_seeds)],
                     "ours_accuracy": _spread([r["accuracy"] for r in ours_seeds]),
                     "baseline_accuracy": _spread([r["accuracy"] for r in base_seeds]),
                     "ours_wall_s": _spread([r["wall_s"] for r in ours_seeds]),
                     "baseline_wall_s": _spread([r["wall_s"] for r in base_seeds]),
                     "wall_ratio": c.ratio(statistics.mean(r["wall_s"] for r in ours_seeds),
                                           statistics.mean(r["wall_s"] for r in base_seeds)),
                     "train_ratio": c.ratio(ours_full["train_s"], base_full["train_s"] + base_full["eval_s"])}
    # (b) features vs frozen-backbone Trainer (one epoch timed, x10)
    ours_feat = c.memo("text-features", lambda: c.run_ours("text-features", "text", "features", tr.text_overrides("features")))
    base_frozen = c.memo("base-text-frozen", lambda: c.run_baseline("base-text-frozen", "text-frozen", _text_args(True)))
    epochs = tr.EPOCHS["text"]["features"]
    overhead = base_frozen["process_s"] - base_frozen["train_s"]  # imports, load, tokenise, eval, save
    projected = base_frozen["wall_s"] + (epochs - 1) * base_frozen["train_s"]
    res["b_features"] = {"ours": ours_feat, "baseline_1_epoch": base_frozen, "baseline_epochs": epochs,
                         "baseline_projected_wall_s": projected, "baseline_overhead_s": overhead,
                         "wall_ratio": c.ratio(ours_feat["wall_s"], projected),
                         "speedup": c.ratio(projected, ours_feat["wall_s"])}
    # (c) LoRA vs full
    ours_lora = c.memo("text-lora", lambda: c.run_ours("text-lora", "text", "lora", tr.text_overrides("lora")))
    res["c_lora_vs_full"] = {k: {"lora": ours_lora[k], "full": ours_full[k], "ratio": c.ratio(ours_lora[k], ours_full[k])}
                             for k in ("wall_s", "train_s", "peak_memory_mb", "artifact_mb", "accuracy")}
    # (d) useful FLOP/s
    stats = text_token_stats()
    res["token_stats"] = stats
    res["d_flops"] = useful_flops(ours_full, stats, peaks)
    res["d_profile"] = step_profile(round(stats["computed_tokens"]["dynamic_length_grouped"] / stats["n"]))
    # (f) playground latency
    res["f_playground"] = playground_latency(ours_full)
    c.save("speed", res)  # partial results survive an interrupted bench
    # (e) images
    img_full = c.memo("image-full", lambda: c.run_ours("image-full", "image", "full", tr.image_overrides("full")))
    img_feat = c.memo("image-features", lambda: c.run_ours("image-features", "image", "features", tr.image_overrides("features")))
    base_img = c.memo("base-image-full", lambda: c.run_baseline("base-image-full", "image-full", _image_args()))
    base_img_frozen = c.memo("base-image-frozen", lambda: c.run_baseline("base-image-frozen", "image-frozen", _image_args(True)))
    ph = img_feat["phases_s"]
    n_img = img_feat["n_train"] + img_feat["n_eval"]
    extract_s = ph.get("training", 0) - ph.get("preparing features", 0)
    ours_train_ips = 32 / img_full["loop_step_s"] if img_full.get("loop_step_s") else None
    res["e_images"] = {
        "ours_full": img_full, "ours_features": img_feat, "baseline_full": base_img, "baseline_frozen": base_img_frozen,
        "ours_train_images_per_s": ours_train_ips, "baseline_train_images_per_s": base_img["train_images_per_s"],
        "train_speedup": c.ratio(ours_train_ips, base_img["train_images_per_s"]),
        "ours_extract_images_per_s": n_img / extract_s if extract_s > 0 else None,
        "baseline_frozen_epoch_images_per_s": base_img_frozen["train_images_per_s"],
        "baseline_inference_images_per_s": base_img_frozen["eval_images_per_s"],
    }
    res["e_images"]["extract_speedup_vs_frozen_epoch"] = c.ratio(res["e_images"]["ours_extract_images_per_s"],
                                                                 base_img_frozen["train_images_per_s"])
    # levers
    c.save("speed", res)
    res["lever_attention"] = attention_lever()
    res["lever_image_cache"] = image_cache_lever()
    if levers:
        fp32 = c.memo("text-full-fp32", lambda: c.run_ours("text-full-fp32", "text", "full",
                                                           tr.text_overrides("full") + ["train.precision=fp32"]))
        for key, run_name, extra, env in TEXT_LEVERS:
            res[key] = _text_lever_off(ours_full, run_name, extra, env)
        res["lever_cpu_yield"] = {"on": res["f_playground"],
                                  "off": playground_latency(ours_full, env={"TL_CPU_YIELD": "0"})}
        res["lever_compile"] = compile_lever()
        res["lever_bf16"] = {"bf16": ours_full, "fp32": fp32,
                             "loop_step_ratio_fp32_over_bf16": c.ratio(fp32["loop_step_s"], ours_full["loop_step_s"]),
                             "accuracy_delta": ours_full["accuracy"] - fp32["accuracy"]}
        # images train in fp32 on a CPU by default (hardware.use_bf16): the lever forces bf16 to show why
        img_bf16 = c.memo("image-full-bf16", lambda: c.run_ours("image-full-bf16", "image", "full",
                                                                tr.image_overrides("full") + ["train.precision=bf16"]))
        res["lever_image_bf16"] = {"bf16": img_bf16, "fp32": img_full,
                                   "loop_step_ratio_fp32_over_bf16": c.ratio(img_full["loop_step_s"], img_bf16["loop_step_s"]),
                                   "accuracy_delta": img_bf16["accuracy"] - img_full["accuracy"]}
    print_tables(res)
    c.save("speed", res)
    return res


def print_tables(res: dict[str, Any]) -> None:
    a, b, cc, d, e, f = (res.get(k) for k in ("a_full", "b_features", "c_lora_vs_full", "d_flops", "e_images", "f_playground"))
    rows = []
    if a:
        oa, ba = a["ours_accuracy"], a["baseline_accuracy"]
        rows.append(["(a) full FT wall, ours/plain Trainer", a["wall_ratio"], "<= 0.35",
                     f"ours {a['ours_wall_s']['mean']:.0f}s | plain {a['baseline_wall_s']['mean']:.0f}s (mean of {len(a['seeds'])} seeds)"])
        rows.append(["(a) accuracy ours - plain", oa["mean"] - ba["mean"], ">= -0.01",
                     f"ours {oa['mean']:.3f} ± {oa['sd']:.3f} | plain {ba['mean']:.3f} ± {ba['sd']:.3f} "
                     f"(seeds {a['seeds']}: ours {' '.join(f'{x:.3f}' for x in oa['all'])}; plain {' '.join(f'{x:.3f}' for x in ba['all'])})"])
        rows.append(["(a) train loop+eval only, ours/plain", a["train_ratio"], "", f"ours {a['ours']['train_s']:.0f}s | plain {a['baseline']['train_s'] + a['baseline']['eval_s']:.0f}s"])
    if b:
        rows.append(["(b) features speedup vs frozen Trainer", b["speedup"], ">= 20",
                     f"ours {b['ours']['wall_s']:.0f}s acc {b['ours']['accuracy']:.3f} | frozen 1 ep x{b['baseline_epochs']} = {b['baseline_projected_wall_s']:.0f}s "
                     f"(acc after 1 ep {b['baseline_1_epoch']['accuracy']:.3f})"])
    if cc:
        for k in ("wall_s", "peak_memory_mb", "artifact_mb", "accuracy"):
            rows.append([f"(c) LoRA/full {k}", cc[k]["ratio"], "", f"lora {cc[k]['lora']:.3f} | full {cc[k]['full']:.3f}"])
    if d and "useful_gflops" in d:
        p = res["peaks"]
        rows.append(["(d) useful FLOP/s / bf16 peak", d["share_of_bf16_peak"], ">= 0.50",
                     f"{d['useful_gflops']:.0f} GFLOP/s; peaks bf16 {p['bf16_gflops']:.0f}, fp32 {p['fp32_gflops']:.0f}"])
        rows.append(["(d) useful FLOP/s / fp32 peak", d["share_of_fp32_peak"], "", f"step {d['loop_step_s']:.3f}s"])
    if res.get("d_profile"):
        pr = res["d_profile"]
        rows.append(["(d) profile: GEMM share of step time", pr["gemm_share"], "",
                     f"seq {pr['seq']}: dropout RNG {pr['dropout_rng_share']:.0%}, casts {pr['cast_copy_share']:.0%}, "
                     f"zero-fill {pr['zero_fill_share']:.0%}, AdamW {pr['optimizer_share']:.0%} ({pr['table_file']})"])
    if e:
        rows.append(["(e) image train img/s ours/plain", e["train_speedup"], "",
                     f"ours {e['ours_train_images_per_s'] or 0:.1f} | plain {e['baseline_train_images_per_s']:.1f} img/s"])
        rows.append(["(e) feature extraction img/s ours/frozen-epoch", e["extract_speedup_vs_frozen_epoch"], "",
                     f"ours {e['ours_extract_images_per_s'] or 0:.1f} | frozen epoch {e['baseline_frozen_epoch_images_per_s']:.1f} | plain inference {e['baseline_inference_images_per_s']:.1f} img/s"])
    if f:
        rows.append(["(f) playground latency busy/idle", f["ratio"], "<= 1.5", f"idle {f['idle_ms']:.0f} ms | during run {f['during_training_ms']:.0f} ms"])
    if "lever_bf16" in res:
        lb = res["lever_bf16"]
        rows.append(["lever bf16: fp32/bf16 step time", lb["loop_step_ratio_fp32_over_bf16"], "", f"acc bf16 - fp32 = {lb['accuracy_delta']:+.3f}"])
    for key, title in TEXT_LEVER_TITLES.items():
        if key in res:
            lv = res[key]
            rows.append([f"lever {title}: off/on step time", lv["loop_step_ratio_off_over_on"], "",
                         f"acc on - off = {lv['accuracy_delta']:+.3f} (one seed); peak RSS on "
                         f"{lv['peak_memory_mb']['on']:.0f} MB / off {lv['peak_memory_mb']['off']:.0f} MB"])
    if "lever_cpu_yield" in res:
        ly = res["lever_cpu_yield"]
        rows.append(["lever playground pre-empts CPU training: busy/idle", ly["on"]["ratio"], "",
                     f"off (TL_CPU_YIELD=0): {ly['off']['ratio']:.2f} ({ly['off']['idle_ms']:.0f} -> {ly['off']['during_training_ms']:.0f} ms)"])
    if "lever_compile" in res:
        lc = res["lever_compile"]
        rows.append(["lever torch.compile: compiled/eager step", lc["step_ratio_compiled_over_eager"], "",
                     f"compile overhead {lc['compile_overhead_s']:.0f}s, pays back after "
                     f"{lc['steps_to_pay_back'] or float('inf'):.0f} steps (1 epoch here: 125)"])
    if "lever_image_bf16" in res:
        lb = res["lever_image_bf16"]
        rows.append(["lever image bf16: fp32/bf16 step time", lb["loop_step_ratio_fp32_over_bf16"], "",
                     f"acc bf16 - fp32 = {lb['accuracy_delta']:+.3f}; wall bf16 {lb['bf16']['wall_s']:.0f}s fp32 {lb['fp32']['wall_s']:.0f}s"])
    if "lever_attention" in res:
        la = res["lever_attention"]
        rows.append(["lever SDPA: eager/sdpa step time", la["eager_over_sdpa"], "", f"seq {la['seq']}"])
    if "token_stats" in res:
        ct = res["token_stats"]["computed_tokens"]
        rows.append(["lever padding: pad64/grouped tokens", ct["pad_to_64"] / ct["dynamic_length_grouped"], "",
                     f"real {res['token_stats']['real_tokens']} | grouped {ct['dynamic_length_grouped']} | random {ct['dynamic_random']} | pad64 {ct['pad_to_64']}"])
        rows.append(["lever pad to multiple of 8 (GPU only): tokens", ct["dynamic_length_grouped_pad8"] / ct["dynamic_length_grouped"], "",
                     f"grouped+pad8 {ct['dynamic_length_grouped_pad8']} | transformers' grouping+pad8 {ct['transformers_grouped_pad8']}"])
        rows.append(["lever cached tokenisation: s/epoch saved", res["token_stats"]["tokenise_s_per_epoch"], "", ""])
    if "lever_image_cache" in res:
        li = res["lever_image_cache"]
        rows.append(["lever image cache: decode s/epoch saved", li["decode_resize_s_per_epoch"], "",
                     f"cached rows {li['cached_rows_s_per_epoch']:.2f}s/epoch vs torch tensor {li['torch_tensor_s_per_epoch']:.3f}s"])
    c.table("speed: ours vs the plain script (ratios measured in this run)", ["measure", "value", "target", "detail"], rows)
