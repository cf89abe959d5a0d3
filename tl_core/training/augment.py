"""Image augmentation of training batches: random resized crop, left-right flip, colour jitter.

It runs on the collated batch tensors in the training DataLoader only (trainer.RunTrainer swaps in this
collator for training), never in tasks/ preprocessing: the decoded pixels stay one cached uint8 tensor shared by
training and evaluation, and evaluation batches are never augmented.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

MIN_SIDE = 64  # auto: smaller source images (digits, icons, MNIST-like) are off: a crop may cut the evidence
SAMPLE = 32  # images looked at to decide auto
CROP_SCALE = (0.6, 1.0)  # share of the area kept; ImageNet's 0.08 is too harsh for fine-tuning on few images
CROP_RATIO = (3 / 4, 4 / 3)
JITTER = 0.2  # brightness, contrast, saturation each scaled by a factor in [0.8, 1.2]


def resolve(
    setting: str, task: str, method: str, labels: list[str], sources: list[Any], pixels: list
) -> tuple[bool, str]:
    """Whether training images are augmented, and why (results.json). ``auto`` is on for photos, off for
    greyscale or small images and for labels that are digits or single characters (a flipped '2' or a cropped
    letter may become another class)."""
    if task != "image" or method == "features":
        return False, "off (images with the full or LoRA method only)"
    if setting != "auto":
        return setting == "on", setting
    if labels and all(re.fullmatch(r"\s*(\d+|\w)\s*", str(name)) for name in labels):
        return False, "auto: off (labels are digits or single characters)"
    if pixels and all(_is_grey(p) for p in pixels[:SAMPLE]):
        return False, "auto: off (greyscale images)"
    sizes = [s for s in (_source_size(x) for x in sources[:SAMPLE]) if s]
    if sizes and np.median([min(s) for s in sizes]) < MIN_SIDE:
        return False, f"auto: off (small images, under {MIN_SIDE} px)"
    return True, "auto: on (photos)"


def _is_grey(pixels: Any) -> bool:
    arr = np.asarray(pixels)
    return arr.ndim == 3 and arr.shape[0] == 3 and bool((arr[0] == arr[1]).all() and (arr[1] == arr[2]).all())


def _source_size(source: Any) -> tuple[int, int] | None:
    """The stored image's size from its header (no decoding); None when it is not a readable file path."""
    if not isinstance(source, str):
        return None
    try:
        from PIL import Image

        with Image.open(source) as image:
            return image.size
    except Exception:  # noqa: BLE001 - a size we cannot read only leaves the decision to the other rules
        return None


def augment(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of a [B, 3, H, W] batch in [0, 1]: a random resized crop back to H x W, a flip with
    probability 1/2, and random brightness, contrast and saturation."""
    out = torch.empty_like(images)
    _, _, h, w = images.shape
    for i, image in enumerate(images):
        u = torch.rand(8, generator=generator).tolist()
        area = h * w * (CROP_SCALE[0] + u[0] * (CROP_SCALE[1] - CROP_SCALE[0]))
        ratio = float(np.exp(np.log(CROP_RATIO[0]) + u[1] * (np.log(CROP_RATIO[1]) - np.log(CROP_RATIO[0]))))
        ch = max(1, min(h, round((area / ratio) ** 0.5)))
        cw = max(1, min(w, round((area * ratio) ** 0.5)))
        top, left = int(u[2] * (h - ch + 1)), int(u[3] * (w - cw + 1))
        crop = image[:, top : top + ch, left : left + cw].unsqueeze(0)
        x = F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)[0]
        if u[4] < 0.5:
            x = x.flip(-1)
        brightness, contrast, saturation = (1 - JITTER + 2 * JITTER * v for v in u[5:8])
        x = x * brightness
        x = (x - x.mean()) * contrast + x.mean()
        grey = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0)
        out[i] = ((x - grey) * saturation + grey).clamp(0, 1)
    return out


class AugmentCollator:
    """Wraps the task's image collator: its normalised batch is mapped back to [0, 1], augmented and normalised
    again (the collator's ``mean`` and ``std`` are on the 0..255 scale, as ImageCollator keeps them)."""

    def __init__(self, base: Callable):
        self.base = base
        self.mean = getattr(base, "mean", torch.zeros(1, 3, 1, 1))
        self.std = getattr(base, "std", torch.full((1, 3, 1, 1), 255.0))

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.base(rows)
        unit = (batch["pixel_values"].float() * self.std + self.mean) / 255.0
        batch["pixel_values"] = (augment(unit) * 255.0 - self.mean) / self.std
        return batch
