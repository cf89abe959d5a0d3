"""Honest results: baselines from the evaluation split, the verdict against them, and each likely cause."""

from __future__ import annotations

from tl_core import verdict
from webui import presenters


def _results(acc: float, n: int = 12, steps: int = 200, method: str = "lora", **extra) -> dict:
    labels = ["neg", "pos"]
    res = {
        "task": "text",
        "method": method,
        "labels": labels,
        "metrics": {"accuracy": acc, "f1_macro": acc},
        "steps": steps,
        "epochs_run": 3.0,
        "data": {"train": 48, "eval": n},
        "baselines": verdict.baselines("text", labels, [0, 1] * (n // 2)),
        **extra,
    }
    return res


def _train(losses: list[float]) -> list[dict]:
    return [{"phase": "train", "step": i, "loss": v} for i, v in enumerate(losses)]


def _evals(losses: list[float]) -> list[dict]:
    return [{"phase": "eval", "epoch": i + 1, "eval_loss": v} for i, v in enumerate(losses)]


def test_baselines_classification_and_ner() -> None:
    b = verdict.baselines("text", ["a", "b", "c"], [0, 0, 0, 1, 2, 0])
    assert b["majority"] == 4 / 6 and b["chance"] == 1 / 3 and b["metric"] == "accuracy" and b["majority_label"] == "a"
    ner = verdict.baselines("ner", ["O", "B-PER", "I-PER"], [[0, 1, 2, 0], [0, 0, 0, 0]])
    assert ner["majority"] == 6 / 8 and ner["chance"] is None and ner["metric"] == "token accuracy"
    assert ner["entities"] == 1


def test_a_run_at_chance_is_weak_and_shown_amber() -> None:
    res = _results(0.5, steps=6)
    v = verdict.judge(res, _train([0.70, 0.69]))
    assert v["level"] == "weak" and v["headline"].startswith("Done, but no better than guessing")
    assert "always answering" in v["headline"] and "0.500" in v["headline"]
    card = presenters.status_html("r", {"phase": "done", "verdict": v}, [], None, res)
    assert "tl-weak" in card and "tl-ok" not in card and "Likely cause" in card and "Next step" in card


def test_a_clearly_better_run_is_good_and_green() -> None:
    res = _results(0.95, n=40)
    v = verdict.judge(res, _train([0.7, 0.2]))
    assert v["level"] == "good" and v["headline"].startswith("Clearly better than guessing")
    card = presenters.status_html("r", {"phase": "done", "verdict": v}, [], None, res)
    assert "tl-ok" in card and "tl-weak" not in card


def test_better_than_chance_but_not_majority_is_weak() -> None:
    """Imbalanced eval: 80% is one class; 0.80 accuracy is what always answering it gets."""
    res = _results(0.8, n=50)
    res["baselines"] = verdict.baselines("text", ["neg", "pos"], [1] * 40 + [0] * 10)
    assert verdict.judge(res, _train([0.7, 0.3]))["level"] == "weak"


def test_cause_too_few_steps() -> None:
    v = verdict.judge(_results(0.5, steps=6), _train([0.7, 0.69]))
    assert "only 6 optimizer steps" in v["cause"]
    assert "more epochs (about 15)" in v["next_step"] and "feature extraction" in v["next_step"]
    feat = verdict.judge(_results(0.5, steps=6, method="features"), [])
    assert "feature extraction" not in feat["next_step"]


def test_cause_flat_loss_points_at_the_learning_rate() -> None:
    v = verdict.judge(_results(0.5), _train([0.69, 0.70, 0.69, 0.68]))
    assert "did not fall" in v["cause"] and "learning rate" in v["next_step"] and "raise" in v["next_step"]
    jumpy = verdict.judge(_results(0.5), _train([0.69, 3.0, 0.9, 0.7]))
    assert "Lower the learning rate" in jumpy["next_step"]


def test_cause_overfitting() -> None:
    records = _train([0.7, 0.4, 0.1, 0.02]) + _evals([0.60, 0.75, 0.95])
    v = verdict.judge(_results(0.5), records)
    assert v["cause"].startswith("Overfitting") and "epoch 1" in v["cause"]
    assert "early stopping" in v["next_step"]


def test_cause_fallback_when_learning_does_not_carry_over() -> None:
    v = verdict.judge(_results(0.5), _train([0.7, 0.3]) + _evals([0.6, 0.6]))
    assert "Add examples" in v["next_step"]


def test_ner_is_judged_on_entity_f1_and_token_accuracy() -> None:
    base = verdict.baselines("ner", ["O", "B-PER"], [[0] * 9 + [1]] * 30)  # 90% of the words are O
    res = {"task": "ner", "method": "lora", "metrics": {"f1": 0.0, "accuracy": 0.9}, "steps": 200, "baselines": base}
    assert verdict.judge(res, _train([1.0, 0.3]))["level"] == "weak"
    res["metrics"] = {"f1": 0.8, "accuracy": 0.98}
    good = verdict.judge(res, [])
    assert good["level"] == "good" and "entity F1 0.80" in good["headline"]


def test_results_without_baselines_are_not_judged() -> None:
    assert verdict.judge({"metrics": {"accuracy": 0.5}}, [])["level"] == "good"


# --- presets scale their epochs to the data ------------------------------------------------------------------------
def test_preset_epochs_scale_up_for_tiny_data_but_user_choices_stay() -> None:
    from tl_core.config import load_preset
    from tl_core.epoch_scaling import scale_epochs

    cfg = load_preset("text", "lora")  # 3 epochs, batches of 32
    scaled, note = scale_epochs(cfg, 48)  # 2 steps per epoch: 6 steps
    assert scaled.train.epochs == 15 and "48 training examples" in note and "15 epochs (30 steps)" in note
    assert "train." not in note
    mine = cfg.with_overrides(["train.epochs=4"])
    assert scale_epochs(mine, 48) == (mine, None)  # the user's own epochs are kept
    assert scale_epochs(cfg.with_overrides(["train.max_steps=1"]), 48)[1] is None
    assert scale_epochs(cfg, 5000) == (cfg, None)  # enough data: the preset as it is
