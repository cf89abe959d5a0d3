"""What Evaluate, Playground and Runs show a new user: one headline metric under its registry name, classes in
a sensible order, singular counts, NER tags only on words, detected columns named, empty states that say what
comes and how. Pure functions: no page, no browser."""

from __future__ import annotations

from tl_core import charts
from tl_core.registry import metric_name
from webui import presenters


def _digits_results() -> dict:
    labels = ["four", "one", "three", "two", "zero"]  # the data's sorted label list
    return {
        "task": "image",
        "metrics": {"accuracy": 0.9, "f1_macro": 0.88, "f1_weighted": 0.89},
        "report": {
            "confusion_matrix": {"labels": labels, "matrix": [[10 * i + j for j in range(5)] for i in range(5)]},
            "per_class": [{"label": x, "precision": 1, "recall": 1, "f1": 1, "support": 12} for x in labels],
        },
    }


def test_class_order_is_numeric_for_number_names_and_as_given_otherwise() -> None:
    assert charts.class_order(["four", "one", "three", "two", "zero"]) == ["zero", "one", "two", "three", "four"]
    assert charts.class_order(["10", "2", "1"]) == ["1", "2", "10"]
    assert charts.class_order(["positive", "negative"]) == ["positive", "negative"]
    assert charts.class_order(["one", "cat"]) == ["one", "cat"]  # not all numbers: the data's order stays


def test_image_evaluate_lists_digit_classes_in_number_order() -> None:
    res = _digits_results()
    headers, rows = presenters.confusion_rows(res)
    assert headers[1:] == ["zero", "one", "two", "three", "four"]
    # the matrix follows its labels: zero was row/column 4 of the saved matrix
    assert rows[0] == ["zero", 44, 41, 43, 42, 40]
    assert [r[0] for r in presenters.per_class_rows(res)[1]] == ["zero", "one", "two", "three", "four"]
    assert presenters.pick_filter(res, "confusion", [0, 2]) == ("zero", "one")
    fig = charts.confusion_figure(
        res["report"]["confusion_matrix"]["labels"], res["report"]["confusion_matrix"]["matrix"]
    )
    assert list(fig.data[0].x) == ["zero", "one", "two", "three", "four"] and fig.data[0].z[0][0] == 44


def test_metrics_table_names_the_headline_metric_as_the_registry_does() -> None:
    rows = presenters.metrics_rows(_digits_results())
    assert rows[0] == [metric_name("f1_macro"), 0.88]  # image/text: macro F1 first
    assert [metric_name("accuracy"), 0.9] in rows
    assert not any(r[0] == "f1_macro" for r in rows)  # no raw keys
    ner = presenters.metrics_rows({"task": "ner", "metrics": {"precision": 0.5, "f1": 0.7}})
    assert ner[0] == ["entity F1", 0.7]


def test_error_summary_counts_one_in_the_singular() -> None:
    res = _digits_results()
    assert presenters.error_summary(res, "any", "any", 1) == "Showing 1 misclassified example."
    assert presenters.error_summary(res, "any", "any", 2) == "Showing 2 misclassified examples."
    assert presenters.error_summary(res, "four", "one", 1) == "Showing 1 example of **four** predicted as **one**."
    ner = {"task": "ner", "report": {"per_entity": []}}
    assert presenters.error_summary(ner, "PER", "any", 1) == "Showing 1 sentence with a wrong **PER** tag."


def test_ner_tags_sit_on_words_never_on_the_spaces_between() -> None:
    row = {
        "tokens": ["John", "Smith", "visited", "New", "York"],
        "true": ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"],
        "pred": ["B-PER", "I-PER", "O", "B-LOC", "O"],
    }
    spans = presenters.ner_highlight(row)
    assert all(label is None for text, label in spans if not text.strip())
    assert ("John Smith", "PER") in spans  # one entity, one chip
    assert ("York", "✗ O (true LOC)") in spans


def test_ner_evaluate_help_mentions_no_confusion_table() -> None:
    assert "confusion" not in presenters.evaluate_help("ner").lower()
    assert "confusion" in presenters.evaluate_help("image").lower()
    assert presenters.confusion_rows({"task": "ner", "report": {"per_entity": []}}) == ([], [])


def test_column_picker_names_the_detected_column() -> None:
    assert presenters.column_choices(["review", "sentiment"], "review")[0] == ("auto-detect (found: review)", "")
    assert presenters.column_choices([])[0] == ("auto-detect", "")


def test_empty_states_say_what_appears_and_how_to_get_it() -> None:
    for text in (presenters.RUNS_EMPTY, presenters.EVAL_EMPTY, presenters.PLAY_EMPTY):
        assert "Try it with sample data" in text and "Train" in text
    assert "Not pushed." in presenters.push_failed_md("Give the Hub repository as <x>")
    assert "&lt;x&gt;" in presenters.push_failed_md("<x>")  # escaped: a message is never markup
    assert charts.confusion_figure([], []).layout.annotations[0].text.startswith("The confusion matrix")
    assert all(len(line) <= 40 for line in charts.loss_figure([]).layout.annotations[0].text.split("<br>"))


def test_bar_counts_have_head_room_below_the_legend() -> None:
    fig = charts.label_distribution({"train": {"four": 48, "one": 48}, "eval": {"four": 12, "one": 12}})
    assert fig.layout.yaxis.range[1] >= 48 * 1.15  # the counts above the tallest bar stay inside the plot
    assert list(fig.data[0].x) == ["one", "four"]


def test_page_load_opens_evaluate_and_playground_on_the_newest_finished_run(tmp_path, monkeypatch) -> None:
    """After a reload the newest finished run is chosen in Evaluate, Playground and export; a new user gets the
    empty states instead of a bare header row."""
    monkeypatch.setenv("TL_HOME", str(tmp_path / "home"))
    from tests.test_dashboard_parts import make_run
    from tl_core.workspace import Workspace, new_session_id
    from webui.components.runs_export import RunsHandlers
    from webui.interface import create_page

    _, page = create_page(oauth=False)
    ws = Workspace.open(new_session_id())
    make_run(ws.runs_dir, "20260101-000001-text-features-aaaa", "done", finished=True)
    make_run(ws.runs_dir, "20260101-000002-text-features-bbbb", "done", finished=True)
    make_run(ws.runs_dir, "20260101-000003-text-features-cccc", "queued")  # newer, but not finished
    out = RunsHandlers(page).open_newest({page.session.sid: ws.id})
    for picker in (page.evaluate.eval_run, page.playground.play_run, page.runs.export_run):
        assert out[picker].value == "20260101-000002-text-features-bbbb"
    assert out[page.runs.runs_empty]["visible"] is False
    empty = RunsHandlers(page).open_newest({page.session.sid: Workspace.open(new_session_id()).id})
    assert empty[page.runs.runs_empty]["visible"] is True and empty[page.evaluate.eval_run].value is None


def test_page_load_shows_the_newest_run_in_the_train_tab_when_nothing_runs(tmp_path, monkeypatch) -> None:
    """After a reload with finished runs, the Train tab reads the newest one (one timer tick) instead of saying
    "No run yet"; a new user's Train tab follows nothing."""
    monkeypatch.setenv("TL_HOME", str(tmp_path / "home"))
    from tests.test_dashboard_parts import make_run
    from tl_core.workspace import Workspace, new_session_id
    from webui.interface import create_page
    from webui.runner import Runner

    _, page = create_page(oauth=False)
    ws = Workspace.open(new_session_id())
    make_run(ws.runs_dir, "20260101-000001-text-features-aaaa", "done", finished=True)
    make_run(ws.runs_dir, "20260101-000002-text-lora-bbbb", "failed")
    s = page.session
    out = Runner(page).reattach({s.sid: ws.id})
    assert out[s.run_name] == "20260101-000002-text-lora-bbbb" and out[s.timer].active is True
    fresh = Runner(page).reattach({s.sid: Workspace.open(new_session_id()).id})
    assert fresh[s.run_name] is None and fresh[s.timer].active is False
