"""Neo4j as the Spark engine's source and sink, through the Neo4j Connector for Apache Spark.

:func:`read_tables_from_neo4j` reads the graph that ``graphrisk load … --neo4j-uri`` wrote into the same
DataFrames as :func:`graphrisk.engines.spark.io.read_tables` gives for the folder it came from: the same table
names, columns and Spark types, so every step of :mod:`.steps` runs on either. Nodes are read with the
connector's ``labels`` option, relations with ``relationship`` (source and target labels from the schema),
always with an explicit Spark schema (the one :func:`.io.read_tables` gives): the connector's own inference
samples ten records and misses sparse properties (a ``voting_share`` that one holding in a hundred has).

:func:`write_back` writes the Spark scan's results with the run id, as the embedded scan's
``cypher/writeback/*.cypher`` statements do, then removes what other runs wrote (their ``_stale`` twins). It
uses the connector's ``query`` write mode, which runs a statement after ``UNWIND $events AS event`` and passes
no other parameter: the run id and algorithm travel in every event, so the statements are their own files in
``cypher/spark/`` (the embedded ones take ``$rows`` and ``$run_id``). Written so far: counterparty groups.

The executors talk to Neo4j directly (each partition is one connector task with its own driver); nothing is
collected to the driver. The password goes only into the connector's options; errors are re-raised as
:class:`~graphrisk.errors.StoreError` with the password scrubbed and the URI shown without credentials.

>>> tables = read_tables_from_neo4j(spark, "bolt://127.0.0.1:7687", "neo4j", password)  # doctest: +SKIP
>>> groups = _numbered_groups(steps.counterparty_groups(tables, ties))  # doctest: +SKIP
>>> write_back({"counterparty_groups": groups}, uri, "neo4j", password, run_id="3f2a9c01b7de")  # doctest: +SKIP
{'counterparty_groups': 1457}
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING

from graphrisk.errors import StoreError
from graphrisk.schema import SCHEMA, Table, _endpoint_label

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame, DataFrameReader, SparkSession
    from pyspark.sql.types import StructType

__all__ = ["WRITEBACK", "Writeback", "counterparty_group_events", "read_tables_from_neo4j", "write_back"]

_FORMAT = "org.neo4j.spark.DataSource"
_FIX = (
    "Fix: start the server (`python scripts/neo4j.py start`, then `set -a; . .neo4j/env; set +a`) or point "
    "NEO4J_URI / --neo4j-uri at a running one, with NEO4J_USER and NEO4J_PASSWORD set to its credentials."
)
# "org.neo4j.driver.exceptions.AuthenticationException: The client is unauthorized …": the driver's own exception,
# found even inside Spark's "Job aborted due to stage failure: … most recent failure: …" line; else any.
_NEO4J_CAUSE = re.compile(r"org\.neo4j\.[\w.]*?\.(\w+Exception): ([^\n]*)")
_CAUSE = re.compile(r"(?:[\w$]+\.)*(\w+(?:Exception|Error)): ([^\n]*)")


# ------------------------------------------------------------------------------------------------ plumbing


@functools.cache
def _cypher(name: str) -> str:
    """The statement of ``cypher/spark/<name>`` without its ``//`` comment lines and final ``;`` (the connector
    embeds it in a statement of its own)."""
    text = files("cypher").joinpath("spark", name).read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    return body.strip().rstrip(";").strip()


def _display_uri(uri: str) -> str:
    """The URI without any user:password@ part, for messages."""
    return re.sub(r"//[^/@]*@", "//", uri)


def _options(uri: str, user: str, password: str, database: str | None) -> dict[str, str]:
    opts = {
        "url": uri,
        "authentication.type": "basic",
        "authentication.basic.username": user,
        "authentication.basic.password": password,
    }
    if database:
        opts["database"] = database
    return opts


@contextmanager
def _errors(uri: str, password: str, action: str) -> Iterator[None]:
    """Spark and connector failures as a :class:`StoreError`: the cause only, password scrubbed, the URI shown
    without credentials."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    try:
        yield
    except (Py4JError, PySparkException) as exc:
        text = str(exc).replace(password, "********") if password else str(exc)
        # Spark wraps the driver's exception in Py4J's "An error occurred while calling o45.load." and a JVM stack
        # trace; the first "SomeException: message" line names the cause (Py4J's own wrapper skipped).
        found = [*_NEO4J_CAUSE.finditer(text)] or [m for m in _CAUSE.finditer(text) if m.group(1) != "Py4JJavaError"]
        cause = f"{found[0].group(1)}: {found[0].group(2).rstrip('.')}" if found else text.strip().splitlines()[0]
        hint = " Wrong user name or password?" if found and found[0].group(1) == "AuthenticationException" else ""
        raise StoreError(
            f"Neo4j at {_display_uri(uri)} failed while {action} through the Spark connector: {cause[:500]}.{hint} "
            f"{_FIX}"
        ) from None


def _reader(spark: SparkSession, options: Mapping[str, str]) -> DataFrameReader:
    return spark.read.format(_FORMAT).options(**options)


def _save(frame: DataFrame, options: Mapping[str, str], statement: str, batch_size: int) -> None:
    (
        frame.write.format(_FORMAT)
        .mode("Append")
        .options(**options)
        .option("query", statement)
        .option("batch.size", str(batch_size))
        .save()
    )


# ---------------------------------------------------------------------------------------------------- read


def _target_schema(spark: SparkSession, table: Table) -> StructType:
    """The columns and Spark types :func:`.io.read_tables` gives ``table`` (pseudonymised columns left out)."""
    from graphrisk.engines.spark.io import _empty

    return _empty(spark, table).schema


def _read_table(spark: SparkSession, options: Mapping[str, str], table: Table, partitions: int) -> DataFrame:
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructField, StructType

    target = _target_schema(spark, table)
    reader = _reader(spark, options).option("partitions", str(partitions))
    if table.kind in ("node", "facility"):
        # A facility node carries its borrower_id: the label read gives what the HAS_FACILITY export gives.
        frame = reader.schema(target).option("labels", f":{table.label}").load()
        return frame.select(*target.fieldNames())
    # The connector names a relationship read's columns source.<property>, target.<property>, rel.<property>.
    ends = {table.source: "source.id", table.target: "target.id"}
    fields = [StructField(ends.get(f.name, f"rel.{f.name}"), f.dataType, True) for f in target.fields]
    frame = (
        reader.schema(StructType(fields))
        .option("relationship", table.rel_type)
        .option("relationship.source.labels", f":{_endpoint_label(table.column(table.source))}")
        .option("relationship.target.labels", f":{_endpoint_label(table.column(table.target))}")
        .option("relationship.nodes.map", "false")
        .load()
    )
    return frame.select(*[F.col(f"`{s.name}`").alias(t.name) for s, t in zip(fields, target.fields, strict=True)])


def read_tables_from_neo4j(
    spark: SparkSession,
    uri: str,
    user: str,
    password: str,
    database: str | None = None,
    *,
    partitions: int = 1,
) -> dict[str, DataFrame]:
    """Every table of the schema from the graph ``graphrisk load`` wrote, as :func:`.io.read_tables` gives them.

    Same table names, columns (pseudonymised ones left out: persons have no ``id_number``) and Spark types.
    A table with nothing in the graph is an empty DataFrame. Reading is lazy; a ``RETURN 1`` through the
    connector runs first, so a wrong URI or password fails here as a :class:`StoreError` rather than in the
    middle of a step. ``partitions`` > 1 splits each read into that many ``SKIP``/``LIMIT`` pages (ordered by
    internal id, one connector task each); one page per table suits a single Neo4j server.

    >>> tables = read_tables_from_neo4j(spark, uri, "neo4j", password)  # doctest: +SKIP
    >>> sorted(tables)  # doctest: +SKIP
    ['enterprises', 'exposures', 'guarantees', 'officers', 'persons', 'shareholdings', 'supply_links']
    """
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    options = _options(uri, user, password, database)
    with _errors(uri, password, "connecting"):
        _reader(spark, options).option("query", _cypher("ping.cypher")).load().collect()
    out: dict[str, DataFrame] = {}
    for table in SCHEMA:
        with _errors(uri, password, f"reading {table.name}"):
            out[table.name] = _read_table(spark, options, table, partitions)
    return out


# --------------------------------------------------------------------------------------------------- write


def counterparty_group_events(groups: DataFrame, run_id: str, algorithm: str = "counterparty_groups") -> DataFrame:
    """Events for ``cypher/spark/counterparty_groups.cypher``: one per member, with its group's figures.

    ``groups`` is the Spark engine's group table (``group_id``, ``member_id``, ``ead`` per member: the output
    of ``scan._numbered_groups``). The event carries what the embedded ``groups.writeback_rows`` gives:
    ``ead`` is the group's total and ``members`` its size. Columns the Spark engine does not compute yet
    (``basis``, ``evidence``; the large-exposure figures ``ratio_to_tier1``, ``limit_status``,
    ``large_exposure``) are taken from ``groups`` when it has them and are null otherwise, which leaves the
    property unset, as the embedded write-back does for a missing value.

    >>> counterparty_group_events(groups, "r1").columns  # doctest: +SKIP
    ['group_id', 'member_id', 'basis', 'evidence', 'ead', 'members', 'ratio_to_tier1', 'limit_status', \
'large_exposure', 'run_id', 'algorithm']
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    def given(name: str, spark_type: str) -> SparkColumn:
        value = F.col(name) if name in groups.columns else F.lit(None)
        return value.cast(spark_type).alias(name)

    group = Window.partitionBy("group_id")
    return groups.select(
        F.col("group_id").cast("string").alias("group_id"),
        F.col("member_id").cast("string").alias("member_id"),
        given("basis", "string"),
        given("evidence", "string"),
        F.sum(F.coalesce(F.col("ead").cast("double"), F.lit(0.0))).over(group).alias("ead"),
        F.count("*").over(group).alias("members"),
        given("ratio_to_tier1", "double"),
        given("limit_status", "string"),
        given("large_exposure", "boolean"),
        F.lit(run_id).alias("run_id"),
        F.lit(algorithm).alias("algorithm"),
    )


@dataclass(frozen=True)
class Writeback:
    """One result the Spark scan writes back: its statement, the stale-removal statement run after it (both in
    ``cypher/spark/``), the events builder ``(frame, run_id, algorithm) -> DataFrame`` and the column the events
    are partitioned by, so that no two connector tasks write the same derived node."""

    statement: str
    stale: str
    events: Callable[[DataFrame, str, str], DataFrame]
    partition_by: str


# Result name (the embedded analysis's name, written as `algorithm`) → how it is written back.
WRITEBACK: dict[str, Writeback] = {
    "counterparty_groups": Writeback(
        "counterparty_groups.cypher", "counterparty_groups_stale.cypher", counterparty_group_events, "group_id"
    ),
}


def write_back(
    frames: Mapping[str, DataFrame],
    uri: str,
    user: str,
    password: str,
    run_id: str,
    *,
    database: str | None = None,
    batch_size: int = 5_000,
) -> dict[str, int]:
    """Write the Spark scan's results to Neo4j with ``run_id``; returns the events written per result.

    ``frames`` maps a result name of :data:`WRITEBACK` (``"counterparty_groups"``: the numbered group table)
    to its DataFrame. For each, in the order given: the events are written (``batch_size`` per transaction,
    one connector task per partition, partitions split by group so that tasks never contend for one node),
    then one event removes what other runs wrote, as the embedded scan's ``_stale`` statements do. Writing
    the same run again changes nothing. The graph must hold the firms (``graphrisk load``) and the schema's
    constraints (the load creates them): members are matched by id, groups merged on ``group_id``.
    """
    unknown = sorted(set(frames) - set(WRITEBACK))
    if unknown:
        raise ValueError(f"no Spark write-back for {', '.join(unknown)}; known: {', '.join(sorted(WRITEBACK))}")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    options = _options(uri, user, password, database)
    counts: dict[str, int] = {}
    for name, frame in frames.items():
        spec = WRITEBACK[name]
        events = spec.events(frame, run_id, name).repartition(spec.partition_by).cache()
        try:
            with _errors(uri, password, f"writing {name}"):
                counts[name] = int(events.count())  # the figure the embedded write-back reports: rows sent
                _save(events, options, _cypher(spec.statement), batch_size)
        finally:
            events.unpersist()
        marker = frame.sparkSession.createDataFrame([(run_id,)], "run_id string").coalesce(1)
        with _errors(uri, password, f"removing other runs' {name}"):
            _save(marker, options, _cypher(spec.stale), batch_size)
    return counts
