"""Let a playground prediction pre-empt CPU training for the few milliseconds it takes.

Why: on a small CPU machine a training run keeps every core busy. Lower priority (nice) alone still left playground
answers 1.4-1.9x slower during a run on the bench's 2-core VM: the cores, caches and memory bandwidth stay shared.
So the app asks running trainings to hold still while it predicts: it writes "pause until <time>" into one small
memory-mapped file under TL_HOME, and the training process, at pause points between layers (forward and backward),
waits while that time is in the future. The request always expires (a crashed app never freezes a run) and each
wait is capped, so training loses only the milliseconds the predictions take.

Fairness caps, because a step has ~100 pause points and a stranger can loop predictions: a run pauses at most once
per training step (the first pause point that finds a request waits, the step's others run on), and at most
``TL_YIELD_MAX_SHARE`` (default 20%) of any 10 s window. Looping clients therefore cannot stall training; they
share the machine with it.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from .fair_use import yield_max_share

FILE_NAME = "cpu_yield"
REQUEST_S = 2.0  # a prediction longer than this (a big batch) stops holding training back after it
MAX_WAIT_S = 2.0  # one pause point never waits longer, whatever the file says
WINDOW_S = 10.0  # the paused share is capped over every window this long
_FORMAT = "d"
_SIZE = struct.calcsize(_FORMAT)


class YieldFlag:
    """The shared "pause until" timestamp (seconds since the epoch; 0 = no request).

    Each instance also keeps its own process's pause accounting: ``max_share`` of any ``window_s`` seconds at most
    (default ``TL_YIELD_MAX_SHARE``), and one pause per step (``new_step()`` starts a step).
    """

    def __init__(self, path: Path, max_share: float | None = None, window_s: float = WINDOW_S):
        self.max_share = yield_max_share() if max_share is None else max_share
        self.window_s = window_s
        self._pauses: deque[tuple[float, float]] = deque()  # (start, end) of recent waits, oldest first
        self._paused_this_step = False
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _SIZE:
                os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)

    @classmethod
    def default(cls) -> YieldFlag:
        from .paths import home

        return cls(home() / FILE_NAME)

    def until(self) -> float:
        return struct.unpack_from(_FORMAT, self._map)[0]

    def request(self, seconds: float = REQUEST_S) -> float:
        token = max(self.until(), time.time() + seconds)
        struct.pack_into(_FORMAT, self._map, 0, token)
        return token

    def release(self, token: float) -> None:
        if self.until() == token:  # a later request (another browser session) keeps its own window
            struct.pack_into(_FORMAT, self._map, 0, 0.0)

    def new_step(self) -> None:
        """A training step begins: its first pause point may wait again."""
        self._paused_this_step = False

    def wait(self) -> float:
        """Block while a request is active: once per step, at most MAX_WAIT_S and within the window's share.

        Returns the seconds waited."""
        start = now = time.time()
        if self._paused_this_step or now >= self.until():
            return 0.0
        limit = min(MAX_WAIT_S, self._share_left(now))
        if limit <= 0:
            return 0.0
        self._paused_this_step = True
        while now < self.until() and now - start < limit:
            time.sleep(0.001)
            now = time.time()
        self._pauses.append((start, now))
        return now - start

    def _share_left(self, now: float) -> float:
        """Seconds this process may still pause so that no window of ``window_s`` holds more than its share: the
        window ending now already holds every earlier pause that a later window could also contain."""
        cutoff = now - self.window_s
        while self._pauses and self._pauses[0][1] <= cutoff:
            self._pauses.popleft()
        used = sum(min(end, now) - max(begin, cutoff) for begin, end in self._pauses)
        return self.max_share * self.window_s - used

    @contextmanager
    def priority(self, seconds: float = REQUEST_S) -> Iterator[None]:
        token = self.request(seconds)
        try:
            yield
        finally:
            self.release(token)


def training_flag(enabled: bool) -> YieldFlag | None:
    """The flag a training run honours, or None: only CPU runs with ``train.cpu_yield`` on pause. On a CPU the
    playground and training fight over the same cores; a GPU run leaves the CPU mostly free."""
    return YieldFlag.default() if enabled and not torch.cuda.is_available() else None


def install_pause_points(model: nn.Module, flag: YieldFlag) -> list:
    """Pause points at every leaf module that holds weights: before its forward and when its output's gradient
    arrives in backward. Each forward of the whole model starts a step (at most one pause per step). Returns the
    hook handles (call ``.remove()`` on each to take them out again)."""

    def step_begins(module, args) -> None:
        flag.new_step()

    def before_forward(module, args) -> None:
        flag.wait()

    def in_backward(grad):
        flag.wait()
        return None  # the gradient passes through untouched

    def after_forward(module, args, output) -> None:
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(in_backward)

    handles = [model.register_forward_pre_hook(step_begins)]  # first: it runs before the leaves' pause points
    for module in model.modules():
        if next(module.children(), None) is None and next(module.parameters(recurse=False), None) is not None:
            handles.append(module.register_forward_pre_hook(before_forward))
            handles.append(module.register_forward_hook(after_forward))
    return handles
