"""Graph algorithms on DataFrames of string ids.

GraphFrames is not served by the Maven repository this project reaches (see ``scripts/spark.py``), so the
connected components are our own DataFrame implementation of the alternating large-star / small-star algorithm
(Kiveris, Lattanzi, Mirrokni, Rastogi, Vassilvitskii, "Connected Components in MapReduce and Beyond", SoCC
2014): O(log² n) rounds of joins and group-bys, each linear in the edges; ids are compared as strings, so the
label of a component is its smallest id.

Strongly connected components are computed per batch of whole weakly connected components (``applyInPandas``,
scipy on the executor): the work of a task is bounded by the largest weak component plus its batch's share of the
others; only whole components' edges meet in one task, nothing goes to the driver.

>>> # doctest: +SKIP
>>> connected_components(spark.createDataFrame([("A", "B"), ("C", "B"), ("D", "E")], "src string, dst string"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["connected_components", "strong_components"]

_MAX_ROUNDS = 200  # log² of 10^9 is under 1000; 200 alternations is far beyond any real graph's need


def _oriented(edges: DataFrame) -> DataFrame:
    """Undirected edges as (u, v) with u > v, no loops, no duplicates."""
    from pyspark.sql import functions as F

    return (
        edges.select(F.greatest("src", "dst").alias("u"), F.least("src", "dst").alias("v"))
        .where(F.col("u") != F.col("v"))
        .distinct()
    )


def _large_star(e: DataFrame) -> DataFrame:
    """Every node links its larger neighbours to the smallest of its neighbourhood (itself included)."""
    from pyspark.sql import functions as F

    both = e.select("u", "v").unionByName(e.select(F.col("v").alias("u"), F.col("u").alias("v")))
    low = both.groupBy("u").agg(F.least(F.min("v"), F.first("u")).alias("m"))
    return (
        both.where(F.col("v") > F.col("u"))
        .join(low, "u")
        .select(F.col("v").alias("u"), F.col("m").alias("v"))
        .distinct()
    )


def _small_star(e: DataFrame) -> DataFrame:
    """Every node links itself and its smaller neighbours to the smallest of them."""
    from pyspark.sql import functions as F

    low = e.groupBy("u").agg(F.min("v").alias("m"))
    moved = e.join(low, "u").select(F.col("v").alias("u"), F.col("m").alias("v")).where(F.col("u") != F.col("v"))
    return moved.unionByName(low.select("u", F.col("m").alias("v"))).distinct()


def connected_components(
    edges: DataFrame, vertices: DataFrame | None = None, *, stats: dict[str, list[int]] | None = None
) -> DataFrame:
    """``id, component`` for every endpoint of ``edges`` (columns ``src``, ``dst``, direction ignored) and every
    row of ``vertices`` (column ``id``; an isolated vertex is its own component). ``component`` is the smallest id
    of the component. ``stats["rounds"]`` (when given) gets the number of large-star/small-star rounds: the
    figure that grows with the data (O(log² n)) and that the sizing note quotes."""
    from pyspark.sql import functions as F

    e = _oriented(edges).localCheckpoint()
    for n_round in range(_MAX_ROUNDS):
        e = _small_star(_large_star(e)).localCheckpoint()
        # Converged when the edges are stars around their roots: one parent per node and no parent has a parent.
        # Both tests in one job: a round costs its checkpoint and this one count.
        many = e.groupBy("u").count().where(F.col("count") > 1).select("u")
        nested = e.select(F.col("v").alias("u")).distinct().join(e.select("u").distinct(), "u")
        if many.unionByName(nested).limit(1).count() == 0:
            if stats is not None:
                stats.setdefault("rounds", []).append(n_round + 1)
            break
    else:  # pragma: no cover - the algorithm converges in O(log² n) rounds
        raise RuntimeError(f"connected components did not converge in {_MAX_ROUNDS} rounds")
    labels = e.select(F.col("u").alias("id"), F.col("v").alias("component"))
    roots = e.select(F.col("v").alias("id"), F.col("v").alias("component"))
    ends = edges.select(F.col("src").alias("id")).unionByName(edges.select(F.col("dst").alias("id")))
    if vertices is not None:
        ends = ends.unionByName(vertices.select("id"))
    found = labels.unionByName(roots).distinct()
    return ends.distinct().join(found, "id", "left").select("id", F.coalesce("component", "id").alias("component"))


def _scc_of_component(frame: pd.DataFrame) -> pd.DataFrame:
    """Strong components of the edges of one or more whole weak components: ``id, scc`` for members of strong
    components of 2+ nodes."""
    import scipy.sparse as sp
    from scipy.sparse import csgraph

    ids, codes = np.unique(np.concatenate([frame["src"].to_numpy(), frame["dst"].to_numpy()]), return_inverse=True)
    n, m = len(ids), len(frame)
    adj = sp.coo_array((np.ones(m), (codes[:m], codes[m:])), shape=(n, n)).tocsr()
    _, labels = csgraph.connected_components(adj, directed=True, connection="strong")
    sizes = np.bincount(labels)
    keep = sizes[labels] >= 2
    first: dict[int, str] = {}
    for i in np.flatnonzero(keep):  # ids ascend, so the first seen is the smallest member
        first.setdefault(int(labels[i]), ids[i])
    # object dtype: pandas 3 infers Arrow-backed strings, which pyspark 3.5's Arrow serializer cannot take.
    scc = [first[int(labels[i])] for i in np.flatnonzero(keep)]
    return pd.DataFrame({"id": pd.Series(ids[keep], dtype=object), "scc": pd.Series(scc, dtype=object)})


def strong_components(edges: DataFrame, components: DataFrame, *, batches: int | None = None) -> DataFrame:
    """``id, scc`` for every node in a strongly connected component of two or more nodes; ``scc`` is its
    smallest id. ``components`` is :func:`connected_components` of the same edges.

    Every edge of a weak component must meet in one task, but a strong component never spans two weak ones, so a
    task takes a batch of whole weak components (``pmod(xxhash64(component), batches)``, default
    ``spark.sql.shuffle.partitions``) and runs scipy once on the batch's edges: one Python call per batch, not one
    per component (most components are pairs, and a call costs more than their work)."""
    from pyspark.sql import functions as F

    spark = edges.sparkSession
    n = batches or int(spark.conf.get("spark.sql.shuffle.partitions") or "4")
    by_comp = edges.join(components.withColumnRenamed("id", "src"), "src").select("component", "src", "dst")
    batch = F.pmod(F.xxhash64("component"), F.lit(n)).alias("batch")
    return (
        by_comp.select(batch, "src", "dst")
        .groupBy("batch")
        .applyInPandas(lambda f: _scc_of_component(f[["src", "dst"]]), schema="id string, scc string")
        .where(F.col("id").isNotNull())
    )
