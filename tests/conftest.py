"""Shared fixtures. Each group of fixtures lives in its own clearly named functions; add yours beside them.

Neo4j: tests marked ``neo4j`` use a server given by NEO4J_URI / NEO4J_USER / NEO4J_PASSWORD. Without one they
fail (CI must never pass by skipping them). Start the development server with::

    python scripts/neo4j.py start && set -a && . .neo4j/env && set +a
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from graphrisk.store.neo4j import Neo4jStore

NEO4J_START_HINT = (
    "NEO4J_URI is not set: the tests marked neo4j need a running Neo4j server. Start one with "
    "`python scripts/neo4j.py start`, load its settings with `set -a; . .neo4j/env; set +a`, and run pytest "
    "again (or point NEO4J_URI, NEO4J_USER and NEO4J_PASSWORD at a server of your own)."
)


# ----------------------------------------------------------------------------------------------- Neo4j


@pytest.fixture(scope="session")
def neo4j_store() -> Iterator[Neo4jStore]:
    """One connection for the whole session to the server in NEO4J_URI; fails (never skips) without it."""
    if not os.environ.get("NEO4J_URI"):
        pytest.fail(NEO4J_START_HINT, pytrace=False)
    from graphrisk.store.neo4j import store_from_env

    store = store_from_env()
    try:
        store.ensure_schema()
        yield store
    finally:
        store.close()


@pytest.fixture
def neo4j_empty_store(neo4j_store: Neo4jStore) -> Neo4jStore:
    """The session's store, cleared of all data (constraints stay), so every test starts from nothing."""
    neo4j_store.clear()
    return neo4j_store
