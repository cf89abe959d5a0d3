"""Exports work outside the app: every task x method loads with a standard library (transformers pipeline(),
peft, or sentence-transformers where pipeline() must refuse) and predicts what the app predicts on every evaluation
row; no pickle, no server path; the card's metadata and load snippet are real; the demo app serves predictions."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tl_core import export, runs, train
from tl_core import runfiles as rf
from tl_core.errors import UserError
from tl_core.predict import Predictor

from .test_training import assets, tiny_config  # noqa: F401 - the shared tiny-model fixture

pytestmark = pytest.mark.slow
TASKS = ["text", "image", "ner"]
METHODS = ["full", "lora", "features"]


@pytest.fixture(scope="module")
def finished(assets, tmp_path_factory):  # noqa: F811
    """Train each task x method once (tiny models), on demand."""
    root = tmp_path_factory.mktemp("export_runs")
    done: dict[tuple[str, str], Path] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TL_HOME", str(root / "home"))

        def get(task: str, method: str) -> Path:
            if (task, method) not in done:
                run_dir = runs.create_run(tiny_config(task, method, assets), run_dir=root / f"{task}-{method}")
                assert train.run(run_dir) == 0, rf.read_json(run_dir / rf.STATUS)
                done[task, method] = run_dir
            return done[task, method]

        yield get


def eval_rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / rf.EVAL_PREDICTIONS).read_text().splitlines()]


def app_inputs(run_dir: Path) -> list:
    return [" ".join(r["tokens"]) if "tokens" in r else r["input"] for r in eval_rows(run_dir)]


def assert_portable(folder: Path, tmp_root: Path) -> None:
    """No pickle, and no absolute path or server folder in any file."""
    for file in folder.rglob("*"):
        if not file.is_file():
            continue
        assert file.suffix not in (".bin", ".pt", ".pth", ".pkl"), file
        if file.suffix in (".json", ".md", ".yaml", ".txt", ".py"):
            text = file.read_text(errors="ignore")
            assert str(tmp_root) not in text and sys.prefix not in text, file
            for value in re.findall(r'"((?:/|~)[^"]*)"', text):
                assert value in ("/",), f"{file.name} holds the absolute path {value}"
            for value in re.findall(r"(?<![\w:/.~-])(/[\w.~-]+(?:/[\w.~-]+)+)", text):
                assert not Path(value).exists(), f"{file.name} names the local path {value}"


def pipeline_predictions(folder: Path, task: str, inputs: list) -> list:
    from transformers import pipeline

    if task == "ner":
        nlp = pipeline("token-classification", model=str(folder), aggregation_strategy="first")
        return [[(e["entity_group"], e["start"], e["end"]) for e in nlp(x)] for x in inputs]
    tag = "text-classification" if task == "text" else "image-classification"
    nlp = pipeline(tag, model=str(folder), top_k=None, **({"truncation": True} if task == "text" else {}))
    out = []
    for x in inputs:
        scores = nlp(x)
        scores = scores[0] if scores and isinstance(scores[0], list) else scores
        out.append({s["label"]: s["score"] for s in scores})
    return out


def app_predictions(run_dir: Path, task: str, inputs: list) -> list:
    preds = Predictor.from_run(run_dir).predict(inputs, top_k=100)
    if task == "ner":
        return [[(e["entity"], e["start"], e["end"]) for e in p["entities"]] for p in preds]
    return preds


def assert_same(app: list, exported: list, task: str) -> None:
    assert len(app) == len(exported)
    for a, e in zip(app, exported):
        if task == "ner":
            assert a == e
        else:
            assert max(a, key=a.get) == max(e, key=e.get)
            for label, p in a.items():
                assert e[label] == pytest.approx(p, abs=2e-4)


def no_missing_weights(folder: Path, task: str) -> None:
    import transformers

    from tl_core.export.formats import AUTO_CLASSES

    cls = getattr(transformers, AUTO_CLASSES[task])
    _, info = cls.from_pretrained(str(folder), output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"], info


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("method", METHODS)
def test_export_loads_with_a_standard_library_and_predicts_like_the_app(task, method, finished, tmp_path):
    run_dir = finished(task, method)
    out = export.export_model(run_dir, tmp_path / "export")
    assert_portable(out, run_dir.parent)
    inputs = app_inputs(run_dir)
    app = app_predictions(run_dir, task, inputs)
    if task == "text" and method == "features":  # mean/first-token pooling: sentence-transformers, pipeline refuses
        from sentence_transformers import SentenceTransformer
        from transformers import pipeline

        with pytest.raises(Exception):  # noqa: B017 - any refusal will do; a silent random head would not raise
            pipeline("text-classification", model=str(out))
        labels = json.loads((out / "labels.json").read_text())
        scores = SentenceTransformer(str(out), device="cpu").encode(inputs)
        assert [labels[int(s.argmax())] for s in scores] == [max(a, key=a.get) for a in app]
        return
    no_missing_weights(out, task)
    assert_same(app, pipeline_predictions(out, task, inputs), task)


@pytest.mark.parametrize("task", ["text", "ner", "image"])
def test_lora_adapter_loads_in_peft_on_its_base(task, finished, assets, tmp_path):  # noqa: F811
    run_dir = finished(task, "lora")
    out = export.export_model(run_dir, tmp_path / "export")
    adapter = out / "adapter"
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    assert not str(cfg["base_model_name_or_path"] or "").startswith("/")
    local = tmp_path / "adapter"  # the Hub is out of reach: point a copy at the local base stand-in
    shutil.copytree(adapter, local)
    cfg["base_model_name_or_path"] = str(assets["vit" if task == "image" else "bert"])
    (local / "adapter_config.json").write_text(json.dumps(cfg))
    labels = json.loads((local / "labels.json").read_text())
    maps = {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {name: i for i, name in enumerate(labels)},
    }
    if task == "image":  # peft has no image AutoPeft class: the base class plus PeftModel
        from peft import PeftModel
        from transformers import AutoModelForImageClassification

        base = AutoModelForImageClassification.from_pretrained(cfg["base_model_name_or_path"], **maps)
        model = PeftModel.from_pretrained(base, str(local))
    else:
        import peft

        cls = getattr(
            peft, {"text": "AutoPeftModelForSequenceClassification", "ner": "AutoPeftModelForTokenClassification"}[task]
        )
        model = cls.from_pretrained(str(local), **maps)
    merged = model.merge_and_unload().eval()
    predictor = Predictor.from_run(run_dir)
    predictor.model = merged
    inputs = app_inputs(run_dir)
    assert_same(app_predictions(run_dir, task, inputs), _flatten(predictor.predict(inputs, top_k=100), task), task)


def _flatten(preds: list, task: str) -> list:
    if task == "ner":
        return [[(e["entity"], e["start"], e["end"]) for e in p["entities"]] for p in preds]
    return preds


@pytest.mark.parametrize(
    "task,method", [("text", "full"), ("ner", "lora"), ("text", "features"), ("image", "features")]
)
def test_card_metadata_and_its_load_snippet_runs(task, method, finished, tmp_path):
    from huggingface_hub import ModelCard

    run_dir = finished(task, method)
    out = export.export_model(run_dir, tmp_path / "export")
    card = ModelCard.load(str(out / "README.md"))
    results = rf.read_json(run_dir / rf.RESULTS)
    key = "f1" if task == "ner" else "f1_macro"
    [result] = card.data.eval_results
    assert result.metric_type == key and result.metric_value == pytest.approx(results["metrics"][key], abs=1e-4)
    assert card.data.library_name == (
        "sentence-transformers" if (task, method) == ("text", "features") else "transformers"
    )
    snippet = re.search(r"```python\n(.*?)```", card.text, re.S).group(1)
    assert len(snippet.strip().splitlines()) <= 10
    example = eval_rows(run_dir)[0]
    code = snippet.replace("path/to/this/folder", str(out))
    if task == "image":
        code = code.replace("path/to/image.jpg", example["input"])
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()


def test_zip_cli_and_function_give_the_same_folder(finished, tmp_path):
    run_dir = finished("text", "lora")
    folder = export.export_model(run_dir, tmp_path / "fn")
    from tl_core.__main__ import main

    assert main(["export", str(run_dir), "--out", str(tmp_path / "cli")]) == 0
    z = export.zip_model(run_dir, tmp_path / "zips")
    listing = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert listing == sorted(str(p.relative_to(tmp_path / "cli")) for p in (tmp_path / "cli").rglob("*") if p.is_file())
    zipped = sorted(n.split("/", 1)[1] for n in zipfile.ZipFile(z).namelist())
    assert zipped == listing
    assert "adapter/adapter_model.safetensors" in listing and "model.safetensors" in listing
    assert main(["export", str(run_dir), "--out", str(tmp_path / "nomerge"), "--no-merge"]) == 0
    assert not (tmp_path / "nomerge" / "config.json").exists()  # pipeline() has nothing to load silently wrong


def test_unfinished_run_is_refused(tmp_path, assets):  # noqa: F811
    run_dir = runs.create_run(tiny_config("text", "full", assets), run_dir=tmp_path / "unfinished")
    with pytest.raises(UserError, match="no finished model"):
        export.export_model(run_dir, tmp_path / "out")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("task,method", [("text", "features"), ("ner", "full")])
def test_demo_app_serves_the_models_predictions(task, method, finished, tmp_path):
    from gradio_client import Client

    run_dir = finished(task, method)
    demo = export.export_demo(run_dir, tmp_path / "demo")
    assert {"app.py", "requirements.txt", "README.md", "model"} <= {p.name for p in demo.iterdir()}
    assert "tl_core" not in (demo / "app.py").read_text() and "sdk: gradio" in (demo / "README.md").read_text()
    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen(
        [sys.executable, "app.py"], cwd=demo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        client = _connect(f"http://127.0.0.1:{port}/", proc, Client)
        text = app_inputs(run_dir)[0]
        got = client.predict(text, api_name="/predict")
        app = Predictor.from_run(run_dir).predict(text)
        if task == "ner":  # HighlightedText comes back as (piece of text, entity type or None) pairs
            spans = [(text[e["start"] : e["end"]], e["entity"]) for e in app["entities"]]
            assert spans and [(g["token"], g["class_or_confidence"]) for g in got if g["class_or_confidence"]] == spans
        else:
            assert got["label"] == max(app, key=app.get)
    finally:
        proc.kill()
        proc.wait()


def _connect(url: str, proc: subprocess.Popen, client_cls):
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read()[-3000:])
        try:
            return client_cls(url, verbose=False)
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(1)
    raise AssertionError("the demo did not start in 120 s")


def test_card_content_zip_and_unfinished(finished, tmp_path):
    run_dir = finished("text", "features")
    out = export.export_model(run_dir, tmp_path / "export")
    card = (out / "README.md").read_text()
    results = rf.read_json(run_dir / rf.RESULTS)
    for needle in (
        "library_name: sentence-transformers",
        "Feature extraction",
        f"{results['data']['train']} training, {results['data']['eval']} evaluation",
        "macro F1",
        "model-index",
        "reviews.csv",
        "--preset training_config.yaml",
    ):
        assert needle in card, needle
    assert "pipeline_tag" not in card  # pipeline() must not be offered for a folder it would load wrong
    z = export.zip_model(run_dir, tmp_path / "downloads")
    names = zipfile.ZipFile(z).namelist()
    assert f"{run_dir.name}-model/README.md" in names and f"{run_dir.name}-model/modules.json" in names
    demo = export.zip_model(run_dir, tmp_path / "downloads", demo=True)
    assert f"{run_dir.name}-demo/app.py" in zipfile.ZipFile(demo).namelist()


def test_push_uploads_the_export_and_never_leaks_the_token(finished, tmp_path, caplog):
    run_dir = finished("ner", "full")
    token = "hf_SECRETtoken1234567890"
    seen = {}

    def fake_upload(folder: Path, repo_id: str, tok: str, private: bool, repo_type: str = "model") -> str:
        seen.update(
            files=sorted(p.name for p in folder.iterdir()), repo=repo_id, private=private, tok=tok, kind=repo_type
        )
        return f"https://huggingface.co/{repo_id}"

    url = export.push_to_hub(run_dir, "me/my-model", token, private=True, upload=fake_upload)
    assert url == "https://huggingface.co/me/my-model" and seen["tok"] == token and seen["private"] is True
    assert {"README.md", "config.json", "model.safetensors", "results.json", "training_config.yaml"} <= set(
        seen["files"]
    )
    export.push_to_hub(run_dir, "me/my-demo", token, upload=fake_upload, demo=True)
    assert seen["kind"] == "space" and {"app.py", "model", "README.md"} <= set(seen["files"])

    def failing(folder: Path, repo_id: str, tok: str, private: bool, repo_type: str) -> str:
        raise RuntimeError(f"HTTP 500 while using token {tok}")

    with pytest.raises(UserError) as err:
        export.push_to_hub(run_dir, "me/my-model", token, upload=failing)
    assert token not in str(err.value) and "***" in str(err.value)
    for bad_repo in ("", "no-namespace", "../x/y"):
        with pytest.raises(UserError, match="your-name/model-name"):
            export.push_to_hub(run_dir, bad_repo, token, upload=fake_upload)
    with pytest.raises(UserError, match="access token"):
        export.push_to_hub(run_dir, "me/my-model", "  ", upload=fake_upload)
    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert token.encode() not in on_disk and token not in caplog.text


def test_timm_exports_carry_the_trained_label_names(tmp_path):
    """timm configs save ``label_names`` (ImageNet's 1000 for the bundled EfficientNet) instead of id2label: the
    export must write the run's labels there, or pipeline() names classes wrongly."""
    from transformers import AutoConfig, TimmWrapperConfig, TimmWrapperForImageClassification

    from tl_core.export.formats import _save_transformers

    config = TimmWrapperConfig(architecture="resnet10t", num_labels=3)
    config.label_names = [f"imagenet-{i}" for i in range(1000)]  # as loaded from the converted base model
    config.id2label = {0: "cat", 1: "dog", 2: "fish"}
    model = TimmWrapperForImageClassification(config)

    class NoProcessor:
        def save_pretrained(self, folder: str) -> None:
            pass

    _save_transformers(model, NoProcessor(), tmp_path / "out")
    reloaded = AutoConfig.from_pretrained(str(tmp_path / "out"))
    assert [reloaded.id2label[i] for i in range(3)] == ["cat", "dog", "fish"]
