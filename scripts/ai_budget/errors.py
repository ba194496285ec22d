"""Exceptions that carry the exit code documented in the README.

0 ok · 1 a source was unavailable but the command did what it could ·
2 bad input or a refusal.
"""

EXIT_UNAVAILABLE = 1
EXIT_BAD_INPUT = 2


class BudgetError(Exception):
    """Bad input or a refusal: one line naming the file, field or argument."""

    exit_code = EXIT_BAD_INPUT


class SourceUnavailable(BudgetError):
    """A data source (API, credentials, transcripts) could not be read."""

    exit_code = EXIT_UNAVAILABLE
