"""Beneficial owners (受益所有人) on Spark, as ``graphrisk.analysis.ownership.beneficial_owners``.

A natural person is a beneficial owner of a company when the person's ultimate share meets the profile's threshold
(``cn-2024``: ≥ 25 %, max(equity, voting) per layer; ``cn-2017``: > 25 %; ``eu-amlr``: ≥ 25 % of equity;
``uk-psc``: > 25 % of the look-through share, a firm's whole stake counting for a person who controls it). Interval
shares give a lower and an upper share: ``yes`` when the lower meets the threshold, ``possible`` when only the
upper does. Where nobody qualifies (no ``yes``), the cn and eu profiles fall back to a natural person with actual
control, then to the senior manager (legal representative before manager, then the smallest person id).

How it runs: the three shares (point, lower, upper) are one propagation of :func:`ownership._propagate` over three
tagged copies of the holdings (one join and group-by per term; cross-holdings solved exactly, one executor task
each), the threshold tests are filters, and
the fallback is a few joins and a window over the officers. Nothing is collected but one loop-control count (are
there interval shares at all?).

>>> from graphrisk.engines.spark import ownership as O  # doctest: +SKIP
>>> state = O.control(tables)  # doctest: +SKIP
>>> bo = beneficial_owners(tables, "cn-2024", controllers=O.actual_controllers(tables, state))  # doctest: +SKIP
>>> bo.columns  # doctest: +SKIP
['company_id', 'person_id', 'profile', 'beneficial_owner', 'basis', 'share', 'share_min', 'share_max', 'convention']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from graphrisk.analysis.ownership import PROFILES, STATE_ASSET_NAMES, BeneficialOwnerProfile
from graphrisk.engines.spark.ownership import (
    _TOL,
    ControlState,
    _propagate,
    control,
    nodes,
    ownership_edges,
    ultimate_holders,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["COLUMNS", "beneficial_owners"]

COLUMNS = (
    "company_id",
    "person_id",
    "profile",
    "beneficial_owner",
    "basis",
    "share",
    "share_min",
    "share_max",
    "convention",
)
_EPS = 1e-9  # as the embedded ``_meets``: 0.25 read from text must meet "≥ 25 %" and fail "> 25 %"


def _F():  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    return F


def _meets(value: Column, p: BeneficialOwnerProfile) -> Column:
    return value >= p.threshold - _EPS if p.inclusive else value > p.threshold + _EPS


def _known_holdings(tables: dict[str, DataFrame]) -> DataFrame:
    """The shareholding rows whose holder and company are nodes (the rows the embedded graph has as edges)."""
    known = nodes(tables).select("id")
    sh = tables["shareholdings"]
    sh = sh.join(known.withColumnRenamed("id", "holder_id"), "holder_id", "left_semi")
    return sh.join(known.withColumnRenamed("id", "company_id"), "company_id", "left_semi")


def _max_layer_edges(tables: dict[str, DataFrame], bound: str) -> DataFrame:
    """``holder_id, company_id, w``: max(equity bound, voting) per row, parallel rows summed, not scaled.

    As the embedded ``_max_layer``, which (unlike ``ownership_matrix``) scales no column total down to 1."""
    F = _F()
    share = F.coalesce(F.col("share"), F.lit(0.0))
    b = F.coalesce(F.col("share_min" if bound == "min" else "share_max"), share)
    value = F.when(F.col("voting_share").isNull(), b).otherwise(F.greatest(b, F.col("voting_share")))
    w = _known_holdings(tables).groupBy("holder_id", "company_id").agg(F.sum(value).alias("w"))
    return w.where(F.col("w") != 0)


def _ultimate_together(layers: dict[str, DataFrame], ult: DataFrame, *, tol: float, max_terms: int) -> DataFrame:
    """``layer, holder_id, company_id, share``: ``W_PF (I − W_FF)⁻¹`` of several readings of the holdings
    (``layer`` → ``holder_id, company_id, w``) in one propagation.

    Every id is tagged with its layer, so the readings become disjoint copies of one graph, and ``(I − W)⁻¹`` of a
    disjoint union is the one of each part. The strong components, the cross-holding solutions and every term are
    then found once for all layers instead of once per layer."""
    F = _F()

    def tag(name: str, col: str) -> Column:
        return F.concat(F.lit(f"{name}\x1f"), F.col(col))

    edges = [w.select(tag(n, "holder_id").alias("holder_id"), tag(n, "company_id").alias("company_id"), "w")
             for n, w in layers.items()]  # fmt: skip
    holders = [ult.select(tag(n, "id").alias("holder_id")) for n in layers]
    w, keep = edges[0], holders[0]
    for e, h in zip(edges[1:], holders[1:], strict=True):
        w, keep = w.unionByName(e), keep.unionByName(h)
    w = w.cache()
    b = w.join(keep, "holder_id", "left_semi").select("holder_id", "company_id", F.col("w").alias("share"))
    u = _propagate(b, w.join(keep, "holder_id", "left_anti"), tol=tol, max_terms=max_terms)
    parts = F.split("holder_id", "\x1f", 2)
    return u.select(
        parts[0].alias("layer"),
        parts[1].alias("holder_id"),
        F.split("company_id", "\x1f", 2)[1].alias("company_id"),
        "share",
    )


def _look_through(tables: dict[str, DataFrame], which: Any, state: ControlState) -> DataFrame:
    """uk-psc shares: each holding counts for its holder and for every controller up the holder's control chain."""
    F = _F()
    w = ownership_edges(tables, which)
    up = state.chains.select(F.col("id").alias("holder_id"), "a")
    anc = w.select("holder_id", F.col("holder_id").alias("a")).distinct().unionByName(up)
    return (
        w.join(anc, "holder_id")
        .groupBy(F.col("a").alias("holder_id"), "company_id")
        .agg(F.sum("w").alias("share"))
        .where(F.col("share") != 0)
    )


def _senior_managers(tables: dict[str, DataFrame]) -> DataFrame:
    """``company_id, person_id, role``: one senior manager per company, legal representative first, then manager;
    the smallest person id among equals (the embedded order of person nodes)."""
    F = _F()
    from pyspark.sql import Window

    off = tables["officers"].where(F.col("role").isin("legal_representative", "manager"))
    off = off.join(nodes(tables).select(F.col("id").alias("person_id")), "person_id", "left_semi")
    rank = F.when(F.col("role") == "legal_representative", 0).otherwise(1)
    first = Window.partitionBy("company_id").orderBy(rank, F.col("person_id"))
    return (
        off.select("company_id", "person_id", "role")
        .withColumn("_r", F.row_number().over(first))
        .where("_r = 1")
        .drop("_r")
    )


def beneficial_owners(
    tables: dict[str, DataFrame],
    profile: str = "cn-2024",
    *,
    controllers: DataFrame,
    config: Any = None,
    ultimate: DataFrame | None = None,
    control_state: ControlState | None = None,
    state_names: Iterable[str] = STATE_ASSET_NAMES,
    tol: float = _TOL,
    max_terms: int = 10_000,
) -> DataFrame:
    """Beneficial owners of every enterprise under a profile of ``ownership.PROFILES``, as the embedded function.

    ``controllers``: :func:`ownership.actual_controllers` (``company_id, controller_id, controller_kind`` are
    read), for the fallback to actual control. ``config``: a :class:`graphrisk.config.Config`; its
    ``control_share`` decides control for uk-psc's look-through (the other profiles read no threshold).
    ``ultimate``: :func:`ownership.ultimate_holders` when the caller has it (it costs the cross-holdings);
    ``control_state``: :func:`ownership.control`'s fixed point, for uk-psc.

    Columns :data:`COLUMNS`; shares rounded to 10 places and null on fallback rows. The embedded rows are in
    (company_id, person_id) order, an ownership row before a fallback row of the same pair: ordering on
    ``company_id, person_id, beneficial_owner`` gives the same (a fallback row is ``yes``, and a company with an
    ownership ``yes`` has no fallback rows).

    >>> bo = beneficial_owners(tables, "cn-2017", controllers=controllers)  # doctest: +SKIP
    >>> bo.where("basis = 'actual_control'").count()  # doctest: +SKIP
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown beneficial-owner profile {profile!r}; known: {', '.join(PROFILES)}")
    F = _F()
    from graphrisk.config import Config

    p = PROFILES[profile]
    if p.look_through:
        state = control_state
        if state is None:
            state = control(tables, control_share=(config or Config()).threshold("control_share"))
        point = _look_through(tables, p.layer, state)
        lo = _look_through(tables, "min", state)
        hi = _look_through(tables, "max_bound", state)
    else:
        # Read once per layer: computed here, it is materialised first (it costs the cross-holdings).
        ult = ultimate if ultimate is not None else ultimate_holders(tables, state_names).localCheckpoint()
        layers = {"point": ownership_edges(tables, p.layer)}
        interval = F.col("share_min").isNotNull() | F.col("share_max").isNotNull()
        if _known_holdings(tables).where(interval).limit(1).count() > 0:
            if p.layer == "share":
                layers.update(lo=ownership_edges(tables, "min"), hi=ownership_edges(tables, "max_bound"))
            else:
                layers.update(lo=_max_layer_edges(tables, "min"), hi=_max_layer_edges(tables, "max"))
        shares = _ultimate_together(layers, ult, tol=tol, max_terms=max_terms).localCheckpoint()
        point = shares.where(F.col("layer") == "point")
        # No interval in the data: the bounds are the point shares.
        lo = shares.where(F.col("layer") == "lo") if "lo" in layers else point
        hi = shares.where(F.col("layer") == "hi") if "hi" in layers else point

    persons = nodes(tables).where("is_person").select(F.col("id").alias("person_id"))
    firms = tables["enterprises"].select(F.col("id").alias("company_id"))

    def person_rows(shares: DataFrame, name: str) -> DataFrame:
        out = shares.select(F.col("holder_id").alias("person_id"), "company_id", F.col("share").alias(name))
        return out.join(persons, "person_id", "left_semi").join(firms, "company_id", "left_semi")

    key = ["person_id", "company_id"]
    found = person_rows(hi, "share_max").where(_meets(F.col("share_max"), p))
    found = found.join(person_rows(point, "share"), key, "left").join(person_rows(lo, "share_min"), key, "left")
    found = found.fillna(0.0, subset=["share", "share_min"])
    basis = "ownership_look_through" if p.look_through else "ownership"
    owned = found.select(
        "company_id",
        "person_id",
        F.when(_meets(F.col("share_min"), p), "yes").otherwise("possible").alias("beneficial_owner"),
        F.lit(basis).alias("basis"),
        "share",
        "share_min",
        "share_max",
    ).localCheckpoint()
    rows = owned
    if p.fallback:
        # Nobody qualifies by ownership: a natural person with actual control, else the senior manager.
        yes = owned.where(F.col("beneficial_owner") == "yes").select("company_id").distinct()
        missing = firms.join(yes, "company_id", "left_anti")
        kinds = controllers.select("company_id", "controller_id", "controller_kind")
        missing = missing.join(kinds, "company_id", "left")
        is_person = F.coalesce(F.col("controller_kind") == "person", F.lit(False))
        by_control = missing.where(is_person).select(
            "company_id", F.col("controller_id").alias("person_id"), F.lit("actual_control").alias("basis")
        )
        managers = (
            _senior_managers(tables)
            .join(missing.where(~is_person).select("company_id"), "company_id", "left_semi")
            .select("company_id", "person_id", F.concat(F.lit("senior_manager:"), F.col("role")).alias("basis"))
        )
        none = F.lit(None).cast("double")
        extra = by_control.unionByName(managers).select(
            "company_id",
            "person_id",
            F.lit("yes").alias("beneficial_owner"),
            "basis",
            none.alias("share"),
            none.alias("share_min"),
            none.alias("share_max"),
        )
        rows = owned.unionByName(extra)
    return rows.select(
        "company_id",
        "person_id",
        F.lit(profile).alias("profile"),
        "beneficial_owner",
        "basis",
        *(F.round(c, 10).alias(c) for c in ("share", "share_min", "share_max")),
        F.lit("ownership_look_through" if p.look_through else "ultimate").alias("convention"),
    )
