"""Load any finished run (any method) and predict: plain dicts out, never UI objects."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from . import runfiles as rf
from .config import RunConfig
from .errors import UserError


class Predictor:
    def __init__(self, task, model, processor, config: RunConfig, labels: list[str], run_dir: Path):
        self.task, self.model, self.processor, self.config = task, model, processor, config
        self.labels, self.run_dir = labels, run_dir

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str | None = None) -> Predictor:
        import torch

        from . import models
        from .features import HEAD_CONFIG, FeatureModel
        from .registry import get_task

        run_dir = Path(run_dir)
        model_dir = run_dir / rf.MODEL
        meta = rf.read_json(model_dir / "tl_model.json")
        if not meta:
            raise UserError(
                f"{run_dir.name} has no finished model yet (status: {rf.read_json(run_dir / rf.STATUS, {}).get('phase', 'unknown')})."
            )
        cfg = RunConfig.from_file(run_dir / rf.CONFIG)
        task = get_task(cfg.task)
        # A LoRA folder holds only the adapter: its processor comes from the base model it adapts.
        is_adapter = (model_dir / "adapter_config.json").is_file()
        processor_ref = meta["base_model"] if is_adapter else str(model_dir)
        processor = models.load_processor(cfg.task, processor_ref, meta.get("revision") if is_adapter else None)
        if (model_dir / HEAD_CONFIG).is_file():
            model = FeatureModel.load(task, model_dir, lambda path: models.load_backbone(cfg.task, path))
        elif is_adapter:
            from peft import PeftModel

            base = models.load_model(cfg.task, meta["base_model"], meta["labels"], meta.get("revision"))
            model = PeftModel.from_pretrained(base, str(model_dir))
        else:
            model = models.load_model(cfg.task, str(model_dir), meta["labels"])
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device).eval()
        return cls(task, model, processor, cfg, meta["labels"], run_dir)

    @classmethod
    def from_export(cls, folder: str | Path, config: RunConfig) -> Predictor:
        """A predictor over an exported transformers folder, loaded the standard way (``AutoModelFor…``), with the
        app's own preprocessing: what the export check compares against the run."""
        from transformers import AutoConfig

        from . import models
        from .registry import get_task

        folder = Path(folder)
        id2label = AutoConfig.from_pretrained(str(folder)).id2label  # timm configs keep label_names instead
        labels = [id2label[i] for i in range(len(id2label))]
        processor = models.load_processor(config.task, str(folder))
        model = models.load_model(config.task, str(folder), labels).eval()
        return cls(get_task(config.task), model, processor, config, labels, folder)

    def predict(self, inputs: Any, top_k: int = 5) -> Any:
        """One input -> one dict; a list -> a list of dicts."""
        single = not isinstance(inputs, (list, tuple))
        batch = [inputs] if single else list(inputs)
        if not batch:
            return []
        out = self.task.predict(self.model, self.processor, batch, self.config.train, top_k=top_k)
        return out[0] if single else out

    def predict_file(self, path: str | Path, column: str | None = None) -> list[dict[str, Any]]:
        """Score every row of a table (text/NER) or every image in a folder/zip/table; rows keep their input."""
        from .data import detect_columns, read_table

        path = Path(path)
        if self.config.task == "image":
            images = _image_inputs(path, self.run_dir)
            preds = self.predict(images, top_k=len(self.labels)) if images else []
            return [_flat_row({"image": str(p)}, pred) for p, pred in zip(images, preds)]
        df = read_table(path)
        if column is None:
            column = detect_columns(df, "text").get("text") if self.config.task in ("text", "ner") else None
        if not column or column not in df.columns:
            raise UserError(
                f"No text column found in {path.name} (columns: {', '.join(map(str, df.columns))}). Name the "
                "column with the texts 'text' and upload the file again.",
                cli_hint="--column NAME",
            )
        texts = df[column].fillna("").astype(str).tolist()
        preds = self.predict(texts, top_k=len(self.labels))
        if self.config.task == "ner":
            return [
                {
                    column: t,
                    "entities": "; ".join(f"{e['word']} ({e['entity']}, {e['score']:.2f})" for e in p["entities"]),
                }
                for t, p in zip(texts, preds)
            ]
        return [_flat_row({column: t}, p) for t, p in zip(texts, preds)]


def _flat_row(row: dict[str, Any], probs: dict[str, float]) -> dict[str, Any]:
    best = max(probs, key=probs.get)
    row.update(prediction=best, confidence=round(probs[best], 4))
    row.update({f"p_{k}": round(v, 4) for k, v in probs.items()})
    return row


def _image_inputs(path: Path, run_dir: Path) -> list[Path]:
    from .data import safe_extract_zip

    exts = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
    if path.suffix.lower() == ".zip":
        path = safe_extract_zip(path, run_dir / "predict_inputs" / path.stem)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix.lower() in exts)
    if path.suffix.lower() in exts:
        return [path]
    raise UserError(f"{path.name}: give an image, a folder of images or a zip of images.")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: a string that starts like a formula (=, +, -, @) gets a leading quote,
    so a scored file cannot run formulas on the analyst's machine. Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    buf = io.StringIO()
    fields = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buf, fieldnames=[csv_cell(f) for f in fields])
    writer.writeheader()
    writer.writerows({csv_cell(k): csv_cell(v) for k, v in r.items()} for r in rows)
    return buf.getvalue()
