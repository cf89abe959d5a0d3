"""Bundled sample data, so every task can be tried before a user uploads anything.

Text and NER samples are small files shipped in ``samples/``; the image sample is built on first use
from scikit-learn's bundled digits (no download) and cached, written atomically so concurrent callers
never see half a folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from . import paths
from .errors import DataError

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
_FILES = {"text": "sentiment.csv", "ner": "ner.conll"}
_DIGIT_NAMES = ("zero", "one", "two", "three", "four")
_PER_CLASS = 60
_IMAGE_SAMPLE = "digits-v1"  # bump the suffix when the generator changes


def sample_path(task: str, work_dir: Path | None = None) -> Path:
    """The bundled sample for ``task``: a CSV (text), a CoNLL file (ner) or an image folder (image)."""
    if task in _FILES:
        path = SAMPLES_DIR / _FILES[task]
        if not path.is_file():
            raise DataError(f"The bundled sample {path} is missing; reinstall the project or upload your own file.")
        return path
    if task == "image":
        cache = Path(work_dir) / "samples" if work_dir else paths.samples_cache()
        return _digits_folder(cache)
    raise DataError(f"There is no bundled sample for task '{task}'. Choose one of: text, image, ner.")


def _digits_folder(cache: Path) -> Path:
    """Build (once) ``cache/digits-v1/<class>/<n>.png``: 5 digit classes, 64x64 greyscale PNGs."""
    target = cache / _IMAGE_SAMPLE
    if target.is_dir():
        return target
    from PIL import Image  # local imports: only needed the first time
    from sklearn.datasets import load_digits

    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{_IMAGE_SAMPLE}-", dir=cache))
    try:
        digits = load_digits()
        counts = dict.fromkeys(range(len(_DIGIT_NAMES)), 0)
        for pixels, label in zip(digits.images, digits.target):
            label = int(label)
            if label not in counts or counts[label] >= _PER_CLASS:
                continue
            folder = tmp / _DIGIT_NAMES[label]
            folder.mkdir(exist_ok=True)
            grey = (pixels * (255.0 / 16.0)).round().clip(0, 255).astype("uint8")
            img = Image.fromarray(grey).resize((64, 64), Image.Resampling.BILINEAR)
            img.save(folder / f"{counts[label]:03d}.png")
            counts[label] += 1
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first: use its folder
            if not target.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
