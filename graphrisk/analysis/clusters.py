"""Risky clusters (风险团簇): communities of the combined risk graph, scored by a declared list of indicators.

The risk graph ties enterprises by four relations; it is undirected and the weights of one pair add up:

- guarantee (active on the as-of date): each direction weighs ``0.5 + 0.5 × min(1, amount / guarantor's net
  assets)`` (registered capital when net assets are missing or not positive; a guarantor with neither counts as
  fully committed), so a mutual pair weighs up to 2;
- control: the actual controller (ownership analysis) → each company it controls, weight 1. An enterprise
  controller is a firm of the graph; a person controlling two or more firms becomes a hub node they all tie to
  (a star through the person: n edges instead of n² / 2, and the person is never a cluster member). State
  controllers (国资委 …) tie nothing: firms sharing only a state owner are not one risk (Basel LEX ¶ 31–32,
  大额风险暴露管理办法 Art. 18 exempt them unless economically dependent);
- suspected link (hidden-associations analysis): its score;
- strong supply dependence: the larger of ``share_of_supplier_revenue`` and ``share_of_customer_purchases`` when
  it reaches ``cluster_supply_share`` (default 0.5, as for 经济依存).

Connected components with at least ``cluster_min_size`` firms are clustered; smaller ones are left out. A
component with fewer than ``cluster_split_min_size`` firms is one cluster (no community detection needed);
larger ones are split by Leiden (igraph) with the Constant Potts Model: a group stays together while its internal
tie weight exceeds ``cluster_resolution`` × its number of member pairs. Unlike modularity, whose communities grow
with the square root of the graph (≈ 370 firms per community in the 100k synthetic portfolio's giant component,
more at 1M), CPM gives clusters of the same local structure whatever the portfolio's size (≈ 10 firms there).
A community with fewer than ``cluster_min_size`` firms joins the neighbouring community it is most strongly tied
to. Leiden is seeded (``cluster_seed``) and fed nodes and edges in the graph's id order, so the same data gives
the same clusters.

A cluster's score is Σ value × weight over :data:`INDICATORS`, each value normalised to [0, 1]; the default
weights sum to 1, so scores lie in [0, 1]. Severity: high ≥ ``cluster_high``, medium ≥ ``cluster_medium``, low
≥ ``cluster_low``, else none.

>>> [(i.name, i.weight) for i in INDICATORS][:2]
[('guarantee_circle', 0.1), ('revolving_cycles', 0.15)]
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import igraph as ig
import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from graphrisk.analysis import FLAG_COLUMNS, AnalysisContext, AnalysisResult, LazyRows, ReportSection, register
from graphrisk.analysis.contagion import standalone_pd
from graphrisk.analysis.guarantees import guarantee_circles, guarantee_network, revolving_guarantees
from graphrisk.config import Threshold, declare_thresholds
from graphrisk.graph import EnterpriseGraph
from graphrisk.tables import positions_in
from graphrisk.units import format_cny

__all__ = [
    "CLUSTER_COLUMNS",
    "INDICATORS",
    "MEMBER_COLUMNS",
    "SEVERITY_LEVELS",
    "ClusterIndicator",
    "ClusterInputs",
    "Clustering",
    "RiskGraph",
    "cluster_indicators",
    "cluster_inputs",
    "cluster_tables",
    "risk_clusters",
    "risk_clusters_analysis",
    "risk_graph",
    "score_clusters",
    "severity_of",
    "writeback_rows",
]


@dataclass(frozen=True)
class ClusterIndicator:
    """One term of a cluster's score: its default weight, what it measures and how it is put on [0, 1]."""

    name: str
    weight: float
    meaning: str
    normalisation: str


INDICATORS: tuple[ClusterIndicator, ...] = (
    ClusterIndicator(
        "guarantee_circle",
        0.10,
        "a member belongs to a guarantee circle (担保圈)",
        "1 when any member is in a circle, else 0",
    ),
    ClusterIndicator(
        "revolving_cycles",
        0.15,
        "revolving guarantee cycles (循环担保) with a member in the cluster",
        "1 − 0.5^cycles (1 cycle 0.5, 2 cycles 0.75, …)",
    ),
    ClusterIndicator(
        "mutual_guarantees",
        0.10,
        "share of the cluster's internal guarantees that are mutual (互保)",
        "mutual guarantee edges / guarantee edges inside the cluster (0 without guarantees)",
    ),
    ClusterIndicator(
        "defaulted_members",
        0.15,
        "share of members already in default",
        "defaulted members / members",
    ),
    ClusterIndicator(
        "ead_weighted_pd",
        0.15,
        "EAD-weighted standalone PD of the members (defaulted = 1; plain mean when no member has EAD)",
        "min(1, PD / cluster_pd_full)",
    ),
    ClusterIndicator(
        "network_pd_uplift",
        0.10,
        "EAD-weighted network PD − standalone PD (contagion analysis)",
        "min(1, uplift / cluster_uplift_full)",
    ),
    ClusterIndicator(
        "hidden_link_density",
        0.10,
        "suspected links (疑似关联) between members per possible pair",
        "links inside / (size × (size − 1) / 2)",
    ),
    ClusterIndicator(
        "exposure_concentration",
        0.10,
        "the cluster's share of the bank's total EAD",
        "min(1, share / cluster_ead_share_full)",
    ),
    ClusterIndicator(
        "over_guaranteed",
        0.05,
        "share of members whose active guarantees given exceed their net assets",
        "over-guaranteed members / members",
    ),
)
_NAMES: tuple[str, ...] = tuple(i.name for i in INDICATORS)
SEVERITY_LEVELS: tuple[str, ...] = ("high", "medium", "low", "none")
_ISSUE = "graphrisk convention (issue 7)"

declare_thresholds(
    Threshold(
        "cluster_min_size",
        3.0,
        "Risky clusters: only connected components of the risk graph with at least this many firms are clustered, "
        "and every cluster has at least this many firms.",
        f"{_ISSUE}: a pair is a mutual guarantee or a link, not a cluster",
    ),
    Threshold(
        "cluster_split_min_size",
        10.0,
        "Risky clusters: a component with fewer firms is one cluster; larger ones are split by Leiden.",
        f"{_ISSUE}: a component this small is one risk anyway",
    ),
    Threshold(
        "cluster_supply_share",
        0.5,
        "Risky clusters: a supply link ties two firms when the supplier's revenue share or the customer's purchase "
        "share reaches this.",
        "CBIRC 2018 大额风险暴露管理办法 经济依存 (≥ 50 % of gross receipts or expenditures); Basel LEX ¶ 20",
    ),
    Threshold(
        "cluster_resolution",
        0.01,
        "Risky clusters: Leiden CPM resolution: a group stays one cluster while its internal tie weight exceeds this "
        "× its number of member pairs (higher: smaller clusters).",
        "Traag, Van Dooren & Nesterov 2011 (CPM, free of modularity's resolution limit); Traag, Waltman & van Eck "
        "2019 (Leiden); graphrisk convention (issue 7): clusters of about 10 firms in the synthetic portfolios",
    ),
    Threshold(
        "cluster_seed",
        0.0,
        "Risky clusters: seed of Leiden's random choices, so the same data gives the same clusters.",
        _ISSUE,
    ),
    Threshold(
        "cluster_pd_full",
        0.2,
        "Risky clusters: an EAD-weighted PD at or above this counts fully in ead_weighted_pd.",
        f"{_ISSUE}: 20 % one-year PD is deep speculative grade (CCC)",
    ),
    Threshold(
        "cluster_uplift_full",
        0.1,
        "Risky clusters: an EAD-weighted network PD uplift at or above this counts fully in network_pd_uplift.",
        f"{_ISSUE}: 10 points of PD added by the network",
    ),
    Threshold(
        "cluster_ead_share_full",
        0.05,
        "Risky clusters: a cluster holding at least this share of the bank's EAD counts fully in "
        "exposure_concentration.",
        f"{_ISSUE}: 5 % of the book in one connected group is a concentration a credit committee discusses",
    ),
    Threshold(
        "cluster_high",
        0.32,
        "Risky clusters: a score at or above this is high severity (flagged risky_cluster).",
        f"{_ISSUE}: set on the shipped 300-firm example, where it marks a handful of clusters (1 of 26 as of "
        "2026-11-27, 5 of 17 as of its data date 2026-06-30); tune to the portfolio",
    ),
    Threshold(
        "cluster_medium",
        0.25,
        "Risky clusters: a score at or above this is medium severity (flagged risky_cluster).",
        _ISSUE,
    ),
    Threshold(
        "cluster_low",
        0.15,
        "Risky clusters: a score at or above this is low severity (listed, not flagged); below it, none.",
        _ISSUE,
    ),
    *(
        Threshold(
            f"cluster_weight_{i.name}",
            i.weight,
            f"Risky clusters: weight of {i.name} in the score ({i.meaning}; value {i.normalisation}).",
            f"{_ISSUE}: the default weights sum to 1, so scores lie in [0, 1]",
        )
        for i in INDICATORS
    ),
)

# Raw figures per cluster, beside the normalised indicator values (they are what the reasons quote).
_RAW_COLUMNS: tuple[str, ...] = (
    "circle_members",
    "revolving_count",
    "guarantee_edges",
    "mutual_edges",
    "defaulted_count",
    "pd_weighted",
    "uplift_weighted",
    "suspected_links",
    "ead_share",
    "over_guaranteed_count",
)
CLUSTER_COLUMNS: tuple[str, ...] = (
    "cluster_id",
    "size",
    "members",
    "ead",
    "score",
    "severity",
    "reasons",
    "controllers",
    "component_firms",
    *_RAW_COLUMNS,
    *(f"{n}_{part}" for n in _NAMES for part in ("value", "contribution")),
)
MEMBER_COLUMNS: tuple[str, ...] = (
    "cluster_id",
    "member_id",
    "name",
    "role",
    "strength",
    "ead",
    "pd",
    "network_pd",
    "defaulted",
    "in_circle",
    "in_revolving_cycle",
    "over_guaranteed",
)
_TOP_MEMBERS = 500  # members listed per top cluster in summary.json (the network pictures need no more)
_EVIDENCE_MEMBERS = 100  # members listed in a flag's evidence


# ------------------------------------------------------------------------------------------------ risk graph


@dataclass(frozen=True)
class RiskGraph:
    """The combined risk graph: a symmetric weighted matrix over the graph's enterprises (nodes 0 … n_firms − 1,
    in the graph's order) followed by one hub node per person who actually controls two or more of them.

    ``ids`` names every node; ``pairs`` counts the tied pairs per relation."""

    matrix: sp.csr_array
    n_firms: int
    ids: np.ndarray
    pairs: Mapping[str, int]

    @property
    def n_hubs(self) -> int:
        return int(self.matrix.shape[0]) - self.n_firms

    def to_frame(self) -> pd.DataFrame:
        """Each tied pair once (``a_id`` < ``b_id`` by node order) with its combined ``weight``."""
        upper = sp.triu(self.matrix, k=1).tocoo()
        order = np.lexsort((upper.col, upper.row))
        return pd.DataFrame(
            {"a_id": self.ids[upper.row[order]], "b_id": self.ids[upper.col[order]], "weight": upper.data[order]}
        )


def _capital(graph: EnterpriseGraph) -> np.ndarray:
    """Net assets, registered capital where they are missing or not positive, NaN without either."""
    ent = graph.enterprises
    na = ent["net_assets"].to_numpy(dtype="float64", na_value=np.nan)
    rc = ent["registered_capital"].to_numpy(dtype="float64", na_value=np.nan)
    out = np.where(na > 0, na, rc)
    out[~(out > 0)] = np.nan
    return out


def _pair_max(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unordered pairs (lo < hi) with the largest weight among their rows; self-pairs dropped."""
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    keep = lo != hi
    lo, hi, w = lo[keep], hi[keep], w[keep]
    if not len(lo):
        return lo, hi, w
    order = np.lexsort((hi, lo))
    lo, hi, w = lo[order], hi[order], w[order]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    starts = np.flatnonzero(first)
    return lo[starts], hi[starts], np.maximum.reduceat(w, starts)


def _positions(graph: EnterpriseGraph, ids: pd.Series) -> np.ndarray:
    """Node index of each id (−1 when absent); a table listing exactly the graph's enterprises in order (as the
    controllers and contagion tables do) skips the hash look-up, which costs ~0.5 s per call at 1M firms."""
    n = graph.n_enterprises
    values = ids.astype("string")
    if len(values) == n and not values.isna().any():
        plain = values.to_numpy(dtype=object)
        if (plain == graph.node_ids[:n]).all():
            return np.arange(n, dtype=np.int64)
    return positions_in(values, graph.node_ids)


def _controller_pairs(graph: EnterpriseGraph, controllers: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """(company, controller) node indices of the actual controllers that tie firms: persons and enterprises,
    not state bodies, not a company controlling itself, only ids present in the graph."""
    if controllers is None or not len(controllers):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    kind = controllers["controller_kind"].astype("string").fillna("")
    ctl = controllers[kind.isin(["person", "enterprise"]).to_numpy() & controllers["controller_id"].notna().to_numpy()]
    company = _positions(graph, ctl["company_id"])
    controller = positions_in(ctl["controller_id"].astype("string"), graph.node_ids)
    ok = (company >= 0) & (company < graph.n_enterprises) & (controller >= 0) & (company != controller)
    return company[ok], controller[ok]


def _suspected_pairs(graph: EnterpriseGraph, links: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, score) node indices of suspected links between enterprises of the graph."""
    if links is None or not len(links):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    a = positions_in(links["a_id"].astype("string"), graph.node_ids)
    b = positions_in(links["b_id"].astype("string"), graph.node_ids)
    score = links["score"].to_numpy(dtype="float64", na_value=0.0)
    n = graph.n_enterprises
    ok = (a >= 0) & (a < n) & (b >= 0) & (b < n) & (a != b)
    return a[ok], b[ok], np.clip(score[ok], 0.0, 1.0)


def risk_graph(
    graph: EnterpriseGraph,
    *,
    as_of: date | None = None,
    controllers: pd.DataFrame | None = None,
    suspected_links: pd.DataFrame | None = None,
    supply_share: float = 0.5,
) -> RiskGraph:
    """The combined risk graph of ``graph`` (see the module docstring for each relation's weight).

    ``controllers`` is the ownership analysis's table (``company_id, controller_id, controller_kind``);
    ``suspected_links`` the hidden-associations table (``a_id, b_id, score``). Either may be omitted.

    Examples
    --------
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": ["A", "B", "C"], "name": ["甲", "乙", "丙"],
    ...                                  "net_assets": [100.0, 100.0, 100.0]}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "B"], "borrower_id": ["B", "A"],
    ...                                 "amount": [100.0, 50.0]}),
    ... })
    >>> links = pd.DataFrame({"a_id": ["B"], "b_id": ["C"], "score": [0.8]})
    >>> risk_graph(EnterpriseGraph(t), suspected_links=links).to_frame().values.tolist()  # 1 + 0.75; 0.8
    [['A', 'B', 1.75], ['B', 'C', 0.8]]
    """
    company, controller = _controller_pairs(graph, controllers)
    a, b, score = _suspected_pairs(graph, suspected_links)
    return _risk_graph(graph, as_of, company, controller, (a, b, score), supply_share)


def _risk_graph(
    graph: EnterpriseGraph,
    as_of: date | None,
    company: np.ndarray,
    controller: np.ndarray,
    suspected: tuple[np.ndarray, np.ndarray, np.ndarray],
    supply_share: float,
) -> RiskGraph:
    """:func:`risk_graph` on node indices: (company, controller) pairs and (a, b, score) suspected links."""
    n = graph.n_enterprises
    us: list[np.ndarray] = []
    vs: list[np.ndarray] = []
    ws: list[np.ndarray] = []
    pairs: dict[str, int] = {}
    # Guarantees: directed pairs with their summed amounts; the two directions of a pair add up below.
    net = guarantee_network(graph, as_of=as_of)
    amounts = net.amounts.tocoo()
    cap = _capital(graph)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.isnan(cap[amounts.row]), 1.0, amounts.data / cap[amounts.row])
    us.append(amounts.row.astype(np.int64))
    vs.append(amounts.col.astype(np.int64))
    ws.append(0.5 + 0.5 * np.clip(np.nan_to_num(ratio, nan=0.0), 0.0, 1.0))
    pairs["guarantee"] = len(_pair_max(us[-1], vs[-1], ws[-1])[0])
    # Control: enterprise controllers tie directly; a person controlling two or more firms becomes a hub.
    firm_ctl = controller < n
    person = controller[~firm_ctl]
    persons, counts = np.unique(person, return_counts=True)
    hubs = persons[counts >= 2]
    hub_node = np.full(graph.n_nodes, -1, dtype=np.int64)
    hub_node[hubs] = n + np.arange(len(hubs))
    via_hub = hub_node[person] >= 0
    cu = np.concatenate([company[firm_ctl], company[~firm_ctl][via_hub]])
    cv = np.concatenate([controller[firm_ctl], hub_node[person[via_hub]]])
    us.append(cu)
    vs.append(cv)
    ws.append(np.ones(len(cu)))
    pairs["control"] = len(cu)
    # Suspected links: the score.
    a, b, score = _pair_max(*suspected)
    us.append(a)
    vs.append(b)
    ws.append(score)
    pairs["suspected_link"] = len(a)
    # Strong supply dependence, either side; one pair over several years counts its strongest year.
    e = graph.edges("supply")
    s, c = e["src"].to_numpy(dtype=np.int64), e["dst"].to_numpy(dtype=np.int64)
    rev = e["share_of_supplier_revenue"].to_numpy(dtype="float64", na_value=0.0)
    pur = e["share_of_customer_purchases"].to_numpy(dtype="float64", na_value=0.0)
    dep = np.clip(np.nan_to_num(np.maximum(rev, pur)), 0.0, 1.0)
    strong = (dep >= supply_share) & (s < n) & (c < n)
    s, c, dep = _pair_max(s[strong], c[strong], dep[strong])
    us.append(s)
    vs.append(c)
    ws.append(dep)
    pairs["supply"] = len(s)
    ids = np.concatenate([graph.node_ids[:n], graph.node_ids[hubs]]).astype(object)
    return RiskGraph(matrix=_symmetric(us, vs, ws, n + len(hubs)), n_firms=n, ids=ids, pairs=pairs)


def _symmetric(us: Sequence[np.ndarray], vs: Sequence[np.ndarray], ws: Sequence[np.ndarray], size: int) -> sp.csr_array:
    """The symmetric ``size`` × ``size`` matrix of the ties (u, v, weight), one array per relation in the order
    guarantee, control, suspected link, supply: weights of one pair add up, self-ties and zero sums drop out.

    The Spark engine builds each component's matrix here from the same arrays in the same order, so the sums
    (hence Leiden's input) are equal to the last bit."""
    u, v, w = np.concatenate(us), np.concatenate(vs), np.concatenate(ws)
    keep = u != v
    u, v, w = u[keep], v[keep], w[keep]
    m = sp.coo_array((np.concatenate([w, w]), (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(size, size))
    matrix = sp.csr_array(m.tocsr())
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix


# ------------------------------------------------------------------------------------------------ clusters


@dataclass(frozen=True)
class Clustering:
    """Clusters of a risk graph. ``labels``: per firm, the cluster number (0 … k − 1, numbered by smallest member)
    or −1 outside every cluster; ``node_labels`` the same over every node (person hubs included);
    ``component_firms``: per cluster, the firms of the connected component it was cut from; ``components``:
    components clustered; ``split``: those large enough for Leiden."""

    labels: np.ndarray
    node_labels: np.ndarray
    component_firms: np.ndarray
    components: int
    split: int

    @property
    def k(self) -> int:
        return len(self.component_firms)

    def members(self) -> list[np.ndarray]:
        """Firm indices of each cluster, ascending."""
        order = np.argsort(self.labels, kind="stable")
        lab = self.labels[order]
        start = int(np.searchsorted(lab, 0))
        return np.split(order[start:], np.flatnonzero(np.diff(lab[start:])) + 1) if self.k else []


# igraph's default; iterating until stable took 7× longer on the 100k portfolio and changed 0.2 % of the clusters
_LEIDEN_ITERATIONS = 2


def _leiden(sub: sp.csr_array, resolution: float, seed: int) -> np.ndarray:
    """Leiden CPM communities of a symmetric weighted graph (every component at once: communities never span
    two), numbered by smallest node."""
    upper = sp.triu(sub, k=1).tocoo()
    order = np.lexsort((upper.col, upper.row))  # one edge order, whatever scipy returns
    g = ig.Graph(n=sub.shape[0], directed=False)
    g.add_edges(np.column_stack([upper.row[order], upper.col[order]]))  # twice as fast as the constructor
    # igraph draws from a Python random generator: a fresh seeded one per call, the default restored after.
    ig.set_random_number_generator(random.Random(seed))
    try:
        part = g.community_leiden(
            objective_function="CPM",
            weights=upper.data[order].tolist(),
            resolution=resolution,
            n_iterations=_LEIDEN_ITERATIONS,
        )
    finally:
        ig.set_random_number_generator(random)
    return _by_first(np.asarray(part.membership, dtype=np.int64))


def _by_first(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0, 1, … in the order of each label's smallest node."""
    first = np.full(int(labels.max()) + 1, len(labels), dtype=np.int64)
    np.minimum.at(first, labels, np.arange(len(labels)))
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[labels]


def _merge_small(sub: sp.csr_array, comm: np.ndarray, is_firm: np.ndarray, min_size: int) -> np.ndarray:
    """Communities with fewer than ``min_size`` firms join the neighbour they have the most weight to (ties: the
    lowest community number), all at once per round, until none is left. Every component holds at least
    ``min_size`` firms and is connected, so a small community always has a neighbour, and each round removes at
    least one community."""
    coo = sub.tocoo()
    while True:
        k = int(comm.max()) + 1
        firms = np.bincount(comm[is_firm], minlength=k)
        small = firms < min_size
        if k == 1 or not small.any():
            return comm
        cw = sp.coo_array((coo.data, (comm[coo.row], comm[coo.col])), shape=(k, k)).tocsr()
        cw.sum_duplicates()
        cc = cw.tocoo()
        pick = small[cc.row] & (cc.row != cc.col)
        r, c, w = cc.row[pick], cc.col[pick], cc.data[pick]
        by = np.lexsort((c, -w, r))
        first = np.ones(len(by), dtype=bool)
        first[1:] = r[by][1:] != r[by][:-1]
        src, dst = r[by][first], c[by][first]
        joined = sp.coo_array((np.ones(len(src)), (src, dst)), shape=(k, k))
        _, merged = csgraph.connected_components(joined, directed=False)
        comm = _by_first(merged[comm])  # renumbered by smallest node: the numbering stays canonical


def risk_clusters(
    risk: RiskGraph,
    *,
    min_size: int = 3,
    split_min_size: int = 10,
    resolution: float = 0.01,
    seed: int = 0,
    per_component: bool = True,
) -> Clustering:
    """Clusters of the risk graph: components with at least ``min_size`` firms; those with fewer than
    ``split_min_size`` firms whole, larger ones split by Leiden with the Constant Potts Model at ``resolution``
    (deterministic with ``seed``), with communities below ``min_size`` firms merged into their most strongly tied
    neighbour.

    Leiden runs once per large component in component order, each fed its nodes in the graph's order (the default,
    and what the Spark engine runs on its executors), so a firm's cluster never depends on components it has no tie
    to: adding an unrelated component to the portfolio leaves every other cluster as it was. With
    ``per_component=False`` it runs once on all the large components together (one call:
    Leiden's random draws are shared by every node of one call, so the two agree whenever at most one component is
    large and may differ otherwise).

    Examples
    --------
    >>> ring = [(0, 1), (1, 2), (2, 0), (3, 4)]  # a triangle of firms and a pair
    >>> u, v = np.array(ring).T
    >>> m = sp.csr_array(sp.coo_array((np.ones(8), (np.r_[u, v], np.r_[v, u])), shape=(5, 5)))
    >>> risk = RiskGraph(matrix=m, n_firms=5, ids=np.array(list("ABCDE"), dtype=object), pairs={})
    >>> risk_clusters(risk).labels.tolist()  # the pair is below the minimum size
    [0, 0, 0, -1, -1]
    """
    n = risk.n_firms
    size = risk.matrix.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Clustering(labels=empty, node_labels=np.full(size, -1), component_firms=empty, components=0, split=0)
    ncomp, comp = csgraph.connected_components(risk.matrix, directed=False)
    firms = np.bincount(comp[:n], minlength=ncomp)
    kept = firms >= min_size
    big = kept & (firms >= split_min_size)
    node_label = np.where(kept[comp], comp, -1)
    # Leiden on the large components only, all in one call or one call each; their communities get labels beyond
    # the component numbers.
    next_label = ncomp
    nodes = np.flatnonzero(big[comp])
    calls = [nodes] if len(nodes) else []
    if per_component and len(nodes):
        by = nodes[np.argsort(comp[nodes], kind="stable")]  # ascending node order inside each component
        calls = np.split(by, np.flatnonzero(np.diff(comp[by])) + 1)
    for part in calls:
        sub = sp.csr_array(risk.matrix[part][:, part])
        comm = _merge_small(sub, _leiden(sub, resolution, seed), part < n, min_size)
        node_label[part] = next_label + comm
        next_label += int(comm.max()) + 1
    # Canonical numbering: by each cluster's smallest firm (firm indices follow the graph's id order).
    lab = node_label[:n]
    used = np.unique(lab[lab >= 0])
    first = np.full(next_label, n, dtype=np.int64)
    np.minimum.at(first, lab[lab >= 0], np.flatnonzero(lab >= 0))
    order = used[np.argsort(first[used], kind="stable")]
    number = np.full(next_label + 1, -1, dtype=np.int64)  # the last slot maps −1 to −1
    number[order] = np.arange(len(order))
    node_labels = number[node_label]
    return Clustering(
        labels=node_labels[:n],
        node_labels=node_labels,
        component_firms=firms[comp[first[order]]],
        components=int(kept.sum()),
        split=int(big.sum()),
    )


# ---------------------------------------------------------------------------------------------- indicators


@dataclass(frozen=True)
class ClusterInputs:
    """Per-firm facts the indicators read, as arrays over the graph's enterprises, plus the relations inside
    clusters: distinct directed guarantee pairs, suspected-link pairs and scores, revolving cycles (member
    indices), each firm's actual controller (node index, −1 for none or a state body). ``notes`` say what was
    missing."""

    ead: np.ndarray
    pd: np.ndarray
    network_pd: np.ndarray
    defaulted: np.ndarray
    in_circle: np.ndarray
    over_guaranteed: np.ndarray
    guarantee_src: np.ndarray
    guarantee_dst: np.ndarray
    suspected_a: np.ndarray
    suspected_b: np.ndarray
    suspected_score: np.ndarray
    revolving: tuple[np.ndarray, ...]
    controller_of: np.ndarray
    notes: tuple[str, ...] = ()


def _result_table(results: Mapping[str, AnalysisResult], analysis: str, table: str) -> pd.DataFrame | None:
    r = results.get(analysis)
    return None if r is None else r.tables.get(table)


def cluster_inputs(
    graph: EnterpriseGraph, *, as_of: date | None = None, results: Mapping[str, AnalysisResult] | None = None
) -> ClusterInputs:
    """The indicators' inputs from the earlier analyses' ``results`` (ownership ``controllers``, guarantees
    ``guarantors`` and ``guarantee_patterns``, hidden_links ``suspected_links``, contagion ``contagion``).

    A missing guarantees result is recomputed from the graph (circles of three or more firms, revolving cycles
    with the default bounds); missing controllers or suspected links count as none, a missing contagion result
    as network PD = PD; ``notes`` say which.

    Examples
    --------
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABC"), "name": list("甲乙丙"), "net_assets": [1.0, 9.0, 9.0]}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": list("ABC"), "borrower_id": list("BCA"),
    ...                                 "amount": [2.0, 2.0, 2.0]}),
    ... })
    >>> x = cluster_inputs(EnterpriseGraph(t))
    >>> x.in_circle.tolist(), x.over_guaranteed.tolist(), [c.tolist() for c in x.revolving]
    ([True, True, True], [True, False, False], [[0, 1, 2]])
    """
    res = results or {}
    n = graph.n_enterprises
    notes: list[str] = []
    net = guarantee_network(graph, as_of=as_of)
    structure = net.structure.tocoo()
    given = np.bincount(net.src, weights=net.amount, minlength=n)
    na = graph.enterprises["net_assets"].to_numpy(dtype="float64", na_value=np.nan)
    over = (given > 0) & ~np.isnan(na) & (given > na)
    guarantors = _result_table(res, "guarantees", "guarantors")
    patterns = _result_table(res, "guarantees", "guarantee_patterns")
    in_circle = np.zeros(n, dtype=bool)
    revolving: list[np.ndarray] = []
    if guarantors is None or patterns is None:
        notes.append("guarantee results missing: circles and revolving cycles recomputed with default bounds.")
        for members in guarantee_circles(net, min_size=3):
            in_circle[members] = True
        revolving = [graph.index_of(list(p.members)) for p in revolving_guarantees(net)]
    else:
        circled = guarantors[guarantors["circle_id"].notna()]["entity_id"].astype("string")
        pos = positions_in(circled, graph.node_ids)
        in_circle[pos[(pos >= 0) & (pos < n)]] = True
        rev = patterns[patterns["pattern"] == "revolving"]["members"].astype(str)
        if len(rev):
            split = rev.str.split(";")
            flat = positions_in(pd.Series(np.concatenate(split.to_numpy()), dtype="string"), graph.node_ids)
            revolving = [c[c >= 0] for c in np.split(flat, np.cumsum(split.map(len).to_numpy(dtype=np.int64))[:-1])]
    company, controller = _controller_pairs(graph, _result_table(res, "ownership", "controllers"))
    if "ownership" not in res:
        notes.append("ownership results missing: control ties not used.")
    controller_of = np.full(n, -1, dtype=np.int64)
    controller_of[company] = controller
    links = _result_table(res, "hidden_links", "suspected_links")
    if links is None:
        notes.append("hidden_links results missing: no suspected links used.")
    a, b, score = _pair_max(*_suspected_pairs(graph, links))
    p, _ = standalone_pd(graph)
    npd = p.copy()
    contagion = _result_table(res, "contagion", "contagion")
    if contagion is None:
        notes.append("contagion results missing: network PD taken as the standalone PD (no uplift).")
    else:
        pos = _positions(graph, contagion["id"])
        ok = (pos >= 0) & (pos < n)
        p[pos[ok]] = contagion["pd"].to_numpy(dtype="float64", na_value=0.0)[ok]
        npd[pos[ok]] = contagion["network_pd"].to_numpy(dtype="float64", na_value=0.0)[ok]
    ent = graph.enterprises
    defaulted = ent["defaulted"].to_numpy(dtype=bool, na_value=False) if "defaulted" in ent else np.zeros(n, bool)
    return ClusterInputs(
        ead=graph.ead[:n].copy(),
        pd=p,
        network_pd=npd,
        defaulted=defaulted,
        in_circle=in_circle,
        over_guaranteed=over,
        guarantee_src=structure.row.astype(np.int64),
        guarantee_dst=structure.col.astype(np.int64),
        suspected_a=a,
        suspected_b=b,
        suspected_score=score,
        revolving=tuple(revolving),
        controller_of=controller_of,
        notes=tuple(notes),
    )


def _per_cluster(labels: np.ndarray, k: int, weights: np.ndarray | None = None) -> np.ndarray:
    inside = labels >= 0
    w = None if weights is None else weights[inside]
    return np.bincount(labels[inside], weights=w, minlength=k).astype("float64")


def _inside(labels: np.ndarray, src: np.ndarray, dst: np.ndarray, k: int) -> np.ndarray:
    """Per cluster, the pairs (src, dst) with both ends in it."""
    same = (labels[src] >= 0) & (labels[src] == labels[dst])
    return np.bincount(labels[src[same]], minlength=k)


def cluster_indicators(
    labels: np.ndarray,
    inputs: ClusterInputs,
    *,
    pd_full: float = 0.2,
    uplift_full: float = 0.1,
    ead_share_full: float = 0.05,
    total_ead: float | None = None,
) -> pd.DataFrame:
    """One row per cluster number (``labels``: per firm, −1 outside): ``size``, ``ead``, the raw figures and each
    indicator's normalised value ``<name>_value`` (see :data:`INDICATORS`), all vectorised over clusters.

    ``total_ead`` (the bank's EAD, for ``ead_share``) defaults to the sum of ``inputs.ead``; the Spark engine passes
    the portfolio's total when ``inputs`` hold one batch of components.

    Examples
    --------
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABCD"), "name": list("甲乙丙丁")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "B", "B"], "borrower_id": ["B", "A", "C"],
    ...                                 "amount": [1.0, 1.0, 1.0]}),
    ... })
    >>> x = cluster_inputs(EnterpriseGraph(t))
    >>> row = cluster_indicators(np.array([0, 0, 0, -1]), x).to_dict("records")[0]
    >>> row["guarantee_edges"], row["mutual_edges"], round(row["mutual_guarantees_value"], 4)
    (3, 2, 0.6667)
    """
    labels = np.asarray(labels, dtype=np.int64)
    k = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    size = _per_cluster(labels, k)
    ead = _per_cluster(labels, k, inputs.ead)
    total_ead = float(inputs.ead.sum()) if total_ead is None else total_ead
    # Guarantee edges inside one cluster; an edge is mutual when its reverse is active too.
    gs, gd = inputs.guarantee_src, inputs.guarantee_dst
    n = len(labels)
    structure = sp.csr_array(sp.coo_array((np.ones(len(gs)), (gs, gd)), shape=(n, n)))
    both = sp.coo_array(structure.multiply(structure.T))  # 1 where the reverse guarantee is active too
    g_edges = _inside(labels, gs, gd, k)
    m_edges = _inside(labels, both.row.astype(np.int64), both.col.astype(np.int64), k)
    # Revolving cycles touching the cluster: each cycle once per cluster it has a member in.
    revolving = np.zeros(k, dtype=np.int64)
    if inputs.revolving:
        cyc = np.repeat(np.arange(len(inputs.revolving)), [len(c) for c in inputs.revolving])
        lab = labels[np.concatenate(inputs.revolving)]
        pairs = np.unique(np.stack([cyc[lab >= 0], lab[lab >= 0]]), axis=1)
        revolving = np.bincount(pairs[1], minlength=k)
    # EAD-weighted PD and uplift; a cluster without EAD uses the plain mean.
    uplift = np.clip(inputs.network_pd - inputs.pd, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        pd_w = np.where(ead > 0, _per_cluster(labels, k, inputs.ead * inputs.pd) / ead,
                        _per_cluster(labels, k, inputs.pd) / size)  # fmt: skip
        up_w = np.where(ead > 0, _per_cluster(labels, k, inputs.ead * uplift) / ead,
                        _per_cluster(labels, k, uplift) / size)  # fmt: skip
    links = _inside(labels, inputs.suspected_a, inputs.suspected_b, k)
    possible = size * (size - 1) / 2
    share = ead / total_ead if total_ead > 0 else np.zeros(k)
    circle = _per_cluster(labels, k, inputs.in_circle.astype("float64"))
    defaulted = _per_cluster(labels, k, inputs.defaulted.astype("float64"))
    over = _per_cluster(labels, k, inputs.over_guaranteed.astype("float64"))
    safe = np.maximum(size, 1)
    out = pd.DataFrame(
        {
            "size": size.astype(np.int64),
            "ead": ead,
            "circle_members": circle.astype(np.int64),
            "revolving_count": revolving.astype(np.int64),
            "guarantee_edges": g_edges.astype(np.int64),
            "mutual_edges": m_edges.astype(np.int64),
            "defaulted_count": defaulted.astype(np.int64),
            "pd_weighted": np.nan_to_num(pd_w),
            "uplift_weighted": np.nan_to_num(up_w),
            "suspected_links": links.astype(np.int64),
            "ead_share": share,
            "over_guaranteed_count": over.astype(np.int64),
        }
    )
    values = {
        "guarantee_circle": (circle > 0).astype("float64"),
        "revolving_cycles": 1.0 - 0.5 ** revolving.astype("float64"),
        "mutual_guarantees": np.where(g_edges > 0, m_edges / np.maximum(g_edges, 1), 0.0),
        "defaulted_members": defaulted / safe,
        "ead_weighted_pd": np.minimum(1.0, out["pd_weighted"].to_numpy() / pd_full),
        "network_pd_uplift": np.minimum(1.0, out["uplift_weighted"].to_numpy() / uplift_full),
        "hidden_link_density": np.where(possible > 0, links / np.maximum(possible, 1), 0.0),
        "exposure_concentration": np.minimum(1.0, share / ead_share_full),
        "over_guaranteed": over / safe,
    }
    for name in _NAMES:
        out[f"{name}_value"] = np.clip(values[name], 0.0, 1.0)
    return out


def severity_of(score: np.ndarray | Sequence[float], *, high: float, medium: float, low: float) -> np.ndarray:
    """high / medium / low / none for each score by the cut-offs (a score equal to a cut-off reaches it).

    >>> severity_of([0.5, 0.3, 0.2, 0.0], high=0.5, medium=0.3, low=0.15).tolist()
    ['high', 'medium', 'low', 'none']
    """
    s = np.asarray(score, dtype="float64")
    return np.select([s >= high, s >= medium, s >= low], ["high", "medium", "low"], default="none").astype(object)


def _describe(name: str, row: Mapping[Any, Any]) -> str:
    """An indicator's raw figure as the reasons quote it."""
    size = int(row["size"])
    if name == "guarantee_circle":
        return f"{int(row['circle_members'])} of {size} members in a guarantee circle"
    if name == "revolving_cycles":
        cycles = int(row["revolving_count"])
        return f"{cycles} revolving guarantee cycle{'' if cycles == 1 else 's'}"
    if name == "mutual_guarantees":
        return f"{int(row['mutual_edges'])} of {int(row['guarantee_edges'])} internal guarantees mutual"
    if name == "defaulted_members":
        return f"{int(row['defaulted_count'])} of {size} members defaulted"
    if name == "ead_weighted_pd":
        return f"EAD-weighted PD {row['pd_weighted']:.1%}"
    if name == "network_pd_uplift":
        return f"network PD uplift {row['uplift_weighted']:.1%}"
    if name == "hidden_link_density":
        return f"{int(row['suspected_links'])} suspected links among {size * (size - 1) // 2} pairs"
    if name == "exposure_concentration":
        return f"{row['ead_share']:.2%} of the bank's EAD"
    return f"{int(row['over_guaranteed_count'])} of {size} members guarantee more than their net assets"


def score_clusters(
    values: pd.DataFrame,
    weights: Mapping[str, float] | None = None,
    *,
    high: float = 0.32,
    medium: float = 0.25,
    low: float = 0.15,
    top: int = 3,
) -> pd.DataFrame:
    """``values`` (from :func:`cluster_indicators`) with ``<name>_contribution`` = value × weight, ``score`` = their
    sum, ``severity`` and ``reasons`` (the ``top`` largest contributions with their figures).

    ``weights`` default to :data:`INDICATORS`' weights; a missing name keeps its default.

    Examples
    --------
    >>> v = pd.DataFrame({"size": [3], "defaulted_count": [3], **{f"{i.name}_value": [0.0] for i in INDICATORS}})
    >>> v["defaulted_members_value"] = 1.0
    >>> s = score_clusters(v)
    >>> float(s["score"].iloc[0]), s["severity"].iloc[0], s["reasons"].iloc[0]
    (0.15, 'low', 'defaulted_members: 3 of 3 members defaulted (+0.150)')
    """
    w = {i.name: i.weight for i in INDICATORS} | dict(weights or {})
    out = values.copy()
    contrib = np.zeros((len(out), len(_NAMES)))
    for j, name in enumerate(_NAMES):
        contrib[:, j] = out[f"{name}_value"].to_numpy(dtype="float64") * w[name]
    for j, name in enumerate(_NAMES):
        out[f"{name}_contribution"] = contrib[:, j]
    out["score"] = contrib.sum(axis=1)
    out["severity"] = severity_of(out["score"].to_numpy(), high=high, medium=medium, low=low)
    # Largest contributions first; ties keep the declared order (stable sort).
    ranked = np.argsort(-contrib, axis=1, kind="stable")[:, :top]
    reasons: list[str] = []
    records = out.to_dict("records")
    for row, picks in zip(records, ranked, strict=True):
        parts = [
            f"{_NAMES[j]}: {_describe(_NAMES[j], row)} (+{row[f'{_NAMES[j]}_contribution']:.3f})"
            for j in picks
            if row[f"{_NAMES[j]}_contribution"] > 0
        ]
        reasons.append("; ".join(parts) if parts else "no indicator above 0")
    out["reasons"] = reasons
    return out


# ------------------------------------------------------------------------------------------------- tables


def _role_codes(labels: np.ndarray, inputs: ClusterInputs, strength: np.ndarray) -> np.ndarray:
    """Per firm, a bit set: 1 hub (largest strength in its cluster), 2 controller of another member,
    4 guarantor inside, 8 borrower inside."""
    n = len(labels)
    code = np.zeros(n, dtype=np.int64)
    members = np.flatnonzero(labels >= 0)
    if len(members):
        by = members[np.lexsort((members, -strength[members], labels[members]))]
        first = np.ones(len(by), dtype=bool)
        first[1:] = labels[by][1:] != labels[by][:-1]
        code[by[first]] |= 1
    ctl = inputs.controller_of
    firm = np.flatnonzero((ctl >= 0) & (ctl < n))
    same = firm[(labels[firm] >= 0) & (labels[ctl[firm]] == labels[firm])]
    code[ctl[same]] |= 2
    gs, gd = inputs.guarantee_src, inputs.guarantee_dst
    inside = (labels[gs] >= 0) & (labels[gs] == labels[gd])
    code[gs[inside]] |= 4
    code[gd[inside]] |= 8
    return code


_ROLE_NAMES = ("hub", "controller", "guarantor", "borrower")
_ROLE_TEXT = np.array(
    [";".join(r for b, r in enumerate(_ROLE_NAMES) if c >> b & 1) or "member" for c in range(16)], dtype=object
)


def cluster_tables(
    graph: EnterpriseGraph,
    risk: RiskGraph,
    clustering: Clustering,
    scored: pd.DataFrame,
    inputs: ClusterInputs,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``clusters`` table (:data:`CLUSTER_COLUMNS`) and the ``cluster_members`` table (:data:`MEMBER_COLUMNS`).

    Clusters are ordered by descending score, then smallest member id, and named ``RC-000001`` … in that order.
    ``controllers`` lists the actual controllers (persons or firms) of two or more members; ``strength`` is a
    member's tie weight to the rest of its cluster.

    Examples
    --------
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABC"), "name": list("甲乙丙")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "B"], "borrower_id": ["B", "C"],
    ...                                 "amount": [1.0, 1.0]}),
    ... })
    >>> g = EnterpriseGraph(t)
    >>> risk, x = risk_graph(g), cluster_inputs(g)
    >>> c = risk_clusters(risk)
    >>> clusters, members = cluster_tables(g, risk, c, score_clusters(cluster_indicators(c.labels, x)), x)
    >>> clusters[["cluster_id", "members"]].values.tolist(), members["role"].tolist()
    ([['RC-000001', 'A;B;C']], ['guarantor', 'hub;guarantor;borrower', 'borrower'])
    """
    names = graph.enterprises["name"].to_numpy(dtype=object)
    return _cluster_tables(graph.node_ids, graph.n_enterprises, names, risk, clustering, scored, inputs)


def _cluster_tables(
    node_ids: np.ndarray,
    n: int,
    names: np.ndarray,
    risk: RiskGraph,
    clustering: Clustering,
    scored: pd.DataFrame,
    inputs: ClusterInputs,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`cluster_tables` on arrays: ``node_ids`` names every node index ``inputs.controller_of`` uses (the
    ``n`` firms first), ``names`` the firms' names. The Spark engine calls it on one batch of components."""
    labels = clustering.labels
    k = clustering.k
    ids = node_ids[:n].astype(object)
    first = np.full(k, n, dtype=np.int64)
    members_idx = np.flatnonzero(labels >= 0)
    np.minimum.at(first, labels[members_idx], members_idx)
    score = scored["score"].to_numpy(dtype="float64") if k else np.zeros(0)
    order = np.lexsort((first, -score))
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    cid = np.array([f"RC-{r + 1:06d}" for r in range(k)], dtype=object)
    # Members by (cluster rank, id): firm indices follow the id order.
    mem = members_idx[np.lexsort((members_idx, rank[labels[members_idx]]))]
    mem_rank = rank[labels[mem]]
    bounds = np.searchsorted(mem_rank, np.arange(k + 1))
    joined = [";".join(ids[mem[bounds[r] : bounds[r + 1]]]) for r in range(k)]
    # Controllers of two or more members of one cluster (state bodies excluded upstream).
    ctl = inputs.controller_of
    has = members_idx[ctl[members_idx] >= 0]
    pairs = pd.DataFrame({"cluster": labels[has], "controller": ctl[has]})
    counts = pairs.value_counts().reset_index(name="count")
    counts = counts[counts["count"] >= 2].sort_values(["cluster", "controller"])
    ctl_cluster = counts["cluster"].to_numpy(dtype=np.int64)
    ctl_names = node_ids[counts["controller"].to_numpy(dtype=np.int64)].astype(object)
    cuts = np.flatnonzero(np.diff(ctl_cluster)) + 1
    controllers = np.full(k, "", dtype=object)
    if len(ctl_cluster):
        controllers[ctl_cluster[np.r_[0, cuts]]] = [";".join(part) for part in np.split(ctl_names, cuts)]
    table = scored.copy()
    table["cluster_id"] = cid[rank]
    table["members"] = np.asarray(joined, dtype=object)[rank] if k else np.zeros(0, dtype=object)
    table["controllers"] = controllers
    table["component_firms"] = clustering.component_firms.astype(np.int64)
    clusters = table.iloc[order][list(CLUSTER_COLUMNS)].reset_index(drop=True)
    # Members: strength inside the cluster on the risk graph (person hubs of the same cluster included).
    coo = risk.matrix.tocoo()
    nl = clustering.node_labels
    same = (nl[coo.row] >= 0) & (nl[coo.row] == nl[coo.col]) & (coo.row < n)
    strength = np.bincount(coo.row[same], weights=coo.data[same], minlength=n)[:n]
    role = _ROLE_TEXT[_role_codes(labels, inputs, strength)]
    in_rev = np.zeros(n, dtype=bool)
    if inputs.revolving:
        in_rev[np.concatenate(inputs.revolving)] = True
    members = pd.DataFrame(
        {
            "cluster_id": cid[mem_rank] if k else np.zeros(0, dtype=object),
            "member_id": ids[mem],
            "name": names[mem],
            "role": role[mem],
            "strength": strength[mem],
            "ead": inputs.ead[mem],
            "pd": inputs.pd[mem],
            "network_pd": inputs.network_pd[mem],
            "defaulted": inputs.defaulted[mem],
            "in_circle": inputs.in_circle[mem],
            "in_revolving_cycle": in_rev[mem],
            "over_guaranteed": inputs.over_guaranteed[mem],
        }
    )
    return clusters, members[list(MEMBER_COLUMNS)]


def writeback_rows(clusters: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for ``cypher/writeback/risk_clusters.cypher``: one per cluster with its member ids.

    >>> c = pd.DataFrame({"cluster_id": ["RC-000001"], "members": ["A;B;C"], "score": [0.5], "severity": ["high"],
    ...                   "size": [3], "reasons": ["…"]})
    >>> writeback_rows(c)[0]["members"]
    ['A', 'B', 'C']
    """
    return [
        {
            "cluster_id": str(cid),
            "score": float(score),
            "severity": str(sev),
            "size": int(size),
            "reasons": str(reasons),
            "members": str(members).split(";"),
        }
        for cid, score, sev, size, reasons, members in zip(
            clusters["cluster_id"],
            clusters["score"],
            clusters["severity"],
            clusters["size"],
            clusters["reasons"],
            clusters["members"],
            strict=True,
        )
    ]


def _flags(clusters: pd.DataFrame, *, high: float, medium: float) -> pd.DataFrame:
    """``risky_cluster`` for every high or medium cluster; the entity is the cluster id."""
    flagged = clusters[clusters["severity"].isin(["high", "medium"])]
    rows: list[dict[str, str]] = []
    for rec in flagged.to_dict("records"):
        members = str(rec["members"]).split(";")
        cut = high if rec["severity"] == "high" else medium
        threshold = "cluster_high" if rec["severity"] == "high" else "cluster_medium"
        evidence = {
            "cluster_id": rec["cluster_id"],
            "size": int(rec["size"]),
            "ead": float(rec["ead"]),
            "score": float(rec["score"]),
            "members": members[:_EVIDENCE_MEMBERS],
            "members_total": len(members),
            "controllers": [c for c in str(rec["controllers"]).split(";") if c],
            "indicators": {
                n: {"value": float(rec[f"{n}_value"]), "contribution": float(rec[f"{n}_contribution"])} for n in _NAMES
            },
            "threshold": {threshold: cut},
        }
        reason = (
            f"cluster of {int(rec['size'])} firms (EAD {format_cny(float(rec['ead']))}) scores {rec['score']:.2f} "
            f"≥ {cut:g} ({threshold}): {rec['reasons']}"
        )
        rows.append(
            {
                "entity_id": str(rec["cluster_id"]),
                "flag": "risky_cluster",
                "severity": str(rec["severity"]),
                "reason": reason,
                "evidence": json.dumps(evidence, ensure_ascii=False),
            }
        )
    return pd.DataFrame(rows, columns=list(FLAG_COLUMNS))


# --------------------------------------------------------------------------------------------- the analysis


@register(
    "risk_clusters",
    title="Risky clusters (风险团簇)",
    description="Communities of the combined guarantee, control, suspected-link and supply-dependence graph, "
    "scored by a declared list of weighted indicators.",
    order=70,
)
def risk_clusters_analysis(graph: EnterpriseGraph, context: AnalysisContext) -> AnalysisResult:
    th = context.config.threshold
    res = context.results
    min_size = int(th("cluster_min_size"))
    seed = int(th("cluster_seed"))
    resolution = th("cluster_resolution")
    high, medium, low = th("cluster_high"), th("cluster_medium"), th("cluster_low")
    weights = {n: th(f"cluster_weight_{n}") for n in _NAMES}
    inputs = cluster_inputs(graph, as_of=context.as_of, results=res)
    # The risk graph from the inputs' index arrays: the id look-ups are done once (risk_graph maps the frames).
    company = np.flatnonzero(inputs.controller_of >= 0)
    risk = _risk_graph(
        graph,
        context.as_of,
        company,
        inputs.controller_of[company],
        (inputs.suspected_a, inputs.suspected_b, inputs.suspected_score),
        th("cluster_supply_share"),
    )
    clustering = risk_clusters(
        risk,
        min_size=min_size,
        split_min_size=int(th("cluster_split_min_size")),
        resolution=resolution,
        seed=seed,
    )
    values = cluster_indicators(
        clustering.labels,
        inputs,
        pd_full=th("cluster_pd_full"),
        uplift_full=th("cluster_uplift_full"),
        ead_share_full=th("cluster_ead_share_full"),
    )
    scored = score_clusters(values, weights, high=high, medium=medium, low=low)
    clusters, members = cluster_tables(graph, risk, clustering, scored, inputs)
    flags = _flags(clusters, high=high, medium=medium)
    by_severity = {s: int((clusters["severity"] == s).sum()) for s in SEVERITY_LEVELS}
    top = clusters.head(5)
    algorithm = f"leiden CPM (igraph {ig.__version__}, resolution {resolution:g}, seed {seed})"
    summary: dict[str, Any] = {
        "as_of": context.as_of.isoformat(),
        "clusters": len(clusters),
        "by_severity": by_severity,
        "firms_in_clusters": int(clusters["size"].sum()),
        "ead_in_clusters": float(clusters["ead"].sum()),
        "ead_in_flagged_clusters": float(clusters[clusters["severity"].isin(["high", "medium"])]["ead"].sum()),
        "components_clustered": clustering.components,
        "components_split": clustering.split,
        "risk_graph_pairs": dict(risk.pairs),
        "person_hubs": risk.n_hubs,
        "algorithm": algorithm,
        "weights": weights,
        "thresholds": {"high": high, "medium": medium, "low": low, "min_size": min_size},
        "top_clusters": [
            {
                "cluster_id": str(r["cluster_id"]),
                "members": str(r["members"]).split(";")[:_TOP_MEMBERS],
                "size": int(r["size"]),
                "score": float(r["score"]),
                "severity": str(r["severity"]),
                "ead": float(r["ead"]),
            }
            for r in top.to_dict("records")
        ],
        "notes": list(inputs.notes),
    }
    shown = clusters.head(15)[["cluster_id", "size", "ead", "score", "severity", "reasons"]].assign(
        ead=lambda f: f["ead"].map(format_cny), score=lambda f: f["score"].round(3)
    )
    weight_table = pd.DataFrame(
        {
            "indicator": list(_NAMES),
            "weight": [weights[n] for n in _NAMES],
            "meaning": [i.meaning for i in INDICATORS],
            "value on [0, 1]": [i.normalisation for i in INDICATORS],
        }
    )
    section = ReportSection(
        title="Risky clusters (风险团簇)",
        paragraphs=(
            f"{len(clusters):,} clusters of at least {min_size} firms in {clustering.components:,} connected "
            "components of the risk graph (active guarantees, actual control, suspected links, supply dependence "
            f"≥ {th('cluster_supply_share'):.0%}); {clustering.split:,} components of "
            f"{int(th('cluster_split_min_size'))} or more firms were split by {algorithm}.",
            f"Score = Σ indicator value × weight; high ≥ {high:g}, medium ≥ {medium:g} (flagged risky_cluster), "
            f"low ≥ {low:g}. {by_severity['high']:,} high, {by_severity['medium']:,} medium, "
            f"{by_severity['low']:,} low.",
            *inputs.notes,
        ),
        figures=(
            ("Clusters", f"{len(clusters):,}"),
            ("High", f"{by_severity['high']:,}"),
            ("Medium", f"{by_severity['medium']:,}"),
            ("Firms in clusters", f"{summary['firms_in_clusters']:,}"),
            ("EAD in flagged clusters", format_cny(summary["ead_in_flagged_clusters"])),
        ),
        tables=(("Top risky clusters", shown), ("Score indicators", weight_table)),
    )
    return AnalysisResult(
        name="risk_clusters",
        tables={"clusters": clusters, "cluster_members": members},
        flags=flags,
        summary=summary,
        section=section,
        writeback=(
            ("writeback/risk_clusters.cypher", LazyRows(lambda: writeback_rows(clusters))),
            # Clusters and memberships of other runs are removed: Neo4j holds this run's clusters only.
            ("writeback/risk_clusters_stale.cypher", [{"run": True}]),
        ),
    )
