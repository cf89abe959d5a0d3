"""Hub datasets as a data source, against local dataset folders (README-less Parquet layouts, as on the Hub): the
same readers, report and limits as uploads, ClassLabel ids as names, the cache, and the offline message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tl_core.config import DataConfig
from tl_core.data import hub_datasets as hd
from tl_core.data import load_task_data
from tl_core.errors import DataError

PROJECT = Path(__file__).resolve().parent.parent


def write_split(folder: Path, split: str, rows: dict, features) -> None:
    import datasets

    folder.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(folder / f"{split}.parquet"))


@pytest.fixture
def text_folder(tmp_path: Path) -> Path:
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    folder = tmp_path / "reviews"
    good = [f"good movie number {i}" for i in range(30)]
    bad = [f"bad film number {i}" for i in range(30)]
    write_split(folder, "train", {"text": good + bad, "label": [1] * 30 + [0] * 30}, features)
    write_split(folder, "validation", {"text": ["fine one", "awful one"], "label": [1, 0]}, features)
    return folder


def test_parse_references():
    assert hd.parse("hub:imdb") == hd.HubRef("imdb")
    assert hd.parse("hub:user/data:en@validation") == hd.HubRef("user/data", "en", "validation")
    assert hd.parse("hub:beans@train[:100]") == hd.HubRef("beans", None, "train[:100]")
    assert hd.parse("hub:conll2003").text() == "hub:conll2003"
    with pytest.raises(DataError, match="not a Hugging Face dataset"):
        hd.parse("hub:")


def test_a_text_dataset_reads_like_an_upload_with_its_own_validation_split(tl_home, text_folder, monkeypatch):
    td = load_task_data("text", DataConfig(train_file=f"hub:{text_folder}"))
    assert td.labels == ["neg", "pos"]  # ClassLabel ids came back as their names
    assert len(td.train) == 60 and len(td.eval) == 2  # the dataset's validation split, not a share of train
    assert td.columns == {"text": "text", "label": "label"}
    assert td.report.stats["source"].endswith(".parquet")
    assert (tl_home / "hub_datasets").is_dir()

    def no_network(*args, **kwargs):
        raise AssertionError("loaded again")

    monkeypatch.setattr(hd, "load_split", no_network)  # the second read (a run's process) uses the written files
    again = load_task_data("text", DataConfig(train_file=f"hub:{text_folder}"))
    assert again.data_hash == td.data_hash


def test_an_explicit_split_is_split_for_evaluation_like_an_upload(tl_home, text_folder):
    td = load_task_data("text", DataConfig(train_file=f"hub:{text_folder}@train", eval_fraction=0.25))
    assert len(td.train) + len(td.eval) == 60 and len(td.eval) == 15


def test_ner_dataset_takes_entity_tags_not_pos_tags(tl_home, tmp_path):
    import datasets

    tags = datasets.ClassLabel(names=["O", "B-PER", "I-PER"])
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "pos_tags": datasets.Sequence(datasets.ClassLabel(names=["NN", "VB"])),
            "ner_tags": datasets.Sequence(tags),
        }
    )
    rows = {
        "tokens": [["john", "smith", "works"]] * 20 + [["mary", "lives"]] * 20,
        "pos_tags": [[0, 0, 1]] * 20 + [[0, 1]] * 20,
        "ner_tags": [[1, 2, 0]] * 20 + [[1, 0]] * 20,
    }
    write_split(tmp_path / "people", "train", rows, features)
    td = load_task_data("ner", DataConfig(train_file=f"hub:{tmp_path / 'people'}"))
    assert set(td.labels) == {"O", "B-PER", "I-PER"}
    assert len(td.train) + len(td.eval) == 40


def test_image_dataset_becomes_an_image_index(tl_home, tmp_path):
    import datasets
    from PIL import Image

    features = datasets.Features({"image": datasets.Image(), "labels": datasets.ClassLabel(names=["dark", "light"])})
    images = [Image.new("RGB", (8, 8), (v, v, v)) for v in [10] * 10 + [240] * 10]
    write_split(tmp_path / "shades", "train", {"image": images, "labels": [0] * 10 + [1] * 10}, features)
    td = load_task_data("image", DataConfig(train_file=f"hub:{tmp_path / 'shades'}"))
    assert td.labels == ["dark", "light"] and len(td.train) + len(td.eval) == 20
    assert Path(td.train[0]["image"]).is_file()


def test_the_row_limit_of_uploads_applies(tl_home, text_folder, monkeypatch):
    monkeypatch.setenv("TL_MAX_ROWS", "10")
    with pytest.raises(DataError, match="more than the 10"):
        load_task_data("text", DataConfig(train_file=f"hub:{text_folder}"))


def test_a_dataset_with_a_loading_script_is_refused(tl_home, text_folder):
    (text_folder / "reviews.py").write_text("import os\n")
    with pytest.raises(DataError, match="never runs dataset code"):
        load_task_data("text", DataConfig(train_file=f"hub:{text_folder}"))


def test_offline_gives_a_plain_message(tl_home, tmp_path):
    code = (
        "from tl_core.config import DataConfig\n"
        "from tl_core.data import load_task_data\n"
        "from tl_core.errors import DataError\n"
        "try:\n"
        "    load_task_data('text', DataConfig(train_file='hub:nobody-here/no-such-dataset-xyz'))\n"
        "except DataError as err:\n"
        "    print('MESSAGE', err)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "TL_HOME": str(tl_home)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300
    )
    assert "MESSAGE The Hugging Face Hub cannot be reached" in out.stdout, out.stderr[-2000:]
    assert "Traceback" not in out.stdout


def test_cli_keeps_hub_references():
    from tl_core.__main__ import data_arg

    assert data_arg("hub:imdb@test") == "hub:imdb@test"
    assert Path(data_arg("some.csv")).is_absolute()


def test_public_mode_takes_dataset_names_only_not_server_folders(tl_home, text_folder, monkeypatch):
    monkeypatch.setenv("TL_PUBLIC", "1")
    with pytest.raises(DataError, match="not a dataset name on the Hugging Face Hub"):
        load_task_data("text", DataConfig(train_file=f"hub:{text_folder}"))


def test_the_data_tab_box_loads_a_dataset_and_reports_it(tl_home, text_folder):
    from tests.security.test_identity import call, request
    from webui.interface import create_page

    demo, page = create_page(oauth=False)
    sid = call(demo, "init", {page.session.sid: None}, request(None))[page.session.sid]
    (fn,) = [d for d in demo.fns.values() if d.api_name == "load_hub_dataset"]
    given = {c: getattr(c, "value", None) for c in fn.inputs}
    given.update({page.session.sid: sid, page.task_model.task: "text", page.data.hub.name: str(text_folder)})
    out = call(demo, "load_hub_dataset", given, request(None))
    assert out[page.session.data_choice] == f"hub:{text_folder}"
    assert "label" in str(out[page.data.stats]) or out[page.data.stats] is not None
    assert "blocking" not in str(out[page.data.problems]).lower()
