"""The run process in steps: prepare -> build -> trainer -> save -> results; ``pipeline.run`` runs them in order.

``python -m tl_core.train RUN_DIR`` is the entry point. Importing this package is cheap: the steps import torch and
transformers only when a run reaches them, so the page can show "loading" at once.
"""

from .pipeline import run

__all__ = ["run"]
