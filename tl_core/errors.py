"""One exception type for every problem a user can cause (bad data, bad config, unknown model).

The UI shows ``str(err)`` as-is, so messages are plain language: what is wrong and how to fix it.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the message says what and how."""


class ConfigError(UserError):
    """Invalid run configuration (unknown key, bad value)."""


class DataError(UserError):
    """Data that cannot be used as given."""


class ModelError(UserError):
    """A model reference that cannot be resolved or loaded safely."""
