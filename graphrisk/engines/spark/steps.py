"""The distributed steps of the scan, each a pure function of DataFrames (``tables`` from :func:`.io.read_tables`).

Each mirrors one embedded function and is tested for equal results on the synthetic 10k portfolio:

=============================  ==============================================  ===================================
step                           embedded counterpart                            how it runs on Spark
=============================  ==============================================  ===================================
:func:`active_guarantees`      ``guarantees.guarantee_network``                filter
:func:`guarantee_components`   ``GuaranteeNetwork.weak``                       connected components (joins)
:func:`guarantee_circles`      ``guarantees.guarantee_circles``                filter of the components
:func:`guarantee_cores`        ``GuaranteeNetwork.strong`` (cores ≥ 2 firms)   per weak component, on executors
:func:`mutual_guarantees`      ``guarantees.mutual_guarantees``                self-join
:func:`group_ties`             ``groups.group_ties`` (ids only)                joins
:func:`counterparty_groups`    ``groups.counterparty_groups`` (partition)      connected components
:func:`contact_pairs`          ``hidden_links.firm_signals`` (phone, email)    see :mod:`.hidden_links`
:func:`impact_edges`           ``contagion.impact_matrix``                     joins + group-by
:func:`debtrank_single_hit`    ``contagion.debtrank`` (single hit)             one join + group-by per round
=============================  ==============================================  ===================================

Nothing is collected to the driver except loop-control counts (one number per round).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from graphrisk.engines.spark.graph import connected_components, strong_components
from graphrisk.engines.spark.hidden_links import contact_pairs

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = [
    "active_guarantees",
    "contact_pairs",
    "counterparty_groups",
    "debtrank_single_hit",
    "group_ties",
    "guarantee_circles",
    "guarantee_components",
    "guarantee_cores",
    "impact_edges",
    "mutual_guarantees",
]

_EPS = 1e-12  # the embedded steps' tolerance for ratios at a threshold


def _F():  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    return F


# ----------------------------------------------------------------------------------------------- guarantees


def active_guarantees(tables: dict[str, DataFrame], as_of: date) -> DataFrame:
    """Guarantees in force on ``as_of`` (start ≤ as_of ≤ end, a missing date open), self-guarantees dropped:
    ``src`` (guarantor), ``dst`` (borrower), ``amount`` (null read as 0)."""
    F = _F()
    g = tables["guarantees"]
    day = F.lit(as_of.isoformat()).cast("date")
    active = (g["start_date"].isNull() | (g["start_date"] <= day)) & (g["end_date"].isNull() | (g["end_date"] >= day))
    return g.where(active & (g["guarantor_id"] != g["borrower_id"])).select(
        F.col("guarantor_id").alias("src"),
        F.col("borrower_id").alias("dst"),
        F.coalesce(F.col("amount"), F.lit(0.0)).alias("amount"),
    )


def guarantee_components(active: DataFrame) -> DataFrame:
    """Weak components of the active guarantees: ``entity_id``, ``component`` (its smallest member id),
    ``firms`` (its size), for every firm on an active guarantee."""
    F = _F()
    from pyspark.sql import Window

    cc = connected_components(active.select("src", "dst"))
    sized = cc.withColumn("firms", F.count("*").over(Window.partitionBy("component")))
    return sized.select(F.col("id").alias("entity_id"), "component", "firms")


def guarantee_circles(components: DataFrame, *, min_size: int = 3) -> DataFrame:
    """Circles (担保圈): weak components of at least ``min_size`` firms (:func:`guarantee_components`).

    Columns ``entity_id``, ``circle`` (the smallest member id), ``firms`` (circle size)."""
    F = _F()
    return components.where(F.col("firms") >= min_size).select("entity_id", F.col("component").alias("circle"), "firms")


def guarantee_cores(active: DataFrame, components: DataFrame) -> DataFrame:
    """Strongly connected components of two or more firms (a circle's core, or a mutual pair): ``entity_id``,
    ``core`` (smallest member id). One task per weak component of two or more firms, on the executors."""
    F = _F()
    edges = active.select("src", "dst").distinct()
    comps = components.where(F.col("firms") >= 2).select(F.col("entity_id").alias("id"), "component")
    scc = strong_components(edges, comps)
    return scc.select(F.col("id").alias("entity_id"), F.col("scc").alias("core"))


def mutual_guarantees(active: DataFrame) -> DataFrame:
    """Mutual pairs (互保): ``a_id < b_id`` with a → b and b → a in force; amounts summed per direction.

    Columns ``a_id, b_id, amount_ab, amount_ba, guaranteed_amount``."""
    F = _F()
    per = active.groupBy("src", "dst").agg(F.sum("amount").alias("amount"))
    ab = per.where(F.col("src") < F.col("dst")).select(
        F.col("src").alias("a_id"), F.col("dst").alias("b_id"), F.col("amount").alias("amount_ab")
    )
    ba = per.where(F.col("src") > F.col("dst")).select(
        F.col("dst").alias("a_id"), F.col("src").alias("b_id"), F.col("amount").alias("amount_ba")
    )
    out = ab.join(ba, ["a_id", "b_id"])
    return out.withColumn("guaranteed_amount", F.col("amount_ab") + F.col("amount_ba"))


# ----------------------------------------------------------------------------------------------- groups


def group_ties(
    tables: dict[str, DataFrame],
    as_of: date,
    controllers: DataFrame | None = None,
    *,
    guarantee_net_assets: float = 0.5,
    supply_share: float = 0.5,
    group_through_state: bool = False,
) -> DataFrame:
    """Ties between counterparties (``a_id``, ``b_id``, ``basis``) on the bases of ``groups.group_ties``.

    ``controllers`` is the ownership analysis's table (``company_id``, ``controller_id``, ``controller_kind``,
    ``path``); the majority-control closure that produces it is not ported yet, so without it the control basis
    is left out (the scan says so)."""
    F = _F()
    ent = tables["enterprises"]
    nodes = ent.select("id").unionByName(tables["persons"].select("id")).distinct()
    known = nodes.withColumnRenamed("id", "k")
    parts: list[DataFrame] = []

    if controllers is not None:
        c = controllers.where(F.col("controller_id").isNotNull())
        state = (F.col("controller_kind") == "state") & F.lit(not group_through_state)
        # Under a state body the company ties to the firm right under it on its control chain (sovereign
        # treatment), never through the state body itself.
        below = F.regexp_extract(F.coalesce(F.col("path"), F.lit("")), r"^[^>]*>([^>]*)", 1)
        c = c.select(
            F.col("company_id").alias("a_id"),
            F.col("controller_id"),
            F.when(state, below).otherwise(F.col("controller_id")).alias("b_id"),
        )
        c = c.join(known, c["a_id"] == known["k"], "left_semi").join(
            known, c["controller_id"] == known["k"], "left_semi"
        )
        c = c.where(F.col("a_id") != F.col("controller_id"))
        c = c.join(known, c["b_id"] == known["k"], "left_semi").where(F.col("b_id") != F.col("a_id"))
        parts.append(c.select("a_id", "b_id", F.lit("control").alias("basis")))

    act = active_guarantees(tables, as_of).groupBy("src", "dst").agg(F.sum("amount").alias("total"))
    na = ent.select(F.col("id").alias("src"), F.col("net_assets"))
    g = act.join(na, "src", "left").where(
        (F.col("total") > 0)
        & F.col("net_assets").isNotNull()
        & ((F.col("net_assets") <= 0) | (F.col("total") / F.col("net_assets") >= guarantee_net_assets - _EPS))
    )
    parts.append(g.select(F.col("src").alias("a_id"), F.col("dst").alias("b_id"), F.lit("guarantee").alias("basis")))

    from pyspark.sql import Window

    s = tables["supply_links"].where(F.col("supplier_id") != F.col("customer_id"))
    # The latest year describes the dependence now; a row without a year counts as the oldest.
    latest = Window.partitionBy("supplier_id", "customer_id").orderBy(F.coalesce(F.col("year"), F.lit(-1)).desc())
    s = s.withColumn("_r", F.row_number().over(latest)).where(F.col("_r") == 1)
    s = s.where(
        (F.col("share_of_supplier_revenue") >= supply_share - _EPS)
        | (F.col("share_of_customer_purchases") >= supply_share - _EPS)
    )
    parts.append(s.select(F.col("supplier_id").alias("a_id"), F.col("customer_id").alias("b_id"), F.lit("supply")))

    for column, basis in (
        ("main_repayment_source_id", "repayment_source"),
        ("main_funding_source_id", "funding_source"),
    ):
        src = ent.where(F.col(column).isNotNull() & (F.col(column) != F.col("id"))).select(
            F.col("id").alias("a_id"), F.col(column).alias("b_id")
        )
        src = src.join(known, src["b_id"] == known["k"], "left_semi")
        parts.append(src.select("a_id", "b_id", F.lit(basis).alias("basis")))

    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p.toDF("a_id", "b_id", "basis"))
    return out


def counterparty_groups(tables: dict[str, DataFrame], ties: DataFrame) -> DataFrame:
    """Groups of connected counterparties: components over every tie holding two or more enterprises (persons
    connect firms but are not members). Columns ``group_key`` (smallest node id of the component),
    ``member_id``, ``ead``; the embedded ``CG-…`` numbering (by total EAD) is a sort of the small group table."""
    F = _F()
    from pyspark.sql import Window

    cc = connected_components(ties.select(F.col("a_id").alias("src"), F.col("b_id").alias("dst")))
    firms = tables["enterprises"].select("id")
    members = cc.join(firms, "id", "left_semi")
    members = members.withColumn("n", F.count("*").over(Window.partitionBy("component"))).where(F.col("n") >= 2)
    ead = tables["exposures"].groupBy(F.col("borrower_id").alias("id")).agg(F.sum("ead").alias("ead"))
    out = members.join(ead, "id", "left").select(
        F.col("component").alias("group_key"),
        F.col("id").alias("member_id"),
        F.coalesce("ead", F.lit(0.0)).alias("ead"),
    )
    return out


# ----------------------------------------------------------------------------------------------- hidden links
# contact_pairs lives with the other hidden-link signals in hidden_links.py; re-exported above for the scan.


# ----------------------------------------------------------------------------------------------- contagion


def _ratio(amount: str, capital: str):  # type: ignore[no-untyped-def]
    """amount / capital capped to [0, 1]; a firm without capital loses everything it is exposed to."""
    F = _F()
    a, c = F.col(amount), F.col(capital)
    return F.when(c.isNull(), F.when(a > 0, 1.0).otherwise(0.0)).otherwise(
        F.least(F.lit(1.0), F.greatest(F.lit(0.0), F.coalesce(a / c, F.lit(0.0))))
    )


def impact_edges(
    tables: dict[str, DataFrame],
    as_of: date,
    *,
    guarantee_recovery: float = 0.0,
    supply_loss_factor: float = 1.0,
    substitution_cost: float = 0.5,
) -> DataFrame:
    """The impact network of ``contagion.impact_matrix`` as edges: ``source_id`` (who defaults), ``target_id``
    (who loses), ``impact`` (share of the target's equity, summed over relations and capped at 1)."""
    F = _F()
    ent = tables["enterprises"]
    na, rc = F.col("net_assets"), F.col("registered_capital")
    cap = ent.select(
        "id",
        F.when(na > 0, na).when(rc > 0, rc).alias("capital"),
        F.greatest(F.coalesce(na, F.lit(0.0)), F.lit(0.0)).alias("worth"),
    )
    firms = ent.select("id")
    parts = []
    g = active_guarantees(tables, as_of).join(cap.select(F.col("id").alias("src"), "capital"), "src", "left")
    g = g.withColumn("exposed", F.col("amount") * (1.0 - guarantee_recovery))
    parts.append(
        g.select(
            F.col("dst").alias("source_id"),
            F.col("src").alias("target_id"),
            _ratio("exposed", "capital").alias("impact"),
        )
    )

    s = tables["supply_links"].where(F.col("supplier_id") != F.col("customer_id"))
    s = s.join(firms.withColumnRenamed("id", "supplier_id"), "supplier_id", "left_semi")
    s = s.join(firms.withColumnRenamed("id", "customer_id"), "customer_id", "left_semi")
    rev = F.coalesce(F.col("share_of_supplier_revenue"), F.lit(0.0)) * supply_loss_factor
    pur = F.coalesce(F.col("share_of_customer_purchases"), F.lit(0.0)) * substitution_cost
    clip = lambda c: F.least(F.lit(1.0), F.greatest(F.lit(0.0), c))  # noqa: E731
    parts.append(
        s.select(
            F.col("customer_id").alias("source_id"), F.col("supplier_id").alias("target_id"), clip(rev).alias("impact")
        )
    )
    parts.append(
        s.select(
            F.col("supplier_id").alias("source_id"), F.col("customer_id").alias("target_id"), clip(pur).alias("impact")
        )
    )

    o = tables["shareholdings"].where(F.col("holder_id") != F.col("company_id"))
    o = o.join(
        cap.select(F.col("id").alias("holder_id"), "capital"), "holder_id"
    )  # a person's stake is no firm's equity
    o = o.join(cap.select(F.col("id").alias("company_id"), "worth"), "company_id")
    o = o.withColumn("stake", F.coalesce(F.col("share"), F.lit(0.0)) * F.col("worth"))
    parts.append(
        o.select(
            F.col("company_id").alias("source_id"),
            F.col("holder_id").alias("target_id"),
            _ratio("stake", "capital").alias("impact"),
        )
    )

    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    out = out.groupBy("source_id", "target_id").agg(F.least(F.lit(1.0), F.sum("impact")).alias("impact"))
    return out.where(F.col("impact") != 0)


def debtrank_single_hit(
    impact: DataFrame, seeds: list[str], *, psi: float = 1.0, max_rounds: int = 10_000
) -> DataFrame:
    """Single-hit DebtRank (Battiston et al. 2012) of a shock ``psi`` on ``seeds``: ``id, initial, distress`` for
    every firm reached. Each round is one join of the newly distressed firms with their impact edges and one
    group-by; a firm passes its distress on once (in the round after it is first reached), as the embedded
    ``_single_hit_batch``. Only the state of reached firms is kept, so the work follows the shock, not n."""
    F = _F()
    spark = impact.sparkSession
    h0 = min(1.0, psi)
    # state: id, h (distress), initial, inactive (passed its distress on already)
    state = spark.createDataFrame(
        [(s, h0, h0, False) for s in dict.fromkeys(seeds)], "id string, h double, initial double, inactive boolean"
    )
    state = state.localCheckpoint()
    for _ in range(max_rounds):
        distressed = state.where(~F.col("inactive") & (F.col("h") > 0))
        if distressed.limit(1).count() == 0:
            break
        push = (
            distressed.select(F.col("id").alias("source_id"), F.col("h").alias("hs"))
            .join(impact, "source_id")
            .groupBy(F.col("target_id").alias("id"))
            .agg(F.sum(F.col("impact") * F.col("hs")).alias("dh"))
        )
        state = (
            state.join(push, "id", "full_outer")
            .select(
                "id",
                F.least(F.lit(1.0), F.coalesce("h", F.lit(0.0)) + F.coalesce("dh", F.lit(0.0))).alias("h"),
                F.coalesce("initial", F.lit(0.0)).alias("initial"),
                # Everyone distressed this round is inactive from now on.
                (F.coalesce("inactive", F.lit(False)) | (F.coalesce("h", F.lit(0.0)) > 0)).alias("inactive"),
            )
            .localCheckpoint()
        )
    else:  # pragma: no cover - every firm is distressed at most once, so rounds ≤ firms reached
        raise RuntimeError(f"DebtRank did not settle in {max_rounds} rounds")
    return state.where(F.col("h") > 0).select("id", "initial", F.col("h").alias("distress"))
