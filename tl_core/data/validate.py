"""The validation report, and the checks that fill it: labels, tags, duplicates, overlap, truncation.

Every problem is collected into one :class:`ValidationReport` (errors block a run, warnings do not), so a user
sees all of them at once instead of fixing one stack trace at a time.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import DataError
from ..tasks.token_classification import bio_spans

IMBALANCE_RATIO = 10  # warn when the biggest class has this many times the examples of the smallest
TRUNCATION_WARN = 0.05
MIN_PER_CLASS = 5  # fewer training examples of a class than this: warn that it can hardly be learned  # warn when more than this share of inputs is cut at max_length


@dataclass
class Problem:
    level: Literal["error", "warning"]
    message: str  # plain language: what is wrong and how to fix it on the page (no config keys)
    cli_hint: str | None = None  # the same fix at a terminal (a config key, a flag): CLI and logs only


@dataclass
class ValidationReport:
    """All problems found in the data (errors block a run) and JSON-serialisable statistics."""

    problems: list[Problem] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_error(self, message: str, cli_hint: str | None = None) -> None:
        self.problems.append(Problem("error", message, cli_hint))

    def add_warning(self, message: str, cli_hint: str | None = None) -> None:
        self.problems.append(Problem("warning", message, cli_hint))

    def raise_if_blocking(self) -> None:
        """Raise one DataError listing every error, so the user can fix them all in one go."""
        errors = self.errors
        if errors:
            lines = "\n".join(f"- {p.message}" for p in errors)
            plural = "s" if len(errors) > 1 else ""
            hints = "; ".join(p.cli_hint for p in errors if p.cli_hint)
            raise DataError(f"The data cannot be used yet ({len(errors)} problem{plural}):\n{lines}", cli_hint=hints)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": [asdict(p) for p in self.problems], "stats": self.stats}


def _label_name(value: Any) -> str | None:
    """Labels as strings; ints (and int-valued floats from pandas) become their decimal names; blanks are None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value).strip()
    return text or None


def _label_key(label: str) -> str:
    """What makes two spellings the same class: case and runs of whitespace do not count."""
    return " ".join(label.split()).casefold()


def merge_label_variants(labels: list[str | None], report: ValidationReport, source: str) -> list[str | None]:
    """Labels that differ only in case or spacing ("Positive", "positive ") are one class: each group takes its
    most common spelling, and a warning lists what was merged (silently training two classes would split the
    examples of one class and make the model guess between them)."""
    spellings: dict[str, Counter] = {}
    for label in labels:
        if label is not None:
            spellings.setdefault(_label_key(label), Counter())[label] += 1
    canon = {}
    merged = []
    for counts in spellings.values():
        if len(counts) > 1:
            keep = counts.most_common(1)[0][0]
            canon.update({spelling: keep for spelling in counts})
            names = ", ".join(repr(x) for x in sorted(counts, key=lambda x: -counts[x]))
            merged.append(f"{names} -> '{keep}'")
    if not merged:
        return labels
    report.stats["merged_labels"] = merged
    report.add_warning(
        f"Some labels in {source} differ only in capital letters or spaces, so they were merged into one class "
        f"each: {'; '.join(merged[:10])}. Fix the spelling in the file to silence this warning."
    )
    return [canon.get(label, label) if label is not None else None for label in labels]


def merge_split_variants(
    train: pd.DataFrame, eval_rows: pd.DataFrame, report: ValidationReport
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``merge_label_variants`` over both splits together: an evaluation file may spell a class differently from
    the training file, and image folders or index files are not merged by their readers."""
    n = len(train)
    ys = list(train["y"]) + list(eval_rows["y"])
    merged = merge_label_variants(ys, report, report.stats.get("source", "the data"))
    if merged is ys:
        return train, eval_rows
    return train.assign(y=merged[:n]), eval_rows.assign(y=merged[n:])


def sort_labels(labels: set[str] | list[str]) -> list[str]:
    """Numeric names sort numerically (2 before 10), others alphabetically."""
    labels = set(labels)
    if labels and all(re.fullmatch(r"-?\d+", label) for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def _ner_label_order(tag: str) -> tuple[int, str, int, str]:
    if tag == "O":
        return (0, "", 0, "")
    prefix, _, kind = tag.partition("-")
    if not kind:
        return (1, tag, 0, "")
    return (1, kind, "BIESLU".find(prefix[:1]) if prefix[:1] in "BIESLU" else 9, prefix)


def _missing_examples(ids: list[int], what: str) -> str:
    shown = ", ".join(str(i + 1) for i in ids[:5])
    return f"{what} {shown}{', ...' if len(ids) > 5 else ''}"


def _warn_empty(count: int, ids: list[int], path: Path, what: str, report: ValidationReport) -> None:
    if count:
        report.stats["empty_rows"] = report.stats.get("empty_rows", 0) + count
        report.add_warning(
            f"{count} row{'s' if count > 1 else ''} of {path.name} with an empty {what} "
            f"{'were' if count > 1 else 'was'} skipped ({_missing_examples(ids, 'row')}). "
            f"Fill them in or remove them to silence this warning."
        )


def _warn_duplicates(rows: pd.DataFrame, name: str, task: str, report: ValidationReport) -> int:
    dups = int(rows["key"].duplicated().sum())
    if dups:
        what = {"text": "texts", "image": "images (same file content)", "ner": "sentences"}[task]
        conflicts = 0
        if task != "ner":
            conflicts = int((rows.groupby("key")["y"].nunique() > 1).sum())
        extra = f", {conflicts} of them with different labels" if conflicts else ""
        report.add_warning(
            f"{dups} duplicate {what} in {name}{extra}. Duplicates can end up in both training and "
            f"evaluation and inflate scores; remove them if they are not intended."
        )
    return dups


def _check_labels(train: pd.DataFrame, eval_rows: pd.DataFrame, task: str, report: ValidationReport) -> list[str]:
    """Build the label list and report class problems (one class, too few examples, imbalance, unseen)."""
    stats = report.stats
    if task == "ner":
        return _check_tags(train, eval_rows, report)
    train_counts, eval_counts = Counter(train["y"]), Counter(eval_rows["y"])
    labels = sort_labels(set(train_counts) | set(eval_counts))
    stats["class_balance"] = {
        "train": {k: train_counts[k] for k in labels if train_counts[k]},
        "eval": {k: eval_counts[k] for k in labels if eval_counts[k]},
    }
    source = stats.get("source", "the data")
    if len(labels) < 2:
        only = labels[0] if labels else "?"
        report.add_error(
            f"Only one class ('{only}') in {source}. Classification needs at least two classes: "
            f"add examples of other classes or pick a different label column."
        )
    elif len(train) < len(labels):
        report.add_error(
            f"Only {len(train)} training example{'s' if len(train) != 1 else ''} for {len(labels)} "
            f"classes ({', '.join(labels[:10])}). Add more examples, at least a few per class."
        )
    else:
        _warn_few_per_class(train_counts, labels, report)
    unseen = sorted(set(eval_counts) - set(train_counts))
    if unseen and train_counts:
        report.add_warning(
            f"{len(unseen)} class{'es' if len(unseen) > 1 else ''} in the evaluation data never "
            f"appear in training: {', '.join(unseen[:10])}. The model cannot learn them; add training "
            f"examples."
        )
    if len(train_counts) >= 2:
        most, least = max(train_counts.values()), min(train_counts.values())
        if most / least > IMBALANCE_RATIO:
            big = max(train_counts, key=train_counts.get)
            small = min(train_counts, key=train_counts.get)
            report.add_warning(
                f"Classes are very imbalanced: '{big}' has {most} training examples, '{small}' only "
                f"{least}. The model may ignore rare classes; add examples of them or check per-class "
                f"scores."
            )
    return labels


def _warn_few_per_class(train_counts: Counter, labels: list[str], report: ValidationReport) -> None:
    """Classes with too few training examples to learn from: named, with how many each has."""
    few = sorted((train_counts[k], k) for k in labels if train_counts[k] < MIN_PER_CLASS)
    if not few:
        return
    listed = ", ".join(f"'{k}': {n}" for n, k in few[:10])
    report.add_warning(
        f"Too few training examples per class to learn from ({listed}). "
        f"A model needs at least about {MIN_PER_CLASS} per class, and usually 20 or more to do clearly better than "
        f"guessing: add examples of these classes."
    )


def _check_tags(train: pd.DataFrame, eval_rows: pd.DataFrame, report: ValidationReport) -> list[str]:
    stats = report.stats
    tag_counts = {
        split: Counter(t for tags in rows["y"] for t in tags) for split, rows in (("train", train), ("eval", eval_rows))
    }
    entity_counts = {
        split: dict(sorted(Counter(e for tags in rows["y"] for e, _, _ in bio_spans(tags)).items()))
        for split, rows in (("train", train), ("eval", eval_rows))
    }
    labels = sorted(set(tag_counts["train"]) | set(tag_counts["eval"]) | {"O"}, key=_ner_label_order)
    stats["tag_counts"] = {s: {t: c[t] for t in labels if c[t]} for s, c in tag_counts.items()}
    stats["entity_counts"] = entity_counts
    stats["class_balance"] = entity_counts
    if len(tag_counts["train"]) < 2:
        only = next(iter(tag_counts["train"]), "O")
        report.add_error(
            f"Every token in the training data has the same tag ('{only}'). NER needs entity tags "
            f"such as B-PER / I-PER next to O; check that the tag is the last column."
        )
    unseen = sorted(set(tag_counts["eval"]) - set(tag_counts["train"]), key=_ner_label_order)
    if unseen:
        report.add_warning(
            f"{len(unseen)} tag{'s' if len(unseen) > 1 else ''} in the evaluation data never appear "
            f"in training: {', '.join(unseen[:10])}. The model cannot learn them; add training "
            f"sentences with these tags."
        )
    return labels


def _warn_overlap(train: pd.DataFrame, eval_rows: pd.DataFrame, report: ValidationReport) -> int:
    overlap = int(eval_rows["key"].isin(set(train["key"])).sum())
    if overlap:
        report.add_warning(
            f"{overlap} evaluation example{'s' if overlap > 1 else ''} also appear in the training "
            f"data, so evaluation scores will look better than they are. Remove the duplicates."
        )
    return overlap


def add_truncation_stats(
    report: ValidationReport,
    texts: list[str] | list[list[str]],
    tokenizer: Any,
    max_length: int,
    is_split_into_words: bool = False,
    sample: int = 5000,
) -> None:
    """Share of inputs longer than ``max_length`` tokens (on a seeded sample of at most ``sample`` texts)."""
    texts = list(texts)
    if len(texts) > sample:
        pick = np.random.default_rng(0).choice(len(texts), size=sample, replace=False)
        texts = [texts[i] for i in sorted(pick)]
    if not texts:
        report.stats["truncated_share"] = 0.0
        return
    too_long = 0
    for start in range(0, len(texts), 256):
        batch = texts[start : start + 256]
        encoded = tokenizer(batch, truncation=False, is_split_into_words=is_split_into_words, verbose=False)
        too_long += sum(len(ids) > max_length for ids in encoded["input_ids"])
    share = too_long / len(texts)
    report.stats["truncated_share"] = round(share, 4)
    report.stats["truncation_max_length"] = max_length
    if share > TRUNCATION_WARN:
        report.add_warning(
            f"{share:.0%} of the inputs are longer than max_length={max_length} tokens and will be "
            f"cut off. Raise the max length (Method & settings; slower, more memory) or shorten the texts.",
            cli_hint="train.max_length",
        )
