"""Image classification: one label per image."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..config import TrainConfig
from .base import EvalOutput, Task, model_device, softmax
from .mapping import IMAGE_ROWS_PER_PROC, MapCache, run_map
from .text_classification import classification_eval, model_labels, top_k_dicts

if TYPE_CHECKING:
    import torch

_RESAMPLE = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}


def image_norm(processor) -> tuple[list[float], list[float], int]:
    """Mean, std and resampling filter of a processor (timm-wrapper or regular transformers processor)."""
    data_config = getattr(processor, "data_config", None)
    if data_config:  # timm wrapper
        return (
            list(data_config["mean"]),
            list(data_config["std"]),
            _RESAMPLE.get(data_config.get("interpolation"), Image.BICUBIC),
        )
    mean = getattr(processor, "image_mean", None) or [0.5, 0.5, 0.5]
    std = getattr(processor, "image_std", None) or [0.5, 0.5, 0.5]
    resample = getattr(processor, "resample", None)
    return list(mean), list(std), int(resample) if resample is not None else Image.BICUBIC


def resize_crop(image: Image.Image, size: int, resample: int) -> np.ndarray:
    """Shorter side to ``size``, centre crop to a square; uint8 CHW (4x smaller than float to keep cached)."""
    w, h = image.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    image = image.resize((nw, nh), resample)
    left, top = (nw - size) // 2, (nh - size) // 2
    image = image.crop((left, top, left + size, top + size))
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))  # writable CHW copy


class ImageCollator:
    """Stacks cached uint8 pixels and normalises them per batch (cheap; keeps the cache small)."""

    def __init__(self, mean: list[float], std: list[float]):
        import torch

        self.mean = torch.tensor(mean).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(std).view(1, 3, 1, 1) * 255.0

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels.float() - self.mean) / self.std

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        import torch

        pixels = torch.from_numpy(np.stack([r["pixels"] for r in rows]))
        batch = {"pixel_values": self.normalise(pixels)}
        if "labels" in rows[0]:
            batch["labels"] = torch.tensor([int(r["labels"]) for r in rows])
        return batch


class PixelDataset:
    """Decoded images as uint8 rows of an Arrow dataset (memory-mapped when a run's cache wrote it), read a batch
    at a time; its rows are what ImageCollator expects: ``{"pixels": uint8 CHW array, "labels": int}``."""

    def __init__(self, rows, size: int):
        self.rows = rows.with_format("arrow")  # zero-copy column reads: the numpy format widens uint8 to int64
        self.size = size

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def cache_files(self) -> list[dict[str, str]]:
        """The Arrow files the pixels live in (empty when they are in memory)."""
        return self.rows.cache_files

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        """Rows for a batch of indices with one Arrow read (the DataLoader asks for batches this way)."""
        if not len(indices):
            return []
        table = self.rows[[int(i) for i in indices]]  # samplers may hand numpy or torch integers
        flat = table.column("pixels").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        # One writable copy per batch: rows stay views of it, and torch.from_numpy needs writable memory.
        pixels = np.array(flat, dtype=np.uint8).reshape(len(indices), 3, self.size, self.size)
        labels = table.column("labels").to_numpy()
        return [{"pixels": pixels[j], "labels": int(labels[j])} for j in range(len(indices))]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.__getitems__([int(i)])[0]


class _Decode:
    """The map function: image paths -> flat uint8 pixels (a class, so worker processes can unpickle it)."""

    def __init__(self, size: int, resample: int):
        self.size, self.resample = size, resample

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        from ..data import load_rgb

        pixels = [resize_crop(load_rgb(p), self.size, self.resample).reshape(-1) for p in batch["image"]]
        return {"pixels": pixels, "labels": batch["label"]}


def pixel_features(size: int):
    """uint8 pixels, 3 x size x size per row, stored flat (fixed length: reads need no offsets)."""
    import datasets

    return datasets.Features(
        {"pixels": datasets.List(datasets.Value("uint8"), length=3 * size * size), "labels": datasets.Value("int64")}
    )


class ImageClassification(Task):
    name = "image"
    title = "Image classification"
    description = "Sort pictures into classes: product photos, defects on a line, plant diseases, documents."
    peft_task_type = None
    main_metric = "f1_macro"

    def preprocess(self, dataset, processor, cfg: TrainConfig, cache: MapCache | None = None):
        _, _, resample = image_norm(processor)
        # Decode + resize once into uint8 rows of an Arrow file (a 4x smaller cache than float; the collator
        # normalises per batch). Memory-mapped: RAM stays flat in the number of images, the disk holds them.
        # Batches of 64 keep ~10 MB of pixels in flight at 224 px.
        rows = run_map(
            dataset,
            _Decode(cfg.image_size, resample),
            cache=cache,
            name="pixels",
            rows_per_proc=IMAGE_ROWS_PER_PROC,
            features=pixel_features(cfg.image_size),
            batch_size=64,
        )
        return PixelDataset(rows, cfg.image_size)

    def collator(self, processor, cfg: TrainConfig) -> Callable:
        mean, std, _ = image_norm(processor)
        return ImageCollator(mean, std)

    def features(self, backbone, batch: dict[str, torch.Tensor], pooling: str) -> torch.Tensor:
        from ..models import image_features

        return image_features(backbone, batch["pixel_values"])

    def compute_metrics(self, labels: list[str]) -> Callable:
        from .text_classification import TASK as text_task

        return text_task.compute_metrics(labels)

    def evaluate(self, labels: list[str], logits: np.ndarray, label_ids: np.ndarray, eval_data) -> EvalOutput:
        return classification_eval(labels, logits, label_ids, eval_data, input_column="image")

    def predict(self, model, processor, inputs: list[Any], cfg: TrainConfig, top_k: int = 5) -> list[dict]:
        import torch

        from ..data import load_rgb

        mean, std, resample = image_norm(processor)
        collate = ImageCollator(mean, std)
        device = model_device(model)
        out: list[dict] = []
        for start in range(0, len(inputs), cfg.eval_batch_size):
            chunk = inputs[start : start + cfg.eval_batch_size]
            pixels = torch.stack([torch.from_numpy(resize_crop(load_rgb(x), cfg.image_size, resample)) for x in chunk])
            with torch.no_grad():
                logits = model(pixel_values=collate.normalise(pixels).to(device)).logits.float().cpu().numpy()
            out.extend(top_k_dicts(softmax(logits), model_labels(model), top_k))
        return out


TASK = ImageClassification()
