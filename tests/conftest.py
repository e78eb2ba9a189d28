"""Shared fixtures. Each group of fixtures lives in its own clearly named functions; add yours beside them.

Neo4j: tests marked ``neo4j`` use a server given by NEO4J_URI / NEO4J_USER / NEO4J_PASSWORD. Without one they
fail (CI must never pass by skipping them). Start the development server with::

    python scripts/neo4j.py start && set -a && . .neo4j/env && set +a
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from graphrisk.graph import EnterpriseGraph
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


# ---------------------------------------------------------------------------------------------- browser
# One Chromium for the whole session: two session fixtures would start two Playwright loops in one thread.

CHROMIUM = os.environ.get("GRAPHRISK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = (
    "Fix: `sudo apt-get install -y chromium fonts-noto-cjk` and `python3 -m pip install playwright` "
    "(scripts/test.sh does both; do not run `playwright install`: the tests drive Debian's chromium), or set "
    "GRAPHRISK_CHROMIUM to a Chromium binary."
)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: the browser tests need it. {INSTALL_HINT}", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"the Python package playwright is not installed. {INSTALL_HINT}", pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# ------------------------------------------------------------------------------------------------ Spark
# One SparkSession (local[2], the jars of scripts/spark.py fetch) and one synthetic 10k portfolio for every test
# marked spark; the embedded graph of the same portfolio for parity. pyspark is imported inside the fixtures only.

SPARK_DAY = date(2026, 6, 30)


def comparable_flags(frame: Any) -> list[tuple[str, ...]]:
    """A flags.csv's rows, sorted, in a form two engines' flags compare in: evidence parsed and floats rounded to 9
    significant digits (Spark sums contagion figures in another order), cross-holding numbers left out (Spark
    numbers cross-holdings by smallest member, the embedded engine in scipy's label order)."""
    import json

    def rounded(value: Any) -> Any:
        if isinstance(value, float):
            return float(f"{value:.9g}")
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rounded(v) for v in value]
        return value

    out = []
    for r in frame.astype(str).itertuples(index=False):
        ev = rounded(json.loads(r.evidence))
        ev.pop("cross_holding_id", None)
        out.append((r.entity_id, r.flag, r.severity, r.reason, json.dumps(ev, sort_keys=True), r.analysis))
    return sorted(out)


@pytest.fixture(autouse=True, scope="module")
def _release_spark_caches() -> Iterator[None]:
    """After each test file, drop the cached frames of the shared Spark session: kept, they add up over ~20 Spark
    files and fill the driver's heap. Session fixtures stay usable (Spark recomputes a frame whose cache is gone);
    local checkpoints are not caches and stay."""
    yield
    if "pyspark" in sys.modules:
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            active.catalog.clearCache()


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    from graphrisk.engines.spark import session
    from graphrisk.engines.spark.session import SparkEngineError

    try:
        # One session serves every Spark test file, and each keeps its cached frames: 2 GB ran out of room once
        # the suite had ~20 Spark files (the files after the 100k parity test crawled in garbage collection).
        s = session("local[2]", "graphrisk-tests", driver_memory="6g")
    except SparkEngineError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def portfolio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic 10k portfolio, seed 0 (generated once per session)."""
    from click.testing import CliRunner

    from graphrisk.cli.main import main

    out = tmp_path_factory.mktemp("spark") / "p10k"
    result = CliRunner().invoke(main, ["generate", str(out), "--enterprises", "10000", "--seed", "0"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def graph(portfolio: Path) -> EnterpriseGraph:
    from graphrisk.graph import EnterpriseGraph
    from loaders import load_tables

    tables = load_tables(portfolio, pseudonym_key=b"spark-parity")
    # Parity holds on data the embedded loader accepts whole.
    assert len(tables.rejects) == 0
    return EnterpriseGraph(tables)


@pytest.fixture(scope="session")
def tables(spark: SparkSession, portfolio: Path) -> dict[str, DataFrame]:
    from graphrisk.engines.spark.io import read_tables

    return {name: frame.cache() for name, frame in read_tables(spark, portfolio).items()}


@pytest.fixture(scope="session")
def active(tables: dict[str, DataFrame]) -> DataFrame:
    from graphrisk.engines.spark import steps

    return steps.active_guarantees(tables, SPARK_DAY).cache()


@pytest.fixture(scope="session")
def components(active: DataFrame) -> DataFrame:
    from graphrisk.engines.spark import steps

    return steps.guarantee_components(active).cache()
