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
``cypher/spark/`` (the embedded ones take ``$rows`` and ``$run_id``). Written: everything the embedded scan writes
back (risk scores, counterparty groups, risk clusters, suspected links, same-name person candidates, guarantee
patterns, contagion scores, actual controllers), each with its events builder in :data:`WRITEBACK`.

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
from datetime import date
from importlib.resources import files
from typing import TYPE_CHECKING

from graphrisk.errors import StoreError
from graphrisk.schema import SCHEMA, Table, _endpoint_label

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame, DataFrameReader, SparkSession
    from pyspark.sql.types import StructType

__all__ = [
    "WRITEBACK",
    "Writeback",
    "contagion_score_events",
    "counterparty_group_events",
    "guarantee_pattern_events",
    "ownership_control_events",
    "person_candidate_events",
    "read_tables_from_neo4j",
    "risk_cluster_events",
    "scan_risk_events",
    "suspected_link_events",
    "write_back",
]

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


def _as_of_column(as_of: date | None, name: str) -> SparkColumn:
    """The scan's date as a Spark date (a Neo4j ``Date``, as the driver writes the embedded ``as_of``)."""
    from pyspark.sql import functions as F

    if as_of is None:
        raise ValueError(f"{name}: the write-back needs the scan's as_of date")
    return F.lit(as_of).cast("date").alias("as_of")


def _run(run_id: str, algorithm: str) -> list[SparkColumn]:
    from pyspark.sql import functions as F

    return [F.lit(run_id).alias("run_id"), F.lit(algorithm).alias("algorithm")]


def scan_risk_events(scores: DataFrame, run_id: str, algorithm: str = "scan") -> DataFrame:
    """Events for ``cypher/spark/scan_risk.cypher``: one per flagged entity, as ``graphrisk.scan.flag_rows_for_neo4j``.

    ``scores`` is ``flags.risk_scores`` (``entity_id``, ``risk_score``, ``severity``, ``flags``, ``reasons``);
    the flag codes go as a list, split on ``;`` as the embedded rows split them.

    >>> scan_risk_events(scores, "r1").columns  # doctest: +SKIP
    ['id', 'risk_score', 'risk_severity', 'risk_flags', 'reasons', 'run_id', 'algorithm']
    """
    from pyspark.sql import functions as F

    return scores.select(
        F.col("entity_id").cast("string").alias("id"),
        F.col("risk_score").cast("double").alias("risk_score"),
        F.col("severity").cast("string").alias("risk_severity"),
        F.split(F.col("flags").cast("string"), ";").alias("risk_flags"),
        F.col("reasons").cast("string").alias("reasons"),
        *_run(run_id, algorithm),
    )


def risk_cluster_events(clusters: DataFrame, run_id: str, algorithm: str = "risk_clusters") -> DataFrame:
    """Events for ``cypher/spark/risk_clusters.cypher``: one per cluster with its member ids as a list, as the
    embedded ``clusters.writeback_rows``. ``clusters`` is ``clusters_analysis``'s ``clusters`` table.

    >>> risk_cluster_events(clusters, "r1").columns  # doctest: +SKIP
    ['cluster_id', 'score', 'severity', 'size', 'reasons', 'members', 'run_id', 'algorithm']
    """
    from pyspark.sql import functions as F

    return clusters.select(
        F.col("cluster_id").cast("string").alias("cluster_id"),
        F.col("score").cast("double").alias("score"),
        F.col("severity").cast("string").alias("severity"),
        F.col("size").cast("long").alias("size"),
        F.col("reasons").cast("string").alias("reasons"),
        F.split(F.col("members").cast("string"), ";").alias("members"),
        *_run(run_id, algorithm),
    )


def suspected_link_events(
    links: DataFrame, run_id: str, algorithm: str = "hidden_links", *, as_of: date | None = None
) -> DataFrame:
    """Events for ``cypher/spark/hidden_links_suspected.cypher``: one per suspected pair with the scan's date, as
    the embedded hidden-links rows. ``links`` is ``hidden_links_analysis``'s ``suspected_links`` table.

    >>> suspected_link_events(links, "r1", as_of=date(2026, 6, 30)).columns  # doctest: +SKIP
    ['a_id', 'b_id', 'score', 'reasons', 'signals', 'as_of', 'run_id', 'algorithm']
    """
    from pyspark.sql import functions as F

    return links.select(
        F.col("a_id").cast("string").alias("a_id"),
        F.col("b_id").cast("string").alias("b_id"),
        F.col("score").cast("double").alias("score"),
        F.col("reasons").cast("string").alias("reasons"),
        F.col("signals").cast("string").alias("signals"),
        _as_of_column(as_of, "hidden_links_suspected"),
        *_run(run_id, algorithm),
    )


def person_candidate_events(
    candidates: DataFrame, run_id: str, algorithm: str = "hidden_links", *, as_of: date | None = None
) -> DataFrame:
    """Events for ``cypher/spark/hidden_links_person_candidates.cypher``: the same-name pairs judged ``same`` or
    ``unsure`` (distinct ones are settled and stay out of the graph), as the embedded rows.
    ``candidates`` is ``hidden_links_analysis``'s ``person_candidates`` table.

    >>> person_candidate_events(candidates, "r1", as_of=date(2026, 6, 30)).columns  # doctest: +SKIP
    ['a_id', 'b_id', 'name', 'score', 'judgement', 'evidence', 'as_of', 'run_id', 'algorithm']
    """
    from pyspark.sql import functions as F

    review = candidates.where(~F.col("judgement").eqNullSafe("distinct"))
    return review.select(
        F.col("a_id").cast("string").alias("a_id"),
        F.col("b_id").cast("string").alias("b_id"),
        F.col("name").cast("string").alias("name"),
        F.col("score").cast("double").alias("score"),
        F.col("judgement").cast("string").alias("judgement"),
        F.col("evidence").cast("string").alias("evidence"),
        _as_of_column(as_of, "hidden_links_person_candidates"),
        *_run(run_id, algorithm),
    )


def guarantee_pattern_events(
    patterns: DataFrame, run_id: str, algorithm: str = "guarantees", *, as_of: date | None = None
) -> DataFrame:
    """Events for ``cypher/spark/guarantee_patterns.cypher``: one per (pattern, member) with the member's position
    in the pattern's ``;``-joined ``members``, as the embedded ``guarantees.writeback_rows_from_table``.
    ``patterns`` is ``guarantee_analysis``'s ``guarantee_patterns`` table.

    >>> guarantee_pattern_events(patterns, "r1", as_of=date(2026, 6, 30)).columns  # doctest: +SKIP
    ['pattern_id', 'pattern', 'member', 'position', 'guaranteed_amount', 'ead', 'reason', 'as_of', 'run_id', \
'algorithm']
    """
    from pyspark.sql import functions as F

    exploded = patterns.select("*", F.posexplode(F.split(F.col("members").cast("string"), ";")).alias("_k", "_m"))
    return exploded.select(
        F.col("pattern_id").cast("string").alias("pattern_id"),
        F.col("pattern").cast("string").alias("pattern"),
        F.col("_m").alias("member"),
        F.col("_k").cast("long").alias("position"),
        F.col("guaranteed_amount").cast("double").alias("guaranteed_amount"),
        F.col("ead").cast("double").alias("ead"),
        F.col("reason").cast("string").alias("reason"),
        _as_of_column(as_of, "guarantee_patterns"),
        *_run(run_id, algorithm),
    )


def contagion_score_events(contagion: DataFrame, run_id: str, algorithm: str = "contagion") -> DataFrame:
    """Events for ``cypher/spark/contagion_scores.cypher``: the firms the network touches (network PD above the
    standalone PD, or ranked for systemic importance), as the embedded contagion rows; the others would carry
    nothing but ``network_pd = pd``. ``contagion`` is ``contagion_analysis``'s ``contagion`` table.

    >>> contagion_score_events(contagion, "r1").columns  # doctest: +SKIP
    ['id', 'network_pd', 'systemic_debtrank', 'systemic_rank', 'firms_hit', 'loss_if_default', 'run_id', \
'algorithm']
    """
    from pyspark.sql import functions as F

    scored = contagion.where(
        F.col("network_pd").isNotNull() & ((F.col("network_pd") > F.col("pd")) | F.col("systemic_debtrank").isNotNull())
    )
    return scored.select(
        F.col("id").cast("string").alias("id"),
        F.col("network_pd").cast("double").alias("network_pd"),
        F.col("systemic_debtrank").cast("double").alias("systemic_debtrank"),
        F.col("rank").cast("long").alias("systemic_rank"),
        F.col("firms_hit").cast("long").alias("firms_hit"),
        F.col("loss_if_default").cast("double").alias("loss_if_default"),
        *_run(run_id, algorithm),
    )


def ownership_control_events(controllers: DataFrame, run_id: str, algorithm: str = "ownership") -> DataFrame:
    """Events for ``cypher/spark/ownership_controls.cypher``: one CONTROLS relation per company with an identified
    controller other than itself (a state body is not written as controlling itself), as the embedded
    ``ownership.controls_rows``. ``controllers`` is ``ownership.actual_controllers``.

    >>> ownership_control_events(controllers, "r1").columns  # doctest: +SKIP
    ['controller_id', 'company_id', 'share', 'rule', 'path', 'run_id', 'algorithm']
    """
    from pyspark.sql import functions as F

    c = controllers.where(F.col("controller_id").isNotNull() & (F.col("controller_id") != F.col("company_id")))
    return c.select(
        F.col("controller_id").cast("string").alias("controller_id"),
        F.col("company_id").cast("string").alias("company_id"),
        F.col("control_share").cast("double").alias("share"),
        F.col("rule").cast("string").alias("rule"),
        F.col("path").cast("string").alias("path"),
        *_run(run_id, algorithm),
    )


@dataclass(frozen=True)
class Writeback:
    """One result the Spark scan writes back: its statement, the stale-removal statement run after it (both in
    ``cypher/spark/``), the events builder ``(frame, run_id, algorithm[, as_of=])``, the ``algorithm`` written
    (the embedded analysis's name), whether the events carry the scan's date, and the column the events are
    partitioned by so that no two connector tasks write the same node or relationship. ``None`` means one
    partition: results whose relationships share end nodes across rows (one firm in many suspected links or
    patterns, one controller of many companies). Creating a relationship locks both end nodes, and concurrent
    tasks locking them in different orders deadlock (the connector's documentation asks for one partition for
    such writes); one writer against one Neo4j server costs little."""

    statement: str
    stale: str
    events: Callable[..., DataFrame]
    partition_by: str | None
    algorithm: str
    dated: bool = False


def _spec(name: str, events: Callable[..., DataFrame], partition_by: str | None, algorithm: str,
          *, dated: bool = False) -> Writeback:  # fmt: skip
    return Writeback(f"{name}.cypher", f"{name}_stale.cypher", events, partition_by, algorithm, dated)


# Result name → how it is written back; the partition columns keep every node one task's (see Writeback).
WRITEBACK: dict[str, Writeback] = {
    # One event per entity: any split is safe; by id keeps it explicit.
    "scan_risk": _spec("scan_risk", scan_risk_events, "id", "scan"),
    # A firm is in at most one group / cluster: split by group, its members' nodes are touched by one task.
    "counterparty_groups": _spec("counterparty_groups", counterparty_group_events, "group_id", "counterparty_groups"),
    "risk_clusters": _spec("risk_clusters", risk_cluster_events, "cluster_id", "risk_clusters"),
    "hidden_links_suspected": _spec("hidden_links_suspected", suspected_link_events, None, "hidden_links", dated=True),
    "hidden_links_person_candidates": _spec(
        "hidden_links_person_candidates", person_candidate_events, None, "hidden_links", dated=True
    ),
    "guarantee_patterns": _spec("guarantee_patterns", guarantee_pattern_events, None, "guarantees", dated=True),
    "contagion_scores": _spec("contagion_scores", contagion_score_events, "id", "contagion"),
    "ownership_controls": _spec("ownership_controls", ownership_control_events, None, "ownership"),
}


def write_back(
    frames: Mapping[str, DataFrame],
    uri: str,
    user: str,
    password: str,
    run_id: str,
    *,
    as_of: date | None = None,
    database: str | None = None,
    batch_size: int = 5_000,
) -> dict[str, int]:
    """Write the Spark scan's results to Neo4j with ``run_id``; returns the events written per result.

    ``frames`` maps a result name of :data:`WRITEBACK` to the Spark scan's frame it is built from:
    ``scan_risk`` (``flags.risk_scores``), ``counterparty_groups`` (``groups_analysis``'s ``groups_writeback``
    or the numbered group table), ``risk_clusters`` (``clusters``), ``hidden_links_suspected``
    (``suspected_links``), ``hidden_links_person_candidates`` (``person_candidates``), ``guarantee_patterns``,
    ``contagion_scores`` (``contagion``) and ``ownership_controls`` (``actual_controllers``). Suspected links,
    person candidates and patterns carry the scan's date: ``as_of`` is required with them.

    For each result, in the order given: the events are written (``batch_size`` per transaction, one connector
    task per partition, split as :class:`Writeback` says so that tasks never contend for one node), then one
    event removes what other runs wrote, as the embedded scan's ``_stale`` statements do. Writing the same run
    again changes nothing. The graph must hold the firms and persons (``graphrisk load``) and the schema's
    constraints (the load creates them): entities are matched by id.
    """
    unknown = sorted(set(frames) - set(WRITEBACK))
    if unknown:
        raise ValueError(f"no Spark write-back for {', '.join(unknown)}; known: {', '.join(sorted(WRITEBACK))}")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    missing = [name for name in frames if WRITEBACK[name].dated and as_of is None]
    if missing:
        raise ValueError(f"{', '.join(missing)}: the write-back needs the scan's as_of date")
    options = _options(uri, user, password, database)
    counts: dict[str, int] = {}
    for name, frame in frames.items():
        spec = WRITEBACK[name]
        dated = {"as_of": as_of} if spec.dated else {}
        built = spec.events(frame, run_id, spec.algorithm, **dated)
        split = built.repartition(spec.partition_by) if spec.partition_by else built.repartition(1)
        events = split.cache()
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
