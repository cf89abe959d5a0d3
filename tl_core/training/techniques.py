"""Fine-tuning techniques of the full method: the model's parts found by structure, frozen bottom blocks,
gradual unfreezing, layer-wise learning rates; and for every method the loss (class weights, label smoothing).

The parts are found by structure, never by a model's attribute names, so every family the picker offers works
(BERT, DistilBERT, RoBERTa, ViT, ConvNeXt, timm EfficientNet through TimmWrapper):
- blocks: among the backbone's ModuleLists/Sequentials whose children (2 or more) are all of one class, the one
  holding the most parameters (a transformer's layers; a convnet's stages, not the layers inside one stage);
- embeddings: the backbone's parameters registered before the blocks; top: those after them (pooler, final
  norm, a convnet's last conv), trained with the top block;
- head: what the task's model class adds to the pretrained backbone (``classifier``, DistilBERT's
  ``pre_classifier``), or the timm model's ``get_classifier()``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import UserError

IMBALANCE_RATIO = 3.0  # class_weights=auto turns on when the largest class has >= 3x the smallest's examples
MAX_CLASS_WEIGHT = 10.0  # a class with 1 example out of 1,000 would otherwise dominate the loss


@dataclass
class Layout:
    """Parameter names of the model's parts, bottom to top."""

    embeddings: list[str]
    blocks: list[list[str]]
    top: list[str]
    head: list[str]
    blocks_path: str  # e.g. "bert.encoder.layer": for messages and tests
    output_layer: nn.Module | None  # the last head layer (num_labels outputs): LP-FT's probe replaces its weights

    def stages(self) -> list[list[str]]:
        """Bottom to top: embeddings, each block, top + head (the part that always trains)."""
        return [self.embeddings, *self.blocks, self.top + self.head]


def _head_prefixes(model: nn.Module) -> list[str]:
    timm = getattr(model, "timm_model", None)
    if timm is not None and hasattr(timm, "get_classifier"):
        classifier = timm.get_classifier()
        return [name for name, mod in model.named_modules() if mod is classifier]
    base = getattr(model, "base_model_prefix", "")
    if not base or not hasattr(model, base):
        raise UserError(f"Cannot tell the pretrained part of this {type(model).__name__} from its head.")
    return [name for name, child in model.named_children() if name != base and any(True for _ in child.parameters())]


def _blocks(model: nn.Module, head: list[str]) -> tuple[str, nn.Module]:
    best: tuple[int, int, str, nn.Module] | None = None
    for name, mod in model.named_modules():
        if not isinstance(mod, (nn.ModuleList, nn.Sequential)) or len(mod) < 2 or _under(name, head):
            continue
        if len({type(child) for child in mod}) != 1:
            continue
        size = sum(p.numel() for p in mod.parameters())
        key = (size, -name.count("."))  # most parameters; on a tie the outermost
        if best is None or key > best[:2]:
            best = (*key, name, mod)
    if best is None:
        raise UserError(f"Found no repeated blocks (layers or stages) in this {type(model).__name__}.")
    return best[2], best[3]


def _under(name: str, prefixes: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def find_layout(model: nn.Module) -> Layout:
    """The model's embeddings, blocks, top and head, found by structure (module docstring)."""
    head = _head_prefixes(model)
    path, blocks = _blocks(model, head)
    names = [n for n, _ in model.named_parameters()]
    per_block = [[n for n in names if _under(n, [f"{path}.{i}"])] for i in range(len(blocks))]
    in_blocks = {n for block in per_block for n in block}
    position = {n: i for i, n in enumerate(names)}  # registration order: embeddings come before the blocks
    first = position[per_block[0][0]] if per_block[0] else 0
    head_names = [n for n in names if _under(n, head)]
    rest = [n for n in names if n not in in_blocks and n not in set(head_names)]
    embeddings = [n for n in rest if position[n] < first]
    top = [n for n in rest if position[n] >= first]
    return Layout(embeddings, per_block, top, head_names, path, _output_layer(model, head))


def _output_layer(model: nn.Module, head: list[str]) -> nn.Module | None:
    """The last Linear of the head whose outputs are the labels (DistilBERT: classifier, not pre_classifier)."""
    num_labels = getattr(getattr(model, "config", None), "num_labels", None)
    found = None
    for name, mod in model.named_modules():
        if _under(name, head) and isinstance(mod, nn.Linear) and mod.out_features == num_labels:
            found = mod
    return found


# --- freezing ---------------------------------------------------------------------------------------------------
def frozen_names(layout: Layout, freeze_layers: int) -> set[str]:
    """The embeddings and the bottom ``freeze_layers`` blocks: never trained (and left out of the optimizer)."""
    if freeze_layers <= 0:
        return set()
    if freeze_layers > len(layout.blocks):
        raise UserError(
            f"method_params.freeze_layers is {freeze_layers}, but this model has {len(layout.blocks)} blocks "
            f"({layout.blocks_path}). Choose at most {len(layout.blocks)}."
        )
    return {n for stage in layout.stages()[: freeze_layers + 1] for n in stage}


def set_trainable(model: nn.Module, frozen: set[str]) -> None:
    for name, p in model.named_parameters():
        p.requires_grad_(name not in frozen)


def unfrozen_names(layout: Layout, steps: int, frozen: set[str]) -> set[str]:
    """Gradual unfreezing after ``steps`` periods: the head and top, then one more block per period from the
    top, the embeddings last; what ``frozen`` names stays frozen."""
    stages = layout.stages()
    open_stages = stages[max(0, len(stages) - 1 - steps) :]
    return {n for stage in open_stages for n in stage} - frozen


# --- optimizer groups -------------------------------------------------------------------------------------------
def stage_learning_rates(layout: Layout, lr: float, decay: float, head_lr: float) -> list[tuple[list[str], float]]:
    """(names, lr) per stage: the top block trains at ``lr``, each block below at ``decay`` times the one above,
    the embeddings below the bottom block; the head at ``head_lr`` (0: ``lr``), the top modules with the top block."""
    n = len(layout.blocks)
    out = [(layout.embeddings, lr * decay**n)]
    out += [(block, lr * decay ** (n - 1 - i)) for i, block in enumerate(layout.blocks)]
    out += [(layout.top, lr), (layout.head, head_lr or lr)]
    return out


def optimizer_groups(
    model: nn.Module, layout: Layout, params: Any, lr: float, weight_decay: float, decay_names: set[str]
) -> list[dict[str, Any]]:
    """AdamW parameter groups: one per stage and decay kind, the frozen parameters left out (so they stay
    bit-identical). Gradually unfrozen parameters are in from the start: without a gradient AdamW skips them."""
    by_name = dict(model.named_parameters())
    frozen = frozen_names(layout, params.freeze_layers)
    groups = []
    stages = stage_learning_rates(layout, lr, params.layer_lr_decay, params.head_learning_rate)
    # Top down, head last: transformers logs the first group's rate, which is then the main learning rate.
    for names, stage_lr in [*stages[-2::-1], stages[-1]]:
        for decays in (True, False):
            chosen = [by_name[n] for n in names if n not in frozen and (n in decay_names) == decays]
            if chosen:
                groups.append({"params": chosen, "lr": stage_lr, "weight_decay": weight_decay if decays else 0.0})
    return groups


def needs_own_optimizer(params: Any) -> bool:
    """Whether the full method's settings change the optimizer's groups (else transformers' own is used)."""
    return params is not None and (
        params.layer_lr_decay != 1.0 or params.head_learning_rate > 0 or params.unfreeze_every > 0
    )


# --- loss -------------------------------------------------------------------------------------------------------
def label_counts(train_labels: Any, num_labels: int) -> list[int]:
    """Examples per class (NER: words per tag) from the training labels (ints or lists of ints; -100 skipped)."""
    counts: Counter[int] = Counter()
    for y in train_labels:
        for v in y if isinstance(y, (list, tuple)) else [y]:
            if int(v) >= 0:
                counts[int(v)] += 1
    return [counts.get(i, 0) for i in range(num_labels)]


def class_weights(setting: str, task: str, counts: list[int]) -> tuple[torch.Tensor | None, str]:
    """The loss's class weights (``balanced``: n / (classes x n_class), capped) and why, for results.json."""
    present = [c for c in counts if c > 0]
    ratio = max(present) / min(present) if present else 1.0
    if setting == "off":
        return None, "off"
    if setting == "auto":
        if task == "ner":
            return None, "auto: off for NER (the 'O' tag always dominates; weighting it down trades precision)"
        if ratio < IMBALANCE_RATIO:
            return None, f"auto: off (largest / smallest class = {ratio:.1f} < {IMBALANCE_RATIO:g})"
    total, k = sum(present), len(present)
    weights = [min(MAX_CLASS_WEIGHT, total / (k * c)) if c else 1.0 for c in counts]
    why = "on" if setting == "on" else f"auto: on (largest / smallest class = {ratio:.1f})"
    return torch.tensor(weights, dtype=torch.float32), why


class WeightedLoss:
    """Cross-entropy with optional class weights and label smoothing, over [B, C] or token [B, T, C] logits
    (labels -100 ignored). One function for the Trainer and the LP-FT probe."""

    def __init__(self, weights: torch.Tensor | None, smoothing: float):
        self.weights, self.smoothing = weights, smoothing

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        weight = self.weights.to(logits.device) if self.weights is not None else None
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            labels.reshape(-1).to(logits.device),
            weight=weight,
            label_smoothing=self.smoothing,
            ignore_index=-100,
        )


def make_loss(tc: Any, task: str, counts: list[int]) -> tuple[WeightedLoss | None, dict[str, Any]]:
    """The run's loss when a technique changes it (None: the model's own loss), and what was decided."""
    weights, why = class_weights(tc.class_weights, task, counts)
    info = {
        "class_weights": None if weights is None else [round(float(w), 4) for w in weights],
        "class_weights_reason": why,
        "label_smoothing": tc.label_smoothing,
    }
    if weights is None and tc.label_smoothing == 0:
        return None, info
    return WeightedLoss(weights, tc.label_smoothing), info


@dataclass
class FullSetup:
    """The full method's techniques as the Trainer needs them: the layout, what stays frozen, the groups."""

    model: nn.Module
    layout: Layout
    params: Any  # methods.FullParams
    learning_rate: float
    weight_decay: float
    frozen: set[str]

    @property
    def unfreeze_every(self) -> float:
        return self.params.unfreeze_every

    @property
    def own_optimizer(self) -> bool:
        return needs_own_optimizer(self.params)

    def param_groups(self, decay_names: set[str]) -> list[dict[str, Any]]:
        return optimizer_groups(
            self.model, self.layout, self.params, self.learning_rate, self.weight_decay, decay_names
        )


def uses_layout(params: Any) -> bool:
    """Whether any full-method technique is on (else the model trains exactly as before)."""
    return params is not None and (params.freeze_layers > 0 or params.lp_ft or needs_own_optimizer(params))
