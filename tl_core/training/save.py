"""Step 4: the trained model in the run's model/ folder (and merged_model/ for LoRA with merge), plus tl_model.json,
which tells the predictor and exports how to load it."""

from __future__ import annotations

from transformers import Trainer

from .. import models
from .. import runfiles as rf
from ..features import FeatureModel
from .build import Built
from .context import RunFolder
from .prepare import Prepared

MODEL_INFO = "tl_model.json"


def save(folder: RunFolder, prep: Prepared, built: Built, trainer: Trainer) -> None:
    """Every process calls this: with FSDP or DeepSpeed, ``trainer.save_model`` gathers the sharded weights from all
    ranks (and writes them from the main one). Everything else is written by the main process only."""
    folder.status("saving")
    model_dir = folder.path / rf.MODEL
    if folder.is_main:
        model_dir.mkdir(exist_ok=True)
    if built.features is None:
        trainer.save_model(str(model_dir))
    if not folder.is_main:
        return
    if built.features is not None:  # a small head on one process' copy of the backbone: nothing to gather
        parts = built.features
        FeatureModel(prep.task, parts.backbone, trainer.model, parts.pooling, prep.data.labels).save(model_dir)
    elif prep.cfg.method == "lora" and prep.params.merge:
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(str(folder.path / rf.MERGED))
        prep.processor.save_pretrained(str(folder.path / rf.MERGED))
    prep.processor.save_pretrained(str(model_dir))
    cfg = prep.cfg
    rf.write_json(
        model_dir / MODEL_INFO,
        {
            "task": cfg.task,
            "method": cfg.method,
            "labels": prep.data.labels,
            "base_model": cfg.model,
            "base_model_resolved": models.resolve_model_ref(cfg.model, cfg.task),
            "revision": cfg.revision,
            "max_length": cfg.train.max_length,
            "image_size": cfg.train.image_size,
        },
    )
