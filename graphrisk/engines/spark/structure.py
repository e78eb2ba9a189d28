"""The embedded ``structure`` and ``graph_summary`` analyses on Spark: degrees per relation, connected components
of the whole relation graph, degree statistics, ``hub`` flags, and the graph's counts.

=====================================  ===========================================================================
output                                 where it runs
=====================================  ===========================================================================
``degrees`` (one row per node)         a group-by per relation and end, joined to the nodes
``components`` (two or more nodes)     :func:`~graphrisk.engines.spark.graph.connected_components` over every
                                       relation; sizes, edges, EAD and anchor by group-bys; numbered by a sort of
                                       the per-component table (size descending, then smallest member)
``degree_stats``                       one aggregation per relation and direction (exact percentiles, numpy's
                                       linear interpolation)
``hub`` flags                          a filter of the degrees; texts as column expressions
graph counts                           counts and one sum
=====================================  ===========================================================================

Node order is the embedded graph's: enterprises first, then persons, each by id, so component numbers (ties in
size broken by the smallest member) and anchors (ties in EAD broken by the first member) are the embedded ones.
Only the per-relation statistics (16 rows) and the counts reach the driver.

>>> out = structure_analysis(tables, Config())  # doctest: +SKIP
>>> out["components"].orderBy("component_id").first()["size"]  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphrisk.analysis.structure import _RELATION_WORDS
from graphrisk.config import Config
from graphrisk.schema import SCHEMA

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["graph_counts", "structure_analysis"]

_RELATIONS = [(t.relation, t.name, t.source, t.target) for t in SCHEMA.relation_tables]


def _F():  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    return F


def _nodes(tables: dict[str, DataFrame]) -> DataFrame:
    """``id, kind, rank`` (0 enterprise, 1 person): the embedded node order is (rank, id)."""
    F = _F()
    ent = tables["enterprises"].select("id", F.lit("enterprise").alias("kind"), F.lit(0).alias("rank"))
    per = tables["persons"].select("id", F.lit("person").alias("kind"), F.lit(1).alias("rank"))
    return ent.unionByName(per)


def _edges(tables: dict[str, DataFrame]) -> DataFrame:
    """``relation, src, dst`` of every relation row (parallel rows count, as in the embedded adjacency)."""
    F = _F()
    out = None
    for relation, table, source, target in _RELATIONS:
        part = tables[table].select(F.lit(relation).alias("relation"), F.col(source).alias("src"),
                                    F.col(target).alias("dst"))  # fmt: skip
        out = part if out is None else out.unionByName(part)
    assert out is not None
    return out


def graph_counts(tables: dict[str, DataFrame]) -> dict[str, Any]:
    """The embedded ``graph_summary``: nodes, enterprises, persons, edges per relation, facilities, total EAD."""
    F = _F()
    enterprises, persons = tables["enterprises"].count(), tables["persons"].count()
    exposures = tables["exposures"].agg(F.count(F.lit(1)).alias("n"), F.sum("ead").alias("ead")).first()
    return {
        "nodes": int(enterprises + persons),
        "enterprises": int(enterprises),
        "persons": int(persons),
        "edges": {relation: int(tables[table].count()) for relation, table, _, _ in _RELATIONS},
        "facilities": int(exposures["n"]) if exposures else 0,
        "total_ead": float(exposures["ead"] or 0.0) if exposures else 0.0,
    }


def structure_analysis(tables: dict[str, DataFrame], config: Config | None = None) -> dict[str, Any]:
    """``degrees``, ``components``, ``degree_stats`` and ``flags`` (DataFrames, in no particular order) and
    ``summary`` (the embedded summary dict) of the embedded ``structure`` analysis."""
    from pyspark.sql import Window

    from graphrisk.engines.spark.graph import connected_components

    F = _F()
    cfg = config or Config()
    hub_degree = int(cfg.threshold("hub_degree"))
    large = int(cfg.threshold("large_component_size"))
    nodes = _nodes(tables).cache()
    edges = _edges(tables).cache()

    # Degrees: one group-by per end, pivoted onto the relation columns.
    names: list[Any] = [f"{r}_{d}" for r, _, _, _ in _RELATIONS for d in ("out", "in")]
    ends = edges.select("relation", F.col("src").alias("id"), F.lit("out").alias("end")).unionByName(
        edges.select("relation", F.col("dst").alias("id"), F.lit("in").alias("end"))
    )
    counts = ends.withColumn("key", F.concat_ws("_", "relation", "end")).groupBy("id").pivot("key", names).count()
    deg = nodes.join(counts, "id", "left").select(
        "id", "kind", "rank", *[F.coalesce(F.col(n), F.lit(0)).cast("long").alias(n) for n in names]
    )
    deg = deg.withColumn("degree", sum((F.col(n) for n in names), F.lit(0).cast("long"))).cache()

    # Components over every relation; isolated nodes are their own.
    pairs = edges.select("src", "dst").where(F.col("src") != F.col("dst")).distinct()
    comp = connected_components(pairs, nodes.select("id"))
    members = (
        deg.join(comp, "id")
        .join(
            tables["exposures"].groupBy(F.col("borrower_id").alias("id")).agg(F.sum("ead").alias("ead")), "id", "left"
        )
        .withColumn("ead", F.coalesce("ead", F.lit(0.0)))
    )
    members = members.cache()
    per = members.groupBy("component").agg(
        F.count(F.lit(1)).alias("size"),
        F.sum(F.when(F.col("kind") == "enterprise", 1).otherwise(0)).cast("long").alias("enterprises"),
        F.sum("ead").alias("total_ead"),
        F.min(F.struct("rank", "id")).alias("first"),
        # The anchor: the enterprise with the largest EAD, ties to the first in node order.
        F.min(F.when(F.col("kind") == "enterprise", F.struct((-F.col("ead")).alias("e"), "id"))).alias("top"),
    )
    numbered = per.withColumn(
        "component_id",
        F.row_number().over(Window.orderBy(F.col("size").desc(), F.col("first.rank"), F.col("first.id"))) - 1,
    ).cache()
    edge_counts = (
        edges.join(members.select(F.col("id").alias("src"), "component"), "src")
        .groupBy("component")
        .pivot("relation", [str(r) for r, _, _, _ in _RELATIONS])
        .count()
    )
    components = (
        numbered.where(F.col("size") >= 2)
        .join(edge_counts, "component", "left")
        .select(
            "component_id",
            "size",
            "enterprises",
            (F.col("size") - F.col("enterprises")).alias("persons"),
            *[F.coalesce(F.col(r), F.lit(0)).cast("long").alias(f"{r}_edges") for r, _, _, _ in _RELATIONS],
            "total_ead",
            F.col("top.id").alias("anchor_id"),
        )
    )
    degrees = (
        deg.join(members.select("id", "component"), "id")
        .join(numbered.select("component", "component_id"), "component")
        .select(F.col("id").alias("entity_id"), "kind", *names, "degree", "component_id", "rank")
    )

    # Statistics per relation and direction over the entities with at least one such relation.
    stats_rows: list[tuple[Any, ...]] = []
    aggs = []
    for n in names:
        nz = F.when(F.col(n) > 0, F.col(n))
        aggs += [
            F.count(nz).alias(f"{n}__n"),
            F.avg(nz).alias(f"{n}__mean"),
            F.percentile(nz, F.lit(0.5)).alias(f"{n}__median"),
            F.percentile(nz, F.lit(0.99)).alias(f"{n}__p99"),
            F.max(n).alias(f"{n}__max"),
        ]
    row = deg.agg(*aggs).first()
    assert row is not None
    for n in names:
        relation, direction = n.rsplit("_", 1)
        stats_rows.append(
            (relation, direction, int(row[f"{n}__n"]), float(row[f"{n}__mean"] or 0.0),
             float(row[f"{n}__median"] or 0.0), float(row[f"{n}__p99"] or 0.0), int(row[f"{n}__max"] or 0))
        )  # fmt: skip
    spark = deg.sparkSession
    degree_stats = spark.createDataFrame(
        stats_rows, "relation string, direction string, entities_with_any long, mean double, median double, "
        "p99 double, max long"
    )  # fmt: skip

    # Hub flags: an enterprise with at least hub_degree relations of one kind, in one direction.
    flag_parts = []
    for n in names:
        relation, direction = n.rsplit("_", 1)
        words = _RELATION_WORDS[(relation, direction)]
        hubs = deg.where((F.col("kind") == "enterprise") & (F.col(n) >= hub_degree))
        flag_parts.append(
            hubs.select(
                F.col("id").alias("entity_id"),
                F.lit("hub").alias("flag"),
                F.lit("low").alias("severity"),
                F.format_string(f"{words} %d entities (threshold hub_degree = {hub_degree})", F.col(n)).alias("reason"),
                F.format_string(
                    f'{{"relation": "{relation}", "direction": "{direction}", "degree": %d, "threshold": '
                    f"{hub_degree}}}",
                    F.col(n),
                ).alias("evidence"),
            )
        )
    flags = flag_parts[0]
    for part in flag_parts[1:]:
        flags = flags.unionByName(part)
    flags = flags.cache()

    sizes = components.agg(
        F.count(F.lit(1)).alias("n"),
        F.max("size").alias("largest"),
        F.sum(F.when(F.col("enterprises") >= large, 1).otherwise(0)).alias("large"),
    ).first()
    isolated = deg.where(F.col("degree") == 0).count()
    summary = {
        "components": int(sizes["n"]) if sizes else 0,
        "largest_component": int(sizes["largest"] or 0) if sizes else 0,
        "large_components": int(sizes["large"] or 0) if sizes else 0,
        "large_component_threshold": large,
        "isolated_entities": int(isolated),
        "hubs": int(flags.count()),
        "hub_threshold": hub_degree,
    }
    return {
        "degrees": degrees,
        "components": components,
        "degree_stats": degree_stats,
        "flags": flags,
        "summary": summary,
    }
