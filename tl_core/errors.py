"""One exception type for every problem a user can cause (bad data, bad config, unknown model).

A user error carries two texts. ``message`` is what the browser shows: plain language, what is wrong and how to fix
it on the page, never a config key, a command-line flag or an environment variable (a dashboard user cannot type
those). ``cli_hint`` is the same fix for someone at a terminal (``data.label_column=NAME``, ``--set
train.epochs=3``): the CLI and train.log print it after the message. ``str(err)`` is the message alone, so any
code that shows an error in the browser is safe by default.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the message says what and how."""

    def __init__(self, message: str = "", cli_hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.cli_hint = cli_hint or None

    def __str__(self) -> str:
        return self.message

    def for_cli(self) -> str:
        """The message, then the command-line fix when there is one (for terminals and log files)."""
        return f"{self.message}\n  (command line: {self.cli_hint})" if self.cli_hint else self.message


class ConfigError(UserError):
    """Invalid run configuration (unknown key, bad value)."""


class DataError(UserError):
    """Data that cannot be used as given."""


class ModelError(UserError):
    """A model reference that cannot be resolved or loaded safely."""


def for_cli(err: BaseException) -> str:
    """What a terminal shows for any exception: a user error's message and CLI hint, else its text."""
    return err.for_cli() if isinstance(err, UserError) else str(err)
