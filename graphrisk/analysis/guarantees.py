"""Guarantee networks (担保网络): mutual, joint and revolving guarantees, circles, chains, stars and capacity.

Convention: a guarantee ``g → b`` means g answers for b's loan, so b's default calls g. Default risk travels
against the edges. Only guarantees active on ``as_of`` count: ``start_date ≤ as_of ≤ end_date``, a missing
date meaning an open end.

Whole-portfolio work runs on integer arrays and ``scipy.sparse`` (components, condensation levels, k-shells,
reach); networkx only sees one strongly connected component (cycle enumeration) or one circle (triad census).

>>> import pandas as pd
>>> from datetime import date
>>> from graphrisk.tables import Tables
>>> t = Tables.from_frames({
...     "enterprises": pd.DataFrame({"id": list("ABC"), "name": list("甲乙丙")}),
...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "B", "C"], "borrower_id": ["B", "C", "A"],
...                                 "amount": [1.0, 2.0, 3.0]}),
... })
>>> net = guarantee_network(EnterpriseGraph(t), as_of=date(2026, 6, 30))
>>> [p.members for p in revolving_guarantees(net)]
[('A', 'B', 'C')]
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cached_property
from itertools import islice, pairwise
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from graphrisk.analysis import (
    FLAG_COLUMNS,
    AnalysisContext,
    AnalysisResult,
    LazyRows,
    ReportSection,
    empty_flags,
    register,
)
from graphrisk.config import Threshold, declare_thresholds
from graphrisk.graph import EnterpriseGraph
from graphrisk.units import format_cny

__all__ = [
    "PATH_MAX_HOPS",
    "PATTERNS",
    "TRIAD_TYPES",
    "ChainLevels",
    "ChainView",
    "GuaranteeAnalysis",
    "GuaranteeNetwork",
    "GuaranteePattern",
    "RelationPath",
    "chain_edges",
    "chain_levels",
    "chain_view",
    "circle_measures",
    "core_numbers",
    "firm_measures",
    "guarantee_analysis",
    "guarantee_chain",
    "guarantee_circles",
    "guarantee_flags",
    "guarantee_network",
    "guarantee_patterns",
    "guarantees",
    "hop_label",
    "intra_group_guarantees",
    "joint_guarantees",
    "longest_chains",
    "mutual_guarantees",
    "path_hops",
    "patterns_frame",
    "relation_path",
    "revolving_guarantees",
    "shortest_path_nodes",
    "star_guarantors",
    "writeback_rows",
    "writeback_rows_from_table",
]

PATTERNS: tuple[str, ...] = ("mutual", "joint", "revolving", "circle", "chain", "star", "intra_group")
TRIAD_TYPES: tuple[str, ...] = tuple(nx.algorithms.triads.TRIAD_NAMES)
# The first digit of a triad's MAN code counts its mutual dyads.
_MUTUAL_TRIADS = tuple(t for t in TRIAD_TYPES if t[0] != "0")

_CSRC = "CSRC 证监发〔2005〕120号 《关于规范上市公司对外担保行为的通知》; 上市公司监管指引第8号 (2022)"
declare_thresholds(
    Threshold(
        "guarantee_cycle_length_bound",
        8.0,
        "Longest revolving guarantee cycle (firms) enumerated inside one strongly connected component.",
        "graphrisk convention (issue 4): rings longer than 8 are rare and enumeration grows exponentially",
    ),
    Threshold(
        "guarantee_cycle_cap",
        1000.0,
        "At most this many revolving cycles are listed per strongly connected component; more is reported as "
        "truncated.",
        "graphrisk convention (issue 4)",
    ),
    Threshold(
        "guarantee_large_circle_size",
        5.0,
        "A guarantee circle (担保圈) with at least this many firms is large.",
        "graphrisk convention (issue 4); tune to the portfolio",
    ),
    Threshold(
        "guarantee_circle_flag_all_max",
        100.0,
        "In a circle of more firms than this, in_large_circle flags only the firms of its innermost k-shell (its "
        "densest part); the risk clusters split such a circle into groups a person can read, and flag those.",
        "graphrisk convention (issue 7 calibration): the 100k synthetic portfolio has one 77k-firm circle, which "
        "flagged 77k firms one by one (and 584k at 1M with its borrowers)",
    ),
    Threshold(
        "guarantee_star_borrowers",
        5.0,
        "A guarantor of at least this many distinct borrowers is a star (hub guarantor).",
        "graphrisk convention (issue 4)",
    ),
    Threshold(
        "guarantee_star_share",
        0.5,
        "A guarantor carrying at least this share of a large circle's guaranteed amount is a star.",
        "graphrisk convention (issue 4)",
    ),
    Threshold(
        "guarantee_triad_census_max_firms",
        5000.0,
        "The 16-type triad census is computed for circles up to this many firms (the mutual-triad share always).",
        "graphrisk convention (issue 4): keeps networkx on small subgraphs",
    ),
    Threshold(
        "csrc_external_guarantee_ratio",
        0.5,
        "External guarantees given above this share of net assets need shareholder approval (capacity trigger).",
        _CSRC,
    ),
    Threshold(
        "csrc_single_guarantee_ratio",
        0.1,
        "A single guarantee above this share of net assets needs shareholder approval (capacity trigger).",
        _CSRC,
    ),
    Threshold(
        "csrc_borrower_debt_ratio",
        0.7,
        "Guaranteeing a firm whose debt ratio (total liabilities / total assets) exceeds this needs shareholder "
        "approval (capacity trigger).",
        _CSRC,
    ),
)


# ----------------------------------------------------------------------------------------------- network


@dataclass(frozen=True)
class GuaranteeNetwork:
    """The guarantees active on ``as_of`` among the enterprises of ``graph``, as arrays.

    ``edges`` holds the active rows of ``graph.edges("guarantee")`` (self-guarantees dropped: they bind no
    other firm); ``expired`` counts the rows that are not in force on ``as_of``.
    """

    graph: EnterpriseGraph
    as_of: date
    edges: pd.DataFrame
    expired: int
    self_guarantees: int

    @property
    def n(self) -> int:
        return self.graph.n_enterprises

    @cached_property
    def src(self) -> np.ndarray:
        return self.edges["src"].to_numpy(dtype=np.int64)

    @cached_property
    def dst(self) -> np.ndarray:
        return self.edges["dst"].to_numpy(dtype=np.int64)

    @cached_property
    def amount(self) -> np.ndarray:
        return self.edges["amount"].to_numpy(dtype="float64", na_value=0.0)

    @cached_property
    def amounts(self) -> sp.csr_array:
        """n × n guaranteed amount per ordered pair (parallel guarantees summed)."""
        m = sp.coo_array((self.amount, (self.src, self.dst)), shape=(self.n, self.n)).tocsr()
        m.sum_duplicates()
        return m

    @cached_property
    def structure(self) -> sp.csr_array:
        """n × n 0/1 matrix: 1 where at least one active guarantee runs from row to column."""
        m = sp.coo_array((np.ones(len(self.src)), (self.src, self.dst)), shape=(self.n, self.n)).tocsr()
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    @cached_property
    def weak(self) -> np.ndarray:
        return csgraph.connected_components(self.structure, directed=True, connection="weak")[1]

    @cached_property
    def strong(self) -> np.ndarray:
        return csgraph.connected_components(self.structure, directed=True, connection="strong")[1]

    @cached_property
    def involved(self) -> np.ndarray:
        """Boolean per enterprise: gives or receives at least one active guarantee."""
        out = np.zeros(self.n, dtype=bool)
        out[self.src] = True
        out[self.dst] = True
        return out

    @cached_property
    def defaulted(self) -> np.ndarray:
        """Boolean per enterprise: already in default."""
        return _defaulted(self.graph)

    def ids(self, nodes: Iterable[int]) -> tuple[str, ...]:
        return tuple(str(self.graph.node_ids[i]) for i in nodes)


def guarantees(graph: EnterpriseGraph, *, as_of: date | None = None) -> pd.DataFrame:
    """The guarantee rows active on ``as_of`` (default today): start ≤ as_of ≤ end, missing dates open.

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": ["A", "B"], "name": ["甲", "乙"]}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "B"], "borrower_id": ["B", "A"],
    ...                                 "amount": [1.0, 2.0], "end_date": ["2020-01-01", None]}),
    ... })
    >>> guarantees(EnterpriseGraph(t), as_of=date(2026, 1, 1))[["src", "dst"]].values.tolist()
    [[1, 0]]
    """
    e = graph.edges("guarantee")
    day = pd.Timestamp(as_of or date.today())
    start = pd.to_datetime(e["start_date"]) if "start_date" in e else pd.Series(pd.NaT, index=e.index)
    end = pd.to_datetime(e["end_date"]) if "end_date" in e else pd.Series(pd.NaT, index=e.index)
    active = (start.isna() | (start <= day)) & (end.isna() | (end >= day))
    return e[active.to_numpy(dtype=bool)].reset_index(drop=True)


def guarantee_network(graph: EnterpriseGraph, *, as_of: date | None = None) -> GuaranteeNetwork:
    """The active guarantee graph on ``as_of`` (default today), ready for the pattern functions.

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": ["A", "B"], "name": ["甲", "乙"]}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "A"], "borrower_id": ["B", "A"],
    ...                                 "amount": [1.0, 2.0], "end_date": [None, None]}),
    ... })
    >>> net = guarantee_network(EnterpriseGraph(t), as_of=date(2026, 1, 1))
    >>> len(net.edges), net.self_guarantees
    (1, 1)
    """
    day = as_of or date.today()
    total = len(graph.edges("guarantee"))
    active = guarantees(graph, as_of=day)
    loops = (active["src"] == active["dst"]).to_numpy(dtype=bool)
    # Guarantees between persons cannot occur (the schema ties both ends to enterprises), so every end is
    # an enterprise node id below n_enterprises.
    kept = active[~loops].reset_index(drop=True)
    return GuaranteeNetwork(
        graph=graph, as_of=day, edges=kept, expired=total - len(active), self_guarantees=int(loops.sum())
    )


# ----------------------------------------------------------------------------------------------- patterns


@dataclass(frozen=True)
class GuaranteePattern:
    """One risky guarantee structure: its name (one of :data:`PATTERNS`), members, amounts and the reason."""

    pattern: str
    pattern_id: str
    members: tuple[str, ...]
    guaranteed_amount: float
    ead: float
    defaulted_members: int
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["members"] = ";".join(self.members)
        row["size"] = len(self.members)
        row["details"] = json.dumps(dict(self.details), ensure_ascii=False, default=str)
        return row


PATTERN_COLUMNS = (
    "pattern",
    "pattern_id",
    "size",
    "members",
    "guaranteed_amount",
    "ead",
    "defaulted_members",
    "reason",
    "details",
)


def patterns_frame(patterns: Iterable[GuaranteePattern]) -> pd.DataFrame:
    """Patterns as the ``guarantee_patterns`` table."""
    rows = [p.to_row() for p in patterns]
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in PATTERN_COLUMNS})
    return pd.DataFrame(rows)[list(PATTERN_COLUMNS)]


def _defaulted(graph: EnterpriseGraph) -> np.ndarray:
    ent = graph.enterprises
    if "defaulted" not in ent:
        return np.zeros(graph.n_enterprises, dtype=bool)
    return ent["defaulted"].to_numpy(dtype=bool, na_value=False)


def _column(graph: EnterpriseGraph, name: str) -> np.ndarray:
    ent = graph.enterprises
    if name not in ent:
        return np.full(graph.n_enterprises, np.nan)
    return ent[name].to_numpy(dtype="float64", na_value=np.nan)


def _make(
    net: GuaranteeNetwork,
    pattern: str,
    k: int,
    nodes: Iterable[int],
    amount: float,
    reason: str,
    details: Mapping[str, Any] | None = None,
) -> GuaranteePattern:
    idx = np.fromiter(nodes, dtype=np.int64)
    return GuaranteePattern(
        pattern=pattern,
        pattern_id=f"{pattern}-{k:05d}",
        members=net.ids(idx),
        guaranteed_amount=float(amount),
        ead=float(net.graph.ead[idx].sum()),
        defaulted_members=int(net.defaulted[idx].sum()),
        reason=reason,
        details=details or {},
    )


def _name(net: GuaranteeNetwork, node: int) -> str:
    return str(net.graph.node_ids[node])


def mutual_guarantees(net: GuaranteeNetwork) -> list[GuaranteePattern]:
    """Mutual guarantees (互保): pairs where g → b and b → g are both active.

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABC"), "name": list("甲乙丙")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "B", "B"], "borrower_id": ["B", "A", "C"],
    ...                                 "amount": [1.0, 2.0, 4.0]}),
    ... })
    >>> [(p.members, p.guaranteed_amount) for p in mutual_guarantees(guarantee_network(EnterpriseGraph(t)))]
    [(('A', 'B'), 3.0)]
    """
    a = net.amounts
    both = sp.triu(net.structure.multiply(net.structure.T), k=1).tocoo()
    order = np.lexsort((both.col, both.row))
    rows, cols = both.row[order], both.col[order]
    # One fancy-indexing lookup per direction: scalar indexing of a CSR matrix is slow per call.
    amount_ab = np.asarray(a[rows, cols]).ravel() if len(rows) else np.zeros(0)
    amount_ba = np.asarray(a[cols, rows]).ravel() if len(rows) else np.zeros(0)
    out = []
    for k, (i, j, ab, ba) in enumerate(
        zip(rows.tolist(), cols.tolist(), amount_ab.tolist(), amount_ba.tolist(), strict=True), start=1
    ):
        ai, aj = _name(net, i), _name(net, j)
        reason = (
            f"{ai} guarantees {aj} ({format_cny(ab)}) and {aj} guarantees {ai} ({format_cny(ba)}): each answers "
            "for the other's loan, so one default calls the other (互保)"
        )
        out.append(_make(net, "mutual", k, (i, j), ab + ba, reason, {"amount_ab": ab, "amount_ba": ba}))
    return out


def joint_guarantees(net: GuaranteeNetwork) -> list[GuaranteePattern]:
    """Joint guarantees (联保): one loan with two or more guarantors, and groups of three or more firms that
    pairwise guarantee each other.

    The amount of a shared loan is its largest guarantee (the guarantors answer for the same loan, so their
    amounts are not added); a pairwise group's amount is the sum of its guarantees.

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABC"), "name": list("甲乙丙")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "B"], "borrower_id": ["C", "C"],
    ...                                 "amount": [5.0, 5.0], "loan_id": ["L1", "L1"]}),
    ... })
    >>> [(p.members, p.guaranteed_amount) for p in joint_guarantees(guarantee_network(EnterpriseGraph(t)))]
    [(('A', 'B', 'C'), 5.0)]
    """
    out: list[GuaranteePattern] = []
    e = net.edges
    if "loan_id" in e and len(e):
        # Only a loan id seen on two or more rows can have two guarantors: filter before grouping.
        loan_ids = e["loan_id"]
        has_loan = (loan_ids.notna() & loan_ids.duplicated(keep=False)).to_numpy(dtype=bool)
        loans = pd.DataFrame(
            {
                "loan": e["loan_id"].to_numpy(dtype=object)[has_loan],
                "src": net.src[has_loan],
                "dst": net.dst[has_loan],
                "amount": net.amount[has_loan],
            }
        )
        n_guar = loans.groupby(["dst", "loan"])["src"].transform("nunique")
        shared = loans[n_guar.to_numpy() >= 2].sort_values(["dst", "loan", "src"])
        for (borrower, loan), grp in shared.groupby(["dst", "loan"], sort=True):
            guarantors = sorted(set(grp["src"].tolist()))
            b = int(borrower)  # type: ignore[call-overload]
            names = ", ".join(_name(net, g) for g in guarantors)
            amount = float(grp["amount"].max())
            reason = (
                f"loan {loan} of {_name(net, b)} ({format_cny(amount)}) has {len(guarantors)} guarantors: {names}; "
                "each answers for the whole loan (联保)"
            )
            out.append(
                _make(
                    net,
                    "joint",
                    len(out) + 1,
                    [*guarantors, b],
                    amount,
                    reason,
                    {
                        "loan_id": str(loan),
                        "borrower": _name(net, b),
                        "guarantors": [_name(net, g) for g in guarantors],
                    },
                )
            )
    # Groups of three or more firms bound pairwise both ways: cliques of the mutual-dyad graph, which is
    # small (only mutual pairs), so networkx works per component of it.
    mutual = sp.triu(net.structure.multiply(net.structure.T), k=1).tocoo()
    if mutual.nnz >= 3:
        m = sp.coo_array((np.ones(mutual.nnz), (mutual.row, mutual.col)), shape=(net.n, net.n)).tocsr()
        n_comp, labels = csgraph.connected_components(m, directed=False)
        sizes = np.bincount(labels, minlength=n_comp)
        # Mutual pairs grouped by component once: scanning every pair for every component is quadratic.
        edge_comp = labels[mutual.row]
        keep = sizes[edge_comp] >= 3
        rows, cols, edge_comp = mutual.row[keep], mutual.col[keep], edge_comp[keep]
        order = np.argsort(edge_comp, kind="stable")
        rows, cols, edge_comp = rows[order], cols[order], edge_comp[order]
        bounds = np.flatnonzero(np.diff(edge_comp)) + 1
        for part_r, part_c in zip(np.split(rows, bounds), np.split(cols, bounds), strict=True):
            if not len(part_r):
                continue
            sub = nx.Graph()
            sub.add_edges_from(zip(part_r.tolist(), part_c.tolist(), strict=True))
            for clique in sorted(sorted(c) for c in nx.find_cliques(sub) if len(c) >= 3):
                idx = np.array(clique)
                amount = float(net.amounts[idx][:, idx].sum())
                reason = (
                    f"{len(clique)} firms ({', '.join(_name(net, c) for c in clique)}) each guarantee every other "
                    f"({format_cny(amount)} in all): a joint guarantee group (联保) bound pairwise both ways"
                )
                out.append(_make(net, "joint", len(out) + 1, clique, amount, reason, {"pairwise_mutual": True}))
    return out


def _rotate(cycle: list[int], key: np.ndarray) -> list[int]:
    """The cycle started at its member with the smallest external id, so each ring is listed once, one way."""
    start = min(range(len(cycle)), key=lambda i: key[cycle[i]])
    return cycle[start:] + cycle[:start]


def revolving_guarantees(net: GuaranteeNetwork, *, length_bound: int = 8, cap: int = 1000) -> list[GuaranteePattern]:
    """Revolving guarantees (循环担保): directed simple cycles of three or more firms.

    Cycles are enumerated inside each strongly connected component (no cycle leaves one) with at most
    ``length_bound`` firms and at most ``cap`` cycles per component; ``details["truncated"]`` says when a
    component had more.

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABCD"), "name": list("甲乙丙丁")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["B", "C", "A", "A"], "borrower_id": ["C", "A", "B", "D"],
    ...                                 "amount": [1.0, 1.0, 1.0, 9.0]}),
    ... })
    >>> [p.members for p in revolving_guarantees(guarantee_network(EnterpriseGraph(t)))]
    [('A', 'B', 'C')]
    """
    labels = net.strong
    sizes = np.bincount(labels, minlength=int(labels.max()) + 1 if len(labels) else 0)
    # Only edges inside a component of three or more firms can lie on a cycle of length ≥ 3.
    inside = (labels[net.src] == labels[net.dst]) & (sizes[labels[net.src]] >= 3)
    if not inside.any():
        return []
    s, d, comp = net.src[inside], net.dst[inside], labels[net.src[inside]]
    order = np.argsort(comp, kind="stable")
    s, d, comp = s[order], d[order], comp[order]
    bounds = np.flatnonzero(np.diff(comp)) + 1
    key = np.arange(net.n)  # node ids follow sorted external ids: smallest id = smallest external id
    amounts = net.amounts
    found: list[tuple[list[int], int, bool]] = []
    for cs, cd in zip(np.split(s, bounds), np.split(d, bounds), strict=True):
        sub = nx.DiGraph()
        sub.add_edges_from(zip(cs.tolist(), cd.tolist(), strict=True))
        # simple_cycles is lazy: taking one past the cap tells truncation without enumerating the rest.
        wanted = (c for c in nx.simple_cycles(sub, length_bound=length_bound) if len(c) >= 3)
        cycles = list(islice(wanted, cap + 1))
        truncated = len(cycles) > cap
        comp_cycles = sorted(_rotate(c, key) for c in cycles)
        for c in islice(comp_cycles, cap):
            found.append((c, len(comp_cycles), truncated))
    found.sort(key=lambda t: t[0])
    out = []
    for k, (cycle, n_in_comp, truncated) in enumerate(found, start=1):
        ring = [*cycle, cycle[0]]
        hops = [float(amounts[a, b]) for a, b in pairwise(ring)]
        path = " → ".join(_name(net, x) for x in ring)
        reason = (
            f"{path}: each firm guarantees the next ({', '.join(format_cny(h) for h in hops)}); a default anywhere "
            f"calls every firm in the ring (循环担保, {len(cycle)} firms)"
        )
        if truncated:
            reason += f"; its component has more cycles than the cap of {cap}, the list is truncated"
        out.append(
            _make(
                net,
                "revolving",
                k,
                cycle,
                sum(hops),
                reason,
                {"length": len(cycle), "hop_amounts": hops, "truncated": truncated, "cycles_in_component": n_in_comp},
            )
        )
    return out


# --------------------------------------------------------------------------------------- circles, chains


def _circle_labels(net: GuaranteeNetwork, min_size: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Circle number per enterprise (−1 outside a circle) and each circle's members.

    Circles are numbered by size (largest first), ties broken by the smallest member id.
    """
    labels = net.weak
    sizes = np.bincount(labels)
    ok = sizes >= min_size
    first = np.full(len(sizes), net.n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(net.n))
    comps = np.flatnonzero(ok)
    comps = comps[np.lexsort((first[comps], -sizes[comps]))]
    number = np.full(len(sizes), -1, dtype=np.int64)
    number[comps] = np.arange(len(comps))
    circle = number[labels]
    order = np.argsort(circle, kind="stable")
    sorted_c = circle[order]
    start = np.searchsorted(sorted_c, 0)
    bounds = np.flatnonzero(np.diff(sorted_c[start:])) + 1
    members = np.split(order[start:], bounds) if len(comps) else []
    return circle, members


def guarantee_circles(net: GuaranteeNetwork, *, min_size: int = 3) -> list[np.ndarray]:
    """Guarantee circles (担保圈): weakly connected groups of at least ``min_size`` firms, as node arrays.

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABCDE"), "name": list("甲乙丙丁戊")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "C", "D"], "borrower_id": ["B", "B", "E"],
    ...                                 "amount": [1.0, 1.0, 1.0]}),
    ... })
    >>> [c.tolist() for c in guarantee_circles(guarantee_network(EnterpriseGraph(t)))]
    [[0, 1, 2]]
    """
    return _circle_labels(net, min_size)[1]


def _peel_levels(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Longest-path level of every node of a DAG: 0 without successors, else 1 + the largest successor level.

    Kahn's layering, vectorised: each round removes the nodes whose successors are all gone.
    """
    level = np.zeros(n, dtype=np.int64)
    if len(src) == 0:
        return level
    remaining = np.bincount(src, minlength=n)
    preds = sp.csr_array((np.ones(len(src)), (dst, src)), shape=(n, n))
    frontier = np.flatnonzero(remaining == 0)
    k = 0
    while len(frontier):
        level[frontier] = k
        hit = preds[frontier].tocoo().col
        if len(hit) == 0:
            break
        remaining -= np.bincount(hit, minlength=n)
        cand = np.unique(hit)
        frontier = cand[remaining[cand] == 0]
        k += 1
    return level


@dataclass(frozen=True)
class ChainLevels:
    """Per enterprise: chain depths on the DAG of strongly connected components, and downstream reach.

    ``upstream_depth``: layers of borrowers whose default can reach the firm (following its guarantees
    forward; a strongly connected core counts as one layer). ``downstream_depth``: layers of guarantors its
    default calls. ``downstream_reach``: how many firms its default can call, directly or through others.
    """

    upstream_depth: np.ndarray
    downstream_depth: np.ndarray
    downstream_reach: np.ndarray
    component: np.ndarray
    component_up: np.ndarray
    condensation: sp.csr_array


def chain_levels(net: GuaranteeNetwork) -> ChainLevels:
    """Upstream and downstream chain depths and downstream reach of every enterprise (担保链).

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABCD"), "name": list("甲乙丙丁")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "B", "C"], "borrower_id": ["B", "C", "B"],
    ...                                 "amount": [1.0, 1.0, 1.0]}),
    ... })
    >>> lv = chain_levels(guarantee_network(EnterpriseGraph(t)))
    >>> lv.upstream_depth.tolist(), lv.downstream_reach.tolist()
    ([1, 0, 0, 0], [0, 2, 2, 0])
    """
    comp = net.strong
    n_c = int(comp.max()) + 1 if len(comp) else 0
    cs, cd = comp[net.src], comp[net.dst]
    keep = cs != cd
    cond = sp.coo_array((np.ones(int(keep.sum())), (cs[keep], cd[keep])), shape=(n_c, n_c)).tocsr()
    cond.sum_duplicates()
    cond.data[:] = 1.0
    c = cond.tocoo()
    up = _peel_levels(n_c, c.row, c.col)
    down = _peel_levels(n_c, c.col, c.row)
    # Reach: transitive closure towards guarantors, one layer per round (the DAG is shallow); boolean
    # products keep it exact and the rows stay as small as the ancestor sets.
    sizes = np.bincount(comp, minlength=n_c).astype(np.float64)
    pred = sp.csr_array(cond.T)
    reach = pred.copy()
    frontier = pred.copy()
    while frontier.nnz:
        nxt = frontier @ pred
        nxt.data[:] = 1.0
        nxt = sp.csr_array(nxt - nxt.multiply(reach))
        nxt.eliminate_zeros()
        reach = sp.csr_array(reach + nxt)
        frontier = nxt
    firms = reach @ sizes + (sizes - 1.0)
    return ChainLevels(
        upstream_depth=up[comp],
        downstream_depth=down[comp],
        downstream_reach=firms[comp].astype(np.int64),
        component=comp,
        component_up=up,
        condensation=cond,
    )


def longest_chains(net: GuaranteeNetwork, levels: ChainLevels, circles: list[np.ndarray]) -> list[GuaranteePattern]:
    """The longest guarantee chain of each circle: firms ``A → B → …`` where each guarantees the next.

    A strongly connected core on the chain is shown by its smallest member. Chains of one guarantee are left
    out (every guarantee is one).

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABCD"), "name": list("甲乙丙丁")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "B", "C"], "borrower_id": ["B", "C", "D"],
    ...                                 "amount": [1.0, 1.0, 1.0]}),
    ... })
    >>> net = guarantee_network(EnterpriseGraph(t))
    >>> [p.members for p in longest_chains(net, chain_levels(net), guarantee_circles(net))]
    [('A', 'B', 'C', 'D')]
    """
    out: list[GuaranteePattern] = []
    comp = levels.component
    n_c = len(levels.component_up)
    rep = np.full(n_c, net.n, dtype=np.int64)
    np.minimum.at(rep, comp, np.arange(net.n))
    cond = levels.condensation
    up = levels.component_up
    for number, members in enumerate(circles):
        comps = np.unique(comp[members])
        top = comps[up[comps] == up[comps].max()]
        cur = int(top[np.argmin(rep[top])])
        length = int(up[cur])
        if length < 2:
            continue
        path = [cur]
        while up[cur] > 0:
            succ = cond.indices[cond.indptr[cur] : cond.indptr[cur + 1]]
            succ = succ[up[succ] == up[cur] - 1]
            cur = int(succ[np.argmin(rep[succ])])
            path.append(cur)
        nodes = [int(rep[p]) for p in path]
        amount = sum(float(net.amounts[a, b]) for a, b in pairwise(nodes))
        text = " → ".join(_name(net, x) for x in nodes)
        reason = (
            f"longest guarantee chain of circle-{number + 1:05d}: {text} ({length} guarantees, each firm guarantees "
            f"the next); a default of {_name(net, nodes[-1])} can travel {length} layers back to "
            f"{_name(net, nodes[0])} (担保链)"
        )
        out.append(
            _make(net, "chain", len(out) + 1, nodes, amount, reason, {"length": length, "circle_id": number + 1})
        )
    return out


def star_guarantors(
    net: GuaranteeNetwork,
    circles: list[np.ndarray],
    *,
    min_borrowers: int = 5,
    share: float = 0.5,
    large_circle: int = 5,
) -> list[GuaranteePattern]:
    """Star guarantors: at least ``min_borrowers`` distinct borrowers, or at least ``share`` of the guaranteed
    amount of a circle of at least ``large_circle`` firms.

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("HABCDE"), "name": list("甲乙丙丁戊己")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": list("HHHHH"), "borrower_id": list("ABCDE"),
    ...                                 "amount": [1.0] * 5}),
    ... })
    >>> net = guarantee_network(EnterpriseGraph(t))
    >>> [p.members[0] for p in star_guarantors(net, guarantee_circles(net))]
    ['H']
    """
    structure = net.structure
    borrowers = np.diff(structure.indptr)
    given = np.asarray(net.amounts.sum(axis=1)).ravel()
    circle_of = np.full(net.n, -1, dtype=np.int64)
    circle_total = np.zeros(len(circles))
    for number, members in enumerate(circles):
        circle_of[members] = number
        circle_total[number] = given[members].sum()
    share_of = np.zeros(net.n)
    in_circle = circle_of >= 0
    share_of[in_circle] = given[in_circle] / np.maximum(circle_total[circle_of[in_circle]], 1e-300)
    sizes = np.array([len(m) for m in circles] + [0])
    by_count = borrowers >= min_borrowers
    by_share = in_circle & (sizes[circle_of] >= large_circle) & (share_of >= share) & (given > 0)
    out: list[GuaranteePattern] = []
    for g in np.flatnonzero(by_count | by_share).tolist():
        bs = structure.indices[structure.indptr[g] : structure.indptr[g + 1]]
        bs = np.sort(bs)
        why = []
        if by_count[g]:
            why.append(f"guarantees {len(bs)} borrowers (≥ {min_borrowers}, guarantee_star_borrowers)")
        if by_share[g]:
            why.append(
                f"carries {share_of[g]:.0%} of circle-{circle_of[g] + 1:05d}'s guaranteed amount "
                f"(≥ {share:.0%}, guarantee_star_share)"
            )
        reason = f"{_name(net, g)} " + " and ".join(why) + f"; {format_cny(given[g])} given in all"
        details = {
            "guarantor": _name(net, g),
            "borrowers": len(bs),
            "circle_share": float(share_of[g]),
            "circle_id": int(circle_of[g] + 1) if in_circle[g] else None,
        }
        out.append(_make(net, "star", len(out) + 1, [g, *bs.tolist()], float(given[g]), reason, details))
    return out


def intra_group_guarantees(net: GuaranteeNetwork, controller_of: Mapping[str, str]) -> list[GuaranteePattern]:
    """Guarantees whose two ends share one actual controller (``controller_of``: firm id → controller id).

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("AB"), "name": list("甲乙")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A"], "borrower_id": ["B"], "amount": [1.0]}),
    ... })
    >>> net = guarantee_network(EnterpriseGraph(t))
    >>> [p.members for p in intra_group_guarantees(net, {"A": "P1", "B": "P1"})]
    [('A', 'B')]
    """
    ids = net.graph.node_ids
    ctrl = np.array([controller_of.get(str(i)) for i in ids[: net.n]], dtype=object)
    pairs = net.structure.tocoo()
    out: list[GuaranteePattern] = []
    order = np.lexsort((pairs.col, pairs.row))
    for i, j in zip(pairs.row[order].tolist(), pairs.col[order].tolist(), strict=True):
        c = ctrl[i]
        if c is None or c != ctrl[j]:
            continue
        amount = float(net.amounts[i, j])
        reason = (
            f"{_name(net, i)} guarantees {_name(net, j)} ({format_cny(amount)}) and both are controlled by {c}: the "
            "guarantee adds no independent capacity (集团内担保)"
        )
        out.append(_make(net, "intra_group", len(out) + 1, (i, j), amount, reason, {"controller": c}))
    return out


# -------------------------------------------------------------------------------------------- measures


def core_numbers(net: GuaranteeNetwork) -> np.ndarray:
    """Directed k-shell of every enterprise: networkx's ``core_number`` on the active guarantee DiGraph
    (degree = in + out distinct counterparties), computed by vectorised peeling.

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABCD"), "name": list("甲乙丙丁")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "B", "C", "C"], "borrower_id": ["B", "C", "A", "D"],
    ...                                 "amount": [1.0] * 4}),
    ... })
    >>> core_numbers(guarantee_network(EnterpriseGraph(t))).tolist()
    [2, 2, 2, 1]
    """
    b = net.structure
    sym = sp.csr_array(b + b.T)
    deg = np.asarray(sym.sum(axis=1)).ravel().astype(np.int64)
    core = np.zeros(net.n, dtype=np.int64)
    alive = deg > 0
    k = 0
    while alive.any():
        k = max(k, int(deg[alive].min()))
        while True:
            rem = alive & (deg <= k)
            if not rem.any():
                break
            core[rem] = k
            alive &= ~rem
            deg = deg - (sym @ rem.astype(np.float64)).astype(np.int64)
    return core


CIRCLE_COLUMNS = (
    "circle_id",
    "firms",
    "edges",
    "guarantees",
    "guaranteed_amount",
    "ead",
    "defaulted_members",
    "pd_mean",
    "pd_max",
    "pd_missing",
    "large",
    "core_firms",
    "core_members",
    "mutual_pairs",
    "connected_pairs",
    "reciprocity",
    "density",
    "max_k_shell",
    "innermost_shell",
    "longest_chain",
    "revolving_cycles",
    "mutual_triad_share",
    "triad_census",
    "anchor_id",
    "reason",
)


def _mutual_triads(n: int, m: int, p2: int, t: int) -> float:
    """Share of the C(n, 3) triads with at least one mutual dyad, by inclusion–exclusion over mutual dyads.

    With k the mutual dyads of a triad: Σk = m(n − 2), ΣC(k, 2) = 2-paths of mutual dyads, ΣC(k, 3) =
    mutual triangles, and [k ≥ 1] = k − C(k, 2) + C(k, 3).
    """
    total = math.comb(n, 3)
    return (m * (n - 2) - p2 + t) / total if total else 0.0


def circle_measures(
    net: GuaranteeNetwork,
    circles: list[np.ndarray],
    *,
    levels: ChainLevels | None = None,
    cores: np.ndarray | None = None,
    large_size: int = 5,
    triad_max_firms: int = 5000,
    revolving: Iterable[GuaranteePattern] = (),
) -> pd.DataFrame:
    """One row per circle: size, amounts, EAD, defaults, PDs, reciprocity, density, k-shells, triads.

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABC"), "name": list("甲乙丙")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "B", "B"], "borrower_id": ["B", "A", "C"],
    ...                                 "amount": [1.0, 1.0, 1.0]}),
    ... })
    >>> net = guarantee_network(EnterpriseGraph(t))
    >>> row = circle_measures(net, guarantee_circles(net)).iloc[0]
    >>> int(row["firms"]), float(row["reciprocity"]), float(row["mutual_triad_share"])
    (3, 0.5, 1.0)
    """
    if not circles:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in CIRCLE_COLUMNS})
    levels = levels or chain_levels(net)
    cores = core_numbers(net) if cores is None else cores
    circle_of = np.full(net.n, -1, dtype=np.int64)
    for number, members in enumerate(circles):
        circle_of[members] = number
    n_circ = len(circles)
    graph = net.graph
    pd_ = _column(graph, "pd")
    defaulted = net.defaulted
    ead = graph.ead[: net.n]
    in_c = circle_of >= 0
    cid = circle_of[in_c]

    def per_circle(values: np.ndarray) -> np.ndarray:
        return np.bincount(cid, weights=values[in_c], minlength=n_circ)

    e_circle = circle_of[net.src]
    guarantees_n = np.bincount(e_circle[e_circle >= 0], minlength=n_circ)
    amount = np.bincount(e_circle[e_circle >= 0], weights=net.amount[e_circle >= 0], minlength=n_circ)
    b = net.structure.tocoo()
    pair_c = circle_of[b.row]
    edges = np.bincount(pair_c[pair_c >= 0], minlength=n_circ)
    # Distinct guarantee pairs grouped by circle once, so each circle's subgraph is a slice.
    in_pairs = np.flatnonzero(pair_c >= 0)
    by_circle = in_pairs[np.argsort(pair_c[in_pairs], kind="stable")]
    pair_src, pair_dst = b.row[by_circle], b.col[by_circle]
    pair_bounds = np.concatenate(([0], np.cumsum(edges)))
    mutual = sp.triu(net.structure.multiply(net.structure.T), k=1).tocoo()
    mutual_c = circle_of[mutual.row]
    mutual_n = np.bincount(mutual_c[mutual_c >= 0], minlength=n_circ)
    connected = edges - mutual_n
    # Mutual-dyad graph counts for the triad share: 2-paths and triangles per circle.
    msym = sp.csr_array(
        sp.coo_array((np.ones(mutual.nnz), (mutual.row, mutual.col)), shape=(net.n, net.n)).tocsr()
        + sp.coo_array((np.ones(mutual.nnz), (mutual.col, mutual.row)), shape=(net.n, net.n)).tocsr()
    )
    mdeg = np.asarray(msym.sum(axis=1)).ravel()
    p2 = per_circle(mdeg * (mdeg - 1) / 2)
    tri_node = np.asarray((msym @ msym).multiply(msym).sum(axis=1)).ravel() / 2  # triangles at each node
    triangles = per_circle(tri_node) / 3
    pd_known = ~np.isnan(pd_)
    pd_sum = np.bincount(cid, weights=np.where(pd_known, pd_, 0.0)[in_c], minlength=n_circ)
    pd_cnt = np.bincount(cid, weights=pd_known[in_c].astype(float), minlength=n_circ)
    pd_max = np.full(n_circ, -np.inf)
    np.maximum.at(pd_max, cid, np.where(pd_known, pd_, -np.inf)[in_c])
    # The strongly connected core: members of strong components of two or more firms.
    strong_sizes = np.bincount(levels.component)
    in_core = strong_sizes[levels.component] >= 2
    firsts = [p.members[0] for p in revolving]
    ring_c = circle_of[graph.index_of(firsts)] if firsts else np.zeros(0, dtype=np.int64)
    cycles_per = np.bincount(ring_c[ring_c >= 0], minlength=n_circ)
    rows = []
    for number, members in enumerate(circles):
        n = len(members)
        core_m = members[in_core[members]]
        kmax = int(cores[members].max())
        inner = members[cores[members] == kmax]
        m_n = int(mutual_n[number])
        share = _mutual_triads(n, m_n, round(p2[number]), round(triangles[number]))
        census: dict[str, int] | None = None
        if n <= triad_max_firms:
            lo, hi = pair_bounds[number], pair_bounds[number + 1]
            sub = nx.DiGraph()
            sub.add_nodes_from(members.tolist())
            sub.add_edges_from(zip(pair_src[lo:hi].tolist(), pair_dst[lo:hi].tolist(), strict=True))
            census = {str(k): int(v) for k, v in nx.triadic_census(sub).items()}
        chain = int(levels.upstream_depth[members].max())
        anchor = int(members[np.lexsort((members, -ead[members]))[0]])
        large = n >= large_size
        reason = (
            f"{n} firms linked by {int(guarantees_n[number])} active guarantees ({format_cny(amount[number])}); "
            f"bank exposure inside {format_cny(float(ead[members].sum()))}; "
            f"{len(core_m)} firms in a strongly connected core; {m_n} mutual pairs; longest chain {chain} layers"
        )
        if large:
            reason += f"; large (≥ {large_size} firms, guarantee_large_circle_size)"
        rows.append(
            {
                "circle_id": f"circle-{number + 1:05d}",
                "firms": n,
                "edges": int(edges[number]),
                "guarantees": int(guarantees_n[number]),
                "guaranteed_amount": float(amount[number]),
                "ead": float(ead[members].sum()),
                "defaulted_members": int(defaulted[members].sum()),
                "pd_mean": float(pd_sum[number] / pd_cnt[number]) if pd_cnt[number] else None,
                "pd_max": float(pd_max[number]) if pd_cnt[number] else None,
                "pd_missing": int(n - pd_cnt[number]),
                "large": large,
                "core_firms": len(core_m),
                "core_members": ";".join(net.ids(core_m[:200])),
                "mutual_pairs": m_n,
                "connected_pairs": int(connected[number]),
                "reciprocity": m_n / connected[number] if connected[number] else 0.0,
                "density": float(edges[number]) / (n * (n - 1)),
                "max_k_shell": kmax,
                "innermost_shell": ";".join(net.ids(inner[:200])),
                "longest_chain": chain,
                "revolving_cycles": int(cycles_per[number]),
                "mutual_triad_share": share,
                "triad_census": json.dumps(census) if census is not None else None,
                "anchor_id": _name(net, anchor),
                "reason": reason,
            }
        )
    return pd.DataFrame(rows)[list(CIRCLE_COLUMNS)]


FIRM_COLUMNS = (
    "entity_id",
    "name",
    "role",
    "given_count",
    "given_amount",
    "received_count",
    "received_amount",
    "borrowers",
    "guarantors",
    "net_assets",
    "leverage",
    "largest_guarantee",
    "largest_guarantee_ratio",
    "weak_borrowers",
    "circle_id",
    "upstream_depth",
    "downstream_depth",
    "downstream_reach",
    "k_shell",
    "patterns",
    "triggers",
    "reason",
)


def firm_measures(
    net: GuaranteeNetwork,
    circles: list[np.ndarray],
    *,
    levels: ChainLevels | None = None,
    cores: np.ndarray | None = None,
    patterns: Iterable[GuaranteePattern] = (),
    external_ratio: float = 0.5,
    single_ratio: float = 0.1,
    debt_ratio: float = 0.7,
) -> pd.DataFrame:
    """One row per firm giving or receiving an active guarantee, with the CSRC capacity triggers.

    Triggers: ``external`` (given / net assets > ``external_ratio``), ``single`` (largest single guarantee /
    net assets > ``single_ratio``), ``weak_borrower`` (guarantees a firm whose total liabilities / total
    assets > ``debt_ratio``). Net assets ≤ 0 trigger the first two whenever something is given.

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("AB"), "name": list("甲乙"), "net_assets": [100.0, 50.0],
    ...                                  "total_assets": [None, 100.0], "total_liabilities": [None, 80.0]}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A"], "borrower_id": ["B"], "amount": [60.0]}),
    ... })
    >>> net = guarantee_network(EnterpriseGraph(t))
    >>> firm_measures(net, [])[["entity_id", "role", "leverage", "triggers"]].values.tolist()
    [['A', 'guarantor', 0.6, 'external;single;weak_borrower'], ['B', 'borrower', 0.0, '']]
    """
    graph = net.graph
    levels = levels or chain_levels(net)
    cores = core_numbers(net) if cores is None else cores
    n = net.n
    given_n = np.bincount(net.src, minlength=n)
    recv_n = np.bincount(net.dst, minlength=n)
    given = np.bincount(net.src, weights=net.amount, minlength=n)
    recv = np.bincount(net.dst, weights=net.amount, minlength=n)
    largest = np.zeros(n)
    np.maximum.at(largest, net.src, net.amount)
    s = net.structure
    borrowers = np.diff(s.indptr)
    guarantors = np.diff(sp.csr_array(s.T).indptr)
    na = _column(graph, "net_assets")
    ta, tl = _column(graph, "total_assets"), _column(graph, "total_liabilities")
    with np.errstate(divide="ignore", invalid="ignore"):
        dr = np.where(ta > 0, tl / ta, np.nan)
        leverage = np.where(na > 0, given / na, np.where(given > 0, np.inf, 0.0))
        single = np.where(na > 0, largest / na, np.where(largest > 0, np.inf, 0.0))
    leverage = np.where(np.isnan(na), np.nan, leverage)
    single = np.where(np.isnan(na), np.nan, single)
    weak_b = dr > debt_ratio
    weak_n = np.bincount(net.src, weights=weak_b[net.dst].astype(float), minlength=n).astype(np.int64)
    circle_of = np.full(n, -1, dtype=np.int64)
    for number, members in enumerate(circles):
        circle_of[members] = number
    # One vectorised id lookup for every (pattern, member): a large circle has hundreds of thousands.
    flat_ids = [m for p in patterns for m in p.members]
    flat_pid = [p.pattern_id for p in patterns for _ in p.members]
    member_of: dict[int, list[str]] = {}
    if flat_ids:
        for node, pid in zip(graph.index_of(flat_ids).tolist(), flat_pid, strict=True):
            member_of.setdefault(node, []).append(pid)
    nodes = np.flatnonzero(net.involved)
    if not len(nodes):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in FIRM_COLUMNS})
    # Columns as arrays; only the sentences are built per firm, from plain Python lists (numpy scalars are
    # slow one by one, and a large portfolio has close to a million firms in guarantees).
    gn, rn = given_n[nodes], recv_n[nodes]
    known = ~np.isnan(na[nodes])
    t_ext = (gn > 0) & known & (np.nan_to_num(leverage[nodes], nan=0.0) > external_ratio)
    t_single = (gn > 0) & known & (np.nan_to_num(single[nodes], nan=0.0) > single_ratio)
    t_weak = (gn > 0) & (weak_n[nodes] > 0)
    role = np.where((gn > 0) & (rn > 0), "both", np.where(gn > 0, "guarantor", "borrower"))
    circle_ids = np.array([f"circle-{c + 1:05d}" for c in range(len(circles))] + [None], dtype=object)
    triggers = [
        ";".join(t for t, on in (("external", a), ("single", b), ("weak_borrower", c)) if on)
        for a, b, c in zip(t_ext.tolist(), t_single.tolist(), t_weak.tolist(), strict=True)
    ]
    reasons = []
    base = zip(
        gn.tolist(),
        given[nodes].tolist(),
        borrowers[nodes].tolist(),
        rn.tolist(),
        recv[nodes].tolist(),
        guarantors[nodes].tolist(),
        strict=True,
    )
    for k, (i, (g_n, g_a, b_n, r_n, r_a, q_n)) in enumerate(zip(nodes.tolist(), base, strict=True)):
        why = (
            f"gives {g_n} guarantees ({format_cny(g_a)}) to {b_n} borrowers, "
            f"receives {r_n} ({format_cny(r_a)}) from {q_n} guarantors"
        )
        if g_n and not known[k]:
            why += "; net assets unknown: CSRC capacity triggers not evaluated"
        if t_ext[k]:
            why += (
                f"; guarantees given are {_ratio(leverage[i])} of net assets {format_cny(na[i])} "
                f"(> {external_ratio:.0%}, csrc_external_guarantee_ratio)"
            )
        if t_single[k]:
            why += (
                f"; largest single guarantee {format_cny(largest[i])} is {_ratio(single[i])} of net assets "
                f"(> {single_ratio:.0%}, csrc_single_guarantee_ratio)"
            )
        if t_weak[k]:
            why += f"; guarantees {weak_n[i]} firms with a debt ratio above {debt_ratio:.0%} (csrc_borrower_debt_ratio)"
        reasons.append(why)

    def nullable(values: np.ndarray) -> list[float | None]:
        return [None if v != v else v for v in values.tolist()]  # NaN → None

    frame = pd.DataFrame(
        {
            "entity_id": graph.node_ids[nodes],
            "name": graph.nodes["name"].to_numpy(dtype=object)[nodes],
            "role": role,
            "given_count": gn,
            "given_amount": given[nodes],
            "received_count": rn,
            "received_amount": recv[nodes],
            "borrowers": borrowers[nodes],
            "guarantors": guarantors[nodes],
            "net_assets": nullable(na[nodes]),
            "leverage": nullable(leverage[nodes]),
            "largest_guarantee": largest[nodes],
            "largest_guarantee_ratio": nullable(single[nodes]),
            "weak_borrowers": weak_n[nodes],
            "circle_id": circle_ids[circle_of[nodes]],
            "upstream_depth": levels.upstream_depth[nodes],
            "downstream_depth": levels.downstream_depth[nodes],
            "downstream_reach": levels.downstream_reach[nodes],
            "k_shell": cores[nodes],
            "patterns": [";".join(member_of.get(i, ())) for i in nodes.tolist()],
            "triggers": triggers,
            "reason": reasons,
        }
    )
    return frame[list(FIRM_COLUMNS)]


def _ratio(x: float) -> str:
    return "all (net assets ≤ 0)" if math.isinf(x) else f"{x:.0%}"


# ----------------------------------------------------------------------------------------------- together


@dataclass(frozen=True)
class GuaranteeAnalysis:
    """Everything the scan reports about guarantees on one date."""

    network: GuaranteeNetwork
    patterns: list[GuaranteePattern]
    circles: pd.DataFrame
    firms: pd.DataFrame
    notes: tuple[str, ...]


def guarantee_patterns(
    graph: EnterpriseGraph,
    *,
    as_of: date | None = None,
    controller_of: Mapping[str, str] | None = None,
    length_bound: int = 8,
    cycle_cap: int = 1000,
    circle_min_size: int = 3,
    large_circle: int = 5,
    star_borrowers: int = 5,
    star_share: float = 0.5,
    triad_max_firms: int = 5000,
    external_ratio: float = 0.5,
    single_ratio: float = 0.1,
    debt_ratio: float = 0.7,
) -> GuaranteeAnalysis:
    """All patterns and measures of the guarantees active on ``as_of``.

    Without ``controller_of`` the ``intra_group`` pattern is skipped and a note says so.

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABC"), "name": list("甲乙丙")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "B", "C"], "borrower_id": ["B", "C", "A"],
    ...                                 "amount": [1.0, 1.0, 1.0]}),
    ... })
    >>> sorted({p.pattern for p in guarantee_patterns(EnterpriseGraph(t)).patterns})
    ['circle', 'revolving']
    """
    net = guarantee_network(graph, as_of=as_of)
    notes: list[str] = []
    circles = guarantee_circles(net, min_size=circle_min_size)
    levels = chain_levels(net)
    cores = core_numbers(net)
    pats: list[GuaranteePattern] = []
    pats += mutual_guarantees(net)
    pats += joint_guarantees(net)
    revolving = revolving_guarantees(net, length_bound=length_bound, cap=cycle_cap)
    pats += revolving
    if any(p.details.get("truncated") for p in revolving):
        notes.append(f"revolving cycles truncated at {cycle_cap} per strongly connected component")
    circle_table = circle_measures(
        net,
        circles,
        levels=levels,
        cores=cores,
        large_size=large_circle,
        triad_max_firms=triad_max_firms,
        revolving=revolving,
    )
    given = np.bincount(net.src, weights=net.amount, minlength=net.n)
    for number, members in enumerate(circles):
        row = circle_table.iloc[number]
        idx = np.sort(members)
        pats.append(
            GuaranteePattern(
                pattern="circle",
                pattern_id=str(row["circle_id"]),
                members=net.ids(idx),
                guaranteed_amount=float(given[idx].sum()),
                ead=float(row["ead"]),
                defaulted_members=int(row["defaulted_members"]),
                reason=str(row["reason"]),
                details={"large": bool(row["large"]), "core_firms": int(row["core_firms"])},
            )
        )
    if len(circles) and (circle_table["firms"] > triad_max_firms).any():
        notes.append(f"triad census skipped for circles over {triad_max_firms} firms (mutual-triad share computed)")
    pats += longest_chains(net, levels, circles)
    pats += star_guarantors(net, circles, min_borrowers=star_borrowers, share=star_share, large_circle=large_circle)
    if controller_of is None:
        notes.append("intra_group skipped: no actual-controller data (the ownership analysis provides it)")
    else:
        pats += intra_group_guarantees(net, controller_of)
    firms = firm_measures(
        net,
        circles,
        levels=levels,
        cores=cores,
        patterns=pats,
        external_ratio=external_ratio,
        single_ratio=single_ratio,
        debt_ratio=debt_ratio,
    )
    return GuaranteeAnalysis(network=net, patterns=pats, circles=circle_table, firms=firms, notes=tuple(notes))


def _flag(entity: str, flag: str, severity: str, reason: str, evidence: Mapping[str, Any]) -> dict[str, str]:
    return {
        "entity_id": entity,
        "flag": flag,
        "severity": severity,
        "reason": reason,
        "evidence": json.dumps(dict(evidence), ensure_ascii=False, default=str),
    }


def _groups(frame: pd.DataFrame, column: str) -> tuple[list[int], list[pd.DataFrame]]:
    """Integer keys of ``column`` in order and the rows of each (typed, unlike a groupby key)."""
    keys = np.unique(frame[column].to_numpy()).tolist()
    parts = [grp for _, grp in frame.groupby(column, sort=True)]
    return [int(k) for k in keys], parts


def guarantee_flags(
    analysis: GuaranteeAnalysis,
    *,
    large_circle: int = 5,
    external_ratio: float = 0.5,
    single_ratio: float = 0.1,
    flag_all_max: int = 100,
) -> pd.DataFrame:
    """Flags: in_revolving_cycle, in_large_circle, over_guaranteed, hub_guarantor, guarantees_defaulted_firm.

    In a circle of more than ``flag_all_max`` firms, ``in_large_circle`` goes only to the firms of its innermost
    k-shell (its densest part): the circle itself is one row of guarantee_circles.csv, the risk clusters split it
    into readable groups, and flagging every member drowns the rest."""
    net = analysis.network
    shell = pd.Series(dtype="float64")
    if len(analysis.firms) and "k_shell" in analysis.firms:
        shell = analysis.firms.set_index("entity_id")["k_shell"]
    flags: list[dict[str, str]] = []
    # Large circles flag hundreds of thousands of firms in a big portfolio: built as whole columns.
    frames: list[pd.DataFrame] = []
    for p in analysis.patterns:
        if p.pattern == "revolving":
            for m in p.members:
                flags.append(
                    _flag(
                        m,
                        "in_revolving_cycle",
                        "high",
                        f"member of {p.pattern_id}: {p.reason}",
                        {"pattern_id": p.pattern_id, "members": list(p.members), "amount": p.guaranteed_amount},
                    )
                )
        elif p.pattern == "star":
            g = p.members[0]
            flags.append(_flag(g, "hub_guarantor", "medium", p.reason, {"pattern_id": p.pattern_id, **dict(p.details)}))
        elif p.pattern == "circle" and p.details.get("large"):
            reason = (
                f"member of {p.pattern_id}, a guarantee circle of {len(p.members)} firms (≥ {large_circle}, "
                f"guarantee_large_circle_size) with {format_cny(p.guaranteed_amount)} guaranteed"
            )
            evidence = {"circle_id": p.pattern_id, "firms": len(p.members), "threshold": large_circle}
            members = list(p.members)
            if len(members) > flag_all_max:
                k = shell.reindex(members).to_numpy(dtype="float64", na_value=0.0)
                keep = k >= k.max()
                members = [m for m, kept in zip(members, keep, strict=True) if kept]
                reason += (
                    f"; flagged here as a firm of its innermost k-shell ({int(k.max())}) (circles above "
                    f"{flag_all_max} firms, guarantee_circle_flag_all_max; its risk clusters are flagged apart)"
                )
                evidence["members_flagged"] = len(members)
            frames.append(
                pd.DataFrame(
                    {
                        "entity_id": members,
                        "flag": "in_large_circle",
                        "severity": "medium",
                        "reason": reason,
                        "evidence": json.dumps(evidence, ensure_ascii=False),
                    }
                )
            )
    firms = analysis.firms
    if len(firms):
        hit = firms[firms["triggers"].str.contains("external|single", regex=True)]
        lev = hit["leverage"].to_numpy(dtype="float64")
        ratio = hit["largest_guarantee_ratio"].to_numpy(dtype="float64")
        # Given above net assets (or net assets ≤ 0) is past any approval: the guarantor cannot pay.
        severe = np.isinf(lev) | (lev > 1.0)
        evidence_text = [
            json.dumps(
                {
                    "triggers": t.split(";"),
                    "given_amount": g_a,
                    "net_assets": n_a,
                    "leverage": None if math.isinf(lv) else lv,
                    "largest_guarantee": big,
                    "largest_guarantee_ratio": None if math.isinf(r) else r,
                    "thresholds": {"external": external_ratio, "single": single_ratio},
                },
                ensure_ascii=False,
            )
            for t, g_a, n_a, lv, big, r in zip(
                hit["triggers"].tolist(),
                hit["given_amount"].tolist(),
                hit["net_assets"].tolist(),
                lev.tolist(),
                hit["largest_guarantee"].tolist(),
                ratio.tolist(),
                strict=True,
            )
        ]
        frames.append(
            pd.DataFrame(
                {
                    "entity_id": hit["entity_id"].astype(str).to_numpy(),
                    "flag": "over_guaranteed",
                    "severity": np.where(severe, "high", "medium"),
                    "reason": hit["reason"].astype(str).to_numpy(),
                    "evidence": evidence_text,
                }
            )
        )
    bad = net.defaulted[net.dst]
    if bad.any():
        frame = pd.DataFrame({"g": net.src[bad], "b": net.dst[bad], "amount": net.amount[bad]})
        for gi, grp in zip(*_groups(frame, "g"), strict=True):
            names = [_name(net, int(b)) for b in sorted(set(grp["b"].tolist()))]
            amount = float(grp["amount"].sum())
            flags.append(
                _flag(
                    _name(net, gi),
                    "guarantees_defaulted_firm",
                    "high",
                    f"guarantees {len(names)} defaulted firm(s) ({', '.join(names[:10])}) for {format_cny(amount)}: "
                    "the guarantee can be called now",
                    {"borrowers": names, "amount": amount},
                )
            )
    if flags:
        frames.append(pd.DataFrame(flags))
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_flags()
    out = pd.concat(frames, ignore_index=True)[list(FLAG_COLUMNS)]
    return out.astype(object)


@register(
    "guarantees",
    title="Guarantee networks (担保网络)",
    order=30,
    description="Mutual, joint and revolving guarantees, guarantee circles and chains, star guarantors and "
    "CSRC guarantee-capacity triggers, on the guarantees active at the as-of date.",
)
def guarantee_analysis(graph: EnterpriseGraph, context: AnalysisContext) -> AnalysisResult:
    th = context.config.threshold
    large = int(th("guarantee_large_circle_size"))
    external = th("csrc_external_guarantee_ratio")
    controller_of: dict[str, str] | None = None
    ownership = context.results.get("ownership")
    if ownership is not None and "controllers" in ownership.tables:
        ctl = ownership.tables["controllers"]
        known = ctl[ctl["controller_id"].notna()]
        controller_of = dict(zip(known["company_id"].astype(str), known["controller_id"].astype(str), strict=True))
    analysis = guarantee_patterns(
        graph,
        as_of=context.as_of,
        controller_of=controller_of,
        length_bound=int(th("guarantee_cycle_length_bound")),
        cycle_cap=int(th("guarantee_cycle_cap")),
        large_circle=large,
        star_borrowers=int(th("guarantee_star_borrowers")),
        star_share=th("guarantee_star_share"),
        triad_max_firms=int(th("guarantee_triad_census_max_firms")),
        external_ratio=external,
        single_ratio=th("csrc_single_guarantee_ratio"),
        debt_ratio=th("csrc_borrower_debt_ratio"),
    )
    flags = guarantee_flags(
        analysis,
        large_circle=large,
        external_ratio=external,
        single_ratio=th("csrc_single_guarantee_ratio"),
        flag_all_max=int(th("guarantee_circle_flag_all_max")),
    )
    table = patterns_frame(analysis.patterns)
    counts = {p: int((table["pattern"] == p).sum()) for p in PATTERNS}
    circles = analysis.circles
    firms = analysis.firms
    net = analysis.network
    summary: dict[str, Any] = {
        "as_of": context.as_of.isoformat(),
        "active_guarantees": len(net.edges),
        "inactive_guarantees": net.expired,
        "self_guarantees": net.self_guarantees,
        "firms_in_guarantees": len(firms),
        "patterns": counts,
        "circles": len(circles),
        "large_circles": int(circles["large"].astype(bool).sum()) if len(circles) else 0,
        "largest_circle": int(circles["firms"].max()) if len(circles) else 0,
        "guaranteed_amount_in_circles": float(circles["guaranteed_amount"].sum()) if len(circles) else 0.0,
        "ead_in_circles": float(circles["ead"].sum()) if len(circles) else 0.0,
        "longest_chain": int(firms["upstream_depth"].max()) if len(firms) else 0,
        "csrc_triggers": {
            t: int(firms["triggers"].str.split(";").apply(lambda x, t=t: t in x).sum()) if len(firms) else 0
            for t in ("external", "single", "weak_borrower")
        },
        "notes": list(analysis.notes),
    }
    by_exposure = (
        circles.sort_values(["ead", "guaranteed_amount", "circle_id"], ascending=[False, False, True])
        if len(circles)
        else circles
    )
    shown = (
        by_exposure.head(20)[
            [
                "circle_id",
                "firms",
                "guaranteed_amount",
                "ead",
                "defaulted_members",
                "core_firms",
                "mutual_pairs",
                "revolving_cycles",
                "longest_chain",
                "anchor_id",
            ]
        ]
        if len(circles)
        else circles
    )
    count_frame = pd.DataFrame({"pattern": list(counts), "count": list(counts.values())})
    paragraphs = [
        f"{len(net.edges):,} guarantees active on {context.as_of.isoformat()} ({net.expired:,} not in force are "
        f"ignored). {len(circles):,} guarantee circles (担保圈) of three or more firms, {summary['large_circles']:,} "
        f"of them large (≥ {large} firms); {counts['revolving']:,} revolving cycles, {counts['mutual']:,} mutual "
        f"pairs, {counts['joint']:,} joint guarantees, {counts['star']:,} star guarantors.",
        f"{summary['csrc_triggers']['external']:,} firms give guarantees above {external:.0%} of net assets and "
        f"{summary['csrc_triggers']['single']:,} a single guarantee above "
        f"{th('csrc_single_guarantee_ratio'):.0%} ({_CSRC}).",
        *analysis.notes,
    ]
    section = ReportSection(
        title="Guarantee networks (担保网络)",
        paragraphs=tuple(paragraphs),
        figures=(
            ("Active guarantees", f"{len(net.edges):,}"),
            ("Circles", f"{len(circles):,}"),
            ("Large circles", f"{summary['large_circles']:,}"),
            ("Revolving cycles", f"{counts['revolving']:,}"),
            ("EAD in circles", format_cny(summary["ead_in_circles"])),
        ),
        tables=(("Patterns", count_frame), ("Circles by bank exposure", shown)),
    )
    return AnalysisResult(
        name="guarantees",
        tables={"guarantee_patterns": table, "guarantee_circles": circles, "guarantors": firms},
        flags=flags,
        summary=summary,
        section=section,
        writeback=(
            (
                "writeback/guarantee_patterns.cypher",
                LazyRows(lambda: [{**r, "as_of": context.as_of} for r in writeback_rows_from_table(table)]),
            ),
            # Patterns of earlier runs are removed: Neo4j holds this run's patterns only.
            ("writeback/guarantee_patterns_stale.cypher", [{"run": True}]),
        ),
    )


def writeback_rows(analysis: GuaranteeAnalysis) -> list[dict[str, Any]]:
    """Rows for ``cypher/writeback/guarantee_patterns.cypher``: one per (pattern, member)."""
    return [
        {
            "pattern_id": p.pattern_id,
            "pattern": p.pattern,
            "member": m,
            "position": k,
            "guaranteed_amount": p.guaranteed_amount,
            "ead": p.ead,
            "reason": p.reason,
        }
        for p in analysis.patterns
        for k, m in enumerate(p.members)
    ]


# ------------------------------------------------------------------------------------ investigator's views

CHAIN_EDGE_COLUMNS = (
    "direction",
    "hop",
    "guarantor_id",
    "borrower_id",
    "amount",
    "loan_id",
    "kind",
    "start_date",
    "end_date",
)
CHAIN_NODE_FIELDS = ("name", "status", "pd", "defaulted")


@dataclass(frozen=True)
class ChainView:
    """The guarantee tree around one firm: edges by hop and direction, the firms on it, local patterns.

    ``up`` follows the firm's guarantees forward (the borrowers whose default can reach it); ``down`` follows
    them backward (the guarantors its default calls). ``hop`` is the edge's distance from the firm.
    """

    company: str
    as_of: date
    depth: int
    direction: str
    edges: pd.DataFrame
    nodes: pd.DataFrame
    patterns: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "company": self.company,
            "as_of": self.as_of.isoformat(),
            "depth": self.depth,
            "direction": self.direction,
            "edges": _records(self.edges),
            "nodes": _records(self.nodes),
            "patterns": list(self.patterns),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in frame.to_dict("records"):
        out.append({str(k): _plain(v) for k, v in rec.items()})
    return out


def _plain(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if hasattr(v, "iso_format"):  # neo4j.time.Date
        return str(v.iso_format())
    if isinstance(v, np.generic):
        return v.item()
    return v


def _day(v: Any) -> str | None:
    p = _plain(v)
    return None if p is None else str(p)[:10]


def chain_edges(
    graph: EnterpriseGraph, company: str, *, depth: int = 4, direction: str = "both", as_of: date | None = None
) -> pd.DataFrame:
    """Active guarantees within ``depth`` hops of ``company`` (breadth first), as :data:`CHAIN_EDGE_COLUMNS`.

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABC"), "name": list("甲乙丙")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "B"], "borrower_id": ["B", "C"], "amount": [1.0, 2.0]}),
    ... })
    >>> chain_edges(EnterpriseGraph(t), "A", depth=1)[["direction", "hop", "borrower_id"]].values.tolist()
    [['up', 1, 'B']]
    """
    net = guarantee_network(graph, as_of=as_of)
    start = graph.node(company)
    frames = []
    for side in ("up", "down") if direction == "both" else (direction,):
        near = net.src if side == "up" else net.dst  # the end nearer the firm
        m = net.structure if side == "up" else sp.csr_array(net.structure.T)
        dist = np.full(net.n, -1, dtype=np.int64)
        if start < net.n:
            dist[start] = 0
            frontier = np.array([start])
            for k in range(1, depth):
                nxt = np.unique(m[frontier].tocoo().col) if len(frontier) else frontier
                nxt = nxt[dist[nxt] < 0]
                dist[nxt] = k
                frontier = nxt
        ok = (dist[near] >= 0) & (dist[near] <= depth - 1)
        e = net.edges[ok]
        frames.append(
            pd.DataFrame(
                {
                    "direction": side,
                    "hop": dist[near[ok]] + 1,
                    "guarantor_id": graph.node_ids[e["src"].to_numpy()],
                    "borrower_id": graph.node_ids[e["dst"].to_numpy()],
                    "amount": e["amount"].to_numpy(dtype="float64", na_value=np.nan),
                    "loan_id": e["loan_id"].to_numpy(dtype=object, na_value=None) if "loan_id" in e else None,
                    "kind": e["kind"].to_numpy(dtype=object, na_value=None) if "kind" in e else None,
                    "start_date": [_day(v) for v in e["start_date"]] if "start_date" in e else None,
                    "end_date": [_day(v) for v in e["end_date"]] if "end_date" in e else None,
                }
            )
        )
    return _sort_chain(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CHAIN_EDGE_COLUMNS))


def _sort_chain(frame: pd.DataFrame) -> pd.DataFrame:
    """Canonical order and types, so embedded and Neo4j answers compare equal."""
    frame = frame.reindex(columns=list(CHAIN_EDGE_COLUMNS)).astype(object)
    frame = frame.where(frame.notna(), None)
    frame["hop"] = frame["hop"].astype(int)
    frame["amount"] = [None if v is None else float(v) for v in frame["amount"]]
    for c in ("start_date", "end_date"):
        frame[c] = [_day(v) for v in frame[c]]
    key = frame[["direction", "hop", "guarantor_id", "borrower_id", "loan_id", "start_date"]].fillna("")
    order = key.astype(str).apply(tuple, axis=1).sort_values().index
    return frame.loc[order].reset_index(drop=True)


def chain_view(
    company: str,
    edges: pd.DataFrame,
    attributes: Mapping[str, Mapping[str, Any]],
    *,
    depth: int,
    direction: str,
    as_of: date,
) -> ChainView:
    """Assemble the chain view from its edges and the firms' attributes (the same for embedded and Neo4j).

    The patterns listed are those visible in the edges shown that involve ``company``: mutual guarantees with
    it, joint guarantees of loans it borrows or guarantees, and revolving cycles through it.

    Examples
    --------
    >>> e = pd.DataFrame({"direction": ["up", "down"], "hop": [1, 1], "guarantor_id": ["A", "B"],
    ...                   "borrower_id": ["B", "A"], "amount": [1.0, 2.0], "loan_id": ["L1", "L2"],
    ...                   "kind": [None, None], "start_date": [None, None], "end_date": [None, None]})
    >>> [p["pattern"] for p in chain_view("A", e, {}, depth=1, direction="both", as_of=date(2026, 1, 1)).patterns]
    ['mutual']
    """
    edges = _sort_chain(edges)
    pairs = edges.drop_duplicates(["guarantor_id", "borrower_id", "loan_id", "start_date"])
    g = nx.DiGraph()
    g.add_edges_from(zip(pairs["guarantor_id"], pairs["borrower_id"], strict=True))
    patterns: list[dict[str, Any]] = []
    if company in g:
        for other in sorted(set(g.successors(company)) & set(g.predecessors(company))):
            patterns.append(
                {
                    "pattern": "mutual",
                    "members": [company, other],
                    "reason": f"{company} and {other} guarantee each other (互保)",
                }
            )
        loans = pairs[pairs["loan_id"].notna()]
        for (loan, borrower), grp in loans.groupby(["loan_id", "borrower_id"], sort=True):
            gs = sorted(set(grp["guarantor_id"]))
            if len(gs) >= 2 and (company == borrower or company in gs):
                patterns.append(
                    {
                        "pattern": "joint",
                        "members": [*gs, str(borrower)],
                        "reason": f"loan {loan} of {borrower} has {len(gs)} guarantors: {', '.join(gs)} (联保)",
                    }
                )
        cycles = []
        for c in nx.simple_cycles(g, length_bound=depth + 1):
            if len(c) >= 3 and company in c:
                i = c.index(company)
                cycles.append(c[i:] + c[:i])
        for c in sorted(cycles):
            patterns.append(
                {
                    "pattern": "revolving",
                    "members": c,
                    "reason": " → ".join([*c, c[0]]) + f": a revolving guarantee cycle of {len(c)} firms (循环担保)",
                }
            )
    ids = sorted({company, *edges["guarantor_id"], *edges["borrower_id"]})
    rows = []
    for i in ids:
        attrs = attributes.get(i, {})
        hops = {
            side: edges.loc[
                (edges["direction"] == side) & ((edges["borrower_id"] if side == "up" else edges["guarantor_id"]) == i),
                "hop",
            ]
            for side in ("up", "down")
        }
        rows.append(
            {
                "entity_id": i,
                **{f: _plain(attrs.get(f)) for f in CHAIN_NODE_FIELDS},
                "up_hop": 0 if i == company else (int(hops["up"].min()) if len(hops["up"]) else None),
                "down_hop": 0 if i == company else (int(hops["down"].min()) if len(hops["down"]) else None),
            }
        )
    nodes = pd.DataFrame(rows, columns=["entity_id", *CHAIN_NODE_FIELDS, "up_hop", "down_hop"]).astype(object)
    return ChainView(
        company=company,
        as_of=as_of,
        depth=depth,
        direction=direction,
        edges=edges,
        nodes=nodes,
        patterns=tuple(patterns),
    )


def guarantee_chain(
    graph: EnterpriseGraph, company: str, *, depth: int = 4, direction: str = "both", as_of: date | None = None
) -> ChainView:
    """The embedded chain view of ``company`` (see :class:`ChainView`).

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("AB"), "name": list("甲乙")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A"], "borrower_id": ["B"], "amount": [1.0]}),
    ... })
    >>> guarantee_chain(EnterpriseGraph(t), "B", direction="down").nodes["entity_id"].tolist()
    ['A', 'B']
    """
    day = as_of or date.today()
    edges = chain_edges(graph, company, depth=depth, direction=direction, as_of=day)
    ids = sorted({company, *edges["guarantor_id"], *edges["borrower_id"]})
    ent = graph.enterprises
    idx = graph.index_of(ids)
    attrs: dict[str, dict[str, Any]] = {}
    for i, node in zip(ids, idx.tolist(), strict=True):
        if node < graph.n_enterprises:
            attrs[i] = {f: ent[f].iloc[node] if f in ent else None for f in CHAIN_NODE_FIELDS}
    return chain_view(company, edges, attrs, depth=depth, direction=direction, as_of=day)


# Relation words for path hops: how an edge reads from its source to its target.
def hop_label(relation: str, src: str, dst: str, props: Mapping[str, Any]) -> str:
    """One relation between two entities as a sentence that reads in the edge's direction.

    Examples
    --------
    >>> hop_label("officer", "P1", "A", {"role": "legal_representative"})
    'P1 is legal_representative of A'
    """
    if relation == "guarantee":
        amount = props.get("amount")
        extra = f" ({format_cny(float(amount))})" if amount is not None else ""
        return f"{src} guarantees {dst}{extra}"
    if relation == "ownership":
        share = props.get("share")
        return f"{src} holds {float(share):.1%} of {dst}" if share is not None else f"{src} holds shares of {dst}"
    if relation == "officer":
        return f"{src} is {props.get('role') or 'officer'} of {dst}"
    if relation == "supply":
        return f"{src} supplies {dst}"
    return f"{src} {relation} {dst}"


@dataclass(frozen=True)
class RelationPath:
    """The shortest relationship path between two entities (lexicographically smallest of the shortest)."""

    source: str
    target: str
    nodes: tuple[str, ...]
    hops: tuple[tuple[str, ...], ...]  # per hop: every relation between the two entities, as sentences

    @property
    def length(self) -> int:
        return len(self.nodes) - 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "found": bool(self.nodes),
            "length": self.length if self.nodes else None,
            "nodes": list(self.nodes),
            "hops": [
                {"from": a, "to": b, "relations": list(h)}
                for a, b, h in zip(self.nodes, self.nodes[1:], self.hops, strict=False)
            ],
        }


PATH_MAX_HOPS = 12  # also the fixed upper bound of cypher/queries/path_shortest.cypher


def shortest_path_nodes(
    graph: EnterpriseGraph, source: str, target: str, *, max_hops: int = PATH_MAX_HOPS
) -> list[str]:
    """Node ids of the shortest path over all relations, read undirected; ties go to the smallest ids in order.

    A breadth-first search from ``target`` on the undirected CSR gives every distance; the path is then
    walked from ``source`` taking, at each step, the smallest id one step closer.

    Examples
    --------
    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABCD"), "name": list("甲乙丙丁")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "A", "C", "B"], "borrower_id": ["C", "B", "D", "D"],
    ...                                 "amount": [1.0] * 4}),
    ... })
    >>> shortest_path_nodes(EnterpriseGraph(t), "A", "D")
    ['A', 'B', 'D']
    """
    a, b = graph.node(source), graph.node(target)
    if a == b:
        return [source]
    adj = graph.combined_adjacency()
    und = sp.csr_array(adj + adj.T)
    path = undirected_shortest_path(und, a, b, graph.node_ids, max_hops=max_hops)
    return [str(graph.node_ids[p]) for p in path]


def undirected_shortest_path(
    und: sp.csr_array, a: int, b: int, ids: np.ndarray, *, max_hops: int | None = None
) -> list[int]:
    """Integer node ids of the shortest a–b path on a symmetric CSR; ties go to the smallest ids in order.

    A breadth-first search from ``b`` gives every distance; the path is walked from ``a`` taking, at each step,
    the smallest id one step closer, so the same graph always gives the same path. Empty when unreachable
    within ``max_hops``.

    >>> import numpy as np, scipy.sparse as sp
    >>> und = sp.csr_array(np.array([[0, 1, 1, 0], [1, 0, 0, 1], [1, 0, 0, 1], [0, 1, 1, 0]]))
    >>> undirected_shortest_path(und, 0, 3, np.array(["A", "B", "C", "D"], dtype=object))
    [0, 1, 3]
    """
    if a == b:
        return [a]
    dist = np.full(und.shape[0], -1, dtype=np.int64)
    dist[b] = 0
    frontier = np.array([b])
    k = 0
    while len(frontier) and dist[a] < 0 and (max_hops is None or k < max_hops):
        k += 1
        nxt = np.unique(und[frontier].tocoo().col)
        nxt = nxt[dist[nxt] < 0]
        dist[nxt] = k
        frontier = nxt
    if dist[a] < 0:
        return []
    path, cur = [a], a
    while cur != b:
        nb = und.indices[und.indptr[cur] : und.indptr[cur + 1]]
        nb = nb[dist[nb] == dist[cur] - 1]
        cur = int(min(nb.tolist(), key=lambda x: str(ids[x])))
        path.append(cur)
    return path


def path_hops(graph: EnterpriseGraph, nodes: list[str]) -> list[list[tuple[str, str, str, dict[str, Any]]]]:
    """Every relation (relation, src, dst, properties) between consecutive entities of ``nodes``."""
    from graphrisk.graph import RELATIONS

    idx = graph.index_of(nodes).tolist() if nodes else []
    out = []
    for u, v in pairwise(idx):
        found = []
        for r in RELATIONS:
            e = graph.edges(r)
            s, d = e["src"].to_numpy(), e["dst"].to_numpy()
            hit = ((s == u) & (d == v)) | ((s == v) & (d == u))
            for rec in e[hit].to_dict("records"):
                props = {k: _plain(val) for k, val in rec.items() if k not in ("src", "dst")}
                found.append((r, str(graph.node_ids[rec["src"]]), str(graph.node_ids[rec["dst"]]), props))
        out.append(found)
    return out


def relation_path(
    source: str, target: str, nodes: list[str], hops: list[list[tuple[str, str, str, dict[str, Any]]]]
) -> RelationPath:
    """The path with each hop labelled by :func:`hop_label`, sentences sorted (the same for both backends).

    Examples
    --------
    >>> relation_path("A", "B", ["A", "B"], [[("supply", "B", "A", {})]]).hops
    (('B supplies A',),)
    """
    labels = tuple(tuple(sorted({hop_label(r, s, d, p) for r, s, d, p in h})) for h in hops)
    return RelationPath(source=source, target=target, nodes=tuple(nodes), hops=labels)


def writeback_rows_from_table(patterns: pd.DataFrame) -> list[dict[str, Any]]:
    """The same rows as :func:`writeback_rows`, from the scan's ``guarantee_patterns`` table.

    Examples
    --------
    >>> t = pd.DataFrame({"pattern": ["mutual"], "pattern_id": ["mutual-00001"], "members": ["A;B"],
    ...                   "guaranteed_amount": [3.0], "ead": [0.0], "reason": ["A and B guarantee each other"]})
    >>> [(r["member"], r["position"]) for r in writeback_rows_from_table(t)]
    [('A', 0), ('B', 1)]
    """
    return [
        {
            "pattern_id": str(r["pattern_id"]),
            "pattern": str(r["pattern"]),
            "member": m,
            "position": k,
            "guaranteed_amount": float(r["guaranteed_amount"]),
            "ead": float(r["ead"]),
            "reason": str(r["reason"]),
        }
        for r in patterns.to_dict("records")
        for k, m in enumerate(str(r["members"]).split(";"))
    ]
