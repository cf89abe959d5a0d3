"""What the hardware does fast: decides bf16 and device placement."""
from __future__ import annotations

import ctypes
import functools
import resource
import sys

import torch


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 matmul (AVX512-BF16 or AMX): there bf16 autocast is several times faster."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def use_bf16(precision: str, task: str = "text") -> bool:
    """bf16 autocast where it pays. On CPUs only transformer matmuls gain: for the EfficientNet image path the bench
    measured no speed-up (step time ratio 1.00) and 13 points less accuracy, so images stay fp32 on CPU."""
    if precision == "fp32":
        return False
    if torch.cuda.is_available():
        fast = torch.cuda.is_bf16_supported()
    else:
        fast = cpu_has_fast_bf16() and task != "image"
    if precision == "bf16":
        return fast or not torch.cuda.is_available()  # bf16 works on any CPU, only slowly without support
    return fast


def peak_memory_mb() -> float:
    """Peak accelerator memory if training ran on one, else the process's peak resident memory."""
    if torch.cuda.is_available() and torch.cuda.max_memory_allocated() > 0:
        return torch.cuda.max_memory_allocated() / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def reuse_freed_memory() -> bool:
    """Tell glibc's malloc to serve large blocks from its heap and keep freed memory there, instead of mmap-ing a
    fresh block per allocation and unmapping it on free.

    Why: every training step allocates the word-embedding gradient anew (MiniLM: 30522 x 384 floats, 47 MB; glibc
    mmaps anything over 32 MB). First-touch page faults on those fresh pages made zeroing it take 65 ms, 16% of a
    bf16 MiniLM step on the bench's 2-core VM (torch.profiler, bench/README.md). Reusing heap memory cut a real
    run's page faults from 16.6k to 2.9k per step; whole-run step time moved by less than that VM's noise.
    The cost: the process keeps its peak heap until it exits, which a training process reaches anyway.
    Returns False where this is not glibc (macOS, musl): nothing changes there.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4  # mallopt parameter numbers from glibc's malloc.h
        return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False
