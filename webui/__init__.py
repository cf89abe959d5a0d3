"""The dashboard's web page: the only package that imports gradio (tl_core, the library, never does)."""

from .interface import create_ui, launch_kwargs, warm_up_in_background

__all__ = ["create_ui", "launch_kwargs", "warm_up_in_background"]
