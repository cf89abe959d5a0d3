"""Tiny random models built from configs (as transformers' own tests do): fast, offline, safetensors."""

from __future__ import annotations

import re
from pathlib import Path

WORDS = (
    "the a an and or but not no very really quite so too is was were be been it this that these those i you he she "
    "we they film movie food service place product story acting plot great good fine nice love loved excellent "
    "amazing wonderful best perfect bad awful terrible boring poor worst hate hated waste dull slow broken "
    "john mary smith paris london berlin google apple bank of america new york city microsoft visited works for "
    "lives in met at with from to on by his her their . , ! ? ' -"
).split()


def make_tiny_bert(folder: Path, extra_words: list[str] | None = None) -> Path:
    """A 2-layer, 32-wide BERT with a word-level WordPiece vocab (safetensors + tokenizer files)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(WORDS + (extra_words or [])))
    vocab += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz0123456789")
    vocab = list(dict.fromkeys(vocab))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    return folder


def make_tiny_vit(folder: Path, image_size: int = 32) -> Path:
    """A 2-layer, 32-wide ViT with its image processor (mean = std = 0.5)."""
    import torch
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = ViTConfig(
        image_size=image_size,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
    )
    ViTModel(config).save_pretrained(folder)
    ViTImageProcessor(
        size={"height": image_size, "width": image_size}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    ).save_pretrained(folder)
    return folder


def words_of(text: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", text.lower())
