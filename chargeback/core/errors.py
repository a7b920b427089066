"""Errors a user can act on. The CLI prints their message and exits non-zero, never a traceback."""


class ChargebackError(Exception):
    """Base class: the message names the file, window, series or row, and the cause."""


class ConfigError(ChargebackError):
    """The configuration file is invalid."""


class DataError(ChargebackError):
    """Raw data is missing, malformed or does not match its schema."""


class InvariantError(ChargebackError):
    """A build broke an invariant (conservation, unique keys); the old warehouse stays published."""


class CollectError(ChargebackError):
    """A source could not be read; the message names the source, the window and the cause."""

    def __init__(self, source: str, window: object, cause: str):
        super().__init__(f"{source} {window}: {cause}")
        self.source = source
        self.window = window
        self.cause = cause
