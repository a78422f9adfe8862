"""How the ``accutics`` command ends: its exit codes, and ``UsageError`` (exit code 2)."""

from __future__ import annotations

__all__ = ["EXIT_API", "EXIT_FAILURE", "EXIT_OK", "EXIT_TRANSPORT", "EXIT_USAGE", "UsageError"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_API, EXIT_TRANSPORT = 0, 1, 2, 3, 4


class UsageError(Exception):
    """A command line that cannot run as given; exit code 2."""
