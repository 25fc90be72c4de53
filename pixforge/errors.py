"""Errors that pixforge reports to users as one line (CLI exit code 2), never as a traceback."""


class PixforgeError(Exception):
    """Base class: a problem with the user's input or environment, explained in one line."""

    exit_code = 2


class BadInputError(PixforgeError):
    """An input file is missing, unreadable, truncated, of an unsupported kind, or too large."""


class WeightsError(PixforgeError):
    """Pretrained weights are missing, cannot be fetched, or fail their checksum."""


class ConfigError(PixforgeError):
    """A configuration file or override is invalid."""


class DivergenceError(PixforgeError):
    """Training produced a NaN/Inf loss; the last good checkpoint is kept."""
