"""User-facing errors: each message names the file or key, the problem and the fix.

The CLI turns any `ReproError` into one line on stderr and a non-zero exit; anything else is
a bug and keeps its traceback.
"""


class ReproError(Exception):
    """Bad input that the user can fix; the message says how."""


class ConfigError(ReproError, ValueError):
    """A params value is missing, unknown, of the wrong type or out of range."""


class DataError(ReproError, ValueError):
    """An input file is missing, empty, malformed or fails its checksum."""


class TrainingError(ReproError):
    """Training cannot go on (its loss stopped being finite); the message names the param to change."""
