"""Connected counterparties and large exposures on Spark: the embedded ``counterparty_groups`` analysis, complete.

The partition into groups comes from :mod:`.steps` (:func:`~.steps.group_ties`, then the connected components of
:func:`~.steps.counterparty_groups`); this module adds what the embedded analysis writes around it, with the same
rows and the same texts:

================================  ===============================================================================
what                              where
================================  ===============================================================================
each tie's figures (amounts,      distributed: the ties of ``steps.group_ties`` joined back to the controllers,
net assets, shares, year, chain)  the active guarantees (summed per pair) and the latest supply links
each tie's evidence text          ``mapInPandas`` on the executors: the embedded renderers (``_render_control``,
                                  ``_render_guarantee`` …) on each batch of ties, as seen from each member end
a member's basis and evidence     distributed: its ties sorted by (basis, other end), the first five joined
group numbers ``CG-000001`` …     a sort of the per-group table (total EAD descending, then smallest member)
EAD per firm and per group        distributed, summed in the embedded order (facility, member id), so equal
                                  to the last bit
exposures, ratios, limits,        distributed (column expressions)
statuses
breaches, screening list, flags   ``mapInPandas`` on the executors: the embedded ``limit_breaches``,
                                  ``screening_list`` and ``limit_flags`` on batches of the few rows that can
                                  breach, be screened or be flagged (each row carries what it needs: its group's
                                  basis, its breaches, its group's 50 largest members)
================================  ===============================================================================

Nothing is collected to the driver. The tables come in the embedded row order (``orderBy`` in their plans); the
flags do not (the scan orders every analysis's flags together).

>>> out = groups_analysis(tables, date(2026, 6, 30), Config(thresholds={"tier1_capital": 5e9}))  # doctest: +SKIP
>>> sorted(out)  # doctest: +SKIP
['flags', 'group_exposures', 'groups', 'groups_writeback', 'lex_screening', 'limit_breaches']
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from graphrisk.analysis import FLAG_COLUMNS
from graphrisk.analysis.groups import (
    _EPS,
    _EVIDENCE_ITEMS,
    _FLAG_MEMBERS,
    _RENDER,
    _STATUS,
    BASES,
    BREACH_COLUMNS,
    EXPOSURE_COLUMNS,
    GROUP_COLUMNS,
    SCREENING_COLUMNS,
    _limits,
    limit_breaches,
    limit_flags,
    screening_list,
)
from graphrisk.config import Config
from graphrisk.engines.spark import steps as S
from graphrisk.units import format_share

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["WRITEBACK_COLUMNS", "firm_ead", "group_figures", "groups_analysis", "render_ties", "tie_details"]

# The groups table with its group's large-exposure figures: the optional columns of
# ``neo4j_io.counterparty_group_events`` (what the embedded ``groups.writeback_rows`` sends per member).
WRITEBACK_COLUMNS = (*GROUP_COLUMNS, "ratio_to_tier1", "limit_status", "large_exposure")

_TIE_TEXT_SCHEMA = "member_id string, basis_code int, other_person boolean, other_id string, side int, text string"
_DETAIL_COLUMNS = {
    "controller_id": "string",
    "kind": "string",
    "rule": "string",
    "share": "double",
    "path": "string",
    "via_state": "boolean",
    "amount": "double",
    "net_assets": "double",
    "ratio": "double",
    "year": "double",
    "revenue": "double",
    "purchases": "double",
    "by_revenue": "boolean",
    "by_purchases": "boolean",
}


def _F():  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    return F


def _schema(columns: tuple[str, ...], types: dict[str, str]) -> str:
    return ", ".join(f"{c} {types.get(c, 'string')}" for c in columns)


_BREACH_TYPES = {"limit": "double", "ratio": "double", "ead": "double"}
_SCREENING_TYPES = {"ead": "double", "ratio_to_tier1": "double", "in_group": "boolean"}


def _for_spark(frame: pd.DataFrame, columns: tuple[str, ...], types: dict[str, str]) -> pd.DataFrame:
    """``frame`` with object dtype for every text column: pandas 3's Arrow strings break pyspark 3.5's serializer."""
    out = frame[list(columns)].copy()
    for c in columns:
        if types.get(c, "string") == "string":
            values = [None if pd.isna(v) else str(v) for v in out[c].tolist()]
            out[c] = pd.Series(values, index=out.index, dtype=object)
    return out


# ----------------------------------------------------------------------------------------------- EAD


def _ordered_total(items: Column, value: str) -> Column:
    """The sum of ``value`` over an array of structs, left to right from 0.0: numpy's ``bincount`` and
    ``add.at`` add in row order, so a sorted array gives their result to the last bit."""
    F = _F()
    return F.aggregate(F.array_sort(items), F.lit(0.0), lambda acc, x: acc + x[value])


def firm_ead(tables: dict[str, DataFrame]) -> DataFrame:
    """``id, ead``: each enterprise's exposure at default, summed over its facilities in facility order (a missing
    facility id last), as the embedded graph sums them; enterprises without a facility have no row."""
    F = _F()
    firms = tables["enterprises"].select(F.col("id").alias("borrower_id"))
    exp = tables["exposures"].join(firms, "borrower_id", "left_semi")
    item = F.struct(F.col("facility_id").isNull().alias("n"), F.col("facility_id").alias("f"), F.col("ead").alias("e"))
    return exp.groupBy(F.col("borrower_id").alias("id")).agg(_ordered_total(F.collect_list(item), "e").alias("ead"))


# ----------------------------------------------------------------------------------------------- ties


def tie_details(
    tables: dict[str, DataFrame],
    as_of: date,
    ties: DataFrame,
    controllers: DataFrame | None,
    *,
    supply_share: float = 0.5,
    group_through_state: bool = False,
) -> DataFrame:
    """``ties`` (``a_id, b_id, basis`` of :func:`.steps.group_ties`) with the figures their evidence names: the
    controller row for ``control`` (``controller_id, kind, rule, share, path, via_state``), the guarantees in force
    summed per pair and the guarantor's net assets for ``guarantee`` (``amount, net_assets, ratio``, infinite when
    the net assets are not positive), the latest supply link for ``supply`` (``year, revenue, purchases,
    by_revenue, by_purchases``). Columns of other bases are null."""
    F = _F()
    from pyspark.sql import Window

    parts: list[DataFrame] = []
    if controllers is not None:
        c = controllers.select(
            F.col("company_id").alias("a_id"),
            "controller_id",
            F.col("controller_kind").alias("kind"),
            "rule",
            F.col("control_share").cast("double").alias("share"),
            "path",
            ((F.col("controller_kind") == "state") & F.lit(not group_through_state)).alias("via_state"),
        )
        parts.append(ties.where(F.col("basis") == "control").join(c, "a_id", "left"))

    act = S.active_guarantees(tables, as_of).groupBy("src", "dst").agg(F.sum("amount").alias("amount"))
    net = tables["enterprises"].select(F.col("id").alias("src"), "net_assets")
    g = act.join(net, "src", "left").select(
        F.col("src").alias("a_id"),
        F.col("dst").alias("b_id"),
        "amount",
        "net_assets",
        F.when(F.col("net_assets") > 0, F.col("amount") / F.col("net_assets"))
        .otherwise(F.lit(float("inf")))
        .alias("ratio"),
    )
    parts.append(ties.where(F.col("basis") == "guarantee").join(g, ["a_id", "b_id"], "left"))

    s = tables["supply_links"].where(F.col("supplier_id") != F.col("customer_id"))
    latest = Window.partitionBy("supplier_id", "customer_id").orderBy(F.coalesce(F.col("year"), F.lit(-1)).desc())
    s = s.withColumn("_r", F.row_number().over(latest)).where(F.col("_r") == 1)
    limit = supply_share - _EPS
    s = s.select(
        F.col("supplier_id").alias("a_id"),
        F.col("customer_id").alias("b_id"),
        F.col("year").cast("double").alias("year"),
        F.col("share_of_supplier_revenue").alias("revenue"),
        F.col("share_of_customer_purchases").alias("purchases"),
        F.coalesce(F.col("share_of_supplier_revenue") >= limit, F.lit(False)).alias("by_revenue"),
        F.coalesce(F.col("share_of_customer_purchases") >= limit, F.lit(False)).alias("by_purchases"),
    )
    parts.append(ties.where(F.col("basis") == "supply").join(s, ["a_id", "b_id"], "left"))
    parts.append(ties.where(F.col("basis").isin("repayment_source", "funding_source")))

    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p, allowMissingColumns=True)
    return out.select("a_id", "b_id", "basis", *[F.col(c).cast(t).alias(c) for c, t in _DETAIL_COLUMNS.items()])


def render_ties(frame: pd.DataFrame) -> pd.DataFrame:
    """The evidence texts of a batch of ties as seen from their member ends, by the embedded renderers.

    ``frame`` has the columns of :func:`tie_details` and ``want_a``/``want_b`` (the end is a group member),
    ``a_person``/``b_person`` (the end is a person). Returns one row per wanted end: ``member_id, basis_code``
    (index in ``BASES``), ``other_person, other_id`` (the other end), ``side`` (0 from a, 1 from b), ``text``.
    The renderers take integer node positions and the ids as an Arrow array: positions into the batch's own ids
    give the same text as the portfolio's.

    >>> f = pd.DataFrame({"a_id": ["B"], "b_id": ["A"], "basis": ["repayment_source"], "want_a": [True],
    ...                   "want_b": [True], "a_person": [False], "b_person": [False]})
    >>> render_ties(f)[["member_id", "text"]].values.tolist()
    [['B', 'main repayment source A'], ['A', 'main repayment source of B']]
    """
    out: list[pd.DataFrame] = []
    for code, basis in enumerate(BASES):
        f = frame[frame["basis"] == basis].reset_index(drop=True)
        if not len(f):
            continue
        ends = [f["a_id"], f["b_id"]]
        if basis == "control":
            ends.append(f["controller_id"].dropna())
        index = pd.Index(pd.unique(pd.concat(ends, ignore_index=True).astype(object).to_numpy()))
        ids = pa.array([str(x) for x in index], pa.large_string())
        part = pd.DataFrame({"a": index.get_indexer(f["a_id"]), "b": index.get_indexer(f["b_id"])})
        if basis == "control":
            part["controller"] = index.get_indexer(f["controller_id"])
            for c in ("kind", "rule", "path"):
                part[c] = f[c].astype(object)
            part["share"] = f["share"].astype("float64")
            part["via_state"] = f["via_state"].astype(bool)
        elif basis == "guarantee":
            for c in ("amount", "net_assets", "ratio"):
                part[c] = f[c].astype("float64")
        elif basis == "supply":
            for c in ("year", "revenue", "purchases"):
                part[c] = f[c].astype("float64")
            part["by_revenue"] = f["by_revenue"].astype(bool)
            part["by_purchases"] = f["by_purchases"].astype(bool)
        want_a = f["want_a"].to_numpy(dtype=bool)
        want_b = f["want_b"].to_numpy(dtype=bool)
        from_a, from_b = _RENDER[basis](part, ids, want_a, want_b)
        for want, member, other, person, side, text in (
            (want_a, "a_id", "b_id", "b_person", 0, from_a),
            (want_b, "b_id", "a_id", "a_person", 1, from_b),
        ):
            out.append(
                pd.DataFrame(
                    {
                        "member_id": pd.Series(f[member][want].tolist(), dtype=object),
                        "basis_code": np.full(int(want.sum()), code, dtype=np.int32),
                        "other_person": f[person][want].to_numpy(dtype=bool),
                        "other_id": pd.Series(f[other][want].tolist(), dtype=object),
                        "side": np.full(int(want.sum()), side, dtype=np.int32),
                        "text": pd.Series(text.to_pylist(), dtype=object),
                    }
                )
            )
    if not out:
        types = {"member_id": object, "basis_code": np.int32, "other_person": bool, "other_id": object,
                 "side": np.int32, "text": object}  # fmt: skip
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in types.items()})
    return pd.concat(out, ignore_index=True)


def _render_batches(batches: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
    for frame in batches:
        yield render_ties(frame)


# ----------------------------------------------------------------------------------------------- groups


def _members(tables: dict[str, DataFrame], ties: DataFrame, ead: DataFrame) -> DataFrame:
    """``group_id, member_id, ead, _n`` (the group number): the components of ``steps.counterparty_groups``
    numbered as the embedded engine numbers them, by total EAD (summed in member order) descending, then the
    smallest member id."""
    F = _F()
    from pyspark.sql import Window

    members = (
        S.counterparty_groups(tables, ties)
        .drop("ead")
        .join(ead.withColumnRenamed("id", "member_id"), "member_id", "left")
    )
    members = members.withColumn("ead", F.coalesce(F.col("ead"), F.lit(0.0)))
    item = F.struct(F.col("member_id").alias("m"), F.col("ead").alias("e"))
    per = members.groupBy("group_key").agg(
        _ordered_total(F.collect_list(item), "e").alias("_total"), F.min("member_id").alias("_first")
    )
    per = per.withColumn("_n", F.row_number().over(Window.orderBy(F.col("_total").desc(), F.col("_first"))))
    # format_string, not lpad: lpad would cut a seventh digit off.
    return members.join(per.select("group_key", "_n"), "group_key").select(
        F.format_string("CG-%06d", F.col("_n")).alias("group_id"), "member_id", "ead", F.col("_n").cast("long")
    )


def _evidence(details: DataFrame, members: DataFrame, tables: dict[str, DataFrame]) -> DataFrame:
    """``member_id, basis, evidence``: every tie of a member, sorted by basis and the other end (firms before
    persons, each by id; from its own side first), the first few spelled out and the rest counted."""
    F = _F()
    # Each firm once, marked when it is a member; an end that is not a firm is a person.
    firms = tables["enterprises"].select(F.col("id").alias("member_id")).distinct()
    firms = firms.join(members.select("member_id", F.lit(True).alias("_m")), "member_id", "left")
    firms = firms.select("member_id", F.coalesce(F.col("_m"), F.lit(False)).alias("_m"))

    def end(side: str) -> DataFrame:
        return firms.select(F.col("member_id").alias(f"{side}_id"), F.col("_m").alias(f"_{side}"))

    t = details.join(end("a"), "a_id", "left").join(end("b"), "b_id", "left")
    t = t.select(
        "a_id",
        "b_id",
        "basis",
        *_DETAIL_COLUMNS,
        F.coalesce("_a", F.lit(False)).alias("want_a"),
        F.coalesce("_b", F.lit(False)).alias("want_b"),
        F.col("_a").isNull().alias("a_person"),
        F.col("_b").isNull().alias("b_person"),
    ).where(F.col("want_a") | F.col("want_b"))
    texts = t.mapInPandas(_render_batches, _TIE_TEXT_SCHEMA)
    item = F.struct("basis_code", "other_person", "other_id", "side", "text")
    per = texts.groupBy("member_id").agg(
        F.array_sort(F.collect_list(item)).alias("_items"), F.collect_set("basis_code").alias("_codes")
    )
    shown = F.concat_ws("; ", F.transform(F.slice("_items", 1, _EVIDENCE_ITEMS), lambda x: x["text"]))
    extra = F.size("_items") - _EVIDENCE_ITEMS
    evidence = F.when(extra > 0, F.concat(shown, F.lit("; … and "), extra.cast("string"), F.lit(" more ties")))
    basis = F.concat_ws(";", F.array(*[F.when(F.array_contains("_codes", i), F.lit(b)) for i, b in enumerate(BASES)]))
    return per.select("member_id", basis.alias("basis"), evidence.otherwise(shown).alias("evidence"))


# ----------------------------------------------------------------------------------------------- exposures


def group_figures(members: DataFrame, names: DataFrame) -> DataFrame:
    """One row per group: ``group_id, _n, members, ead`` (summed in member order) and ``lead_name``, the name of
    its member with the largest EAD (the smallest id on equal EAD), which names the group in the exposures."""
    F = _F()
    from pyspark.sql import Window

    lead = Window.partitionBy("group_id").orderBy(F.col("ead").desc(), F.col("member_id"))
    first = (
        members.withColumn("_r", F.row_number().over(lead))
        .where(F.col("_r") == 1)
        .join(names.withColumnRenamed("id", "member_id"), "member_id", "left")
        .select("group_id", F.coalesce(F.col("name"), F.lit("")).alias("lead_name"))
    )
    item = F.struct(F.col("member_id").alias("m"), F.col("ead").alias("e"))
    per = members.groupBy("group_id", "_n").agg(
        F.count("*").alias("members"), _ordered_total(F.collect_list(item), "e").alias("ead")
    )
    return per.join(first, "group_id")


def _exposures(
    members: DataFrame,
    ead: DataFrame,
    tables: dict[str, DataFrame],
    tier1_capital: float,
    *,
    large_exposure: float,
    limits: dict[str, float],
    near_breach: float,
) -> DataFrame:
    """The embedded ``large_exposures`` as column expressions: a row per group with an exposure and per client,
    ratios to Tier 1, the applicable limits with their statuses, the worst status. Ordering columns ``_single``
    and ``_key`` are kept for the embedded row order (EAD descending, groups first, then group number or id)."""
    F = _F()
    names = tables["enterprises"].select("id", "name")
    figures = group_figures(members, names)
    groups = figures.where(F.col("ead") > 0).select(
        F.col("group_id").alias("counterparty_id"),
        F.lit("group").alias("kind"),
        F.concat(F.col("lead_name"), F.lit("等"), F.col("members").cast("string"), F.lit("户")).alias("name"),
        F.col("members").cast("long").alias("members"),
        "group_id",
        "ead",
        F.lit(0).alias("_single"),
        F.format_string("%020d", F.col("_n")).alias("_key"),
    )
    firms = ead.join(names, "id").where(F.col("ead") > 0)
    firms = firms.join(members.select(F.col("member_id").alias("id"), "group_id"), "id", "left")
    singles = firms.select(
        F.col("id").alias("counterparty_id"),
        F.lit("single").alias("kind"),
        F.coalesce(F.col("name"), F.lit("")).alias("name"),
        F.lit(1).cast("long").alias("members"),
        "group_id",
        "ead",
        F.lit(1).alias("_single"),
        F.col("id").alias("_key"),
    )
    frame = groups.unionByName(singles)
    assessed = tier1_capital > 0
    is_group, is_single = F.col("kind") == "group", F.col("kind") == "single"
    applies_to = {
        "group": is_group,
        "single": is_single,
        "counterparty": is_group | (is_single & F.col("group_id").isNull()),
    }
    ratio = F.col("ead") / F.lit(float(tier1_capital)) if assessed else F.lit(None).cast("double")
    texts: list[Column] = []
    uses: list[Column] = []
    statuses: list[Column] = []
    for lim in _limits(limits):
        applies = applies_to[lim.applies_to]
        label = f"{lim.name} {format_share(lim.value)}"
        if assessed:
            status = F.when(ratio > F.lit(lim.value + _EPS), 2).when(ratio >= F.lit(near_breach * lim.value - _EPS), 1)
            status = status.otherwise(0)
            names_of = F.array(*[F.lit(s) for s in _STATUS])
            texts.append(F.when(applies, F.concat(F.lit(label + ": "), names_of[status])))
            uses.append(F.when(applies, ratio / F.lit(lim.value)))
            statuses.append(F.when(applies, status))
        else:
            texts.append(F.when(applies, F.lit(label)))

    # numpy's round(x, 12) is rint(x · 10¹²) / 10¹²: the same operations give the same doubles.
    def rounded(x: Column) -> Column:
        return F.rint(x * F.lit(1e12)) / F.lit(1e12)

    if assessed:
        worst = F.greatest(F.lit(0), *statuses)
        status_text = F.array(*[F.lit(s) for s in _STATUS])[worst]
        use = F.greatest(*uses) if len(uses) > 1 else uses[0]
        large = ratio >= F.lit(large_exposure - _EPS)
    else:
        status_text = F.lit("not_assessed")
        use = F.lit(None).cast("double")
        large = F.lit(None).cast("boolean")
    return frame.select(
        "counterparty_id",
        "kind",
        "name",
        "members",
        "group_id",
        "ead",
        rounded(ratio).alias("ratio_to_tier1"),
        large.alias("large_exposure"),
        F.concat_ws("; ", *texts).alias("limits"),
        rounded(use).alias("limit_use"),
        status_text.alias("limit_status"),
        "_single",
        "_key",
    )


# ------------------------------------------------------------------------------------ breaches, screening, flags


def _breach_batches(tier1_capital: float, limits: dict[str, float], near_breach: float):  # type: ignore[no-untyped-def]
    def run(batches: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
        for frame in batches:
            out = limit_breaches(frame, tier1_capital, limits=limits, near_breach=near_breach)
            yield _for_spark(out, BREACH_COLUMNS, _BREACH_TYPES)

    return run


def _screening_batches(tier1_capital: float, screening: float):  # type: ignore[no-untyped-def]
    def run(batches: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
        for frame in batches:
            # Each client row carries its own group's basis: the group table the embedded function looks it up in.
            inside = frame[frame["_basis"].notna()]
            groups = pd.DataFrame(
                {
                    "member_id": pd.Series(inside["counterparty_id"].tolist(), dtype=object),
                    "basis": pd.Series(inside["_basis"].tolist(), dtype=object),
                }
            )
            out = screening_list(frame[list(EXPOSURE_COLUMNS)], groups, tier1_capital, screening=screening)
            yield _for_spark(out, SCREENING_COLUMNS, _SCREENING_TYPES)

    return run


def _records(items: Any) -> list[dict[str, Any]]:
    """An array-of-structs cell as dicts (Arrow hands structs over as dicts or Rows; a null array as None)."""
    if items is None:
        return []
    return [dict(x) if isinstance(x, dict) else x.asDict() for x in items]


def _flag_batches(tier1_capital: float, large_exposure: float):  # type: ignore[no-untyped-def]
    def run(batches: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
        for frame in batches:
            exposures = frame[list(EXPOSURE_COLUMNS)].reset_index(drop=True)
            rows: list[dict[str, Any]] = []
            for cid, items in zip(frame["counterparty_id"], frame["breach_items"], strict=True):
                rows.extend({"counterparty_id": cid, **item} for item in _records(items))
            breaches = pd.DataFrame(rows, columns=["counterparty_id", "order", "limit_name", "status", "reason"])
            # The embedded table's order within one counterparty: breaches first, then by limit name.
            breaches = breaches.sort_values(["counterparty_id", "order", "limit_name"]).reset_index(drop=True)
            members: list[pd.DataFrame] = []
            grouped = frame[frame["kind"] == "group"]
            for gid, size, listed in zip(
                grouped["counterparty_id"], grouped["members"], grouped["top_members"], strict=True
            ):
                top = pd.DataFrame(_records(listed), columns=["member_id", "name", "ead", "basis"])
                top = top.sort_values("member_id")
                # The group's other members are never listed (they are not among the 50 largest) but count in
                # members_total: placeholders that sort after every member stand in for them.
                rest = int(size) - len(top)
                filler = pd.DataFrame({"member_id": [""] * rest, "name": [""] * rest,
                                       "ead": np.full(rest, -np.inf), "basis": [""] * rest})  # fmt: skip
                block = pd.concat([top, filler], ignore_index=True)
                block.insert(0, "group_id", str(gid))
                members.append(block)
            groups = (
                pd.concat(members, ignore_index=True)
                if members
                else pd.DataFrame(columns=["group_id", "member_id", "name", "ead", "basis"])
            )
            out = limit_flags(exposures, breaches, groups, tier1_capital, large_exposure=large_exposure)
            yield _for_spark(out, FLAG_COLUMNS, {})

    return run


def _empty(spark: SparkSession, columns: tuple[str, ...], types: dict[str, str]) -> DataFrame:
    return spark.createDataFrame([], _schema(columns, types))


# ----------------------------------------------------------------------------------------------- the analysis


def groups_analysis(
    tables: dict[str, DataFrame],
    as_of: date,
    config: Config | None = None,
    controllers: DataFrame | None = None,
    *,
    ties: DataFrame | None = None,
) -> dict[str, DataFrame]:
    """The embedded ``counterparty_groups`` analysis on Spark: its tables (``groups``, ``group_exposures``,
    ``limit_breaches``, ``lex_screening``) with the embedded columns, ``flags`` (``limit_breach``,
    ``limit_near_breach``, ``large_exposure``) and ``groups_writeback`` (the groups with their group's
    ``ratio_to_tier1``, ``limit_status``, ``large_exposure``: the input of ``neo4j_io.counterparty_group_events``).

    ``controllers`` is :func:`.ownership.actual_controllers`' table; without it the controllers are computed
    with the configured control thresholds. Thresholds come from ``config`` (``tier1_capital`` 0, the default,
    forms the groups but assesses nothing, as embedded). Guarantees count when in force on ``as_of``. ``ties``
    spares computing :func:`.steps.group_ties` again when the caller has them (with the same thresholds).

    >>> out = groups_analysis(tables, date(2026, 6, 30), Config(thresholds={"tier1_capital": 5e9}))  # doctest: +SKIP
    >>> out["limit_breaches"].select("counterparty_id", "limit_name", "status").show()  # doctest: +SKIP
    """
    F = _F()
    th = (config or Config()).threshold
    if controllers is None:
        from graphrisk.engines.spark import ownership as O

        state = O.control(tables, control_share=th("control_share"))
        controllers = O.actual_controllers(
            tables, state, relative_share=th("relative_control_share"), relative_lead=th("relative_control_lead")
        )
    through_state = th("lex_group_through_state") >= 0.5
    if ties is None:
        ties = S.group_ties(
            tables,
            as_of,
            controllers,
            guarantee_net_assets=th("lex_guarantee_net_assets"),
            supply_share=th("lex_supply_share"),
            group_through_state=through_state,
        ).localCheckpoint()
    ead = firm_ead(tables).localCheckpoint()
    members = _members(tables, ties, ead).localCheckpoint()
    details = tie_details(
        tables, as_of, ties, controllers, supply_share=th("lex_supply_share"), group_through_state=through_state
    )
    evidence = _evidence(details, members, tables)
    names = tables["enterprises"].select(F.col("id").alias("member_id"), "name")
    groups = (
        members.join(names, "member_id", "left")
        .join(evidence, "member_id", "left")
        .select(
            "group_id",
            "member_id",
            F.coalesce(F.col("name"), F.lit("")).alias("name"),
            "basis",
            "evidence",
            "ead",
            "_n",
        )
        .localCheckpoint()
    )

    tier1 = float(th("tier1_capital"))
    large = th("lex_large_exposure")
    near = th("lex_near_breach")
    limit_values = {name: th(name) for name in ("lex_basel_limit", "cbirc_single_limit", "cbirc_group_limit")}
    exposures = _exposures(
        members, ead, tables, tier1, large_exposure=large, limits=limit_values, near_breach=near
    ).localCheckpoint()
    by_group = exposures.where(F.col("kind") == "group").select(
        "group_id", "ratio_to_tier1", "limit_status", "large_exposure"
    )
    writeback = groups.join(by_group, "group_id", "left").select(*WRITEBACK_COLUMNS)
    spark = exposures.sparkSession
    out = {
        "groups": groups.orderBy("_n", "member_id").select(*GROUP_COLUMNS),
        "group_exposures": exposures.orderBy(F.col("ead").desc(), "_single", "_key").select(*EXPOSURE_COLUMNS),
        "groups_writeback": writeback,
    }
    if tier1 <= 0:
        out["limit_breaches"] = _empty(spark, BREACH_COLUMNS, _BREACH_TYPES)
        out["lex_screening"] = _empty(spark, SCREENING_COLUMNS, _SCREENING_TYPES)
        out["flags"] = _empty(spark, FLAG_COLUMNS, {})
        return out

    # Only rows that can be over or near a limit reach Python (breaches use the rounded ratio, as embedded).
    ratio = F.col("ratio_to_tier1")
    lims = _limits(limit_values)
    near_any = (ratio > F.lit(min(lim.value + _EPS for lim in lims))) | (
        ratio >= F.lit(min(near * lim.value - _EPS for lim in lims))
    )
    breaches = (
        exposures.where(near_any)
        .select(*EXPOSURE_COLUMNS)
        .mapInPandas(_breach_batches(tier1, limit_values, near), _schema(BREACH_COLUMNS, _BREACH_TYPES))
        .localCheckpoint()
    )
    out["limit_breaches"] = breaches.orderBy(
        (F.col("status") != "breach").cast("int"), F.col("ratio").desc(), "counterparty_id", "limit_name"
    )

    screened = exposures.where((F.col("kind") == "single") & (ratio > F.lit(th("lex_screening") + _EPS)))
    screened = screened.join(
        groups.select(F.col("member_id").alias("counterparty_id"), F.col("basis").alias("_basis")),
        "counterparty_id",
        "left",
    )
    out["lex_screening"] = (
        screened.select(*EXPOSURE_COLUMNS, "_basis")
        .mapInPandas(_screening_batches(tier1, th("lex_screening")), _schema(SCREENING_COLUMNS, _SCREENING_TYPES))
        .orderBy(F.col("ead").desc(), "firm_id")
    )

    per_breach = breaches.groupBy("counterparty_id").agg(
        F.collect_list(
            F.struct(
                (F.col("status") != "breach").cast("int").alias("order"),
                "limit_name",
                "status",
                "reason",
            )
        ).alias("breach_items")
    )
    candidates = exposures.join(per_breach, "counterparty_id", "left").where(
        F.col("breach_items").isNotNull()
        | (F.col("large_exposure") & ((F.col("kind") == "group") | F.col("group_id").isNull()))
    )
    from pyspark.sql import Window

    by_ead = Window.partitionBy("group_id").orderBy(F.col("ead").desc(), F.col("member_id"))
    top = (
        groups.join(candidates.where(F.col("kind") == "group").select("group_id"), "group_id", "left_semi")
        .withColumn("_r", F.row_number().over(by_ead))
        .where(F.col("_r") <= _FLAG_MEMBERS)
        .groupBy(F.col("group_id").alias("counterparty_id"))
        .agg(F.collect_list(F.struct("member_id", "name", "ead", "basis")).alias("top_members"))
    )
    candidates = candidates.join(top, "counterparty_id", "left")
    out["flags"] = candidates.select(*EXPOSURE_COLUMNS, "breach_items", "top_members").mapInPandas(
        _flag_batches(tier1, large), _schema(FLAG_COLUMNS, {})
    )
    return out
