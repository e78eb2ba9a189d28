"""The Neo4j options shared by every command that touches Neo4j, and opening the store from them.

``--neo4j-uri`` (``NEO4J_URI``), ``--neo4j-user`` (``NEO4J_USER``, default neo4j) and ``--database``
(``NEO4J_DATABASE``). There is deliberately no password option: a password on the command line ends up in
shell history and in the process list. It comes from ``NEO4J_PASSWORD``, or from a hidden prompt when a person
is at the terminal. Without a URI, commands run embedded.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from graphrisk.errors import StoreError

if TYPE_CHECKING:  # the driver is imported only when a command really opens a store
    from graphrisk.store.neo4j import Neo4jStore

__all__ = ["explicit_neo4j_options", "neo4j_options", "open_store"]

F = TypeVar("F", bound=Callable[..., Any])


def _add_options(command: F, *, uri_from_env: bool) -> F:
    # click shows options in the reverse order of decoration: the URI, the user, then the database.
    command = click.option(
        "--database",
        envvar="NEO4J_DATABASE",
        default=None,
        show_envvar=True,
        metavar="NAME",
        help="Neo4j database (default: the server's home database).",
    )(command)
    command = click.option(
        "--neo4j-user",
        envvar="NEO4J_USER",
        default="neo4j",
        show_default=True,
        show_envvar=True,
        metavar="USER",
        help="Neo4j user. The password is read from NEO4J_PASSWORD (or asked for).",
    )(command)
    if uri_from_env:
        return click.option(
            "--neo4j-uri",
            envvar="NEO4J_URI",
            default=None,
            show_envvar=True,
            metavar="URI",
            help="Neo4j server, e.g. bolt://127.0.0.1:7687. Without it graphrisk runs embedded.",
        )(command)
    return click.option(
        "--neo4j-uri",
        default=None,
        metavar="URI",
        help='Run on this Neo4j server (e.g. "$NEO4J_URI") instead of embedded.',
    )(command)


def neo4j_options(command: F) -> F:
    """Add ``--neo4j-uri`` (or ``NEO4J_URI``), ``--neo4j-user`` and ``--database`` to a click command.

    The command receives them as ``neo4j_uri``, ``neo4j_user`` and ``database`` and passes them to
    :func:`open_store` when ``neo4j_uri`` is set.
    """
    return _add_options(command, uri_from_env=True)


def _password(uri: str) -> str:
    password = os.environ.get("NEO4J_PASSWORD")
    if password:
        return password
    if sys.stdin is not None and sys.stdin.isatty():
        # Hidden input; the prompt goes to stderr so stdout stays results only.
        entered: str = click.prompt(f"Password for {uri}", hide_input=True, err=True)
        return entered
    raise StoreError(
        f"no password for Neo4j at {uri}. Fix: set NEO4J_PASSWORD (for the development "
        "server: `set -a; . .neo4j/env; set +a`), or run the command at a terminal to be asked."
    )


def open_store(neo4j_uri: str | None, neo4j_user: str | None, database: str | None) -> Neo4jStore:
    """Connect to Neo4j with the options of :func:`neo4j_options`; errors are :class:`StoreError`."""
    if not neo4j_uri:
        raise StoreError("no Neo4j server given. Fix: pass --neo4j-uri or set NEO4J_URI.")
    from graphrisk.store.neo4j import Neo4jStore

    return Neo4jStore(neo4j_uri, neo4j_user or "neo4j", _password(neo4j_uri), database or None)


def explicit_neo4j_options(command: F) -> F:
    """Like :func:`neo4j_options`, but ``--neo4j-uri`` is never taken from the environment.

    For analysis commands (scan, chain, owners …): they run embedded unless the user names a server on the
    command line, so a shell that has NEO4J_URI set for `graphrisk load` still gets the embedded default.
    """
    return _add_options(command, uri_from_env=False)
