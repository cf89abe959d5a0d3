"""The scripts a user would write instead of using the dashboard: plain ``transformers.Trainer``, defaults kept.

Run as its own process (``python -m bench.baselines NAME --out FILE.json ...``) so it pays its own imports and
model load, exactly like a script would, and never shares accelerate state with another run.

text-full     fp32, every text padded to max_length 64, no length grouping, batch 32, 1 epoch
text-frozen   the same, backbone frozen (requires_grad=False) so only the head trains, but the backbone still
              runs on every batch of every epoch; ONE epoch is timed and the bench multiplies by the epoch count
image-full    EfficientNet-Lite0 via the same timm-wrapper folder, a torch Dataset that opens each PNG and runs
              torchvision PIL transforms (RGB, resize, to-tensor, normalise) on every step, fp32, batch 32
image-frozen  the same with the backbone frozen (feature-extraction baseline): one epoch timed
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

T_PROCESS = time.time()


def _args(out_dir: str, epochs: float, batch: int, lr: float, warmup: float, wd: float, seed: int):
    import torch
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=out_dir,
        per_device_train_batch_size=batch,
        per_device_eval_batch_size=64,
        num_train_epochs=epochs,
        learning_rate=lr,
        warmup_steps=warmup,
        weight_decay=wd,
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        seed=seed,
        disable_tqdm=True,
    )


def _accuracy(trainer, ds) -> float:
    pred = trainer.predict(ds)
    logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
    return float((logits.argmax(-1) == pred.label_ids).mean())


def text(ns) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, set_seed

    from bench.datasets import read_csv

    set_seed(ns.seed)
    t0 = time.time()
    tr_x, tr_y, classes = read_csv(Path(ns.train))
    ev_x, ev_y, _ = read_csv(Path(ns.eval))
    tok = AutoTokenizer.from_pretrained(ns.model)

    def enc(b):
        out = tok(b["text"], truncation=True, padding="max_length", max_length=64)
        out["labels"] = b["label"]
        return out

    train = Dataset.from_dict({"text": tr_x, "label": tr_y}).map(enc, batched=True, remove_columns=["text", "label"])
    evals = Dataset.from_dict({"text": ev_x, "label": ev_y}).map(enc, batched=True, remove_columns=["text", "label"])
    model = AutoModelForSequenceClassification.from_pretrained(ns.model, num_labels=len(classes), dtype=torch.float32)
    if ns.frozen:
        for name, p in model.named_parameters():
            p.requires_grad = name.startswith("classifier")
    args = _args(ns.work, ns.epochs, ns.batch, ns.lr, ns.warmup, ns.wd, ns.seed)
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=evals)
    t_train = time.time()
    trainer.train()
    train_s = time.time() - t_train
    t_eval = time.time()
    acc = _accuracy(trainer, evals)
    eval_s = time.time() - t_eval
    trainer.save_model(str(Path(ns.work) / "model"))
    return {
        "accuracy": acc,
        "train_s": train_s,
        "eval_s": eval_s,
        "setup_s": t_train - t0,
        "n_train": len(train),
        "epochs": ns.epochs,
    }


class PilImages:
    """Opens and transforms every image on every access: what a first script usually does."""

    def __init__(self, folder: str, size: int, mean, std):
        from torchvision import transforms

        self.items = []
        classes = sorted(p.name for p in Path(folder).iterdir() if p.is_dir())
        for c, name in enumerate(classes):
            self.items += [(str(f), c) for f in sorted((Path(folder) / name).iterdir())]
        self.classes = classes
        self.tf = transforms.Compose(
            [
                transforms.Resize(size),
                transforms.CenterCrop(size),
                transforms.ToTensor(),
                transforms.Normalize(mean, std),
            ]
        )

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        from PIL import Image

        path, label = self.items[i]
        with Image.open(path) as im:
            return {"pixel_values": self.tf(im.convert("RGB")), "labels": label}


def image(ns) -> dict:
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification, Trainer, set_seed

    set_seed(ns.seed)
    t0 = time.time()
    proc = AutoImageProcessor.from_pretrained(ns.model)
    dc = getattr(proc, "data_config", None) or {}
    mean, std = dc.get("mean", (0.5, 0.5, 0.5)), dc.get("std", (0.5, 0.5, 0.5))
    train, evals = PilImages(ns.train, ns.image_size, mean, std), PilImages(ns.eval, ns.image_size, mean, std)
    model = AutoModelForImageClassification.from_pretrained(
        ns.model, num_labels=len(train.classes), ignore_mismatched_sizes=True, dtype=torch.float32
    )
    if ns.frozen:
        for name, p in model.named_parameters():
            p.requires_grad = "classifier" in name
    args = _args(ns.work, ns.epochs, ns.batch, ns.lr, ns.warmup, ns.wd, ns.seed)
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=evals)
    t_train = time.time()
    trainer.train()
    train_s = time.time() - t_train
    t_eval = time.time()
    acc = _accuracy(trainer, evals)
    eval_s = time.time() - t_eval
    return {
        "accuracy": acc,
        "train_s": train_s,
        "eval_s": eval_s,
        "setup_s": t_train - t0,
        "n_train": len(train),
        "n_eval": len(evals),
        "epochs": ns.epochs,
        "train_images_per_s": len(train) * ns.epochs / train_s,
        "eval_images_per_s": len(evals) / eval_s,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=["text-full", "text-frozen", "image-full", "image-frozen"])
    p.add_argument("--model", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--eval", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=float, default=0.1)
    p.add_argument("--wd", type=float, default=0.01)
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--seed", type=int, default=42)
    ns = p.parse_args(argv)
    ns.frozen = ns.name.endswith("frozen")
    result = text(ns) if ns.name.startswith("text") else image(ns)
    result["process_s"] = time.time() - T_PROCESS
    result["name"] = ns.name
    Path(ns.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
