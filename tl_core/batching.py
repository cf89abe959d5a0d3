"""How training batches are formed and padded: length-grouped batches in shuffled order, padding per device."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


def pad_multiple() -> int | None:
    """Pad each batch to a multiple of 8 only on GPUs, where it keeps tensor-core kernels on their fast path. On a
    CPU it buys nothing and costs tokens: with ~27-token sentences, rounding up to 8 computed 13% more tokens."""
    return 8 if torch.cuda.is_available() else None


def length_grouped_order(
    lengths: Sequence[int], batch_size: int, generator: torch.Generator | None = None, mega_batches: int = 50
) -> list[int]:
    """Indices whose consecutive ``batch_size`` slices hold examples of similar length, with the batches in random
    order.

    Like transformers' length grouping (shuffle, cut into mega-batches of ``mega_batches`` batches, sort each by
    length), but the batches are then shuffled across the epoch. transformers keeps them in sorted order, so every
    mega-batch walks from the longest to the shortest texts: a length curriculum repeated a few times per epoch,
    which SGD has no reason to want (on the movie-review bench, one seed: 0.822 with it, 0.836 without). The longest
    batch still comes first, so running out of memory happens at step one, not an hour in.
    """
    n = len(lengths)
    if n == 0:
        return []
    mult = max(1, min(mega_batches, n // (batch_size * 4)))
    mega = mult * batch_size
    perm = torch.randperm(n, generator=generator).tolist()
    batches: list[list[int]] = []
    for start in range(0, n, mega):
        group = sorted(perm[start : start + mega], key=lambda i: lengths[i], reverse=True)
        batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
    # The last batch of the epoch stays last: it may be short, and drop_last must still drop the short one.
    full, tail = (batches[:-1], batches[-1:]) if len(batches[-1]) < batch_size else (batches, [])
    order = torch.randperm(len(full), generator=generator).tolist()
    full = [full[i] for i in order]
    if full:
        longest = max(range(len(full)), key=lambda b: max(lengths[i] for i in full[b]))
        full[0], full[longest] = full[longest], full[0]
    return [i for batch in full + tail for i in batch]


class ShuffledLengthGroupedSampler(Sampler[int]):
    """Sampler form of :func:`length_grouped_order`. With ``seed``, epoch E's order comes from ``seed + E`` alone
    (the Trainer calls ``set_epoch``): every process computes the same order, whatever the number of processes
    and whatever else used the global RNG (dropout draws differ with the per-process batch), and a resumed run
    repeats the order of the epoch it resumes. Without a seed: a new order each epoch from ``generator`` or torch's
    global RNG."""

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ):
        self.lengths, self.batch_size, self.generator, self.seed = list(lengths), batch_size, generator, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = self.generator
        if self.seed is not None:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(length_grouped_order(self.lengths, self.batch_size, generator))
