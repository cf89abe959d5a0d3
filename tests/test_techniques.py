"""Fine-tuning techniques (training/techniques.py, lpft.py, augment.py): the parts of every model family found
by structure, frozen blocks, gradual unfreezing, layer-wise rates, LP-FT, augmentation, class weights, label
smoothing, and early stopping restoring the best checkpoint."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from tl_core import runs
from tl_core.config import RunConfig
from tl_core.errors import ConfigError, UserError
from tl_core.training import augment, lpft
from tl_core.training import techniques as tq
from tl_core.training.build import build
from tl_core.training.callbacks import GradualUnfreezing
from tl_core.training.context import RunFolder
from tl_core.training.prepare import prepare
from tl_core.training.trainer import make_trainer

from .tiny_models import make_tiny_bert, make_tiny_vit

POS = ["great film", "loved it", "excellent acting", "wonderful story", "amazing food"]
NEG = ["awful film", "hated it", "terrible acting", "boring story", "bad food"]


# --- the parts of each family ---------------------------------------------------------------------------------
def _family(name: str):
    import transformers as T

    small = dict(hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=20, num_labels=3)
    if name == "bert":
        return T.BertForSequenceClassification(T.BertConfig(vocab_size=50, **small)), 3
    if name == "distilbert":
        cfg = T.DistilBertConfig(vocab_size=50, dim=16, n_layers=3, n_heads=2, hidden_dim=20, num_labels=3)
        return T.DistilBertForSequenceClassification(cfg), 3
    if name == "roberta-ner":
        return T.RobertaForTokenClassification(T.RobertaConfig(vocab_size=50, **small)), 3
    if name == "vit":
        return T.ViTForImageClassification(T.ViTConfig(image_size=32, patch_size=8, **small)), 3
    if name == "convnext":
        cfg = T.ConvNextConfig(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 2, 1], num_labels=3)
        return T.ConvNextForImageClassification(cfg), 4  # the 4 stages, not the 2 layers inside stage 3
    cfg = T.TimmWrapperConfig(architecture="test_efficientnet", num_labels=3)
    return T.TimmWrapperForImageClassification(cfg), 5  # timm_model.blocks: the stages


@pytest.mark.parametrize("family", ["bert", "distilbert", "roberta-ner", "vit", "convnext", "timm-efficientnet"])
def test_blocks_embeddings_and_head_found_by_structure(family):
    model, n_blocks = _family(family)
    layout = tq.find_layout(model)
    assert len(layout.blocks) == n_blocks and all(layout.blocks)
    assert layout.embeddings and layout.head
    parts = [*layout.embeddings, *(n for b in layout.blocks for n in b), *layout.top, *layout.head]
    assert sorted(parts) == sorted(n for n, _ in model.named_parameters())  # each parameter in exactly one part
    assert layout.output_layer is not None and layout.output_layer.out_features == 3
    assert any(n.endswith("classifier.weight") for n in layout.head)
    assert not any("classifier" in n for n in layout.embeddings + layout.top)
    if family == "distilbert":
        assert {n.split(".")[0] for n in layout.head} == {"pre_classifier", "classifier"}
    frozen = tq.frozen_names(layout, 2)
    assert set(layout.embeddings) | set(layout.blocks[1]) <= frozen and not frozen & set(layout.blocks[2])
    with pytest.raises(UserError, match=f"has {n_blocks} blocks"):
        tq.frozen_names(layout, n_blocks + 1)
    _every_technique_applies(model, layout, family)


def _every_technique_applies(model, layout, family: str) -> None:
    """Groups, gradual unfreezing and LP-FT's probe on this family: each parameter in one group (frozen ones in
    none), stages opening top-down, the probe fitted on the output layer's own inputs."""
    from tl_core.methods import FullParams

    params = FullParams(freeze_layers=1, layer_lr_decay=0.5, head_learning_rate=1e-2)
    groups = tq.optimizer_groups(model, layout, params, 1e-3, 0.01, {n for n, _ in model.named_parameters()})
    grouped = [id(p) for g in groups for p in g["params"]]
    frozen = tq.frozen_names(layout, 1)
    assert sorted(grouped) == sorted(id(p) for n, p in model.named_parameters() if n not in frozen)
    assert tq.unfrozen_names(layout, 0, set()) == set(layout.top + layout.head)
    assert tq.unfrozen_names(layout, 1, set()) == set(layout.top + layout.head + layout.blocks[-1])
    torch.manual_seed(0)
    if family in ("vit", "convnext", "timm-efficientnet"):
        rows = [{"pixel_values": torch.randn(3, 32, 32), "labels": i % 3} for i in range(6)]
    else:
        rows = [{"input_ids": torch.randint(5, 50, (7,)), "labels": i % 3} for i in range(6)]
        if family == "roberta-ner":
            rows = [{**r, "labels": torch.tensor([-100, 0, 1, 2, 1, 0, -100])} for r in rows]

    def collate(batch):
        return {k: torch.stack([torch.as_tensor(r[k]) for r in batch]) for k in batch[0]}

    before = layout.output_layer.weight.detach().clone()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    stats = [(m.running_mean.clone(), m.momentum) for m in norms]
    info = lpft.linear_probe(model, layout.output_layer, rows, collate, 4, None, seed=0)
    assert (family == "timm-efficientnet") == bool(norms)
    # the probe saw batch statistics (what training feeds the head) but left the running ones as they were
    assert all(torch.equal(m.running_mean, mean) and m.momentum == mom for m, (mean, mom) in zip(norms, stats))
    assert info["probe_rows"] == (30 if family == "roberta-ner" else 6)
    assert info["probe_loss_after"] < info["probe_loss_before"]
    assert not torch.equal(before, layout.output_layer.weight)


# --- runs on tiny models --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tech")
    rng = random.Random(0)
    rows = ["review,opinion"] + [f"{rng.choice(POS)} {i},positive" for i in range(24)]
    rows += [f"{rng.choice(NEG)} {i},negative" for i in range(6)]  # 4:1, imbalanced
    (root / "reviews.csv").write_text("\n".join(rows) + "\n")
    from PIL import Image

    for label, colour in (("cat", (220, 120, 30)), ("dog", (30, 90, 220))):
        (root / "images" / label).mkdir(parents=True)
        for j in range(10):
            noisy = [tuple(max(0, min(255, c + rng.randint(-60, 60))) for c in colour) for _ in range(80 * 80)]
            image = Image.new("RGB", (80, 80))
            image.putdata(noisy)
            image.save(root / "images" / label / f"{j}.png")
    sentences = [
        f"{rng.choice(['john', 'mary'])} B-PER\nworks O\nfor O\n{rng.choice(['google', 'apple'])} B-ORG\n. O\n"
        for _ in range(16)
    ]
    (root / "ner.conll").write_text("\n".join(sentences))
    return {"bert": make_tiny_bert(root / "bert"), "vit": make_tiny_vit(root / "vit"), "root": root}


DATA = {"text": "reviews.csv", "image": "images", "ner": "ner.conll"}


def _config(assets, task="text", method="full", params=None, **train) -> RunConfig:
    return RunConfig.from_dict(
        {
            "task": task,
            "method": method,
            "model": str(assets["vit" if task == "image" else "bert"]),
            "data": {"train_file": str(assets["root"] / DATA[task]), "eval_fraction": 0.3},
            "train": {
                "epochs": 2,
                "batch_size": 4,
                "learning_rate": 1e-3,
                "max_length": 16,
                "image_size": 32,
                "warmup": 0.0,
                "cpu_yield": False,
                **train,
            },
            "method_params": params or {},
        }
    )


def _trainer(assets, tmp_path, task="text", method="full", params=None, **train):
    cfg = _config(assets, task, method, params, **train)
    folder = RunFolder(runs.create_run(cfg, run_dir=tmp_path / "run"), is_main=True)
    prep = prepare(folder)
    built = build(folder, prep)
    trainer, _ = make_trainer(folder, prep, built)
    return trainer, built, prep


def _weights(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.slow  # trains a tiny model
def test_frozen_blocks_keep_their_weights_bit_identical(assets, tmp_path, tl_home):
    trainer, built, _ = _trainer(assets, tmp_path, params={"freeze_layers": 1})
    layout = built.techniques.layout
    before = _weights(built.model)
    trainer.train()
    after = _weights(built.model)
    for name in [*layout.embeddings, *layout.blocks[0]]:
        assert torch.equal(before[name], after[name]), name
    assert not torch.equal(before[layout.blocks[1][0]], after[layout.blocks[1][0]])  # the rest did train
    assert built.counts["trainable"] < built.counts["total"]


@pytest.mark.slow  # trains a tiny model
def test_gradual_unfreezing_opens_one_block_per_epoch_from_the_top(assets, tmp_path, tl_home):
    trainer, built, _ = _trainer(assets, tmp_path, epochs=4, params={"unfreeze_every": 1.0})
    layout = built.techniques.layout  # tiny BERT: embeddings, 2 blocks, pooler (top), classifier (head)
    unfreezing = next(c for c in trainer.callback_handler.callbacks if isinstance(c, GradualUnfreezing))
    assert unfreezing.trainable() == set(layout.top + layout.head)
    before = _weights(built.model)
    trainer.train()
    steps_per_epoch = trainer.state.max_steps // 4
    counts = [len(layout.top + layout.head)]
    counts += [counts[-1] + len(layout.blocks[1]), counts[-1] + len(layout.blocks[1]) + len(layout.blocks[0])]
    counts.append(counts[-1] + len(layout.embeddings))
    assert unfreezing.history == [(i * steps_per_epoch, c) for i, c in enumerate(counts)]
    after = _weights(built.model)
    assert all(not torch.equal(before[n], after[n]) for n in layout.embeddings if "word_embeddings" not in n)


@pytest.mark.slow  # trains a tiny model
def test_optimizer_groups_carry_layer_wise_decayed_rates(assets, tmp_path, tl_home):
    params = {"layer_lr_decay": 0.5, "head_learning_rate": 1e-2}
    trainer, built, _ = _trainer(assets, tmp_path, params=params, learning_rate=1e-3)
    layout = built.techniques.layout
    optimizer = trainer.create_optimizer()
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    by_name = dict(built.model.named_parameters())
    rate = {name: lr_of[id(p)] for name, p in by_name.items()}
    assert {rate[n] for n in layout.head} == {1e-2}
    assert {rate[n] for n in layout.blocks[1] + layout.top} == {1e-3}
    assert [rate[n] for n in layout.blocks[0]] == pytest.approx([5e-4] * len(layout.blocks[0]))
    assert [rate[n] for n in layout.embeddings] == pytest.approx([2.5e-4] * len(layout.embeddings))
    assert optimizer.param_groups[0]["lr"] == 1e-3  # the logged rate is the main one
    biases = [g for g in optimizer.param_groups if any(p is by_name[layout.head[-1]] for p in g["params"])]
    assert biases[0]["weight_decay"] == 0.0  # the no-decay split survives


@pytest.mark.slow  # trains a tiny model
def test_lp_ft_starts_fine_tuning_from_the_probe_head(assets, tmp_path, tl_home, monkeypatch):
    probed: dict[str, torch.Tensor] = {}
    fit = lpft.fit_probe

    def recording_fit(x, y, layer, loss_fn, seed):
        probed["init"] = layer.weight.detach().clone()
        out = fit(x, y, layer, loss_fn, seed)
        probed["weight"], probed["bias"] = layer.weight.detach().clone(), layer.bias.detach().clone()
        return out

    monkeypatch.setattr(lpft, "fit_probe", recording_fit)
    trainer, built, _ = _trainer(assets, tmp_path, params={"lp_ft": True}, class_weights="off")
    seen: dict[str, torch.Tensor] = {}

    from transformers import TrainerCallback

    class AtStart(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kw):
            seen["weight"] = model.classifier.weight.detach().clone()

    trainer.add_callback(AtStart())
    trainer.train()
    assert torch.equal(seen["weight"], probed["weight"]) and not torch.equal(probed["weight"], probed["init"])
    info = built.technique_info["lp_ft"]
    assert info["probe_loss_after"] < info["probe_loss_before"] and info["probe_rows"] == 21
    assert not torch.equal(built.model.classifier.weight, probed["weight"])  # then the whole model trained


def test_probe_fold_gives_the_standardised_probe_function():
    torch.manual_seed(0)
    x = torch.randn(200, 5) * torch.tensor([1.0, 10.0, 0.1, 3.0, 1.0]) + 4.0
    y = (x[:, 0] > 4.0).long()
    layer = torch.nn.Linear(5, 2)
    out = lpft.fit_probe(x, y, layer, None, seed=0)
    assert out["probe_loss_after"] < 0.3 < out["probe_loss_before"]
    assert (layer(x).argmax(-1) == y).float().mean() > 0.95


def _images(loader) -> list[torch.Tensor]:
    return [img for batch in loader for img in batch["pixel_values"]]


@pytest.mark.slow  # builds a run's trainer
@pytest.mark.parametrize("setting", ["on", "off"])
def test_augmentation_changes_training_batches_never_eval_batches(assets, tmp_path, tl_home, setting):
    trainer, built, prep = _trainer(assets, tmp_path, task="image", augment=setting)
    plain = [prep.collator([prep.train_ds[i]])["pixel_values"][0] for i in range(len(prep.train_ds))]
    trained = _images(trainer.get_train_dataloader())
    unchanged = [any(torch.equal(t, p) for p in plain) for t in trained]
    assert not any(unchanged) if setting == "on" else all(unchanged)
    evals = _images(trainer.get_eval_dataloader())
    expected = [prep.collator([built.eval_ds[i]])["pixel_values"][0] for i in range(len(built.eval_ds))]
    assert len(evals) == len(expected) and all(torch.equal(a, b) for a, b in zip(evals, expected))
    assert built.technique_info["augment"] == setting


def test_augmentation_auto_decides_from_the_data():
    colour = [torch.randint(0, 255, (3, 8, 8), dtype=torch.uint8).numpy() for _ in range(4)]
    grey = [torch.randint(0, 255, (1, 8, 8), dtype=torch.uint8).expand(3, 8, 8).numpy() for _ in range(4)]
    assert augment.resolve("auto", "image", "full", ["cat", "dog"], [], colour)[0]
    assert not augment.resolve("auto", "image", "full", ["cat", "dog"], [], grey)[0]
    assert not augment.resolve("auto", "image", "full", [str(d) for d in range(10)], [], colour)[0]
    assert not augment.resolve("auto", "image", "lora", ["A", "B", "C"], [], colour)[0]
    assert augment.resolve("on", "image", "full", ["0", "1"], [], grey)[0]
    assert not augment.resolve("on", "image", "features", ["cat"], [], colour)[0]
    batch = torch.rand(3, 3, 16, 16)
    out = augment.augment(batch, torch.Generator().manual_seed(0))
    assert out.shape == batch.shape and 0 <= out.min() and out.max() <= 1 and not torch.equal(out, batch)


@pytest.mark.slow  # trains a tiny model
def test_class_weights_appear_in_the_loss(assets, tmp_path, tl_home):
    trainer, built, _ = _trainer(assets, tmp_path)  # 24 positive vs 6 negative: auto turns weights on
    weights = built.loss_fn.weights
    assert (
        weights is not None
        and weights[built.model.config.label2id["negative"]] > 1 > weights[built.model.config.label2id["positive"]]
    )
    assert built.technique_info["class_weights_reason"].startswith("auto: on")
    batch = next(iter(trainer.get_eval_dataloader()))
    model = built.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, dict(batch))
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    weighted = torch.nn.functional.cross_entropy(logits, batch["labels"], weight=weights)
    plain = torch.nn.functional.cross_entropy(logits, batch["labels"])
    assert loss == pytest.approx(float(weighted), rel=1e-5) and float(weighted) != pytest.approx(float(plain))


def test_class_weight_and_label_smoothing_settings():
    assert tq.class_weights("auto", "text", [10, 5])[0] is None  # 2x: balanced enough
    assert tq.class_weights("auto", "ner", [900, 5, 5])[0] is None  # NER: never automatic
    assert tq.class_weights("on", "ner", [900, 5, 5])[0] is not None
    assert tq.class_weights("off", "text", [100, 1])[0] is None
    w, _ = tq.class_weights("auto", "image", [300, 100, 0])
    assert w.tolist() == pytest.approx([400 / (2 * 300), 400 / (2 * 100), 1.0])  # balanced; an absent class: 1
    loss = tq.WeightedLoss(None, 0.1)
    logits, labels = torch.tensor([[8.0, -8.0]]), torch.tensor([0])
    assert float(loss(logits, labels)) > float(torch.nn.functional.cross_entropy(logits, labels)) + 0.05
    tokens = tq.WeightedLoss(torch.tensor([1.0, 2.0]), 0.0)(torch.zeros(1, 3, 2), torch.tensor([[0, -100, 1]]))
    assert float(tokens) == pytest.approx(float(torch.log(torch.tensor(2.0))))


@pytest.mark.slow  # trains a tiny model
def test_early_stopping_restores_the_best_checkpoint(assets, tmp_path, tl_home):
    trainer, built, _ = _trainer(assets, tmp_path, epochs=4, early_stopping_patience=1, class_weights="off")
    scores = iter([0.9, 0.2, 0.1, 0.1])  # the best is the first evaluation; patience 1 stops after the second

    def scripted(pred):
        value = next(scores)
        return {"accuracy": value, "f1_macro": value}

    trainer.compute_metrics = scripted
    trainer.train()
    best = Path(trainer.state.best_model_checkpoint)
    assert trainer.state.epoch == pytest.approx(2.0) and best.name == f"checkpoint-{trainer.state.max_steps // 4}"
    from safetensors.torch import load_file

    saved = load_file(str(best / "model.safetensors"))
    current = built.model.state_dict()
    assert all(torch.equal(current[k], v) for k, v in saved.items())


def test_options_that_do_not_apply_are_refused():
    base = {"task": "image", "model": "x"}
    with pytest.raises(ConfigError, match="train.augment applies to the full and lora methods only"):
        RunConfig.from_dict({**base, "method": "features", "train": {"augment": "on"}})
    with pytest.raises(ConfigError, match="freeze_layers"):
        RunConfig.from_dict({**base, "method": "lora", "method_params": {"freeze_layers": 2}})
    assert RunConfig.from_dict({**base, "method": "full", "method_params": {"freeze_layers": 2, "lp_ft": True}})


def test_the_form_hides_settings_of_other_methods():
    import gradio as gr

    from tl_core.config import TrainConfig
    from webui import fields

    with gr.Blocks():
        group = fields.generate(TrainConfig)
    shown = group.write(TrainConfig(), task="image", method="features")
    assert shown[group.components["augment"]]["visible"] is False
    assert group.write(TrainConfig(), task="image", method="full")[group.components["augment"]]["visible"] is True
    assert group.write(TrainConfig(), task="text", method="full")[group.components["augment"]]["visible"] is False


EVERYTHING = {"freeze_layers": 1, "layer_lr_decay": 0.8, "head_learning_rate": 5e-3, "unfreeze_every": 0.5}


@pytest.mark.slow  # five in-process runs
@pytest.mark.parametrize(
    "task,method,params,train_kw",
    [
        ("text", "full", {**EVERYTHING, "lp_ft": True}, {"label_smoothing": 0.1}),
        ("ner", "full", {"lp_ft": True, "layer_lr_decay": 0.9}, {"class_weights": "on", "label_smoothing": 0.1}),
        ("image", "full", EVERYTHING, {"augment": "auto"}),
        ("image", "lora", {"r": 4, "alpha": 8}, {"class_weights": "on", "augment": "on"}),
        ("text", "features", {}, {"class_weights": "on", "label_smoothing": 0.1}),
    ],
)
def test_techniques_together_give_a_complete_run(assets, tmp_path, tl_home, task, method, params, train_kw):
    from tl_core import runfiles as rf
    from tl_core import train

    run_dir = runs.create_run(_config(assets, task, method, params, **train_kw), run_dir=tmp_path / "run")
    assert train.run(run_dir) == 0, rf.read_json(run_dir / rf.STATUS)
    assert rf.read_json(run_dir / rf.RESULTS)["metrics"]
    info = rf.read_json(run_dir / "techniques.json")
    assert info["label_smoothing"] == train_kw.get("label_smoothing", 0.0)
    assert (info["class_weights"] is not None) == (train_kw.get("class_weights") == "on" or task == "text")
    if task == "image":
        assert info["augment"] in ("on", "auto: on (photos)")
    if params.get("lp_ft"):
        assert info["lp_ft"]["probe_loss_after"] < info["lp_ft"]["probe_loss_before"]
