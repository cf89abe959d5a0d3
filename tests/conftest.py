"""Shared pytest fixtures (keep small: task-specific fixtures live in their test files)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def tl_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point TL_HOME (caches, extracted zips, generated samples) at a fresh temp folder."""
    home = tmp_path / "tl_home"
    monkeypatch.setenv("TL_HOME", str(home))
    return home
