"""The speed piece's table: one row per measure, from the results dict bench/speed.py builds."""

from __future__ import annotations

from typing import Any

from . import common as c

TEXT_LEVER_TITLES = {"lever_group_by_length": "length grouping"}  # result key -> name in the table


def print_tables(res: dict[str, Any]) -> None:
    rows = _versus_plain_rows(res) + _flops_and_image_rows(res) + _lever_rows(res) + _token_and_cache_rows(res)
    c.table(
        "speed: ours vs the plain script (ratios measured in this run)", ["measure", "value", "target", "detail"], rows
    )


def _versus_plain_rows(res: dict[str, Any]) -> list[list[Any]]:
    """(a) full fine-tuning, (b) features, (c) LoRA."""
    a, b, cc = (res.get(k) for k in ("a_full", "b_features", "c_lora_vs_full"))
    rows = []
    if a:
        oa, ba = a["ours_accuracy"], a["baseline_accuracy"]
        rows.append(
            [
                "(a) full FT wall, ours/plain Trainer",
                a["wall_ratio"],
                "<= 0.35",
                f"ours {a['ours_wall_s']['mean']:.0f}s | plain {a['baseline_wall_s']['mean']:.0f}s (mean of {len(a['seeds'])} seeds)",
            ]
        )
        rows.append(
            [
                "(a) accuracy ours - plain",
                oa["mean"] - ba["mean"],
                ">= -0.01",
                f"ours {oa['mean']:.3f} ± {oa['sd']:.3f} | plain {ba['mean']:.3f} ± {ba['sd']:.3f} "
                f"(seeds {a['seeds']}: ours {' '.join(f'{x:.3f}' for x in oa['all'])}; plain {' '.join(f'{x:.3f}' for x in ba['all'])})",
            ]
        )
        rows.append(
            [
                "(a) train loop+eval only, ours/plain",
                a["train_ratio"],
                "",
                f"ours {a['ours']['train_s']:.0f}s | plain {a['baseline']['train_s'] + a['baseline']['eval_s']:.0f}s",
            ]
        )
    if b:
        rows.append(
            [
                "(b) features speedup vs frozen Trainer",
                b["speedup"],
                ">= 20",
                f"ours {b['ours']['wall_s']:.0f}s acc {b['ours']['accuracy']:.3f} | frozen 1 ep x{b['baseline_epochs']} = {b['baseline_projected_wall_s']:.0f}s "
                f"(acc after 1 ep {b['baseline_1_epoch']['accuracy']:.3f})",
            ]
        )
    if cc:
        for k in ("wall_s", "peak_memory_mb", "artifact_mb", "accuracy"):
            rows.append(
                [f"(c) LoRA/full {k}", cc[k]["ratio"], "", f"lora {cc[k]['lora']:.3f} | full {cc[k]['full']:.3f}"]
            )
    return rows


def _flops_and_image_rows(res: dict[str, Any]) -> list[list[Any]]:
    """(d) useful FLOP/s and the step profile, (e) images, (f) playground latency."""
    d, e, f = (res.get(k) for k in ("d_flops", "e_images", "f_playground"))
    rows = []
    if d and "useful_gflops" in d:
        p = res["peaks"]
        rows.append(
            [
                "(d) useful FLOP/s / bf16 peak",
                d["share_of_bf16_peak"],
                ">= 0.50",
                f"{d['useful_gflops']:.0f} GFLOP/s; peaks bf16 {p['bf16_gflops']:.0f}, fp32 {p['fp32_gflops']:.0f}",
            ]
        )
        rows.append(["(d) useful FLOP/s / fp32 peak", d["share_of_fp32_peak"], "", f"step {d['loop_step_s']:.3f}s"])
    if res.get("d_profile"):
        pr = res["d_profile"]
        rows.append(
            [
                "(d) profile: GEMM share of step time",
                pr["gemm_share"],
                "",
                f"seq {pr['seq']}: dropout RNG {pr['dropout_rng_share']:.0%}, casts {pr['cast_copy_share']:.0%}, "
                f"zero-fill {pr['zero_fill_share']:.0%}, AdamW {pr['optimizer_share']:.0%} ({pr['table_file']})",
            ]
        )
    if e:
        rows.append(
            [
                "(e) image train img/s ours/plain",
                e["train_speedup"],
                "",
                f"ours {e['ours_train_images_per_s'] or 0:.1f} | plain {e['baseline_train_images_per_s']:.1f} img/s",
            ]
        )
        rows.append(
            [
                "(e) feature extraction img/s ours/frozen-epoch",
                e["extract_speedup_vs_frozen_epoch"],
                "",
                f"ours {e['ours_extract_images_per_s'] or 0:.1f} | frozen epoch {e['baseline_frozen_epoch_images_per_s']:.1f} | plain inference {e['baseline_inference_images_per_s']:.1f} img/s",
            ]
        )
    if f:
        rows.append(
            [
                "(f) playground latency busy/idle",
                f["ratio"],
                "<= 1.5",
                f"idle {f['idle_ms']:.0f} ms | during run {f['during_training_ms']:.0f} ms",
            ]
        )
    return rows


def _lever_rows(res: dict[str, Any]) -> list[list[Any]]:
    """Levers measured as whole runs or step microbenchmarks, each against its off state."""
    rows = []
    if "lever_bf16" in res:
        lb = res["lever_bf16"]
        rows.append(
            [
                "lever bf16: fp32/bf16 step time",
                lb["loop_step_ratio_fp32_over_bf16"],
                "",
                f"acc bf16 - fp32 = {lb['accuracy_delta']:+.3f}",
            ]
        )
    for key, title in TEXT_LEVER_TITLES.items():
        if key in res:
            lv = res[key]
            rows.append(
                [
                    f"lever {title}: off/on step time",
                    lv["loop_step_ratio_off_over_on"],
                    "",
                    f"acc on - off = {lv['accuracy_delta']:+.3f} (one seed); peak RSS on "
                    f"{lv['peak_memory_mb']['on']:.0f} MB / off {lv['peak_memory_mb']['off']:.0f} MB",
                ]
            )
    if "lever_cpu_yield" in res:
        ly = res["lever_cpu_yield"]
        rows.append(
            [
                "lever playground pre-empts CPU training: busy/idle",
                ly["on"]["ratio"],
                "",
                f"off (train.cpu_yield=false): {ly['off']['ratio']:.2f} ({ly['off']['idle_ms']:.0f} -> {ly['off']['during_training_ms']:.0f} ms)",
            ]
        )
    if "lever_compile" in res:
        lc = res["lever_compile"]
        rows.append(
            [
                "lever torch.compile: compiled/eager step",
                lc["step_ratio_compiled_over_eager"],
                "",
                f"compile overhead {lc['compile_overhead_s']:.0f}s, pays back after "
                f"{lc['steps_to_pay_back'] or float('inf'):.0f} steps (1 epoch here: 125)",
            ]
        )
    if "lever_image_bf16" in res:
        lb = res["lever_image_bf16"]
        rows.append(
            [
                "lever image bf16: fp32/bf16 step time",
                lb["loop_step_ratio_fp32_over_bf16"],
                "",
                f"acc bf16 - fp32 = {lb['accuracy_delta']:+.3f}; wall bf16 {lb['bf16']['wall_s']:.0f}s fp32 {lb['fp32']['wall_s']:.0f}s",
            ]
        )
    if "lever_attention" in res:
        la = res["lever_attention"]
        rows.append(["lever SDPA: eager/sdpa step time", la["eager_over_sdpa"], "", f"seq {la['seq']}"])
    return rows


def _token_and_cache_rows(res: dict[str, Any]) -> list[list[Any]]:
    """What padding, length grouping and the tokenising / image caches save."""
    rows = []
    if "token_stats" in res:
        ct = res["token_stats"]["computed_tokens"]
        rows.append(
            [
                "lever padding: pad64/grouped tokens",
                ct["pad_to_64"] / ct["dynamic_length_grouped"],
                "",
                f"real {res['token_stats']['real_tokens']} | grouped {ct['dynamic_length_grouped']} | random {ct['dynamic_random']} | pad64 {ct['pad_to_64']}",
            ]
        )
        rows.append(
            [
                "lever pad to multiple of 8 (GPU only): tokens",
                ct["dynamic_length_grouped_pad8"] / ct["dynamic_length_grouped"],
                "",
                f"grouped+pad8 {ct['dynamic_length_grouped_pad8']} | transformers' grouping+pad8 {ct['transformers_grouped_pad8']}",
            ]
        )
        rows.append(["lever cached tokenisation: s/epoch saved", res["token_stats"]["tokenise_s_per_epoch"], "", ""])
    if "lever_image_cache" in res:
        li = res["lever_image_cache"]
        rows.append(
            [
                "lever image cache: decode s/epoch saved",
                li["decode_resize_s_per_epoch"],
                "",
                f"cached rows {li['cached_rows_s_per_epoch']:.2f}s/epoch vs torch tensor {li['torch_tensor_s_per_epoch']:.3f}s",
            ]
        )
    return rows
