"""Ownership on Spark: shares by propagation, the majority-control closure, actual controllers, cross-holdings.

Each function mirrors one of ``graphrisk.analysis.ownership`` and is tested for equal results on the synthetic
10k portfolio (``tests/test_spark_ownership.py``):

=================================  ===================================  ===============================================
function                           embedded counterpart                 how it runs on Spark
=================================  ===================================  ===============================================
:func:`ownership_edges`            ``ownership_matrix``                 group-by (parallel rows, column totals)
:func:`state_bodies`               ``state_bodies``                     filter + semi-join
:func:`cross_holdings`             ``cross_holdings``, closed cycles    trim + connected components, one task per SCC
:func:`ultimate_shares`            ``ultimate_shares``                  one join + group-by per term, to tolerance
:func:`integrated_shares`          ``(I − W)⁻¹ W``                      the same propagation from every holder
:func:`control`                    ``_control`` (fixed point)           per round: chain closure by joins, group-by
:func:`control_closure`            ``control_closure``                  the last round's chains
:func:`actual_controllers`         ``actual_controllers``               joins + windows
:func:`corporate_groups`           ``corporate_groups``                 group-by; numbering on the group table
:func:`ownership_flags`            the flags of ``ownership``           joins; evidence JSON in a pandas UDF
=================================  ===================================  ===============================================

Ties are broken on the id (the embedded code breaks them on the row position, which is the id order when ids are
numbered in file order, as in every shipped and generated portfolio). Cross-holdings are numbered by their
smallest member id and list their members in id order (the embedded code numbers them in scipy's label order).

Bounds: a control round costs a join per level of the deepest control chain (``max_depth`` at most); the fixed
point needs about as many rounds as that depth. The share propagation costs one join per term; a term below
``tol`` is dropped, so the frontier follows the chains, not the portfolio. Strongly connected sets are found only
among firms that are both held and holding after trimming, so one task holds one cross-holding, not a weak
component of the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from graphrisk.analysis.ownership import STATE_ASSET_NAMES
from graphrisk.engines.spark.graph import connected_components, strong_components

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pyspark.sql import Column, DataFrame

__all__ = [
    "ControlState",
    "actual_controllers",
    "control",
    "control_closure",
    "corporate_groups",
    "cross_holdings",
    "integrated_shares",
    "nodes",
    "ownership_edges",
    "ownership_flags",
    "state_bodies",
    "ultimate_holders",
    "ultimate_shares",
]

Share = Literal["share", "voting", "max", "min", "max_bound"]
_TOL = 1e-12  # as the embedded propagation: contributions below are rounding noise
_EPS = 1e-12


def _F():  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    return F


def nodes(tables: dict[str, DataFrame]) -> DataFrame:
    """Every node: ``id``, ``is_person`` (enterprises first: an id in both tables is the enterprise, as in the
    embedded graph), ``name``."""
    F = _F()
    ent = tables["enterprises"].select("id", F.lit(False).alias("is_person"), "name")
    per = tables["persons"].select("id", F.lit(True).alias("is_person"), "name")
    per = per.join(ent.select("id"), "id", "left_anti")
    return ent.unionByName(per).dropDuplicates(["id"])


def ownership_edges(tables: dict[str, DataFrame], which: Share = "share") -> DataFrame:
    """``holder_id, company_id, w``: one reading of the shareholdings, as ``ownership_matrix``.

    ``share`` equity; ``voting`` voting share where given, else equity; ``max`` the larger per row; ``min`` /
    ``max_bound`` the interval bounds. Parallel rows are summed; a company's column total above 1 is scaled down
    to 1 (not for ``max_bound``); zeros are dropped.
    """
    F = _F()
    sh = tables["shareholdings"]
    known = nodes(tables).select("id")
    sh = sh.join(known.withColumnRenamed("id", "holder_id"), "holder_id", "left_semi")
    sh = sh.join(known.withColumnRenamed("id", "company_id"), "company_id", "left_semi")
    share = F.coalesce(F.col("share"), F.lit(0.0))
    value: Column
    if which == "share":
        value = share
    elif which in ("voting", "max"):
        voting = F.coalesce(F.col("voting_share"), share)
        value = voting if which == "voting" else F.greatest(share, voting)
    else:
        value = F.coalesce(F.col("share_min" if which == "min" else "share_max"), share)
    w = sh.groupBy("holder_id", "company_id").agg(F.sum(value).alias("w"))
    if which != "max_bound":
        from pyspark.sql import Window

        total = F.sum("w").over(Window.partitionBy("company_id"))
        w = w.withColumn("w", F.when(total > 1.0, F.col("w") * (1.0 / total)).otherwise(F.col("w")))
    return w.where(F.col("w") != 0)


def state_bodies(tables: dict[str, DataFrame], state_names: Iterable[str] = STATE_ASSET_NAMES) -> DataFrame:
    """``id`` of every state-asset holder: a name on the list, or state-owned with no holder of a known share."""
    F = _F()
    ent = tables["enterprises"]
    names = [s for s in state_names if s]
    on_list = F.lit(False)
    for s in names:
        on_list = on_list | F.coalesce(F.col("name").contains(s), F.lit(False))
    held = ownership_edges(tables, "share").where(F.col("w") > 0).select(F.col("company_id").alias("id")).distinct()
    unheld_state = ent.where(F.coalesce(F.col("state_owned"), F.lit(False))).select("id").join(held, "id", "left_anti")
    return ent.where(on_list).select("id").unionByName(unheld_state).distinct()


# ----------------------------------------------------------------------------------------------- cross-holdings


def _trimmed(edges: DataFrame, rounds: int = 4) -> DataFrame:
    """Edges (``src``, ``dst``) left after removing, a few times, every node with no incoming or no outgoing edge:
    such a node is in no cycle. What stays is the cycles and short paths between them."""
    F = _F()
    e = edges
    for _ in range(rounds):
        has_in = e.select(F.col("dst").alias("n")).distinct()
        has_out = e.select(F.col("src").alias("n")).distinct()
        both = has_in.join(has_out, "n")
        e = e.join(both.withColumnRenamed("n", "src"), "src", "left_semi").join(
            both.withColumnRenamed("n", "dst"), "dst", "left_semi"
        )
        e = e.localCheckpoint()
    return e


def _cross_holding_of(frame: pd.DataFrame, max_dense: int) -> pd.DataFrame:
    """One strongly connected set's row from its internal edges (``src, dst, w``) and members' column totals."""
    members = np.unique(np.concatenate([frame["src"].to_numpy(), frame["dst"].to_numpy()]))
    pos = {m: i for i, m in enumerate(members)}
    n = len(members)
    sub = np.zeros((n, n))
    np.add.at(sub, ([pos[s] for s in frame["src"]], [pos[d] for d in frame["dst"]]), frame["w"].to_numpy())
    totals = frame.drop_duplicates("dst").set_index("dst")["total"].reindex(members).to_numpy()
    held_inside = sub.sum(axis=0)
    # As ``ownership._closed_mask``: every member wholly held from inside the set and by nobody outside it.
    closed = bool(np.all((held_inside >= 1.0 - 1e-9) & (np.abs(totals - held_inside) < 1e-12)))
    self_own = ""
    if n <= max_dense and not closed:
        inv = np.linalg.inv(np.eye(n) - sub)
        self_own = ";".join(f"{x:.4f}" for x in np.diag(inv) - 1.0)
    return pd.DataFrame(
        {
            "members": pd.Series([";".join(map(str, members))], dtype=object),
            "size": [n],
            "internal_edges": [len(frame)],
            "self_ownership": pd.Series([self_own], dtype=object),
            "closed": [closed],
            "note": pd.Series(
                ["closed 100 % cycle: no outside owner, self-ownership unbounded" if closed else ""], dtype=object
            ),
        }
    )


def cross_holdings(tables: dict[str, DataFrame], *, max_dense: int = 500) -> DataFrame:
    """Strongly connected sets of two or more holders of each other, as ``ownership.cross_holdings``.

    Columns ``cross_holding_id`` (1, 2, … by smallest member id), ``members`` (``;``-joined, id order), ``size``,
    ``internal_edges``, ``self_ownership`` (``[(I − W_SS)⁻¹]_ii − 1`` per member for sets up to ``max_dense``;
    empty for a closed cycle), ``closed``, ``note``. One executor task per set.
    """
    F = _F()
    from pyspark.sql import Window

    w = ownership_edges(tables, "share").cache()
    e = _trimmed(w.select(F.col("holder_id").alias("src"), F.col("company_id").alias("dst")).distinct())
    cc = connected_components(e)
    scc = strong_components(e, cc)
    totals = w.groupBy(F.col("company_id").alias("dst")).agg(F.sum("w").alias("total"))
    inner = (
        w.select(F.col("holder_id").alias("src"), F.col("company_id").alias("dst"), "w")
        .join(scc.select(F.col("id").alias("src"), F.col("scc").alias("s1")), "src")
        .join(scc.select(F.col("id").alias("dst"), F.col("scc").alias("s2")), "dst")
        .where(F.col("s1") == F.col("s2"))
        .join(totals, "dst")
        .select(F.col("s1").alias("scc"), "src", "dst", "w", "total")
    )
    schema = "members string, size long, internal_edges long, self_ownership string, closed boolean, note string"
    rows = inner.groupBy("scc").applyInPandas(lambda f: _cross_holding_of(f, max_dense), schema=schema)
    rows = rows.withColumn("_first", F.split("members", ";")[0])
    numbered = rows.withColumn("cross_holding_id", F.row_number().over(Window.orderBy("_first")).cast("long"))
    return numbered.select("cross_holding_id", "members", "size", "internal_edges", "self_ownership", "closed", "note")


def ultimate_holders(
    tables: dict[str, DataFrame],
    state_names: Iterable[str] = STATE_ASSET_NAMES,
    cross: DataFrame | None = None,
) -> DataFrame:
    """``id`` of every ultimate holder: persons, state bodies, nodes no one holds (an unknown share counts as held),
    and members of closed cycles (``cross``: :func:`cross_holdings`, computed when not given)."""
    F = _F()
    all_nodes = nodes(tables)
    held = ownership_edges(tables, "max_bound").select(F.col("company_id").alias("id")).distinct()
    unheld = all_nodes.select("id").join(held, "id", "left_anti")
    persons = all_nodes.where("is_person").select("id")
    ch = cross if cross is not None else cross_holdings(tables)
    closed = ch.where("closed").select(F.explode(F.split("members", ";")).alias("id"))
    out = unheld.unionByName(persons).unionByName(state_bodies(tables, state_names)).unionByName(closed)
    return out.distinct()


# ----------------------------------------------------------------------------------------------- shares


def _cycle_mixing(frame: pd.DataFrame) -> pd.DataFrame:
    """``[(I − W_SS)⁻¹]`` of one strongly connected set from its internal edges (``src, dst, w``), as rows
    ``via, company_id, m`` (every pair of members, the diagonal included)."""
    members = np.unique(np.concatenate([frame["src"].to_numpy(), frame["dst"].to_numpy()]))
    pos = {m: i for i, m in enumerate(members)}
    n = len(members)
    sub = np.zeros((n, n))
    np.add.at(sub, ([pos[s] for s in frame["src"]], [pos[d] for d in frame["dst"]]), frame["w"].to_numpy())
    inv = np.linalg.inv(np.eye(n) - sub)
    i, j = np.nonzero(inv)
    return pd.DataFrame(
        {"via": pd.Series(members[i], dtype=object), "company_id": pd.Series(members[j], dtype=object), "m": inv[i, j]}
    )


def _propagate(b: DataFrame, w: DataFrame, *, tol: float, max_terms: int) -> DataFrame:
    """``B (I − W)⁻¹`` as (``holder_id``, ``company_id``, ``share``) for a ``W`` without closed cycles.

    The embedded engine sums ``B + B W + B W² + …`` term by term, which inside a cross-holding needs dozens of
    terms to reach the tolerance. Here every strongly connected set S of ``W`` is solved once, exactly, on an
    executor (``C = (I − W_SS)⁻¹``, dense, one task per set), and ``W = W_in + W_out`` splits into the edges inside
    the sets and the rest: ``(I − W)⁻¹ = Σ_k (C W_out)^k C``. ``C W_out`` moves along the condensation, which has
    no cycle, so the terms end after as many steps as the longest chain of holdings, each one join + group-by.
    Terms below ``tol`` are dropped, as in the embedded sum."""
    F = _F()
    edges = w.select(F.col("holder_id").alias("src"), F.col("company_id").alias("dst"), "w").cache()
    trimmed = _trimmed(edges.select("src", "dst"))
    scc = strong_components(trimmed, connected_components(trimmed))
    inside = (
        edges.join(scc.select(F.col("id").alias("src"), F.col("scc").alias("s1")), "src")
        .join(scc.select(F.col("id").alias("dst"), F.col("scc").alias("s2")), "dst")
        .where(F.col("s1") == F.col("s2"))
        .select(F.col("s1").alias("scc"), "src", "dst", "w")
    )
    mixing = inside.groupBy("scc").applyInPandas(_cycle_mixing, schema="via string, company_id string, m double")
    mixing = mixing.localCheckpoint()
    w_out = edges.join(inside.select("src", "dst"), ["src", "dst"], "left_anti")

    def mix(frame: DataFrame) -> DataFrame:
        """``frame · C`` for ``holder_id, via, share``: a company in a set spreads over the set; others stay."""
        cycled = frame.join(mixing, "via").select("holder_id", "company_id", (F.col("share") * F.col("m")).alias("s"))
        plain = frame.join(mixing.select("via").distinct(), "via", "left_anti").select(
            "holder_id", F.col("via").alias("company_id"), F.col("share").alias("s")
        )
        return (
            cycled.unionByName(plain).groupBy("holder_id", "company_id").agg(F.sum("s").alias("share"))
            .where(F.col("share") >= tol)
        )  # fmt: skip

    step = w_out.select(F.col("src").alias("via"), F.col("dst").alias("next"), F.col("w").alias("x"))
    term = mix(b.withColumnRenamed("company_id", "via")).localCheckpoint()
    total = term
    for _ in range(max_terms):
        moved = (
            term.withColumnRenamed("company_id", "via").join(step, "via")
            .groupBy("holder_id", F.col("next").alias("via")).agg(F.sum(F.col("share") * F.col("x")).alias("share"))
        )  # fmt: skip
        term = mix(moved).localCheckpoint()
        if term.limit(1).count() == 0:
            break
        total = total.unionByName(term)
    else:  # pragma: no cover - the condensation has no cycle, so terms end after the longest chain
        raise RuntimeError(f"share propagation did not settle in {max_terms} terms")
    return total.groupBy("holder_id", "company_id").agg(F.sum("share").alias("share"))


def ultimate_shares(
    tables: dict[str, DataFrame],
    which: Share = "share",
    *,
    ultimate: DataFrame | None = None,
    tol: float = _TOL,
    max_terms: int = 10_000,
) -> DataFrame:
    """``holder_id, company_id, share``: what each ultimate holder ultimately owns, ``U = W_PF (I − W_FF)⁻¹``.

    As ``ownership.ultimate_shares``: only firms that are not ultimate holders pass shares on; closed-cycle
    members are ultimate, so a closed cycle is never iterated. Within ``tol`` per term of the embedded sum."""
    F = _F()
    w = ownership_edges(tables, which).cache()
    ult = (ultimate if ultimate is not None else ultimate_holders(tables)).select(F.col("id").alias("holder_id"))
    b = w.join(ult, "holder_id", "left_semi").select("holder_id", "company_id", F.col("w").alias("share"))
    wff = w.join(ult, "holder_id", "left_anti")
    return _propagate(b, wff, tol=tol, max_terms=max_terms)


def integrated_shares(
    tables: dict[str, DataFrame], which: Share = "share", *, tol: float = _TOL, max_terms: int = 10_000
) -> DataFrame:
    """``holder_id, company_id, share`` of ``W + W² + … = (I − W)⁻¹ W`` (Vitali, Glattfelder and Battiston 2011):
    walks through cross-holdings count. A closed 100 % cycle would not converge: its members are left out of the
    passing side, as in the ultimate convention."""
    F = _F()
    w = ownership_edges(tables, which).cache()
    closed = cross_holdings(tables).where("closed").select(F.explode(F.split("members", ";")).alias("holder_id"))
    b = w.select("holder_id", "company_id", F.col("w").alias("share"))
    return _propagate(b, w.join(closed, "holder_id", "left_anti"), tol=tol, max_terms=max_terms)


# ----------------------------------------------------------------------------------------------- control


class ControlState:
    """The fixed point of the control rounds.

    ``parent``: ``id, parent, share`` (the immediate controller and its group share); ``chains``: ``id, a, hops,
    path`` for every controlled node and every controller up its chain (``path`` ``a>…>id``; deduplicated, the
    shortest kept); ``levels``: ``id, level, top, in_cycle`` for every controlled node; ``groups``: ``a, y, v`` the
    share of ``y`` held by ``a`` and the firms ``a`` controls."""

    def __init__(self, parent: DataFrame, chains: DataFrame, levels: DataFrame, groups: DataFrame) -> None:
        self.parent, self.chains, self.levels, self.groups = parent, chains, levels, groups


def _chains(parent: DataFrame, max_depth: int) -> tuple[DataFrame, DataFrame]:
    """Walk every controlled node up its control chain: (chains, levels) as in :class:`ControlState`.

    Mirrors ``ownership._levels`` / ``_ancestors``: a walk stops at a node without controller, or when it returns
    to its start (a control cycle through the start); a walk still going after ``max_depth + 1`` steps runs in a
    cycle further up."""
    F = _F()
    up = parent.select(F.col("id").alias("a"), F.col("parent").alias("nxt"))
    front = parent.select("id", F.col("parent").alias("a"), F.lit(1).alias("hops"),
                          F.concat_ws(">", "parent", "id").alias("path"))  # fmt: skip
    front = front.localCheckpoint()
    walked = [front]
    looped = []
    for hop in range(1, max_depth + 1):
        step = front.join(up, "a")
        looped.append(step.where(F.col("nxt") == F.col("id")).select("id"))
        front = step.where(F.col("nxt") != F.col("id")).select(
            "id", F.col("nxt").alias("a"), F.lit(hop + 1).alias("hops"), F.concat_ws(">", "nxt", "path").alias("path")
        )
        front = front.localCheckpoint()
        if front.limit(1).count() == 0:
            break
        walked.append(front)
    # Still walking after max_depth + 1 steps: the chain ran into a cycle above the start.
    beyond = front.join(up, "a").where(F.col("nxt") != F.col("id")).select("id")
    from pyspark.sql import Window

    every = walked[0]
    for part in walked[1:]:
        every = every.unionByName(part)
    deepest = Window.partitionBy("id").orderBy(F.col("hops").desc())
    levels = (
        every.withColumn("_r", F.row_number().over(deepest))
        .where("_r = 1")
        .select("id", F.col("hops").alias("level"), F.col("a").alias("top"))
    )
    cyc = looped[0] if looped else beyond.limit(0)
    for part in [*looped[1:], beyond]:
        cyc = cyc.unionByName(part)
    cyc = cyc.distinct().withColumn("in_cycle", F.lit(True))
    levels = levels.join(cyc, "id", "left").select(
        "id", "level", "top", F.coalesce("in_cycle", F.lit(False)).alias("in_cycle")
    )
    first = Window.partitionBy("id", "a").orderBy("hops")
    chains = (
        every.where(F.col("hops") <= max_depth).withColumn("_r", F.row_number().over(first)).where("_r = 1").drop("_r")
    )
    return chains.localCheckpoint(), levels.localCheckpoint()


def control(tables: dict[str, DataFrame], *, control_share: float = 0.5, max_depth: int = 32) -> ControlState:
    """Immediate controllers by rounds to a fixed point, as ``ownership._control``: X's group in Y is X's voting
    share of Y plus the shares of Y held by firms X controls; the lowest entity whose group exceeds
    ``control_share`` controls Y. Each round walks the chains (:func:`_chains`) and sums the groups."""
    F = _F()
    from pyspark.sql import Window

    spark = tables["enterprises"].sparkSession
    w = ownership_edges(tables, "voting").select(F.col("holder_id").alias("h"), F.col("company_id").alias("y"),
                                                 F.col("w").alias("v")).cache()  # fmt: skip
    parent = spark.createDataFrame([], "id string, parent string, share double")
    chains = spark.createDataFrame([], "id string, a string, hops int, path string")
    levels = spark.createDataFrame([], "id string, level int, top string, in_cycle boolean")
    groups = w.select(F.col("h").alias("a"), "y", "v")
    for _ in range(max_depth + 1):
        # Every holder stands for itself (hops 0) and for each controller up its chain.
        anc = w.select("h", F.col("h").alias("a")).distinct().unionByName(chains.select(F.col("id").alias("h"), "a"))
        groups = w.join(anc, "h").groupBy("a", "y").agg(F.sum("v").alias("v")).localCheckpoint()
        cand = groups.where((F.col("v") > control_share) & (F.col("a") != F.col("y")))
        cand = cand.join(levels.select(F.col("id").alias("a"), "level"), "a", "left").fillna(0, subset=["level"])
        lowest = Window.partitionBy("y").orderBy(F.col("level").desc(), F.col("v"), F.col("a"))
        new = (
            cand.withColumn("_r", F.row_number().over(lowest))
            .where("_r = 1")
            .select(F.col("y").alias("id"), F.col("a").alias("parent"), F.col("v").alias("share"))
            .localCheckpoint()
        )
        changed = (
            new.alias("n")
            .join(parent.alias("o"), "id", "full_outer")
            .where(~F.col("n.parent").eqNullSafe(F.col("o.parent")))
            .limit(1)
            .count()
        )
        parent = new
        if changed == 0:
            break
        chains, levels = _chains(parent, max_depth)
    return ControlState(parent, chains, levels, groups)


def control_closure(state: ControlState) -> DataFrame:
    """Every (controller, company) pair of the majority-control closure: ``controller_id, company_id,
    control_share, levels, path, convention``, as ``ownership.control_closure``."""
    F = _F()
    g = state.groups.select(F.col("a").alias("controller_id"), F.col("y").alias("company_id"), "v")
    return (
        state.chains.select(
            F.col("a").alias("controller_id"),
            F.col("id").alias("company_id"),
            F.col("hops").cast("long").alias("levels"),
            "path",
        )
        .join(g, ["controller_id", "company_id"], "left")
        .select(
            "controller_id",
            "company_id",
            F.round("v", 10).alias("control_share"),
            "levels",
            "path",
            F.lit("control").alias("convention"),
        )
    )


def actual_controllers(
    tables: dict[str, DataFrame],
    state: ControlState,
    *,
    relative_share: float = 0.30,
    relative_lead: float = 0.10,
    state_names: Iterable[str] = STATE_ASSET_NAMES,
) -> DataFrame:
    """The actual controller (实际控制人) of every enterprise by the ordered rules of
    ``ownership.actual_controllers``: declared, majority chain (top of the chain), relative control (holder groups
    by their own top controller, ≥ ``relative_share`` with a lead of ``relative_lead``), state body, none.

    Columns ``company_id, controller_id, controller_kind, rule, control_share, path``."""
    F = _F()
    from pyspark.sql import Window

    ent = tables["enterprises"].select("id", "declared_controller_id")
    all_nodes = nodes(tables)
    state_ids = state_bodies(tables, state_names).withColumn("is_state", F.lit(True))
    w = ownership_edges(tables, "voting").select(F.col("holder_id").alias("h"), F.col("company_id").alias("y"),
                                                 F.col("w").alias("v"))  # fmt: skip
    held = w.select(F.col("y").alias("id")).distinct().withColumn("held", F.lit(True))
    lv = state.levels
    chain_path = state.chains.select(F.col("id"), F.col("a"), "path")

    # (b) majority chain: the top of the chain, unless the chain runs into a control cycle.
    maj = lv.join(ent.select("id"), "id", "left_semi")
    maj = maj.join(chain_path.withColumnRenamed("a", "top"), ["id", "top"], "left")
    maj = maj.join(state.groups.select(F.col("a").alias("top"), F.col("y").alias("id"), "v"), ["id", "top"], "left")
    maj = maj.select(
        F.col("id").alias("company_id"),
        F.when(~F.col("in_cycle"), F.col("top")).alias("controller_id"),
        F.when(F.col("in_cycle"), "control_cycle").otherwise("majority_chain").alias("rule"),
        F.when(~F.col("in_cycle"), F.col("v")).alias("control_share"),
        F.when(~F.col("in_cycle"), F.col("path")).alias("path"),
    )

    # (c) relative control, for enterprises without an immediate controller: holders grouped by their top.
    group_of = lv.select(
        F.col("id").alias("h"), F.when(F.col("in_cycle"), F.col("id")).otherwise(F.col("top")).alias("g")
    )
    free = ent.select(F.col("id").alias("y")).join(lv.select(F.col("id").alias("y")), "y", "left_anti")
    hw = w.join(free, "y", "left_semi").join(group_of, "h", "left").withColumn("g", F.coalesce("g", "h"))
    sums = hw.groupBy("y", "g").agg(F.sum("v").alias("v"))
    order = Window.partitionBy("y").orderBy(F.col("v").desc(), F.col("g"))
    ranked = sums.withColumn("_r", F.row_number().over(order)).where("_r <= 2")
    first = ranked.where("_r = 1").select("y", "g", "v")
    second = ranked.where("_r = 2").select("y", F.col("v").alias("v2"))
    rel = first.join(second, "y", "left").withColumn("lead", F.col("v") - F.coalesce("v2", F.lit(0.0)))
    rel = rel.where((F.col("v") >= relative_share - _EPS) & (F.col("lead") >= relative_lead - _EPS))
    # The route shown: from the group head down its chain to the group's largest direct holder, then the company.
    big_order = Window.partitionBy("y").orderBy(F.col("v").desc(), F.col("h"))
    big = (
        hw.join(rel.select("y", "g"), ["y", "g"])
        .withColumn("_r", F.row_number().over(big_order))
        .where("_r = 1")
        .select("y", "g", "h")
    )
    big = big.join(chain_path.select(F.col("id").alias("h"), F.col("a").alias("g"), "path"), ["h", "g"], "left")
    relative = rel.join(big, ["y", "g"]).select(
        F.col("y").alias("company_id"),
        F.col("g").alias("controller_id"),
        F.lit("relative_control").alias("rule"),
        F.col("v").alias("control_share"),
        F.concat_ws(">", F.coalesce(F.col("path"), F.col("h")), F.col("y")).alias("path"),
    )

    # (d) no holders: a state body controls itself; any other firm has no holders in the data.
    no_holders = ent.select("id").join(held, "id", "left_anti").join(state_ids, "id", "left")
    unheld = no_holders.select(
        F.col("id").alias("company_id"),
        F.when(F.col("is_state"), F.col("id")).alias("controller_id"),
        F.when(F.col("is_state"), "state_body").otherwise("no_holders_in_data").alias("rule"),
        F.when(F.col("is_state"), F.lit(1.0)).alias("control_share"),
        F.when(F.col("is_state"), F.col("id")).alias("path"),
    )
    # (a) declared controllers override every rule.
    declared = ent.where(F.col("declared_controller_id").isNotNull()).select(
        F.col("id").alias("company_id"),
        F.col("declared_controller_id").alias("controller_id"),
        F.lit("declared").alias("rule"),
        F.lit(None).cast("double").alias("control_share"),
        F.concat_ws(">", "declared_controller_id", "id").alias("path"),
    )
    ruled = (
        declared.withColumn("_p", F.lit(0))
        .unionByName(unheld.withColumn("_p", F.lit(1)))
        .unionByName(relative.withColumn("_p", F.lit(2)))
        .unionByName(maj.withColumn("_p", F.lit(3)))
    )
    pick = Window.partitionBy("company_id").orderBy("_p")
    ruled = ruled.withColumn("_r", F.row_number().over(pick)).where("_r = 1").drop("_r", "_p")
    out = ent.select(F.col("id").alias("company_id")).join(ruled, "company_id", "left")
    kinds = all_nodes.select(F.col("id").alias("controller_id"), "is_person").join(
        state_ids.withColumnRenamed("id", "controller_id"), "controller_id", "left"
    )
    out = out.join(kinds, "controller_id", "left")
    has = F.col("controller_id").isNotNull()
    kind = (
        F.when(~has, "none")
        .when(F.coalesce("is_state", F.lit(False)), "state")
        .when(F.coalesce("is_person", F.lit(False)), "person")
        .otherwise("enterprise")
    )
    return out.select(
        "company_id",
        "controller_id",
        kind.alias("controller_kind"),
        F.coalesce("rule", F.lit("none")).alias("rule"),
        F.when(has, F.round("control_share", 10)).alias("control_share"),
        F.when(has, F.col("path")).alias("path"),
    )


def corporate_groups(controllers: DataFrame, *, min_members: int = 2) -> DataFrame:
    """Companies under a common actual controller: ``group_id, head_id, head_kind, size, members, depth`` as
    ``ownership.corporate_groups`` (numbered by size descending, then head id)."""
    F = _F()
    from pyspark.sql import Window

    c = controllers.where(F.col("controller_id").isNotNull() & (F.col("controller_id") != F.col("company_id")))
    depth = F.size(F.split(F.coalesce("path", F.lit("")), ">")) - 1
    g = (
        c.withColumn("depth", depth)
        .groupBy(F.col("controller_id").alias("head_id"))
        .agg(
            F.first("controller_kind").alias("head_kind"),
            F.count("*").alias("size"),
            F.concat_ws(";", F.array_sort(F.collect_list("company_id"))).alias("members"),
            F.max("depth").alias("depth"),
        )
        .where(F.col("size") >= min_members)
    )
    order = Window.orderBy(F.col("size").desc(), F.col("head_id"))
    return g.withColumn("group_id", F.row_number().over(order).cast("long")).select(
        "group_id", "head_id", "head_kind", "size", "members", "depth"
    )


def _json_udf(key: str):  # type: ignore[no-untyped-def]
    """A pandas UDF writing ``{key: [items …]}`` exactly as the embedded ``json.dumps(…, ensure_ascii=False)``."""
    import json

    from pyspark.sql.functions import pandas_udf

    @pandas_udf("string")  # type: ignore[call-overload]
    def dump(items: pd.Series) -> pd.Series:
        out = [json.dumps({key: [str(x) for x in v]}, ensure_ascii=False) for v in items]
        return pd.Series(out, index=items.index, dtype=object)

    return dump


def ownership_flags(
    tables: dict[str, DataFrame],
    controllers: DataFrame,
    cross: DataFrame,
    *,
    many_borrowers: int = 5,
) -> DataFrame:
    """The flags of the embedded ``ownership`` analysis with its reasons: ``no_identifiable_controller``,
    ``circular_ownership``, ``controller_of_many_borrowers``. Columns ``entity_id, flag, severity, reason,
    evidence``."""
    F = _F()
    import json

    held = tables["shareholdings"].select(F.col("company_id").alias("company_id")).distinct()
    known = nodes(tables).select("id")
    held = held.join(known.withColumnRenamed("id", "company_id"), "company_id", "left_semi")
    none = controllers.where(F.col("rule") == "none").join(held, "company_id", "left_semi")
    parts = [
        none.select(
            F.col("company_id").alias("entity_id"),
            F.lit("no_identifiable_controller").alias("flag"),
            F.lit("low").alias("severity"),
            F.lit("no holder group reaches majority or relative control (无实际控制人)").alias("reason"),
            F.lit(json.dumps({"rule": "none"}, ensure_ascii=False)).alias("evidence"),
        )
    ]
    members = F.split("members", ";")
    circ = cross.select("cross_holding_id", "members", "size", "closed", F.explode(members).alias("entity_id"))
    reason = F.concat(
        F.lit("in a cross-holding of "), F.col("size").cast("string"), F.lit(" firms"),
        F.when(F.col("closed"), F.lit(" that holds 100 % of itself")).otherwise(F.lit("")),
    )  # fmt: skip
    evidence = F.concat(
        F.lit('{"cross_holding_id": "'), F.col("cross_holding_id").cast("string"), F.lit('", "members": '),
        F.regexp_replace(F.to_json(members), '","', '", "'), F.lit("}"),
    )  # fmt: skip
    parts.append(
        circ.select(
            "entity_id",
            F.lit("circular_ownership").alias("flag"),
            F.when(F.col("closed"), "high").otherwise("medium").alias("severity"),
            reason.alias("reason"),
            evidence.alias("evidence"),
        )
    )
    borrowers = tables["exposures"].groupBy(F.col("borrower_id").alias("company_id")).agg(F.sum("ead").alias("ead"))
    borrowers = borrowers.where(F.col("ead") > 0)
    ctl = controllers.where(F.col("controller_id").isNotNull()).join(borrowers, "company_id", "left_semi")
    per = ctl.groupBy("controller_id").agg(F.array_sort(F.collect_list("company_id")).alias("b"))
    per = per.where(F.size("b") >= many_borrowers)
    parts.append(
        per.select(
            F.col("controller_id").alias("entity_id"),
            F.lit("controller_of_many_borrowers").alias("flag"),
            F.lit("medium").alias("severity"),
            F.concat(
                F.lit("actual controller of "),
                F.size("b").cast("string"),
                F.lit(f" borrowers (threshold controller_many_borrowers = {many_borrowers})"),
            ).alias("reason"),
            _json_udf("borrowers")(F.slice("b", 1, 50)).alias("evidence"),
        )
    )
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def ownership_analysis(tables: dict[str, DataFrame], config: Any = None) -> dict[str, DataFrame]:
    """The scan's ownership tables (``control``, ``controllers``, ``groups_corporate``, ``cross_holdings``) and
    ``flags``, with the thresholds of ``config`` (a :class:`graphrisk.config.Config`)."""
    from graphrisk.config import Config

    th = (config or Config()).threshold
    state = control(tables, control_share=th("control_share"))
    controllers = actual_controllers(
        tables, state, relative_share=th("relative_control_share"), relative_lead=th("relative_control_lead")
    ).localCheckpoint()
    cross = cross_holdings(tables).localCheckpoint()
    return {
        "control": control_closure(state),
        "controllers": controllers,
        "groups_corporate": corporate_groups(controllers),
        "cross_holdings": cross,
        "flags": ownership_flags(tables, controllers, cross, many_borrowers=int(th("controller_many_borrowers"))),
    }
