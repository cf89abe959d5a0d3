"""The analyst's own data, diagnosed in their words: one class, case-variant labels, a binary file, too few
examples per class, out-of-range settings, and no config key or command-line flag in any browser message."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from tl_core.config import DataConfig, RunConfig, load_preset
from tl_core.data import load_task_data
from tl_core.errors import ConfigError, DataError, UserError
from webui import presenters

# What a dashboard user cannot type: config keys, command-line flags, environment variables.
CLI_WORDS = re.compile(r"\b(data|train|method_params)\.[a-z_]+|--[a-z]|\bTL_[A-Z]|\bHF_[A-Z]")


def _csv(tmp_path: Path, name: str, rows: dict[str, list]) -> Path:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _inspect(path: Path, tmp_path: Path):
    return load_task_data("text", DataConfig(train_file=str(path)), work_dir=tmp_path / "w", validate_only=True)


def _errors(td) -> list[str]:
    return [p.message for p in td.report.errors]


def test_one_class_says_one_class_not_missing_column(tmp_path: Path) -> None:
    """The label column holds one value: the message names the class and the column, not a missing column."""
    path = _csv(
        tmp_path, "one_class.csv", {"comment": [f"comment number {i}" for i in range(12)], "verdict": ["ok"] * 12}
    )
    td = _inspect(path, tmp_path)
    (msg,) = _errors(td)
    assert "Only one class ('ok')" in msg and "column 'verdict'" in msg and "at least two classes" in msg
    assert "No label column" not in msg and not CLI_WORDS.search(msg)
    rows = dict(presenters.stats_rows(td.report.stats))
    assert rows["Evaluation examples"] != "0 ()" and "0 ()" not in rows["Evaluation examples"]


def test_case_and_space_variants_are_merged_with_a_warning(tmp_path: Path) -> None:
    texts = [f"review {i}" for i in range(20)]
    labels = ["Positive"] * 6 + ["positive "] * 3 + ["POSITIVE"] + ["negative"] * 10
    td = _inspect(_csv(tmp_path, "variants.csv", {"text": texts, "label": labels}), tmp_path)
    assert td.labels == ["Positive", "negative"]
    (warning,) = [p.message for p in td.report.warnings if "merged" in p.message]
    assert "'Positive'" in warning and "'positive'" in warning and "'POSITIVE'" in warning
    assert "variants.csv" in warning


def test_variants_across_training_and_evaluation_files_are_one_class(tmp_path: Path) -> None:
    train = _csv(tmp_path, "train.csv", {"text": [f"t{i}" for i in range(10)], "label": ["Yes", "No"] * 5})
    ev = _csv(tmp_path, "eval.csv", {"text": [f"e{i}" for i in range(4)], "label": ["yes", "no"] * 2})
    td = load_task_data("text", DataConfig(train_file=str(train), eval_file=str(ev)), work_dir=tmp_path / "w")
    assert td.labels == ["No", "Yes"]
    assert any("'yes'" in p.message and "merged" in p.message for p in td.report.warnings)


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (None, "zip archive or an Excel"),  # an .xlsx renamed to .csv
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "PNG image"),
        (bytes(range(256)) * 8, "binary data"),
    ],
)
def test_binary_file_is_named_as_not_text(tmp_path: Path, content: bytes | None, what: str) -> None:
    if content is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("xl/workbook.xml", "<workbook/>")
        content = buf.getvalue()
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    (msg,) = _errors(_inspect(path, tmp_path))
    assert "export.csv is not a text file" in msg and what in msg and "CSV" in msg
    assert "Error tokenizing" not in msg and "C error" not in msg


def test_too_few_examples_per_class_has_its_own_message(tmp_path: Path) -> None:
    texts = [f"text {i}" for i in range(30)]
    labels = ["a"] * 25 + ["b"] * 3 + ["c"] * 2
    td = load_task_data(
        "text",
        DataConfig(train_file=str(_csv(tmp_path, "few.csv", {"text": texts, "label": labels})), eval_fraction=0.1),
        work_dir=tmp_path / "w",
        validate_only=True,
    )
    (warning,) = [p.message for p in td.report.warnings if "per class" in p.message]
    assert "'b'" in warning and "'c'" in warning and "'a'" not in warning


def test_epochs_zero_is_refused_in_the_fields_words() -> None:
    raw = load_preset("text", "lora").to_dict()
    raw["train"]["epochs"] = 0
    with pytest.raises(ConfigError) as err:
        RunConfig.from_dict(raw)
    assert str(err.value) == "Epochs must be more than 0 and at most 1000 (got 0)."
    assert "train.epochs" not in str(err.value) and "train.epochs" in err.value.for_cli()


def test_form_shows_the_label_of_a_bad_setting() -> None:
    """The form's own path (dashboard.build_config) gives the browser the label, never the key."""
    from tl_core import dashboard

    with pytest.raises(ConfigError) as err:
        dashboard.build_config("text", "lora", None, {"epochs": 0}, {"train_file": None}, {"r": 0})
    assert str(err.value).startswith("Epochs must be more than 0")
    with pytest.raises(ConfigError) as err:
        dashboard.build_config("text", "lora", None, {}, {"train_file": None}, {"r": 0})
    assert str(err.value).startswith("LoRA rank must be at least 1") and not CLI_WORDS.search(str(err.value))


def _browser_messages(tmp_path: Path) -> list[str]:
    """A sample of errors that reach the page: bad settings, bad data, the data checks' problems."""
    out = []
    for train in (
        {"epochs": 0},
        {"batch_size": 0},
        {"learning_rate": 5},
        {"save_steps": 5, "early_stopping_patience": 2},
    ):
        raw = load_preset("text", "full").to_dict()
        raw["train"].update(train)
        with pytest.raises(UserError) as err:
            RunConfig.from_dict(raw)
        out.append(str(err.value))
    ok = {"text": [f"t{i}" for i in range(10)], "label": ["a", "b"] * 5}
    for data in (
        DataConfig(train_file=str(_csv(tmp_path, "x.csv", ok)), label_column="nope"),
        DataConfig(
            train_file=str(
                _csv(tmp_path, "y.csv", {"a": [f"u{i}" for i in range(6)], "b": [f"v{i}" for i in range(6)]})
            )
        ),
        DataConfig(train_file=str(_csv(tmp_path, "z.csv", ok)), max_rows=0),
    ):
        with pytest.raises(DataError) as err:
            load_task_data("text", data, work_dir=tmp_path / "w")
        out.append(str(err.value))
    return out


def test_no_config_keys_or_flags_in_browser_messages(tmp_path: Path) -> None:
    messages = _browser_messages(tmp_path)
    assert len(messages) == 7
    for msg in messages:
        assert not CLI_WORDS.search(msg), msg


def test_handler_shows_the_message_only_and_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    import gradio as gr

    from webui.handler import handler

    @handler
    def start(values):
        raise ConfigError("Epochs must be more than 0 (got 0).", cli_hint="train.epochs")

    with caplog.at_level("INFO", logger="tl_dashboard"), pytest.raises(gr.Error) as err:
        start({})
    assert err.value.message == "Epochs must be more than 0 (got 0)."
    (record,) = [r for r in caplog.records if r.name == "tl_dashboard"]
    assert record.exc_info is None and "\n" not in record.getMessage() and "train.epochs" in record.getMessage()


def test_cli_prints_the_hint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tl_core.__main__ import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("task: text\nmethod: lora\ntrain:\n  epochs: 0\n")
    assert main(["train", "--preset", str(bad), "--no-wait"]) == 2
    err = capsys.readouterr().err
    assert "Epochs must be more than 0" in err and "train.epochs" in err
