"""The one exception root of graphrisk, and the errors a user can act on.

Every error that reaches a user names what is wrong, where (file, row, column) and how to fix it; the CLI turns
any :class:`GraphriskError` into a one-line message and exit code 1, never a traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "GraphriskError",
    "InputFileError",
    "MissingColumnError",
    "MissingTableError",
    "StoreError",
    "UnknownEntityError",
]


class GraphriskError(Exception):
    """Root of every error graphrisk raises on purpose."""


class ConfigError(GraphriskError):
    """A configuration file or option is wrong."""


class DataError(GraphriskError):
    """Input data cannot be used as it is."""


class InputFileError(DataError):
    """A file cannot be read at all (encoding, format, corrupt spreadsheet)."""

    def __init__(self, path: str, problem: str, fix: str) -> None:
        self.path, self.problem, self.fix = path, problem, fix
        super().__init__(f"{path}: {problem}. Fix: {fix}")


class MissingColumnError(DataError):
    """A required column is absent from a table's file."""

    def __init__(self, path: str, table: str, column: str, aliases: tuple[str, ...], found: list[str]) -> None:
        self.path, self.table, self.column = path, table, column
        accepted = ", ".join((column, *aliases))
        shown = ", ".join(found[:12]) + (" …" if len(found) > 12 else "")
        super().__init__(
            f"{path}: table '{table}' needs column '{column}' (accepted headers: {accepted}); "
            f"the file has: {shown}. Fix: add the column, or map your header onto '{column}' "
            f"in graphrisk.toml under [tables.{table}.columns]."
        )


class MissingTableError(DataError):
    """A required table has no file in the data folder."""


class UnknownEntityError(GraphriskError):
    """An id asked for on the command line is not in the graph."""


class StoreError(GraphriskError):
    """The graph store (Neo4j) cannot be reached or refused an operation."""
