"""Risky clusters (风险团簇) on Spark: the embedded ``risk_clusters`` tables and flags, by component of the risk graph.

The embedded analysis (:mod:`graphrisk.analysis.clusters`) ties firms by active guarantees, actual control,
suspected links and strong supply dependence, cuts the components of that graph into communities (Leiden CPM) and
scores each community. Every figure of a cluster depends only on the component it was cut from, so the work is
split:

=====================================  ===========================================================================
what                                   where
=====================================  ===========================================================================
the risk graph's ties (four relations  distributed: joins and group-bys of ``tables`` and the earlier analyses'
with their weights), firm facts        outputs (controllers, suspected links, guarantee circles and cycles,
(EAD, PD, network PD, circles …)       contagion PDs)
components of the risk graph           distributed: :func:`.graph.connected_components` (joins, O(log² n) rounds)
matrix, Leiden, small-community        ``cogroup(...).applyInPandas`` on the executors, grouped by batch of whole
merge, indicators, score, reasons,     components: the embedded ``_symmetric``, ``risk_clusters``,
members' roles and strength            ``cluster_indicators``, ``score_clusters`` and ``_cluster_tables`` on the
                                       batch's arrays
cluster numbers ``RC-000001`` …        a sort of the narrow per-cluster table (score descending, then smallest
                                       member id), as embedded
``risky_cluster`` flags                the embedded ``_flags`` per partition of the numbered clusters
=====================================  ===========================================================================

Why batches and not one call per component: most components are pairs (left out before the group-by) or a few
firms, and a Python call costs more than their work. A batch is ``pmod(xxhash64(component), batches)``; inside it
Leiden still runs once per large component (``risk_clusters(..., per_component=True)``), fed the component's
nodes in the embedded order (firms by id, then person hubs by id) and the ties in the embedded order, so the
matrix's summed weights are equal to the last bit and the seeded Leiden draws the same numbers. (The amounts of
one guarantor–borrower pair are a Spark sum: three or more parallel guarantees of one pair may differ from
numpy's sum in the last bit, which moves a weight only when the amount is below the guarantor's capital.)

Parity with the embedded scan. Both engines run Leiden once per large component (the embedded default,
``risk_clusters(..., per_component=True)``), so they give the same partition on any portfolio: a component's clusters
never depend on another component. ``leiden_scope="portfolio"`` sends every large component to one task and runs one
Leiden call over all of them, as the embedded ``per_component=False`` does (bounded by the sum of the large
components instead of the largest). The bank's total EAD (for ``exposure_concentration``) is a Spark sum, which may
differ from numpy's pairwise sum in the last bits; every other figure is computed as embedded, in the embedded order.

Size bound of one task: the largest risk-graph component (with ``leiden_scope="component"``) plus its batch's share
of the small ones; its nodes, ties and firm facts are in memory and Leiden is near-linear in its ties. The risk
graph of the synthetic portfolios has a giant component (99 % of the nodes: suspected links, control hubs and supply
ties join most firms), so at 10⁸ firms one task would hold nearly the whole graph. That case needs a distributed
community algorithm instead: label propagation (or a Leiden-like local moving phase) as DataFrame rounds over the
ties (each node takes the label with the largest tie weight among its neighbours, ties broken by smallest label;
one join and group-by per round), then the same small-community merge as rounds of joins, with clusters that
differ from Leiden's; the indicators would then be group-bys per cluster. :func:`clusters_analysis` reports the
largest component in ``stats`` so that a run shows how close it is to the bound.

>>> out = clusters_analysis(tables, date(2026, 6, 30), Config(), controllers, suspected_links,  # doctest: +SKIP
...                         guarantors=guarantors, guarantee_patterns=patterns, contagion=contagion)
>>> sorted(out)  # doctest: +SKIP
['cluster_members', 'clusters', 'flags']
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from graphrisk.analysis import FLAG_COLUMNS
from graphrisk.analysis.clusters import (
    CLUSTER_COLUMNS,
    INDICATORS,
    MEMBER_COLUMNS,
    ClusterInputs,
    RiskGraph,
    _cluster_tables,
    _flags,
    _symmetric,
    cluster_indicators,
    risk_clusters,
    score_clusters,
)
from graphrisk.config import Config

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["clusters_analysis"]

_NAMES = tuple(i.name for i in INDICATORS)
# The four relations of the risk graph, in the order the embedded matrix concatenates them.
_RELATIONS = ("guarantee", "control", "suspected", "supply")

# Types of the embedded clusters and cluster_members columns; one wide schema carries both (``_table`` says which).
_CLUSTER_TYPES: dict[str, str] = {
    "cluster_id": "string",
    "size": "long",
    "members": "string",
    "ead": "double",
    "score": "double",
    "severity": "string",
    "reasons": "string",
    "controllers": "string",
    "component_firms": "long",
    "circle_members": "long",
    "revolving_count": "long",
    "guarantee_edges": "long",
    "mutual_edges": "long",
    "defaulted_count": "long",
    "pd_weighted": "double",
    "uplift_weighted": "double",
    "suspected_links": "long",
    "ead_share": "double",
    "over_guaranteed_count": "long",
    **{f"{n}_{part}": "double" for n in _NAMES for part in ("value", "contribution")},
}
_MEMBER_TYPES: dict[str, str] = {
    "cluster_id": "string",
    "member_id": "string",
    "name": "string",
    "role": "string",
    "strength": "double",
    "ead": "double",
    "pd": "double",
    "network_pd": "double",
    "defaulted": "boolean",
    "in_circle": "boolean",
    "in_revolving_cycle": "boolean",
    "over_guaranteed": "boolean",
}
_OUT_FIELDS: tuple[tuple[str, str], ...] = (
    ("_table", "string"),
    ("_batch", "long"),
    *_CLUSTER_TYPES.items(),
    *((k, v) for k, v in _MEMBER_TYPES.items() if k not in _CLUSTER_TYPES),
)
_OUT_SCHEMA = ", ".join(f"`{n}` {t}" for n, t in _OUT_FIELDS)
# What a task reads of each node: hubs carry only the first three.
_NODE_COLUMNS = (
    "id",
    "_hub",
    "component",
    "name",
    "net_assets",
    "ead",
    "pd",
    "network_pd",
    "defaulted",
    "in_circle",
    "controller_id",
    "cycles",
)


@dataclass(frozen=True)
class _Params:
    """The embedded analysis's thresholds, read once on the driver and shipped to the tasks."""

    min_size: int
    split_min_size: int
    supply_share: float
    resolution: float
    seed: int
    pd_full: float
    uplift_full: float
    ead_share_full: float
    high: float
    medium: float
    low: float
    weights: dict[str, float] = field(default_factory=dict)
    total_ead: float = 0.0
    per_component: bool = True

    @classmethod
    def of(cls, config: Config, per_component: bool) -> _Params:
        th = config.threshold
        return cls(
            min_size=int(th("cluster_min_size")),
            split_min_size=int(th("cluster_split_min_size")),
            supply_share=th("cluster_supply_share"),
            resolution=th("cluster_resolution"),
            seed=int(th("cluster_seed")),
            pd_full=th("cluster_pd_full"),
            uplift_full=th("cluster_uplift_full"),
            ead_share_full=th("cluster_ead_share_full"),
            high=th("cluster_high"),
            medium=th("cluster_medium"),
            low=th("cluster_low"),
            weights={n: th(f"cluster_weight_{n}") for n in _NAMES},
            per_component=per_component,
        )


# ----------------------------------------------------------------------------------------------- one batch


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns of :data:`_OUT_FIELDS` as object dtype with Python values and None for missing: pyspark 3.5's
    Arrow serializer takes neither pandas 3's Arrow-backed strings nor NaN in a column it writes as long."""
    out = {}
    for name, kind in _OUT_FIELDS:
        if name not in frame:
            out[name] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
            continue
        values = frame[name].astype(object).where(frame[name].notna(), None)
        if kind == "long":
            values = values.map(lambda v: None if v is None else int(v))
        elif kind == "boolean":
            values = values.map(lambda v: None if v is None else bool(v))
        elif kind == "double":
            values = values.map(lambda v: None if v is None else float(v))
        out[name] = values
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


def _order(ids: np.ndarray) -> np.ndarray:
    """Positions of ``ids`` in code-point order: the order of the embedded graph's node ids (Arrow sorts by UTF-8
    bytes, which is the same order) and of Spark's string comparisons."""
    return np.argsort(ids, kind="stable")


def _cluster_batch(key: tuple[Any, ...], nodes: pd.DataFrame, ties: pd.DataFrame, p: _Params) -> pd.DataFrame:
    """The embedded clustering, indicators and tables of a batch of whole risk-graph components (on an executor).

    Nodes are numbered as the embedded risk graph numbers them, restricted to the batch: firms by id, then person
    hubs by id; the ties of each relation are listed in the embedded order. Cluster ids are the batch's
    (``RC-…`` by the batch's ranking); the portfolio's ids are given after the sort of all clusters."""
    if not len(nodes):
        return _plain(pd.DataFrame({"_table": pd.Series([], dtype=object)}))
    hub = nodes["_hub"].to_numpy(dtype=bool)
    firm_rows = nodes[~hub].iloc[_order(nodes.loc[~hub, "id"].to_numpy(dtype=object))].reset_index(drop=True)
    hub_ids = nodes.loc[hub, "id"].to_numpy(dtype=object)
    node_ids = np.concatenate([firm_rows["id"].to_numpy(dtype=object), hub_ids[_order(hub_ids)]])
    n = len(firm_rows)
    index = pd.Index(node_ids)
    a = index.get_indexer(ties["a"].to_numpy(dtype=object)).astype(np.int64)
    b = index.get_indexer(ties["b"].to_numpy(dtype=object)).astype(np.int64)
    w = ties["w"].to_numpy(dtype="float64")
    # A zero-score suspected link to another component ties nothing and lies inside no cluster: dropped.
    assert (a >= 0).all() and (w[b < 0] == 0).all(), "a tie leaves its batch's components"
    inside = b >= 0
    a, b, w = a[inside], b[inside], w[inside]
    kind = ties["kind"].to_numpy(dtype=object)[inside]
    amount = ties["amount"].to_numpy(dtype="float64", na_value=0.0)[inside]
    us: list[np.ndarray] = []
    vs: list[np.ndarray] = []
    ws: list[np.ndarray] = []
    rel: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for name in _RELATIONS:
        pick = np.flatnonzero(kind == name)
        # Control: firm controllers first, then person hubs, each by company; the others by (row, column).
        first, second = (b[pick] >= n, a[pick]) if name == "control" else (a[pick], b[pick])
        pick = pick[np.lexsort((second, first))]
        rel[name] = (a[pick], b[pick], amount[pick])
        us.append(a[pick])
        vs.append(b[pick])
        ws.append(w[pick])
    risk = RiskGraph(matrix=_symmetric(us, vs, ws, len(node_ids)), n_firms=n, ids=node_ids, pairs={})
    clustering = risk_clusters(
        risk,
        min_size=p.min_size,
        split_min_size=p.split_min_size,
        resolution=p.resolution,
        seed=p.seed,
        per_component=p.per_component,
    )
    assert clustering.components == nodes["component"].nunique(), "a batch's components disagree with Spark's"
    # Revolving cycles: the member positions of each cycle key, in key order.
    cyc_firm = np.repeat(np.arange(n), [0 if c is None else len(c) for c in firm_rows["cycles"]])
    cyc_key = np.array([k for c in firm_rows["cycles"] if c is not None for k in c], dtype=object)
    revolving: list[np.ndarray] = []
    if len(cyc_key):
        by = np.lexsort((cyc_firm, _rank(cyc_key)))
        keys, firms_of = cyc_key[by], cyc_firm[by]
        cuts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
        revolving = np.split(firms_of, cuts)
    ctl = firm_rows["controller_id"].to_numpy(dtype=object)
    has = pd.notna(ctl)
    controller_of = np.full(n, -1, dtype=np.int64)
    # A person controlling one firm only is no hub and no node: embedded, it counts for neither the controller
    # role nor the controllers column (both need two members), as −1 here.
    controller_of[has] = index.get_indexer(ctl[has])
    ga, gb, ga_amount = rel["guarantee"]
    sa, sb, _ = rel["suspected"]
    # Guarantees given: every active guarantee of a firm is a tie of its component, summed per pair in Spark.
    given = np.bincount(ga, weights=ga_amount, minlength=n)
    net_assets = firm_rows["net_assets"].to_numpy(dtype="float64", na_value=np.nan)
    inputs = ClusterInputs(
        ead=firm_rows["ead"].to_numpy(dtype="float64"),
        pd=firm_rows["pd"].to_numpy(dtype="float64"),
        network_pd=firm_rows["network_pd"].to_numpy(dtype="float64"),
        defaulted=firm_rows["defaulted"].to_numpy(dtype=bool),
        in_circle=firm_rows["in_circle"].to_numpy(dtype=bool),
        over_guaranteed=(given > 0) & ~np.isnan(net_assets) & (given > net_assets),
        guarantee_src=ga,
        guarantee_dst=gb,
        suspected_a=sa,
        suspected_b=sb,
        suspected_score=ws[_RELATIONS.index("suspected")],
        revolving=tuple(revolving),
        controller_of=controller_of,
    )
    values = cluster_indicators(
        clustering.labels,
        inputs,
        pd_full=p.pd_full,
        uplift_full=p.uplift_full,
        ead_share_full=p.ead_share_full,
        total_ead=p.total_ead,
    )
    scored = score_clusters(values, p.weights, high=p.high, medium=p.medium, low=p.low)
    names = firm_rows["name"].to_numpy(dtype=object)
    clusters, members = _cluster_tables(node_ids, n, names, risk, clustering, scored, inputs)
    out = _plain(pd.concat([clusters.assign(_table="cluster"), members.assign(_table="member")], ignore_index=True))
    out["_batch"] = int(key[0])
    return out


def _rank(values: np.ndarray) -> np.ndarray:
    """Dense ranks of strings (code-point order), for a lexsort key."""
    return np.unique(values, return_inverse=True)[1]


def _flag_rows(frames: Any, high: float, medium: float) -> Any:
    """The embedded ``_flags`` of each chunk of numbered clusters (``mapInPandas``)."""
    for frame in frames:
        flags = _flags(frame, high=high, medium=medium)
        yield pd.DataFrame({c: flags[c].astype(object) for c in FLAG_COLUMNS})


# ----------------------------------------------------------------------------------------------- the portfolio


def _F():  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    return F


def _num(column: Column | str) -> Column:
    """A double with null and NaN read as 0 (``to_numpy(na_value=0.0)`` embedded)."""
    F = _F()
    c = F.col(column) if isinstance(column, str) else column
    return F.coalesce(F.nanvl(c.cast("double"), F.lit(0.0)), F.lit(0.0))


def _clip01(c: Column) -> Column:
    F = _F()
    return F.least(F.greatest(c, F.lit(0.0)), F.lit(1.0))


def _positive(c: Column) -> Column:
    """Not null, not NaN and > 0 (Spark orders NaN above every number, numpy's comparisons are false)."""
    F = _F()
    return c.isNotNull() & ~F.isnan(c) & (c > 0)


def _guarantee_ties(tables: dict[str, DataFrame], as_of: date) -> DataFrame:
    """Active guarantees as ties: ``a`` guarantor, ``b`` borrower, ``amount`` (the pair's guarantees summed) and
    weight ``w = 0.5 + 0.5 × min(1, amount / capital)``; capital is net assets, registered capital where they are
    missing or not positive; a guarantor with neither counts as fully committed."""
    from graphrisk.engines.spark import steps

    F = _F()
    pairs = (
        steps.active_guarantees(tables, as_of)
        .groupBy(F.col("src").alias("a"), F.col("dst").alias("b"))
        .agg(F.sum("amount").alias("amount"))
    )
    na, rc = F.col("net_assets").cast("double"), F.col("registered_capital").cast("double")
    capital = tables["enterprises"].select(
        F.col("id").alias("a"), F.when(_positive(na), na).when(_positive(rc), rc).alias("capital")
    )
    ratio = F.when(F.col("capital").isNull(), F.lit(1.0)).otherwise(F.col("amount") / F.col("capital"))
    weight = F.lit(0.5) + F.lit(0.5) * _clip01(_num(ratio))
    return pairs.join(capital, "a", "left").select(
        F.lit("guarantee").alias("kind"), "a", "b", weight.alias("w"), "amount"
    )


def _controls(controllers: DataFrame) -> tuple[DataFrame, DataFrame]:
    """The control ties (``id`` the company, ``controller_id`` a firm or a person hub) and the person hubs (``id``:
    persons who actually control two or more firms). State bodies and self-control tie nothing; a person
    controlling one firm only is no node of the risk graph.

    ``controller_kind`` says firm or person (embedded: whether the id is an enterprise node; the ownership table's
    controllers are nodes of the graph and its kinds agree). One controller per company, as
    ``actual_controllers`` gives (with several rows the largest id is taken; the embedded array keeps the last)."""
    F = _F()
    ctl = (
        controllers.where(
            F.col("controller_kind").isin("person", "enterprise")
            & F.col("controller_id").isNotNull()
            & (F.col("company_id") != F.col("controller_id"))
        )
        .groupBy(F.col("company_id").alias("id"))
        .agg(F.max(F.struct("controller_id", "controller_kind")).alias("_c"))
        .select(
            "id",
            F.col("_c.controller_id").alias("controller_id"),
            (F.col("_c.controller_kind") == "person").alias("_person"),
        )
    )
    hubs = ctl.where(F.col("_person")).groupBy(F.col("controller_id").alias("id")).count().where(F.col("count") >= 2)
    is_hub = hubs.select(F.col("id").alias("controller_id"), F.lit(True).alias("_hub"))
    ties = ctl.join(is_hub, "controller_id", "left").where(~F.col("_person") | F.col("_hub").isNotNull())
    return ties.select("id", "controller_id"), hubs.select("id")


def _pair_max(frame: DataFrame, a: str, b: str, value: Column, kind: str) -> DataFrame:
    """Unordered pairs of two different firms (``a`` < ``b``) with the largest ``value`` of their rows."""
    F = _F()
    lo, hi = F.least(a, b), F.greatest(a, b)
    return (
        frame.where(F.col(a) != F.col(b))
        .groupBy(lo.alias("a"), hi.alias("b"))
        .agg(F.max(value).alias("w"))
        .select(F.lit(kind).alias("kind"), "a", "b", "w")
    )


# One row per source and id, unioned and grouped once: the facts of the nodes of the clustered components.
_FACT_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "string"),
    ("component", "string"),
    ("_hub", "boolean"),
    ("_firms", "long"),
    ("name", "string"),
    ("net_assets", "double"),
    ("defaulted", "boolean"),
    ("_own_pd", "double"),
    ("_f", "struct<facility_id:string,ead:double>"),
    ("_circle", "boolean"),
    ("_cycle", "string"),
    ("controller_id", "string"),
    ("_c_pd", "double"),
    ("_c_npd", "double"),
)


def _facts(parts: list[DataFrame]) -> DataFrame:
    """The union of ``parts`` over :data:`_FACT_FIELDS` (absent columns null)."""
    F = _F()
    out: DataFrame | None = None
    for part in parts:
        have = set(part.columns)
        f = part.select(*[(F.col(n) if n in have else F.lit(None)).cast(t).alias(n) for n, t in _FACT_FIELDS])
        out = f if out is None else out.unionByName(f)
    assert out is not None
    return out


def _node_rows(
    tables: dict[str, DataFrame],
    kept_nodes: DataFrame,
    ctl: DataFrame,
    guarantors: DataFrame,
    guarantee_patterns: DataFrame,
    contagion: DataFrame | None,
) -> DataFrame:
    """One row per node of a clustered component with what the task reads (``cluster_inputs`` embedded): a union
    of the sources and one group-by per id, instead of a join per source."""
    F = _F()
    ent = tables["enterprises"]
    defaulted = F.coalesce(F.col("defaulted"), F.lit(False))
    parts = [
        kept_nodes.select("id", "component", "_hub", "_firms"),
        ent.select(
            "id",
            "name",
            F.col("net_assets").cast("double").alias("net_assets"),
            defaulted.alias("defaulted"),
            F.when(defaulted, F.lit(1.0)).otherwise(_num("pd")).alias("_own_pd"),
        ),
        tables["exposures"].select(
            F.col("borrower_id").alias("id"),
            F.struct("facility_id", F.col("ead").cast("double").alias("ead")).alias("_f"),
        ),
        guarantors.where(F.col("circle_id").isNotNull()).select(
            F.col("entity_id").alias("id"), F.lit(True).alias("_circle")
        ),
        guarantee_patterns.where(F.col("pattern") == "revolving").select(
            F.explode(F.split("members", ";")).alias("id"), F.col("pattern_id").alias("_cycle")
        ),
        ctl,
    ]
    if contagion is not None:
        parts.append(contagion.select("id", _num("pd").alias("_c_pd"), _num("network_pd").alias("_c_npd")))
    first = {
        n: F.first(n, ignorenulls=True).alias(n) for n, _ in _FACT_FIELDS if n not in ("id", "_f", "_circle", "_cycle")
    }
    grouped = (
        _facts(parts)
        .groupBy("id")
        .agg(
            *first.values(),
            F.array_sort(F.collect_list("_f")).alias("_f"),
            F.max("_circle").alias("_circle"),
            F.array_sort(F.collect_set("_cycle")).alias("cycles"),
            F.max(F.col("_c_pd").isNotNull()).alias("_c"),
        )
        .where(F.col("component").isNotNull())
    )
    own = F.col("_own_pd")
    return grouped.select(
        "id",
        "component",
        "_hub",
        "_firms",
        "name",
        "net_assets",
        F.coalesce("defaulted", F.lit(False)).alias("defaulted"),
        # EAD summed in the embedded order (facilities by id, one after the other), so it is equal to the last bit.
        F.aggregate("_f", F.lit(0.0), lambda acc, x: acc + x["ead"]).alias("ead"),
        F.when(F.col("_c"), F.col("_c_pd")).otherwise(own).alias("pd"),
        F.when(F.col("_c"), F.col("_c_npd")).otherwise(own).alias("network_pd"),
        F.coalesce("_circle", F.lit(False)).alias("in_circle"),
        "controller_id",
        "cycles",
    )


def _batch_of(batches: int, big: Column | None) -> Column:
    """The batch of a component: whole components together, spread by a hash of their key; with ``big`` given,
    every large component in batch −1 (one Leiden call over all of them, as embedded)."""
    F = _F()
    hashed = F.pmod(F.xxhash64("component"), F.lit(batches))
    return (hashed if big is None else F.when(big, F.lit(-1).cast("long")).otherwise(hashed)).alias("_batch")


def clusters_analysis(
    tables: dict[str, DataFrame],
    as_of: date,
    config: Config | None = None,
    controllers: DataFrame | None = None,
    suspected_links: DataFrame | None = None,
    *,
    guarantors: DataFrame,
    guarantee_patterns: DataFrame,
    contagion: DataFrame | None = None,
    batches: int | None = None,
    leiden_scope: Literal["component", "portfolio"] = "component",
    stats: dict[str, Any] | None = None,
) -> dict[str, DataFrame]:
    """The embedded ``risk_clusters`` analysis on Spark: ``clusters`` (:data:`~graphrisk.analysis.clusters.
    CLUSTER_COLUMNS`), ``cluster_members`` (``MEMBER_COLUMNS``) and ``flags`` (``FLAG_COLUMNS``, ``risky_cluster``
    for every high or medium cluster): the same clusters, numbers, figures, reasons and flags as the embedded
    analysis on the same inputs, in no particular order (sort by ``cluster_id`` to write).

    Inputs as the embedded scan hands them over, as DataFrames: ``controllers`` (ownership: ``company_id,
    controller_id, controller_kind``), ``suspected_links`` (hidden links: ``a_id, b_id, score``), ``guarantors``
    (``entity_id, circle_id``) and ``guarantee_patterns`` (``pattern, pattern_id, members``) of the guarantee
    analysis (:func:`.guarantees.guarantee_analysis` gives both), ``contagion`` (``id, pd, network_pd``). Missing
    controllers or suspected links count as none and a missing contagion table as network PD = PD, as embedded.
    The guarantee tables are required: the embedded fallback (recomputing circles and cycles) would be a second
    guarantee analysis, which the Spark scan has already run. ``tables`` are expected valid (every guarantee and
    supply link between firms of ``enterprises``), as the embedded loader makes them.

    ``batches`` (default ``spark.sql.shuffle.partitions``) is how many groups of whole components the embedded
    functions run on; ``leiden_scope="portfolio"`` runs Leiden once over every large component (the embedded
    ``per_component=False``, in one task) instead of once per component (see the module docstring). ``stats``,
    when given, gets ``component_rounds``, ``components_clustered``, ``components_split`` and
    ``largest_component`` (nodes of the largest clustered component: the bound of one task).

    >>> out = clusters_analysis(tables, date(2026, 6, 30), Config(), controllers, links,  # doctest: +SKIP
    ...                         guarantors=firms, guarantee_patterns=patterns, contagion=contagion)
    >>> out["clusters"].orderBy("cluster_id").select("cluster_id", "score", "severity").show(5)  # doctest: +SKIP
    """
    from pyspark.sql import Window

    from graphrisk.engines.spark.graph import connected_components

    F = _F()
    if leiden_scope not in ("component", "portfolio"):
        raise ValueError(f"leiden_scope must be 'component' or 'portfolio', not {leiden_scope!r}")
    p = _Params.of(config or Config(), per_component=leiden_scope == "component")
    spark = tables["enterprises"].sparkSession
    n_batches = batches or int(spark.conf.get("spark.sql.shuffle.partitions") or "200")

    # The ties of the four relations (zero-score suspected links too: hidden_link_density counts them).
    if controllers is None:
        ctl, hubs = spark.createDataFrame([], "id string, controller_id string"), spark.createDataFrame([], "id string")
    else:
        ctl, hubs = _controls(controllers)
    parts = [
        _guarantee_ties(tables, as_of),
        ctl.select(F.lit("control").alias("kind"), F.col("id").alias("a"), F.col("controller_id").alias("b"),
                   F.lit(1.0).alias("w")),
    ]  # fmt: skip
    if suspected_links is not None:
        parts.append(_pair_max(suspected_links, "a_id", "b_id", _clip01(_num("score")), "suspected"))
    dep = _clip01(F.greatest(_num("share_of_supplier_revenue"), _num("share_of_customer_purchases")))
    strong = tables["supply_links"].where(dep >= F.lit(p.supply_share))
    parts.append(_pair_max(strong, "supplier_id", "customer_id", dep, "supply"))
    ties = parts[0]
    for part in parts[1:]:
        ties = ties.unionByName(part, allowMissingColumns=True)
    # Checkpointed: read twice, and it cuts the plan (the optimizer chokes on the whole lineage of joins).
    ties = ties.localCheckpoint()

    # Components over the ties that weigh (a zero sum is no tie, as embedded); those with enough firms are kept.
    rounds: dict[str, list[int]] = {}
    weighing = ties.where((F.col("w") > 0) & (F.col("a") != F.col("b")))
    cc = connected_components(weighing.select(F.col("a").alias("src"), F.col("b").alias("dst")), stats=rounds)
    comp = Window.partitionBy("component")
    hub = F.coalesce(F.col("_hub"), F.lit(False))
    kept_nodes = (
        cc.join(hubs.withColumn("_hub", F.lit(True)), "id", "left")
        .select("id", "component", hub.alias("_hub"))
        .withColumn("_firms", F.sum(F.when(F.col("_hub"), 0).otherwise(1)).over(comp))
        .withColumn("_nodes", F.count("*").over(comp))
        .where(F.col("_firms") >= p.min_size)
        .localCheckpoint()
    )
    # The batch is computed on each side of the cogroup: one column shared by both sides would be ambiguous.
    big = F.col("_firms") >= p.split_min_size
    batch = _batch_of(n_batches, None if p.per_component else big)
    node_rows = _node_rows(tables, kept_nodes, ctl, guarantors, guarantee_patterns, contagion)
    node_rows = node_rows.select(batch, *_NODE_COLUMNS)
    # A tie goes with its first end's component; only a zero-score link can leave it (the task drops it).
    ends = kept_nodes.select(F.col("id").alias("a"), "component", "_firms")
    tie_rows = ties.join(ends, "a").select(batch, "kind", "a", "b", "w", "amount")
    # The bank's total EAD: a number the indicators need, collected once.
    total = tables["exposures"].agg(F.sum(F.col("ead").cast("double"))).first()
    params = replace(p, total_ead=float(total[0] or 0.0) if total else 0.0)

    def task(key: tuple[Any, ...], n: pd.DataFrame, t: pd.DataFrame) -> pd.DataFrame:
        return _cluster_batch(key, n, t, params)

    # Checkpointed: both tables and the flags read these rows, and Leiden must run once.
    rows = (
        node_rows.groupBy("_batch")
        .cogroup(tie_rows.groupBy("_batch"))
        .applyInPandas(task, schema=_OUT_SCHEMA)
        .localCheckpoint()
    )
    rows = rows.withColumnRenamed("cluster_id", "_local")
    local = rows.where(F.col("_table") == "cluster")
    # The portfolio's numbering: score descending, then smallest member id (members are joined in id order); a
    # sort of the narrow per-cluster table.
    order = Window.orderBy(F.col("score").desc(), F.substring_index("members", ";", 1))
    ids = local.select("_batch", "_local", F.format_string("RC-%06d", F.row_number().over(order)).alias("cluster_id"))
    clusters = local.join(ids, ["_batch", "_local"]).select(*CLUSTER_COLUMNS)
    members = rows.where(F.col("_table") == "member").join(ids, ["_batch", "_local"]).select(*MEMBER_COLUMNS)
    high, medium = p.high, p.medium
    flags = clusters.where(F.col("severity").isin("high", "medium")).mapInPandas(
        lambda frames: _flag_rows(frames, high, medium), schema=", ".join(f"{c} string" for c in FLAG_COLUMNS)
    )
    if stats is not None:
        split = F.countDistinct(F.when(big, F.col("component")))
        agg = kept_nodes.agg(
            F.countDistinct("component").alias("kept"), split.alias("split"), F.max("_nodes").alias("largest")
        ).first()
        stats.update(
            component_rounds=rounds.get("rounds", [0])[0],
            components_clustered=int(agg["kept"] or 0) if agg else 0,
            components_split=int(agg["split"] or 0) if agg else 0,
            largest_component=int(agg["largest"] or 0) if agg else 0,
        )
    return {"clusters": clusters, "cluster_members": members, "flags": flags}
