"""RunConfig parsing, presets and what each method leaves trainable."""

from __future__ import annotations

import pytest
import torch

from tl_core.config import RunConfig, load_preset
from tl_core.errors import ConfigError
from tl_core.methods import apply_lora, count_parameters, parse_params
from tl_core.tasks.token_classification import align_labels, bio_spans

from .tiny_models import make_tiny_bert, make_tiny_vit

ALL = [(t, m) for t in ("text", "image", "ner") for m in ("full", "lora", "features")]


@pytest.mark.parametrize("task,method", ALL)
def test_every_preset_loads_and_round_trips(task, method, tmp_path):
    cfg = load_preset(task, method)
    assert (cfg.task, cfg.method) == (task, method)
    parse_params(method, cfg.method_params)
    cfg.save(tmp_path / "c.json")
    assert RunConfig.from_file(tmp_path / "c.json") == cfg
    assert RunConfig.from_yaml_text(cfg.to_yaml()) == cfg


def test_unknown_keys_are_rejected_by_name(tmp_path):
    with pytest.raises(ConfigError, match="learning_rat"):
        RunConfig.from_dict({"task": "text", "method": "full", "train": {"learning_rat": 1}})
    with pytest.raises(ConfigError, match="colour"):
        RunConfig.from_dict({"task": "text", "method": "full", "colour": "red"})
    with pytest.raises(ConfigError, match="rank"):
        parse_params("lora", {"rank": 4})
    with pytest.raises(ConfigError, match="Unknown task 'audio'"):
        RunConfig.from_dict({"task": "audio", "method": "full"})
    (tmp_path / "bad.yaml").write_text("task: text\nmethod: [oops")
    with pytest.raises(ConfigError, match="not valid YAML"):
        RunConfig.from_file(tmp_path / "bad.yaml")


def test_dotted_overrides_and_type_checks():
    cfg = load_preset("text", "lora").with_overrides(
        ["train.epochs=1", "train.batch_size=32", "train.learning_rate=3e-4", "method_params.r=4", "model=some/model"]
    )
    assert cfg.train.epochs == 1.0 and cfg.train.batch_size == 32 and cfg.train.learning_rate == 3e-4
    assert cfg.method_params["r"] == 4 and cfg.model == "some/model"
    with pytest.raises(ConfigError, match="train.epoch"):
        cfg.with_overrides(["train.epoch=1"])
    with pytest.raises(ConfigError, match="Batch size must be a whole number"):
        cfg.with_overrides(["train.batch_size=lots"])
    with pytest.raises(ConfigError, match="key=value"):
        cfg.with_overrides(["train.epochs"])


def _trainable_names(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_lora_on_bert_trains_adapters_and_new_head_only(tmp_path):
    from transformers import AutoModelForSequenceClassification

    folder = make_tiny_bert(tmp_path / "bert")
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3, use_safetensors=True)
    total = count_parameters(model)["total"]
    lora = apply_lora(model, "SEQ_CLS", parse_params("lora", {"r": 4, "alpha": 8}))
    names = _trainable_names(lora)
    assert names, "something must train"
    assert all("lora_" in n or "classifier" in n for n in names), names
    assert any("query" in n and "lora_A" in n for n in names) and any("value" in n and "lora_B" in n for n in names)
    assert any("classifier" in n for n in names)
    counts = count_parameters(lora)
    assert 0 < counts["trainable"] < 0.5 * total


def test_lora_on_token_classifier_keeps_head_trainable(tmp_path):
    from transformers import AutoModelForTokenClassification

    folder = make_tiny_bert(tmp_path / "bert")
    model = AutoModelForTokenClassification.from_pretrained(folder, num_labels=5, use_safetensors=True)
    names = _trainable_names(apply_lora(model, "TOKEN_CLS", parse_params("lora", {})))
    assert any("classifier" in n for n in names) and any("lora_" in n for n in names)
    assert not any("embeddings" in n for n in names)


def test_lora_on_image_model_trains_head_via_modules_to_save(tmp_path):
    from transformers import AutoModelForImageClassification

    folder = make_tiny_vit(tmp_path / "vit")
    model = AutoModelForImageClassification.from_pretrained(folder, num_labels=4, use_safetensors=True)
    names = _trainable_names(apply_lora(model, None, parse_params("lora", {"r": 2})))
    assert any("classifier" in n for n in names), names
    assert any("lora_" in n for n in names)
    assert all("lora_" in n or "classifier" in n for n in names)


def test_full_trains_everything(tmp_path):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(make_tiny_bert(tmp_path / "b"), num_labels=2)
    counts = count_parameters(model)
    assert counts["trainable"] == counts["total"]


def test_features_head_is_the_only_trainable_part():
    from tl_core.features import HeadModel

    head = HeadModel(32, 3)
    assert count_parameters(head) == {"trainable": 32 * 3 + 3, "total": 32 * 3 + 3}
    out = head(torch.randn(4, 32), torch.tensor([0, 1, 2, 0]))
    assert out.logits.shape == (4, 3) and out.loss.item() > 0


def test_label_alignment_first_subword_only():
    # word 0 -> two sub-words, word 1 -> one, specials None
    assert align_labels([None, 0, 0, 1, None], [3, 5]) == [-100, 3, -100, 5, -100]


def test_alignment_with_a_real_tokenizer(tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(make_tiny_bert(tmp_path / "b"))
    enc = tok(["john", "smithson", "visited", "paris"], is_split_into_words=True)
    labels = align_labels(enc.word_ids(), [1, 2, 0, 3])
    first = [i for i, w in enumerate(enc.word_ids()) if w is not None and (i == 0 or enc.word_ids()[i - 1] != w)]
    assert [labels[i] for i in first] == [1, 2, 0, 3]
    assert (
        sum(label != -100 for label in labels) == 4
    )  # "smithson" splits into several pieces; only the first is labelled
    assert len(enc["input_ids"]) > 6


def test_bio_spans():
    assert bio_spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-ORG"]) == [
        ("PER", 0, 1),
        ("LOC", 3, 3),
        ("LOC", 4, 4),
        ("ORG", 5, 5),
    ]
