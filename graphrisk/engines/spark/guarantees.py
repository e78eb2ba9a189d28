"""The guarantee analysis on Spark: the embedded ``guarantee_analysis`` tables and flags, by weak component.

Everything the embedded analysis reports about one firm or one pattern depends only on the weak component of the
active guarantee graph that holds it: mutual and joint guarantees, revolving cycles (inside a strongly connected
component, itself inside a weak one), chain depths and reach (the condensation of the component), k-shells, stars
(a circle's guaranteed amount), circle measures, the CSRC capacity triggers and every flag. So the work is split:

======================================  ==========================================================================
what                                    where
======================================  ==========================================================================
active guarantees, weak components      distributed (:mod:`.steps`, joins)
circle numbers ``circle-00001`` …       a sort of the per-circle table (size descending, then smallest member id)
patterns, circles, firms, flags         ``cogroup(...).applyInPandas`` on the executors, grouped by batch of
                                        whole weak components: the embedded ``guarantee_patterns`` and
                                        ``guarantee_flags`` on a small ``EnterpriseGraph`` of the batch's firms
                                        (net assets, PD, EAD, debt ratio, default, actual controller joined in
                                        before the group-by) and their active guarantees
pattern numbers ``mutual-00001`` …      a sort of the per-pattern table (one row per pattern), by the embedded
                                        ordering rule of each pattern
firms' ``patterns`` column, the         distributed: members exploded, joined with the global pattern ids and
pattern ids inside flags                collected per firm in the embedded order
======================================  ==========================================================================

Why batches and not one call per component: a component is the unit of the analysis, but building a graph and
running the embedded functions costs a tenth of a second per call whatever its size, and most components are a
pair of firms. So each call takes a batch of whole components (``pmod(xxhash64(component), batches)``), which
gives the same answers because no result crosses a component. A firm without an active guarantee is in no
component and in no batch. A batch holds at worst the largest weak component plus its share of the others (firms
in components / ``batches``): the largest weak component bounds the memory and time of one task; inside it the
embedded bounds hold (revolving cycles of at most ``guarantee_cycle_length_bound`` firms, at most
``guarantee_cycle_cap`` per strongly connected component; the triad census up to
``guarantee_triad_census_max_firms`` firms). Nothing is collected to the driver; the task output is checkpointed
once so the embedded work runs once.

One difference remains possible, only where the embedded analysis truncates: when a strongly connected component
has more revolving cycles than the cap, networkx picks which ``cap`` cycles it lists in an order that depends on
the integer node labels (set iteration), and the labels of a component's small graph are not the portfolio's.
The count (``cycles_in_component``), the ``truncated`` detail and the reason's truncation note are the same.

>>> # doctest: +SKIP
>>> out = guarantee_analysis(tables, date(2026, 6, 30), Config(), controllers=controllers)
>>> sorted(out)
['flags', 'guarantee_circles', 'guarantee_patterns', 'guarantors']
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from graphrisk.analysis import FLAG_COLUMNS
from graphrisk.analysis.guarantees import (
    CIRCLE_COLUMNS,
    FIRM_COLUMNS,
    PATTERN_COLUMNS,
    PATTERNS,
    GuaranteeAnalysis,
    GuaranteePattern,
    guarantee_flags,
    guarantee_patterns,
)
from graphrisk.config import Config

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["CIRCLE_MIN_SIZE", "guarantee_analysis"]

CIRCLE_MIN_SIZE = 3  # the embedded guarantee_patterns default, which the scan uses

# Enterprise attributes the embedded guarantee functions read (besides id and EAD).
_FIRM_ATTRIBUTES = ("name", "pd", "net_assets", "total_assets", "total_liabilities", "defaulted")
_GUARANTEE_COLUMNS = ("guarantor_id", "borrower_id", "amount", "loan_id", "kind", "start_date", "end_date", "currency")

# One wide schema for every row a batch task returns; ``_table`` says which output a row belongs to. Columns
# shared by several outputs (reason, ead, circle_id, entity_id …) have one type in all of them.
_OUT_FIELDS: tuple[tuple[str, str], ...] = (
    ("_table", "string"),
    ("_batch", "long"),
    # guarantee_patterns, with the sort key of the embedded numbering and the local id
    ("pattern", "string"),
    ("pattern_id", "string"),
    ("size", "long"),
    ("members", "string"),
    ("_members", "array<string>"),
    ("guaranteed_amount", "double"),
    ("ead", "double"),
    ("defaulted_members", "long"),
    ("reason", "string"),
    ("details", "string"),
    ("_k0", "long"),
    ("_k1", "string"),
    ("_k2", "array<string>"),
    # guarantee_circles
    ("circle_id", "string"),
    ("firms", "long"),
    ("edges", "long"),
    ("guarantees", "long"),
    ("pd_mean", "double"),
    ("pd_max", "double"),
    ("pd_missing", "long"),
    ("large", "boolean"),
    ("core_firms", "long"),
    ("core_members", "string"),
    ("mutual_pairs", "long"),
    ("connected_pairs", "long"),
    ("reciprocity", "double"),
    ("density", "double"),
    ("max_k_shell", "long"),
    ("innermost_shell", "string"),
    ("longest_chain", "long"),
    ("revolving_cycles", "long"),
    ("mutual_triad_share", "double"),
    ("triad_census", "string"),
    ("anchor_id", "string"),
    # guarantors
    ("entity_id", "string"),
    ("name", "string"),
    ("role", "string"),
    ("given_count", "long"),
    ("given_amount", "double"),
    ("received_count", "long"),
    ("received_amount", "double"),
    ("borrowers", "long"),
    ("guarantors", "long"),
    ("net_assets", "double"),
    ("leverage", "double"),
    ("largest_guarantee", "double"),
    ("largest_guarantee_ratio", "double"),
    ("weak_borrowers", "long"),
    ("upstream_depth", "long"),
    ("downstream_depth", "long"),
    ("downstream_reach", "long"),
    ("k_shell", "long"),
    ("triggers", "string"),
    # flags; a flag naming a pattern carries the local pattern id and its text without it
    ("flag", "string"),
    ("severity", "string"),
    ("evidence", "string"),
    ("_pattern_local", "string"),
    ("_reason_tagged", "boolean"),
)
_OUT_SCHEMA = ", ".join(f"{n} {t}" for n, t in _OUT_FIELDS)
_EVIDENCE_HEAD = '{"pattern_id": "'
_REASON_HEAD = "member of "


@dataclass(frozen=True)
class _Params:
    """The thresholds of the embedded ``guarantee_analysis``, read once on the driver and shipped to the tasks."""

    as_of: date
    with_controllers: bool
    length_bound: int
    cycle_cap: int
    large_circle: int
    star_borrowers: int
    star_share: float
    triad_max_firms: int
    external_ratio: float
    single_ratio: float
    debt_ratio: float
    flag_all_max: int

    @classmethod
    def of(cls, config: Config, as_of: date, with_controllers: bool) -> _Params:
        th = config.threshold
        return cls(
            as_of=as_of,
            with_controllers=with_controllers,
            length_bound=int(th("guarantee_cycle_length_bound")),
            cycle_cap=int(th("guarantee_cycle_cap")),
            large_circle=int(th("guarantee_large_circle_size")),
            star_borrowers=int(th("guarantee_star_borrowers")),
            star_share=th("guarantee_star_share"),
            triad_max_firms=int(th("guarantee_triad_census_max_firms")),
            external_ratio=th("csrc_external_guarantee_ratio"),
            single_ratio=th("csrc_single_guarantee_ratio"),
            debt_ratio=th("csrc_borrower_debt_ratio"),
            flag_all_max=int(th("guarantee_circle_flag_all_max")),
        )


# ----------------------------------------------------------------------------------------------- one batch


def _component_graph(edges: pd.DataFrame, firms: pd.DataFrame) -> Any:
    """The ``EnterpriseGraph`` of a batch of whole weak components: firms, facilities and active guarantees.

    The graph sorts nodes by id and edges by (guarantor, borrower, loan, start) as the portfolio's graph does, so
    integer ids keep the portfolio's relative order and every embedded ordering rule gives the same order."""
    from graphrisk.graph import EnterpriseGraph
    from graphrisk.tables import Tables

    ent = pd.DataFrame({"id": firms["id"].astype(object), **{c: firms[c] for c in _FIRM_ATTRIBUTES}})
    counts = [len(v) if v is not None else 0 for v in firms["_facility_ids"]]
    exposures = pd.DataFrame(
        {
            "borrower_id": np.repeat(firms["id"].to_numpy(dtype=object), counts),
            "facility_id": [f for v in firms["_facility_ids"] if v is not None for f in v],
            "ead": [e for v in firms["_eads"] if v is not None for e in v],
        }
    )
    guarantees = edges[list(_GUARANTEE_COLUMNS)]
    return EnterpriseGraph(Tables.from_frames({"enterprises": ent, "guarantees": guarantees, "exposures": exposures}))


def _mutual_roots(analysis: GuaranteeAnalysis) -> dict[str, str]:
    """Firm id → smallest member id of its component of mutual pairs: the embedded order of pairwise joint groups
    follows these components (scipy labels them by smallest member)."""
    import scipy.sparse as sp
    from scipy.sparse import csgraph

    net = analysis.network
    both = sp.triu(net.structure.multiply(net.structure.T), k=1).tocoo()
    if not both.nnz:
        return {}
    m = sp.coo_array((np.ones(both.nnz), (both.row, both.col)), shape=(net.n, net.n))
    _, labels = csgraph.connected_components(m, directed=False)
    first = np.full(int(labels.max()) + 1, net.n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(net.n))
    nodes = np.union1d(both.row, both.col)
    return {_id(net, i): _id(net, int(first[labels[i]])) for i in nodes.tolist()}


def _id(net: Any, node: int) -> str:
    return str(net.graph.node_ids[node])


def _sort_key(p: GuaranteePattern, roots: dict[str, str]) -> tuple[int, str, list[str]]:
    """The embedded numbering order of a pattern among all patterns of its kind, as (k0, k1, k2)."""
    if p.pattern == "joint" and "loan_id" in p.details:  # loans first, by (borrower, loan)
        return 0, str(p.details["borrower"]), [str(p.details["loan_id"])]
    if p.pattern == "joint":  # then pairwise groups, by component of mutual pairs, then members
        return 1, roots[p.members[0]], list(p.members)
    if p.pattern == "circle":  # numbered already: its number
        return int(p.pattern_id.split("-")[1]), "", []
    if p.pattern == "chain":  # by circle number
        return int(p.details["circle_id"]), "", []
    if p.pattern == "star":  # by guarantor
        return 0, "", [p.members[0]]
    return 0, "", list(p.members)  # mutual, revolving, intra_group: by members


def _renumber_circle(p: GuaranteePattern, number: dict[int, int]) -> GuaranteePattern:
    """The pattern with the batch's circle numbers (``circle-00001`` …) replaced by the portfolio's (``number``:
    batch number → portfolio number, both from 1)."""
    if p.pattern == "circle":
        return replace(p, pattern_id=_circle_id(number[int(p.pattern_id.split("-")[1])]))
    if p.pattern == "chain":
        local = int(p.details["circle_id"])
        head = f"longest guarantee chain of {_circle_id(local)}: "
        assert p.reason.startswith(head), p.reason
        reason = f"longest guarantee chain of {_circle_id(number[local])}: " + p.reason[len(head) :]
        return replace(p, reason=reason, details={**p.details, "circle_id": number[local]})
    if p.pattern == "star" and p.details.get("circle_id") is not None:
        local = int(p.details["circle_id"])
        # Only a star by share names its circle in the reason; a star by count inside a circle does not.
        part = f" of {_circle_id(local)}'s guaranteed amount "
        reason = p.reason.replace(part, f" of {_circle_id(number[local])}'s guaranteed amount ", 1)
        return replace(p, reason=reason, details={**p.details, "circle_id": number[local]})
    return p


def _circle_id(number: int) -> str:
    return f"circle-{number:05d}"


def _plain_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns of :data:`_OUT_FIELDS`, each as object dtype with Python values and None for missing: pyspark
    3.5's Arrow serializer takes neither pandas 3's Arrow-backed strings nor NaN in a column it writes as long."""
    out = {}
    for name, kind in _OUT_FIELDS:
        if name not in frame:
            out[name] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        elif kind.startswith("array"):
            lists = [v if isinstance(v, list) else None for v in frame[name].tolist()]
            out[name] = pd.Series(lists, index=frame.index, dtype=object)
        else:
            values = frame[name].astype(object).where(frame[name].notna(), None)
            # A long column that met a missing value in the concatenation came back as floats.
            out[name] = values.map(lambda v: None if v is None else int(v)) if kind == "long" else values
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


def _analyse_batch(key: tuple[Any, ...], edges: pd.DataFrame, firms: pd.DataFrame, p: _Params) -> pd.DataFrame:
    """The embedded analysis of a batch of whole weak components, as rows of :data:`_OUT_FIELDS` (on an executor).

    Circles get the portfolio's numbers (``firms["_circle"]``, from the sort of the circle table) before the flags
    are made; the other patterns keep the batch's ids and carry their ordering key for the portfolio's numbering.
    """
    if not len(edges) or not len(firms):
        return _plain_frame(pd.DataFrame({"_table": pd.Series([], dtype=object)}))
    graph = _component_graph(edges, firms)
    controller_of: dict[str, str] | None = None
    if p.with_controllers:
        known = firms[firms["_controller_id"].notna()]
        controller_of = dict(zip(known["id"].astype(str), known["_controller_id"].astype(str), strict=True))
    a = guarantee_patterns(
        graph,
        as_of=p.as_of,
        controller_of=controller_of,
        length_bound=p.length_bound,
        cycle_cap=p.cycle_cap,
        circle_min_size=CIRCLE_MIN_SIZE,
        large_circle=p.large_circle,
        star_borrowers=p.star_borrowers,
        star_share=p.star_share,
        triad_max_firms=p.triad_max_firms,
        external_ratio=p.external_ratio,
        single_ratio=p.single_ratio,
        debt_ratio=p.debt_ratio,
    )
    # The batch numbers its circles by the portfolio's rule (size descending, then smallest member) restricted to
    # its own circles, so its k-th circle is the one with the k-th smallest portfolio number.
    ranks = sorted({int(c) for c in firms["_circle"].tolist() if c >= 0})
    number = {k: glob + 1 for k, glob in enumerate(ranks, start=1)}
    ids = {_circle_id(k): _circle_id(v) for k, v in number.items()}
    circles, firm_rows = a.circles.copy(), a.firms.copy()
    assert len(circles) == len(ranks), (len(circles), ranks)
    circles["circle_id"] = circles["circle_id"].map(ids)
    local_ids = firm_rows["circle_id"].astype(object).where(firm_rows["circle_id"].notna(), None).tolist()
    firm_rows["circle_id"] = pd.Series(
        [None if c is None else ids[c] for c in local_ids], index=firm_rows.index, dtype=object
    )
    expected = dict(zip(firms["id"].astype(str), firms["_circle"].tolist(), strict=True))
    assert all(
        (c is None and expected[f] < 0) or (c is not None and c == _circle_id(expected[f] + 1))
        for f, c in zip(firm_rows["entity_id"].astype(str), firm_rows["circle_id"], strict=True)
    ), "a batch's circles disagree with the portfolio's components"
    patterns = [_renumber_circle(q, number) for q in a.patterns]
    fixed = replace(a, patterns=patterns, circles=circles, firms=firm_rows)
    flags = guarantee_flags(
        fixed,
        large_circle=p.large_circle,
        external_ratio=p.external_ratio,
        single_ratio=p.single_ratio,
        flag_all_max=p.flag_all_max,
    )
    roots = _mutual_roots(a)
    rows = []
    for q in patterns:
        k0, k1, k2 = _sort_key(q, roots)
        rows.append({**q.to_row(), "_members": list(q.members), "_k0": k0, "_k1": k1, "_k2": k2})
    parts = [
        pd.DataFrame(rows, columns=[*PATTERN_COLUMNS, "_members", "_k0", "_k1", "_k2"]).assign(_table="pattern"),
        circles.assign(_table="circle"),
        firm_rows.drop(columns=["patterns"]).assign(_table="firm"),
        _local_pattern_ids(flags).assign(_table="flag"),
    ]
    out = _plain_frame(pd.concat([f for f in parts if len(f)], ignore_index=True))
    out["_batch"] = int(key[0])
    return out


def _local_pattern_ids(flags: pd.DataFrame) -> pd.DataFrame:
    """Flags naming a pattern (``in_revolving_cycle``, ``hub_guarantor``) with the batch's pattern id cut out
    of the reason and evidence: the portfolio's id is put back once the patterns are numbered."""
    flags = flags.copy()
    local: list[str | None] = []
    tagged: list[bool] = []
    reasons, evidence = flags["reason"].tolist(), flags["evidence"].tolist()
    for k, (flag, ev) in enumerate(zip(flags["flag"].tolist(), evidence, strict=True)):
        if flag not in ("in_revolving_cycle", "hub_guarantor"):
            local.append(None)
            tagged.append(False)
            continue
        pid = str(json.loads(ev)["pattern_id"])
        head = f'{_EVIDENCE_HEAD}{pid}"'
        assert ev.startswith(head), ev
        evidence[k] = ev[len(head) :]
        r_head = f"{_REASON_HEAD}{pid}"
        is_tagged = flag == "in_revolving_cycle"
        if is_tagged:
            assert reasons[k].startswith(r_head), reasons[k]
            reasons[k] = reasons[k][len(r_head) :]
        local.append(pid)
        tagged.append(is_tagged)
    return flags.assign(
        reason=pd.Series(reasons, index=flags.index, dtype=object),
        evidence=pd.Series(evidence, index=flags.index, dtype=object),
        _pattern_local=pd.Series(local, index=flags.index, dtype=object),
        _reason_tagged=pd.Series(tagged, index=flags.index, dtype=object),
    )


# ----------------------------------------------------------------------------------------------- the portfolio


def _F():  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    return F


def _active_rows(tables: dict[str, DataFrame], as_of: date) -> DataFrame:
    """The guarantee rows in force on ``as_of`` with every column the embedded network keeps (the filter of
    :func:`.steps.active_guarantees`, self-guarantees dropped)."""
    F = _F()
    g = tables["guarantees"]
    day = F.lit(as_of.isoformat()).cast("date")
    active = (g["start_date"].isNull() | (g["start_date"] <= day)) & (g["end_date"].isNull() | (g["end_date"] >= day))
    return g.where(active & (g["guarantor_id"] != g["borrower_id"])).select(*_GUARANTEE_COLUMNS)


def _circle_numbers(components: DataFrame) -> DataFrame:
    """``component``, ``_circle``: the embedded circle number (0-based) of every weak component, −1 under the
    circle size. Circles are ordered by size descending, then smallest member id (the component key): a sort of
    the per-circle table, one row per circle."""
    F = _F()
    from pyspark.sql import Window

    per = components.groupBy("component").agg(F.first("firms").alias("firms"))
    circles = per.where(F.col("firms") >= CIRCLE_MIN_SIZE)
    ranked = circles.withColumn(
        "_circle", F.row_number().over(Window.orderBy(F.col("firms").desc(), F.col("component"))) - 1
    )
    return per.join(ranked.select("component", "_circle"), "component", "left").select(
        "component", F.coalesce(F.col("_circle"), F.lit(-1)).cast("long").alias("_circle")
    )


def _batch_of(batches: int):  # type: ignore[no-untyped-def]
    """The batch of a component: whole components go together, spread evenly by a hash of their key."""
    F = _F()
    return F.pmod(F.xxhash64("component"), F.lit(batches)).alias("_batch")


def _component_firms(
    tables: dict[str, DataFrame], components: DataFrame, controllers: DataFrame | None, batches: int
) -> DataFrame:
    """One row per firm on an active guarantee: its batch, the attributes the embedded functions read, its
    facilities (as two aligned arrays), its actual controller and its component's circle number."""
    F = _F()
    ent = tables["enterprises"].select("id", *_FIRM_ATTRIBUTES)
    facilities = (
        tables["exposures"]
        .groupBy(F.col("borrower_id").alias("id"))
        .agg(F.collect_list(F.struct("facility_id", "ead")).alias("_f"))
        .select(
            "id",
            F.transform("_f", lambda x: x["facility_id"]).alias("_facility_ids"),
            F.transform("_f", lambda x: x["ead"]).alias("_eads"),
        )
    )
    firms = (
        components.select(F.col("entity_id").alias("id"), "component", _batch_of(batches))
        .join(ent, "id")
        .join(facilities, "id", "left")
        .join(_circle_numbers(components), "component")
    )
    if controllers is not None:
        # The embedded analysis reads one controller per company (actual_controllers gives one row each).
        ctl = (
            controllers.where(F.col("controller_id").isNotNull())
            .groupBy(F.col("company_id").alias("id"))
            .agg(F.max("controller_id").alias("_controller_id"))
        )
        firms = firms.join(ctl, "id", "left")
    else:
        firms = firms.withColumn("_controller_id", F.lit(None).cast("string"))
    return firms


def _numbered_patterns(patterns: DataFrame) -> DataFrame:
    """Patterns with the embedded ids: per kind, a row number over the embedded ordering key (a sort of the
    per-pattern table); circles keep the id their task gave them. ``_local`` keeps the task's id, ``_n`` the
    number and ``_order`` the kind's place in :data:`PATTERNS` (the order of a firm's ``patterns`` column)."""
    F = _F()
    from pyspark.sql import Window

    by_kind = Window.partitionBy("pattern").orderBy("_k0", "_k1", "_k2")
    order = F.create_map(*[v for i, name in enumerate(PATTERNS) for v in (F.lit(name), F.lit(i))])
    is_circle = F.col("pattern") == "circle"
    n = F.when(is_circle, F.col("_k0") + 1).otherwise(F.row_number().over(by_kind))
    return (
        patterns.withColumn("_local", F.col("pattern_id"))
        .withColumn("_n", n.cast("long"))
        .withColumn(
            "pattern_id",
            F.when(is_circle, F.col("pattern_id")).otherwise(F.format_string("%s-%05d", F.col("pattern"), F.col("_n"))),
        )
        .withColumn("_order", order[F.col("pattern")])
    )


def _firm_patterns(numbered: DataFrame) -> DataFrame:
    """``entity_id``, ``patterns``: a firm's pattern ids joined by ';' in the embedded order (kind, then number)."""
    F = _F()
    member = numbered.select(
        F.explode("_members").alias("entity_id"), F.struct("_order", "_n", "pattern_id").alias("_p")
    )
    return member.groupBy("entity_id").agg(
        F.concat_ws(";", F.transform(F.array_sort(F.collect_list("_p")), lambda x: x["pattern_id"])).alias("patterns")
    )


def guarantee_analysis(
    tables: dict[str, DataFrame],
    as_of: date,
    config: Config | None = None,
    controllers: DataFrame | None = None,
    *,
    components: DataFrame | None = None,
    batches: int | None = None,
) -> dict[str, DataFrame]:
    """The embedded ``guarantee_analysis`` tables and flags, computed by weak component on the executors.

    Returns ``guarantee_patterns`` (:data:`~graphrisk.analysis.guarantees.PATTERN_COLUMNS`), ``guarantee_circles``
    (``CIRCLE_COLUMNS``), ``guarantors`` (``FIRM_COLUMNS``) and ``flags`` (``FLAG_COLUMNS``): the same rows, ids,
    numbers and reason texts as the embedded analysis on the same data, in no particular order (sort to write).

    ``controllers`` is the ownership analysis's table (``company_id``, ``controller_id`` …): intra-group
    guarantees need it, and without it they are left out, as embedded. ``components`` is
    :func:`.steps.guarantee_components` of the active guarantees when the caller has it already. ``batches``
    (default: ``spark.sql.shuffle.partitions``) is how many groups of whole components the embedded functions run
    on. The thresholds come from ``config`` as in the embedded analysis; circles have at least
    :data:`CIRCLE_MIN_SIZE` firms.

    Where each part runs and what bounds a task: see the module docstring (one embedded call per batch of whole
    weak components; the largest weak component bounds a task; the embedded cycle length bound and cap per
    strongly connected component hold inside it).

    >>> # doctest: +SKIP
    >>> out = guarantee_analysis(tables, date(2026, 6, 30), controllers=controllers)
    >>> out["flags"].groupBy("flag").count().show()
    """
    from graphrisk.engines.spark import steps

    F = _F()
    p = _Params.of(config or Config(), as_of, controllers is not None)
    if components is None:
        components = steps.guarantee_components(steps.active_guarantees(tables, as_of))
    n = batches or int(tables["enterprises"].sparkSession.conf.get("spark.sql.shuffle.partitions") or "200")
    comp = components.select(F.col("entity_id").alias("guarantor_id"), _batch_of(n))
    edges = _active_rows(tables, as_of).join(comp, "guarantor_id")
    firms = _component_firms(tables, components, controllers, n)

    def task(key: tuple[Any, ...], e: pd.DataFrame, f: pd.DataFrame) -> pd.DataFrame:
        return _analyse_batch(key, e, f, p)

    # Checkpointed: every output below reads these rows, and the embedded work must run once.
    rows = (
        edges.groupBy("_batch")
        .cogroup(firms.groupBy("_batch"))
        .applyInPandas(task, schema=_OUT_SCHEMA)
        .localCheckpoint()
    )
    numbered = _numbered_patterns(rows.where(F.col("_table") == "pattern")).localCheckpoint()
    patterns = numbered.select(*PATTERN_COLUMNS)
    circles = rows.where(F.col("_table") == "circle").select(*CIRCLE_COLUMNS)
    ids = _firm_patterns(numbered)
    firm_columns = [c if c != "patterns" else F.coalesce(F.col("patterns"), F.lit("")).alias("patterns")
                    for c in FIRM_COLUMNS]  # fmt: skip
    guarantors = rows.where(F.col("_table") == "firm").drop("patterns").join(ids, "entity_id", "left")
    guarantors = guarantors.select(*firm_columns)
    local = numbered.select("_batch", F.col("_local").alias("_pattern_local"), F.col("pattern_id").alias("_gid"))
    flags = rows.where(F.col("_table") == "flag").join(local, ["_batch", "_pattern_local"], "left")
    named = F.col("_pattern_local").isNotNull()
    flags = flags.select(
        "entity_id",
        "flag",
        "severity",
        F.when(F.col("_reason_tagged"), F.concat(F.lit(_REASON_HEAD), F.col("_gid"), F.col("reason")))
        .otherwise(F.col("reason"))
        .alias("reason"),
        F.when(named, F.concat(F.lit(_EVIDENCE_HEAD), F.col("_gid"), F.lit('"'), F.col("evidence")))
        .otherwise(F.col("evidence"))
        .alias("evidence"),
    )
    return {
        "guarantee_patterns": patterns,
        "guarantee_circles": circles,
        "guarantors": guarantors,
        "flags": flags.select(*FLAG_COLUMNS),
    }
