"""Ownership penetration (股权穿透), control, actual controllers (实际控制人) and beneficial owners (受益所有人).

``W[i, j]`` is the share of company ``j`` held directly by ``i`` (``graph.adjacency("ownership")``). Three
conventions of "how much of j does i own", every output names the one it shows:

- ``integrated``: ``W + W² + … = (I − W)⁻¹ W``; walks through cross-holdings count (Vitali, Glattfelder and
  Battiston 2011).
- ``ultimate``: ultimate holders P (natural persons, state bodies, holders with no holders of their own) and firms
  F: ``U = W_PF (I − W_FF)⁻¹``. A company's column sums to at most 1; the remainder is ``unidentified``.
- ``simple_paths``: the sum over simple paths (no node twice, depth-bounded) of the product of shares, with the
  paths: what registry tools show as 股权穿透.

Everything runs on sparse arrays (iteration to tolerance); a closed cycle of 100 % holdings, where ``I − W`` is
singular, is detected as a strongly connected set that nobody outside holds, and reported instead of iterated.

>>> import pandas as pd
>>> from graphrisk.tables import Tables
>>> t = Tables.from_frames({
...     "enterprises": pd.DataFrame({"id": ["A", "B"], "name": ["甲", "乙"]}),
...     "persons": pd.DataFrame({"id": ["P"], "name": ["张三"]}),
...     "shareholdings": pd.DataFrame({"holder_id": ["P", "A"], "company_id": ["A", "B"], "share": [0.6, 0.5]}),
... })
>>> g = EnterpriseGraph(t)
>>> round(float(ultimate_shares(g)[g.node("P"), g.node("B")]), 2)
0.3
>>> actual_controllers(g).set_index("company_id").loc["B", ["controller_id", "rule"]].tolist()
['P', 'relative_control']
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from graphrisk.analysis import AnalysisContext, AnalysisResult, LazyRows, ReportSection, empty_flags, register
from graphrisk.config import Threshold, declare_thresholds
from graphrisk.graph import EnterpriseGraph

__all__ = [
    "CONVENTIONS",
    "PROFILES",
    "STATE_ASSET_NAMES",
    "BeneficialOwnerProfile",
    "ClosedCycle",
    "actual_controllers",
    "beneficial_owners",
    "closed_cycles",
    "control_closure",
    "controls_rows",
    "corporate_groups",
    "cross_holdings",
    "integrated_shares_of",
    "owners_of",
    "ownership_matrix",
    "simple_paths_to",
    "state_bodies",
    "ultimate_holders",
    "ultimate_shares",
]

CONVENTIONS = ("integrated", "ultimate", "simple_paths")
Share = Literal["share", "voting", "max", "min", "max_bound"]

declare_thresholds(
    Threshold(
        "control_share",
        0.5,
        "Majority control: X controls Y when X's share of Y plus the shares held by firms X controls exceeds this.",
        "Company Law of the PRC Art. 265 (控股股东: more than 50 %); IFRS 10 / majority of voting rights",
    ),
    Threshold(
        "relative_control_share",
        0.30,
        "Relative control (actual controller without a majority): the largest holder by control share with at "
        "least this share.",
        "CSRC 上市公司收购管理办法 Art. 84 (可以实际支配上市公司股份表决权超过30%)",
    ),
    Threshold(
        "relative_control_lead",
        0.10,
        "Relative control also needs this lead (share points) over the next-largest holder group.",
        "graphrisk convention; set 0 to follow Art. 84's share test alone",
    ),
    Threshold(
        "controller_many_borrowers",
        5.0,
        "One actual controller behind at least this many borrowers (firms with a bank exposure) is flagged.",
        "graphrisk convention; Basel LEX connected counterparties (control relationship), tune to the portfolio",
    ),
    Threshold(
        "simple_path_depth",
        10.0,
        "Depth bound of simple-path ownership penetration (股权穿透 layers).",
        "graphrisk convention; registry tools show 10 layers",
    ),
)

# State-asset holders reported as state control (a configurable list: pass ``state_names=`` to change it).
STATE_ASSET_NAMES: tuple[str, ...] = (
    "国有资产监督管理委员会",
    "国资委",
    "财政部",
    "财政厅",
    "财政局",
    "中央汇金",
    "人民政府",
    "国有资本投资运营",
    "社会保障基金理事会",
)

_TOL = 1e-12  # contributions below this are dropped: they are rounding noise, not ownership


# ----------------------------------------------------------------------------------------------- matrices


def ownership_matrix(graph: EnterpriseGraph, which: Share = "share") -> sp.csr_array:
    """n × n CSR ``W[holder, company]`` for one reading of the shareholding table.

    ``share`` equity; ``voting`` voting share where given, else equity; ``max`` max(equity, voting) per layer;
    ``min`` / ``max_bound`` the interval bounds (``share_min`` / ``share_max``, else the share). Parallel rows
    are summed. Column totals above 1 (registry rounding) are scaled down to 1, so iterations stay bounded.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A", "B"], "name": ["a", "b"]}),
    ...     "shareholdings": pd.DataFrame({"holder_id": ["A"], "company_id": ["B"], "share": [0.2],
    ...                                    "voting_share": [0.6]})})
    >>> ownership_matrix(EnterpriseGraph(t), "max").toarray()[0, 1]
    np.float64(0.6)
    """
    e = graph.edges("ownership")
    share = e["share"].astype("float64").fillna(0.0).to_numpy()
    if which == "share":
        data = share
    elif which in ("voting", "max"):
        voting = e["voting_share"].astype("float64").to_numpy()
        voting = np.where(np.isnan(voting), share, voting)
        data = voting if which == "voting" else np.maximum(share, voting)
    else:
        col = "share_min" if which == "min" else "share_max"
        bound = e[col].astype("float64").to_numpy()
        data = np.where(np.isnan(bound), share, bound)
    n = graph.n_nodes
    w = sp.coo_array((data, (e["src"].to_numpy(), e["dst"].to_numpy())), shape=(n, n)).tocsr()
    w.sum_duplicates()
    if which != "max_bound":
        totals = np.asarray(w.sum(axis=0)).ravel()
        over = totals > 1.0
        if over.any():
            scale = np.ones(n)
            scale[over] = 1.0 / totals[over]
            w = sp.csr_array(w @ sp.diags_array(scale))
    w.eliminate_zeros()
    return w


@dataclass(frozen=True)
class ClosedCycle:
    """A strongly connected set of firms that holds all of itself: ``I − W`` is singular on it."""

    members: tuple[str, ...]
    note: str


def _sccs(w: sp.csr_array) -> tuple[int, np.ndarray]:
    n, labels = csgraph.connected_components(w, directed=True, connection="strong")
    return int(n), labels


def _closed_mask(w: sp.csr_array, labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Nodes in a strongly connected set of ≥ 2 members whose every member is wholly held inside the set.

    For an irreducible non-negative block with column sums ≤ 1, the spectral radius is 1 exactly when every
    column sums to 1 (Perron–Frobenius), so this test finds every singular block of ``I − W``.
    """
    sizes = np.bincount(labels, minlength=n_labels)
    coo = w.tocoo()
    inside = labels[coo.row] == labels[coo.col]
    held_inside = np.bincount(coo.col[inside], weights=coo.data[inside], minlength=w.shape[0])
    total = np.bincount(coo.col, weights=coo.data, minlength=w.shape[0])
    member_closed = (held_inside >= 1.0 - 1e-9) & (np.abs(total - held_inside) < 1e-12)
    big = sizes[labels] >= 2
    closed_per_label = np.ones(n_labels, dtype=bool)
    np.logical_and.at(closed_per_label, labels, member_closed | ~big)
    return big & closed_per_label[labels]


def closed_cycles(graph: EnterpriseGraph, which: Share = "share") -> list[ClosedCycle]:
    """Closed ownership cycles (A holds all of B, B holds all of A …): no natural owner can be identified.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A", "B"], "name": ["a", "b"]}),
    ...     "shareholdings": pd.DataFrame({"holder_id": ["A", "B"], "company_id": ["B", "A"], "share": [1.0, 1.0]})})
    >>> [c.members for c in closed_cycles(EnterpriseGraph(t))]
    [('A', 'B')]
    """
    w = ownership_matrix(graph, which)
    n_labels, labels = _sccs(w)
    mask = _closed_mask(w, labels, n_labels)
    out = []
    for lab in np.unique(labels[mask]):
        members = tuple(sorted(str(graph.node_ids[i]) for i in np.flatnonzero(labels == lab)))
        out.append(
            ClosedCycle(
                members,
                "closed ownership cycle: the members hold 100 % of each other and nobody outside holds them; "
                "W + W² + … diverges and no ultimate owner exists (reported, not iterated)",
            )
        )
    return out


def _name_is_state(names: pd.Series, state_names: Iterable[str]) -> np.ndarray:
    pattern = "|".join(map(_escape, state_names))
    if not pattern:
        return np.zeros(len(names), dtype=bool)
    return names.astype("string").str.contains(pattern, regex=True).fillna(False).to_numpy(dtype=bool)


def _escape(s: str) -> str:
    import re

    return re.escape(s)


def state_bodies(graph: EnterpriseGraph, state_names: Iterable[str] = STATE_ASSET_NAMES) -> np.ndarray:
    """Boolean per node: state-asset holders (name on the list, or state-owned with no holders in the data).

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({"enterprises": pd.DataFrame({"id": ["S", "X"], "name": ["某市国资委", "某公司"]})})
    >>> state_bodies(EnterpriseGraph(t)).tolist()
    [True, False]
    """
    out = np.zeros(graph.n_nodes, dtype=bool)
    ent = graph.enterprises
    if not len(ent):
        return out
    out[: graph.n_enterprises] = _name_is_state(ent["name"], state_names)
    if "state_owned" in ent:
        # Held means someone holds a known positive share (a BODS control link of unknown size does not count).
        held = np.asarray(ownership_matrix(graph).sum(axis=0)).ravel() > 0
        so = ent["state_owned"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        out[: graph.n_enterprises] |= so & ~held[: graph.n_enterprises]
    return out


def ultimate_holders(graph: EnterpriseGraph, state_names: Iterable[str] = STATE_ASSET_NAMES) -> np.ndarray:
    """Boolean per node: natural persons, state bodies, holders with no holders, members of closed cycles."""
    w = ownership_matrix(graph)
    # A holder whose share is unknown ([0, 1]) still makes a firm "held": its owners may be found through it.
    held = np.asarray(ownership_matrix(graph, "max_bound").sum(axis=0)).ravel() > 0
    out = ~held
    out[graph.n_enterprises :] = True
    out |= state_bodies(graph, state_names)
    n_labels, labels = _sccs(w)
    out |= _closed_mask(w, labels, n_labels)
    return out


def _propagate(b: sp.csr_array, wff: sp.csr_array, *, tol: float = _TOL, max_iter: int = 10_000) -> sp.csr_array:
    """``X = B + B W + B W² + …`` summed term by term until the new term is below ``tol``.

    Each term is a sparse product; contributions under ``tol`` are dropped, so a cross-holding (convergent,
    geometric) stops after a few dozen terms and the result stays sparse.
    """
    total = b.copy()
    term = b
    for _ in range(max_iter):
        term = sp.csr_array(term @ wff)
        term.data[term.data < tol] = 0.0
        term.eliminate_zeros()
        if term.nnz == 0:
            break
        total = sp.csr_array(total + term)
    return total


def ultimate_shares(
    graph: EnterpriseGraph,
    which: Share = "share",
    *,
    state_names: Iterable[str] = STATE_ASSET_NAMES,
    ultimate: np.ndarray | None = None,
) -> sp.csr_array:
    """``U[p, c]``: share of company ``c`` ultimately owned by ultimate holder ``p`` (``ultimate`` convention).

    Rows of non-ultimate nodes are empty. Edges inside a closed cycle are not iterated (they would never
    converge): its members are ultimate holders of what they hold outside the cycle, and the cycle's own
    companies are wholly ``unidentified``.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A", "B", "C"], "name": list("abc")}),
    ...     "persons": pd.DataFrame({"id": ["P", "Q"], "name": ["p", "q"]}),
    ...     "shareholdings": pd.DataFrame({"holder_id": ["P", "Q", "A", "B"], "company_id": ["A", "B", "C", "C"],
    ...                                    "share": [1.0, 1.0, 0.5, 0.3]})})
    >>> g = EnterpriseGraph(t)
    >>> u = ultimate_shares(g)
    >>> float(u[g.node("P"), g.node("C")]), float(u[g.node("Q"), g.node("C")])
    (0.5, 0.3)
    """
    w = ownership_matrix(graph, which)
    is_ult = ultimate_holders(graph, state_names) if ultimate is None else ultimate
    n = graph.n_nodes
    keep_p = sp.diags_array(is_ult.astype(np.float64))
    keep_f = sp.diags_array((~is_ult).astype(np.float64))
    b = sp.csr_array(keep_p @ w)
    # Closed-cycle members are ultimate; their rows carry no walk, so only firms F propagate.
    wff = sp.csr_array(keep_f @ w)
    wff.eliminate_zeros()
    b.eliminate_zeros()
    u = _propagate(b, wff)
    u.resize((n, n))
    return u


# --------------------------------------------------------------------------------------- per company


def _upstream(w: sp.csr_array, company: int, max_depth: int | None = None) -> np.ndarray:
    """Nodes from which ``company`` is reachable along holdings (holders, their holders …), company included."""
    wt = sp.csr_array(w.T)  # row c of W^T lists c's holders
    seen = np.zeros(w.shape[0], dtype=bool)
    seen[company] = True
    frontier = np.array([company])
    depth = 0
    while len(frontier) and (max_depth is None or depth < max_depth):
        nxt = np.unique(np.concatenate([wt.indices[wt.indptr[f] : wt.indptr[f + 1]] for f in frontier]))
        nxt = nxt[~seen[nxt]]
        seen[nxt] = True
        frontier = nxt
        depth += 1
    return np.flatnonzero(seen)


def integrated_shares_of(graph: EnterpriseGraph, company: str, which: Share = "share") -> tuple[pd.Series, list[str]]:
    """Integrated share (``(I − W)⁻¹ W``, column ``company``) of every upstream holder, and notes.

    Solved by iteration on the company's upstream subgraph only. Holders inside a closed 100 % cycle get NaN
    (the walk sum diverges) and a note says so.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A", "B"], "name": ["a", "b"]}),
    ...     "shareholdings": pd.DataFrame({"holder_id": ["A", "B"], "company_id": ["B", "A"], "share": [0.5, 0.5]})})
    >>> round(float(integrated_shares_of(EnterpriseGraph(t), "A")[0]["B"]), 4)  # 0.5 + 0.125 + …
    0.6667
    """
    w = ownership_matrix(graph, which)
    c = graph.node(company)
    nodes = _upstream(w, c)
    sub = sp.csr_array(w[nodes][:, nodes])
    n_labels, labels = _sccs(sub)
    closed = _closed_mask(sub, labels, n_labels)
    notes = []
    if closed.any():
        # Walks inside a closed cycle never decay: drop them and report the members as undefined.
        coo = sub.tocoo()
        drop = closed[coo.row] & closed[coo.col]
        sub = sp.csr_array(sp.coo_array((coo.data[~drop], (coo.row[~drop], coo.col[~drop])), shape=sub.shape))
        notes.append(
            "closed 100 % ownership cycle among "
            + ", ".join(sorted(str(graph.node_ids[nodes[i]]) for i in np.flatnonzero(closed)))
            + ": integrated share undefined (W + W² + … diverges)"
        )
    local_c = int(np.searchsorted(nodes, c))
    # x = W x + W[:, c]  ⇔  x = Σ_k W^k W[:, c], summed as a Neumann series on the subgraph.
    col = sub[:, [local_c]].toarray().ravel()
    x = col.copy()
    term = col
    for _ in range(10_000):
        term = sub @ term
        if term.max(initial=0.0) < _TOL:
            break
        x += term
    x[closed] = np.nan
    s = pd.Series(x, index=graph.node_ids[nodes].astype(str))
    s = s.drop(index=str(company))
    return s[(s > 0) | s.isna()], notes


def simple_paths_to(
    graph: EnterpriseGraph, company: str, *, max_depth: int = 10, max_paths: int = 100_000, which: Share = "share"
) -> tuple[list[tuple[tuple[str, ...], float]], bool]:
    """Every simple path holder → … → ``company`` of at most ``max_depth`` hops, with its share product.

    Returns the paths (node ids from the top holder down to the company) and whether ``max_paths`` cut the
    enumeration short.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A", "B"], "name": ["a", "b"]}),
    ...     "persons": pd.DataFrame({"id": ["P"], "name": ["p"]}),
    ...     "shareholdings": pd.DataFrame({"holder_id": ["P", "A"], "company_id": ["A", "B"], "share": [0.5, 0.4]})})
    >>> simple_paths_to(EnterpriseGraph(t), "B")[0]
    [(('A', 'B'), 0.4), (('P', 'A', 'B'), 0.2)]
    """
    w = ownership_matrix(graph, which)
    wt = sp.csr_array(w.T)
    ids = graph.node_ids
    c = graph.node(company)
    out: list[tuple[tuple[str, ...], float]] = []
    truncated = False
    # Depth-first over holders; the stack holds (node, path so far from the company upward, product).
    stack: list[tuple[int, tuple[int, ...], float]] = [(c, (c,), 1.0)]
    while stack:
        node, path, prod = stack.pop()
        lo, hi = wt.indptr[node], wt.indptr[node + 1]
        for h, s in zip(wt.indices[lo:hi][::-1], wt.data[lo:hi][::-1], strict=True):
            h = int(h)
            if h in path:
                continue
            p = prod * float(s)
            new = (*path, h)
            out.append((tuple(str(ids[i]) for i in reversed(new)), p))
            if len(out) >= max_paths:
                truncated = True
                stack.clear()
                break
            if len(new) - 1 < max_depth:
                stack.append((h, new, p))
    out.sort(key=lambda r: (len(r[0]), r[0]))
    return out, truncated


# ------------------------------------------------------------------------------------------------ control


@dataclass(frozen=True)
class _Control:
    parent: np.ndarray  # immediate controller per node, −1 when none
    share: np.ndarray  # control share of the immediate controller
    top: np.ndarray  # top of the control chain (self when uncontrolled)
    in_cycle: np.ndarray  # node's control chain runs into a control cycle
    groups: pd.DataFrame  # (a, y, v): share of y held by a and the firms a controls, for every a on a chain


def _ancestors(
    parent: np.ndarray, start: np.ndarray, max_depth: int, *, dedupe: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row index into ``start``, ancestor, hops) triples: each start node itself and its controllers up the chain.

    ``dedupe`` removes repeats, which only occur when a chain runs into a control cycle.
    """
    rows = [np.arange(len(start))]
    anc = [start]
    hops = [np.zeros(len(start), dtype=np.int64)]
    cur = start
    idx = np.arange(len(start))
    for k in range(1, max_depth + 1):
        nxt = parent[cur]
        ok = (nxt >= 0) & (nxt != start[idx])
        if not ok.any():
            break
        cur, idx = nxt[ok], idx[ok]
        rows.append(idx)
        anc.append(cur)
        hops.append(np.full(len(idx), k, dtype=np.int64))
    r, a, h = np.concatenate(rows), np.concatenate(anc), np.concatenate(hops)
    if dedupe:
        keep = ~pd.DataFrame({"r": r, "a": a}).duplicated().to_numpy()
        r, a, h = r[keep], a[keep], h[keep]
    return r, a, h


def _levels(parent: np.ndarray, max_depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth below the top, the top, and whether the chain meets a cycle, for every node of a parent forest."""
    n = len(parent)
    top = np.arange(n)
    level = np.zeros(n, dtype=np.int64)
    active = parent >= 0
    cur = np.where(active, parent, top)
    looped = np.zeros(n, dtype=bool)
    for _ in range(max_depth + 1):
        if not active.any():
            break
        top[active] = cur[active]
        level[active] += 1
        nxt = parent[cur]
        looped |= active & (nxt == np.arange(n))
        active = active & (nxt >= 0) & (nxt != np.arange(n))
        cur = np.where(active, nxt, cur)
    # A chain that returns to its start, or still walks after max_depth steps, runs in a cycle.
    return level, top, active | looped


def _control(graph: EnterpriseGraph, control_share: float, max_depth: int = 32) -> _Control:
    """Immediate controller of every company: the lowest entity whose group holds more than ``control_share``.

    X's group in Y is X's direct share of Y plus the shares of Y held by firms X controls; control is
    monotone, so rounds repeat until no immediate controller changes (a fixed point).
    """
    w = ownership_matrix(graph, "voting")
    coo = w.tocoo()
    h, y, v = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
    n = graph.n_nodes
    parent = np.full(n, -1, dtype=np.int64)
    share = np.zeros(n)
    sums = pd.DataFrame({"a": h, "y": y, "v": v})
    for _ in range(max_depth + 1):
        level, _top, cyc = _levels(parent, max_depth)
        rows, anc, _hops = _ancestors(parent, h, max_depth, dedupe=bool(cyc.any()))
        frame = pd.DataFrame({"a": anc, "y": y[rows], "v": v[rows]})
        sums = frame.groupby(["a", "y"], sort=False)["v"].sum().reset_index()
        cand = sums[(sums["v"] > control_share) & (sums["a"] != sums["y"])]
        cand = cand.assign(level=level[cand["a"].to_numpy()])
        # The lowest controller (deepest in the chain, smallest group on ties) is the immediate one.
        cand = cand.sort_values(["y", "level", "v", "a"], ascending=[True, False, True, True]).drop_duplicates("y")
        new_parent = np.full(n, -1, dtype=np.int64)
        new_share = np.zeros(n)
        new_parent[cand["y"].to_numpy()] = cand["a"].to_numpy()
        new_share[cand["y"].to_numpy()] = cand["v"].to_numpy()
        if np.array_equal(new_parent, parent):
            share = new_share
            break
        parent, share = new_parent, new_share
    _level, top, in_cycle = _levels(parent, max_depth)
    return _Control(parent=parent, share=share, top=top, in_cycle=in_cycle, groups=sums)


def _chain_strings(
    parent: np.ndarray, ids: np.ndarray, start: np.ndarray, stop: np.ndarray, max_depth: int
) -> np.ndarray:
    """Paths "stop>…>start" along the control chain, for many (start, stop) pairs at once."""
    path = ids[start].astype(str).astype(object)
    cur = start.copy()
    active = cur != stop
    for _ in range(max_depth):
        if not active.any():
            break
        nxt = parent[cur]
        active &= nxt >= 0
        cur = np.where(active, nxt, cur)
        path[active] = ids[cur[active]].astype(str).astype(object) + ">" + path[active]
        active &= cur != stop
    return path


def _lookup(groups: pd.DataFrame, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Group share of (a, y) pairs; NaN when a holds nothing of y."""
    idx = pd.MultiIndex.from_arrays([groups["a"].to_numpy(), groups["y"].to_numpy()])
    pos = idx.get_indexer(pd.MultiIndex.from_arrays([a, y]))
    vals = groups["v"].to_numpy()
    return np.where(pos >= 0, vals[np.maximum(pos, 0)], np.nan)


def control_closure(graph: EnterpriseGraph, *, control_share: float = 0.5, max_depth: int = 32) -> pd.DataFrame:
    """Every (controller, company) pair of the majority-control closure, with the control share and the chain.

    Voting share is used where given. ``control_share`` of a pair is the controller's group share of the
    company (direct plus held through firms it controls).

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A", "B", "C"], "name": list("abc")}),
    ...     "shareholdings": pd.DataFrame({"holder_id": ["A", "B", "A"], "company_id": ["B", "C", "C"],
    ...                                    "share": [0.6, 0.3, 0.25]})})
    >>> control_closure(EnterpriseGraph(t))[["controller_id", "company_id", "control_share", "path"]].values.tolist()
    [['A', 'B', 0.6, 'A>B'], ['A', 'C', 0.55, 'A>C']]
    """
    ctl = _control(graph, control_share, max_depth)
    ids = graph.node_ids
    ys = np.flatnonzero(ctl.parent >= 0)
    rows, anc, hops = _ancestors(ctl.parent, ys, max_depth, dedupe=bool(ctl.in_cycle.any()))
    keep = hops > 0
    y, a, hops = ys[rows[keep]], anc[keep], hops[keep]
    cols = ["controller_id", "company_id", "control_share", "levels", "path", "convention"]
    if not len(y):
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(
        {
            "controller_id": ids[a],
            "company_id": ids[y],
            "control_share": np.round(_lookup(ctl.groups, a, y), 10),
            "levels": hops,
            "path": _chain_strings(ctl.parent, ids, y, a, max_depth),
            "convention": "control",
        }
    )
    return out[cols].sort_values(["company_id", "levels", "controller_id"]).reset_index(drop=True)


def actual_controllers(
    graph: EnterpriseGraph,
    *,
    control_share: float = 0.5,
    relative_share: float = 0.30,
    relative_lead: float = 0.10,
    state_names: Iterable[str] = STATE_ASSET_NAMES,
    declared: Mapping[str, str] | None = None,
    max_depth: int = 32,
) -> pd.DataFrame:
    """The actual controller (实际控制人) of every enterprise, by ordered rules; the rule is recorded.

    (a) ``declared``: a controller given in the input (the tables have no such column yet, so only when the
    caller passes ``declared={company: controller}``); (b) ``majority_chain``: the top of the majority-control
    chain; (c) ``relative_control``: the largest holder group (holders grouped by their own top controller) by
    control share with at least ``relative_share`` and a lead of ``relative_lead`` over the next; (d) ``none``
    (无实际控制人). Controllers that are state-asset holders have ``controller_kind`` ``state``. A company whose
    control chain runs into a control cycle gets rule ``control_cycle`` and no controller.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A"], "name": ["a"]}),
    ...     "persons": pd.DataFrame({"id": ["P", "Q"], "name": ["p", "q"]}),
    ...     "shareholdings": pd.DataFrame({"holder_id": ["P", "Q"], "company_id": ["A", "A"], "share": [0.35, 0.2]})})
    >>> actual_controllers(EnterpriseGraph(t))[["controller_id", "rule", "control_share"]].values.tolist()
    [['P', 'relative_control', 0.35]]
    """
    if declared is None and "declared_controller_id" in graph.enterprises:
        given = graph.enterprises[["id", "declared_controller_id"]].dropna()
        declared = dict(zip(given["id"].astype(str), given["declared_controller_id"].astype(str), strict=True)) or None
    ctl = _control(graph, control_share, max_depth)
    w = ownership_matrix(graph, "voting")
    n_ent = graph.n_enterprises
    ids = graph.node_ids
    state = state_bodies(graph, state_names)
    held = np.asarray(w.sum(axis=0)).ravel() > 0
    controller = np.full(n_ent, -1, dtype=np.int64)
    rule = np.full(n_ent, "none", dtype=object)
    cshare = np.full(n_ent, np.nan)
    paths = np.full(n_ent, None, dtype=object)
    ent = np.arange(n_ent)
    has_parent = ctl.parent[:n_ent] >= 0
    cyc = ctl.in_cycle[:n_ent] & has_parent
    maj = np.flatnonzero(has_parent & ~cyc)
    controller[maj] = ctl.top[maj]
    rule[maj] = "majority_chain"
    rule[cyc] = "control_cycle"
    cshare[maj] = _lookup(ctl.groups, controller[maj], maj)
    paths[maj] = _chain_strings(ctl.parent, ids, maj, controller[maj], max_depth)
    # Relative control: holders grouped by their own top controller (a holder without one stands alone).
    coo = w.tocoo()
    grp = np.where(ctl.in_cycle[coo.row], coo.row, ctl.top[coo.row])
    frame = pd.DataFrame({"y": coo.col, "g": grp, "h": coo.row, "v": coo.data})
    frame = frame[(frame["y"] < n_ent) & ~has_parent[np.minimum(frame["y"].to_numpy(), n_ent - 1)]]
    sums = frame.groupby(["y", "g"], sort=False)["v"].sum().reset_index()
    sums = sums.sort_values(["y", "v", "g"], ascending=[True, False, True])
    first = sums.drop_duplicates("y")
    second = sums[sums.duplicated("y")].drop_duplicates("y").set_index("y")["v"]
    lead = first["v"].to_numpy() - second.reindex(first["y"]).fillna(0.0).to_numpy()
    ok = (first["v"].to_numpy() >= relative_share - 1e-12) & (lead >= relative_lead - 1e-12)
    rel = first[ok]
    ry, rg = rel["y"].to_numpy(), rel["g"].to_numpy()
    controller[ry] = rg
    rule[ry] = "relative_control"
    cshare[ry] = rel["v"].to_numpy()
    # The route shown: from the group head down its control chain to the group's largest direct holder.
    big = frame.merge(rel[["y", "g"]], on=["y", "g"]).sort_values(["y", "v", "h"], ascending=[True, False, True])
    big = big.drop_duplicates("y").set_index("y").reindex(ry)
    hops = _chain_strings(ctl.parent, ids, big["h"].to_numpy(dtype=np.int64), rg, max_depth)
    paths[ry] = hops + ">" + ids[ry].astype(str).astype(object)
    no_holders = ~held[:n_ent]
    sb = no_holders & state[:n_ent]
    rule[sb] = "state_body"
    controller[sb] = ent[sb]
    cshare[sb] = 1.0
    paths[sb] = ids[:n_ent][sb]
    rule[no_holders & ~state[:n_ent]] = "no_holders_in_data"
    if declared:
        pos = graph.index_of(pd.Series(list(declared.keys()), dtype=object))
        ctrl = graph.index_of(pd.Series(list(declared.values()), dtype=object))
        controller[pos] = ctrl
        rule[pos] = "declared"
        cshare[pos] = np.nan
        paths[pos] = [f"{ids[c]}>{ids[y]}" for c, y in zip(ctrl, pos, strict=True)]
    has = controller >= 0
    cshare[~has] = np.nan
    paths[~has] = None
    kind = np.full(n_ent, "none", dtype=object)
    ck = controller[has]
    kind[has] = np.where(state[ck], "state", np.where(ck >= n_ent, "person", "enterprise"))
    return pd.DataFrame(
        {
            "company_id": ids[:n_ent],
            "controller_id": np.where(has, ids[np.maximum(controller, 0)], np.array(None, dtype=object)),
            "controller_kind": kind,
            "rule": rule,
            "control_share": np.round(cshare, 10),
            "path": paths,
        }
    )


def controls_rows(controllers: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for ``cypher/writeback/ownership_controls.cypher``: one CONTROLS relation per identified controller.

    A state body is not written as controlling itself.

    >>> c = pd.DataFrame({"company_id": ["A"], "controller_id": ["P"], "controller_kind": ["person"],
    ...                   "rule": ["majority_chain"], "control_share": [0.6], "path": ["P>A"]})
    >>> controls_rows(c)
    [{'controller_id': 'P', 'company_id': 'A', 'share': 0.6, 'rule': 'majority_chain', 'path': 'P>A'}]
    """
    c = controllers[controllers["controller_id"].notna() & (controllers["controller_id"] != controllers["company_id"])]
    return [
        {
            "controller_id": str(r.controller_id),
            "company_id": str(r.company_id),
            "share": _float_or_none(r.control_share),
            "rule": str(r.rule),
            "path": str(r.path),
        }
        for r in c.itertuples(index=False)
    ]


def _float_or_none(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def corporate_groups(controllers: pd.DataFrame, *, min_members: int = 2) -> pd.DataFrame:
    """Companies under a common actual controller (集团族谱): head, kind, members and depth of the deepest chain.

    >>> c = pd.DataFrame({"company_id": ["A", "B", "C"], "controller_id": ["P", "P", None],
    ...                   "controller_kind": ["person", "person", "none"], "path": ["P>A", "P>A>B", None]})
    >>> corporate_groups(c)[["head_id", "members", "depth"]].values.tolist()
    [['P', 'A;B', 2]]
    """
    c = controllers[controllers["controller_id"].notna() & (controllers["controller_id"] != controllers["company_id"])]
    if not len(c):
        return pd.DataFrame(columns=["group_id", "head_id", "head_kind", "size", "members", "depth"])
    depth = c["path"].fillna("").str.count(">")
    frame = c.assign(depth=depth)
    g = frame.groupby("controller_id", sort=True).agg(
        head_kind=("controller_kind", "first"),
        size=("company_id", "size"),
        members=("company_id", lambda s: ";".join(sorted(map(str, s)))),
        depth=("depth", "max"),
    )
    g = g[g["size"] >= min_members].reset_index().rename(columns={"controller_id": "head_id"})
    g = g.sort_values(["size", "head_id"], ascending=[False, True]).reset_index(drop=True)
    g.insert(0, "group_id", np.arange(1, len(g) + 1))
    return g[["group_id", "head_id", "head_kind", "size", "members", "depth"]]


def cross_holdings(graph: EnterpriseGraph, *, max_dense: int = 500) -> pd.DataFrame:
    """Strongly connected sets of the ownership graph with two or more members, and each member's self-ownership.

    Self-ownership of a member is what it owns of itself through the cycle: ``[(I − W_SS)⁻¹]_ii − 1``. It is
    computed for sets of at most ``max_dense`` members and is infinite (reported as NaN) in a closed cycle.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A", "B"], "name": ["a", "b"]}),
    ...     "shareholdings": pd.DataFrame({"holder_id": ["A", "B"], "company_id": ["B", "A"], "share": [0.5, 0.2]})})
    >>> cross_holdings(EnterpriseGraph(t))[["members", "self_ownership", "closed"]].values.tolist()
    [['A;B', '0.1111;0.1111', False]]
    """
    w = ownership_matrix(graph)
    n_labels, labels = _sccs(w)
    closed = _closed_mask(w, labels, n_labels)
    sizes = np.bincount(labels, minlength=n_labels)
    rows = []
    for lab in np.flatnonzero(sizes >= 2):
        members = np.flatnonzero(labels == lab)
        sub = w[members][:, members].toarray() if len(members) <= max_dense else None
        is_closed = bool(closed[members].all())
        if sub is not None and not is_closed:
            inv = np.linalg.inv(np.eye(len(members)) - sub)
            self_own = ";".join(f"{x:.4f}" for x in np.diag(inv) - 1.0)
        else:
            self_own = ""
        rows.append(
            {
                "members": ";".join(str(graph.node_ids[i]) for i in members),
                "size": len(members),
                "internal_edges": int(w[members][:, members].nnz),
                "self_ownership": self_own,
                "closed": is_closed,
                "note": "closed 100 % cycle: no outside owner, self-ownership unbounded" if is_closed else "",
            }
        )
    cols = ["cross_holding_id", "members", "size", "internal_edges", "self_ownership", "closed", "note"]
    out = pd.DataFrame(rows, columns=cols[1:])
    out.insert(0, "cross_holding_id", np.arange(1, len(out) + 1))
    return out[cols]


# ------------------------------------------------------------------------------------------ beneficial owners


@dataclass(frozen=True)
class BeneficialOwnerProfile:
    """A jurisdiction's beneficial-owner rule."""

    name: str
    threshold: float
    inclusive: bool  # "≥ threshold" (True) or "> threshold" (False)
    layer: Share  # which share of each layer: equity, or max(equity, voting)
    look_through: bool  # uk-psc: a firm's stake counts wholly for a person holding a majority of it
    fallback: bool  # actual control, then senior manager, when nobody meets the threshold
    source: str


PROFILES: dict[str, BeneficialOwnerProfile] = {
    p.name: p
    for p in (
        BeneficialOwnerProfile(
            "cn-2024", 0.25, True, "max", False, True, "PBOC/SAMR Order 2024 No. 3 受益所有人信息管理办法 Art. 6"
        ),
        BeneficialOwnerProfile("cn-2017", 0.25, False, "max", False, True, "PBOC 银发〔2017〕235号"),
        BeneficialOwnerProfile("eu-amlr", 0.25, True, "share", False, True, "Regulation (EU) 2024/1624 Art. 51–52"),
        BeneficialOwnerProfile(
            "uk-psc", 0.25, False, "max", True, False, "Companies Act 2006 Sch. 1A (PSC), majority-stake look-through"
        ),
    )
}


def _meets(values: np.ndarray, p: BeneficialOwnerProfile) -> np.ndarray:
    eps = 1e-9  # shares read from text carry rounding: 0.25 must meet "≥ 25 %" and fail "> 25 %"
    return values >= p.threshold - eps if p.inclusive else values > p.threshold + eps


def _look_through(graph: EnterpriseGraph, which: Share, ctl: _Control) -> sp.csr_array:
    """uk-psc shares: a person's direct stake plus the whole stake of every firm the person controls (> 50 %)."""
    w = ownership_matrix(graph, which)
    n = graph.n_nodes
    # Each holder is attributed to itself and to every controller up its chain.
    coo = w.tocoo()
    rows, anc, _hops = _ancestors(ctl.parent, coo.row.astype(np.int64), 32, dedupe=bool(ctl.in_cycle.any()))
    return sp.csr_array(sp.coo_array((coo.data[rows], (anc, coo.col[rows])), shape=(n, n)))


def beneficial_owners(
    graph: EnterpriseGraph,
    profile: str = "cn-2024",
    *,
    controllers: pd.DataFrame | None = None,
    companies: Iterable[str] | None = None,
    state_names: Iterable[str] = STATE_ASSET_NAMES,
    control_share: float = 0.5,
) -> pd.DataFrame:
    """Beneficial owners of every enterprise (or of ``companies``) under a jurisdiction profile.

    Natural persons meeting the profile's threshold on their ``ultimate`` share (uk-psc: on the look-through
    share). Interval shares give a lower and an upper share; ``beneficial_owner`` is ``yes`` when the lower
    meets the threshold, ``possible`` when only the upper does. Where no person qualifies, cn and eu profiles fall
    back to a person with actual control, then to the senior manager (legal representative, then manager).

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A"], "name": ["a"]}),
    ...     "persons": pd.DataFrame({"id": ["P", "Q"], "name": ["p", "q"]}),
    ...     "shareholdings": pd.DataFrame({"holder_id": ["P", "Q"], "company_id": ["A", "A"], "share": [0.25, 0.2]})})
    >>> g = EnterpriseGraph(t)
    >>> beneficial_owners(g, "cn-2024")[["person_id", "beneficial_owner"]].values.tolist()
    [['P', 'yes']]
    >>> beneficial_owners(g, "cn-2017")[["person_id", "basis"]].values.tolist()  # > 25 %: none, no controller
    []
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown beneficial-owner profile {profile!r}; known: {', '.join(PROFILES)}")
    p = PROFILES[profile]
    n_ent = graph.n_enterprises
    ids = graph.node_ids
    lo_which: Share = "min"
    hi_which: Share = "max_bound"
    if p.look_through:
        ctl = _control(graph, control_share)
        point = _look_through(graph, p.layer, ctl)
        lo = _look_through(graph, lo_which, ctl)
        hi = _look_through(graph, hi_which, ctl)
    else:
        ult = ultimate_holders(graph, state_names)
        point = ultimate_shares(graph, p.layer, ultimate=ult)
        e = graph.edges("ownership")
        if not (e["share_min"].notna().any() or e["share_max"].notna().any()):
            lo = hi = point  # no interval in the data: the bounds are the point shares
        elif p.layer == "share":
            lo = ultimate_shares(graph, lo_which, ultimate=ult)
            hi = ultimate_shares(graph, hi_which, ultimate=ult)
        else:
            lo, hi = _max_layer(graph, "min", ult), _max_layer(graph, "hi", ult)
    persons = np.arange(n_ent, graph.n_nodes)
    keep = np.ones(n_ent, dtype=bool)
    if companies is not None:
        keep[:] = False
        keep[graph.index_of(pd.Series(list(companies), dtype=object))] = True

    def person_rows(m: sp.csr_array) -> pd.DataFrame:
        sub = sp.csr_array(m[persons][:, :n_ent]).tocoo()
        return pd.DataFrame({"person": persons[sub.row], "company": sub.col, "v": sub.data})

    hi_f = person_rows(hi)
    hi_f = hi_f[_meets(hi_f["v"].to_numpy(), p) & keep[hi_f["company"].to_numpy()]]
    key = ["person", "company"]
    frame = hi_f.rename(columns={"v": "share_max"})
    for name, m in (("share", point), ("share_min", lo)):
        f = person_rows(m).rename(columns={"v": name})
        frame = frame.merge(f, on=key, how="left")
    frame = frame.fillna({"share": 0.0, "share_min": 0.0})
    yes = _meets(frame["share_min"].to_numpy(), p)
    frame["beneficial_owner"] = np.where(yes, "yes", "possible")
    frame["basis"] = "ownership_look_through" if p.look_through else "ownership"
    found = np.zeros(n_ent, dtype=bool)
    found[frame.loc[yes, "company"].to_numpy()] = True
    if p.fallback:
        if controllers is None:
            controllers = actual_controllers(graph, control_share=control_share, state_names=state_names)
        missing = keep & ~found
        # Nobody qualifies by ownership: a natural person with actual control, else the senior manager.
        kinds = controllers["controller_kind"].to_numpy()
        by_control = np.flatnonzero(missing & (kinds == "person"))
        ctrl_nodes = graph.index_of(controllers["controller_id"].iloc[by_control].astype(object))
        managers = _senior_managers(graph.edges("officer"))
        managers = managers[missing[managers["dst"].to_numpy()] & (kinds[managers["dst"].to_numpy()] != "person")]
        extra = pd.concat(
            [
                pd.DataFrame({"person": ctrl_nodes, "company": by_control, "basis": "actual_control"}),
                pd.DataFrame(
                    {
                        "person": managers["src"].to_numpy(),
                        "company": managers["dst"].to_numpy(),
                        "basis": "senior_manager:" + managers["role"].astype(str).to_numpy(dtype=object),
                    }
                ),
            ],
            ignore_index=True,
        )
        if len(extra):
            ex = extra.assign(share=np.nan, share_min=np.nan, share_max=np.nan, beneficial_owner="yes")
            frame = pd.concat([frame, ex[frame.columns]], ignore_index=True)
    out = pd.DataFrame(
        {
            "company_id": ids[frame["company"].to_numpy(dtype=np.int64)],
            "person_id": ids[frame["person"].to_numpy(dtype=np.int64)],
            "profile": profile,
            "beneficial_owner": frame["beneficial_owner"].to_numpy(),
            "basis": frame["basis"].to_numpy(),
            "share": np.round(frame["share"].to_numpy(dtype=float), 10),
            "share_min": np.round(frame["share_min"].to_numpy(dtype=float), 10),
            "share_max": np.round(frame["share_max"].to_numpy(dtype=float), 10),
            "convention": "ownership_look_through" if p.look_through else "ultimate",
        }
    )
    return out.sort_values(["company_id", "person_id"]).reset_index(drop=True)


def _max_layer(graph: EnterpriseGraph, bound: str, ult: np.ndarray) -> sp.csr_array:
    """Ultimate shares with max(equity bound, voting) per layer."""
    e = graph.edges("ownership")
    share = e["share"].astype("float64").fillna(0.0).to_numpy()
    col = "share_min" if bound == "min" else "share_max"
    b = e[col].astype("float64").to_numpy()
    b = np.where(np.isnan(b), share, b)
    voting = e["voting_share"].astype("float64").to_numpy()
    data = np.where(np.isnan(voting), b, np.maximum(b, voting))
    n = graph.n_nodes
    w = sp.coo_array((data, (e["src"].to_numpy(), e["dst"].to_numpy())), shape=(n, n)).tocsr()
    w.sum_duplicates()
    keep_p = sp.diags_array(ult.astype(np.float64))
    keep_f = sp.diags_array((~ult).astype(np.float64))
    u = _propagate(sp.csr_array(keep_p @ w), sp.csr_array(keep_f @ w))
    return u


def _senior_managers(officers: pd.DataFrame) -> pd.DataFrame:
    """One senior manager per company (``src`` person, ``dst`` company, ``role``): legal representative first."""
    roles = officers["role"].astype(str)
    sel = officers[roles.isin(["legal_representative", "manager"]).to_numpy()]
    sel = sel.assign(rank=(sel["role"].astype(str) != "legal_representative").to_numpy(dtype=np.int64))
    sel = sel.sort_values(["dst", "rank", "src"]).drop_duplicates("dst")
    return sel[["src", "dst", "role"]].astype({"src": np.int64, "dst": np.int64}).reset_index(drop=True)


# ------------------------------------------------------------------------------------------------ owners


def owners_of(
    graph: EnterpriseGraph,
    company: str,
    *,
    profile: str = "cn-2024",
    max_depth: int = 10,
    max_paths: int = 100_000,
    state_names: Iterable[str] = STATE_ASSET_NAMES,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every upstream holder of ``company`` under the three conventions, with paths and the beneficial-owner test.

    One record per holder: ``holder_id``, ``holder_kind``, ``ultimate_share`` (None for holders that are not
    ultimate), ``integrated_share``, ``simple_path_share``, ``beneficial_owner`` (True, False or "possible"),
    ``basis`` and ``paths`` (lists of ``{from, to, share}`` hops). Also returns notes (cycles, truncation,
    the unidentified remainder).

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A"], "name": ["a"]}),
    ...     "persons": pd.DataFrame({"id": ["P"], "name": ["p"]}),
    ...     "shareholdings": pd.DataFrame({"holder_id": ["P"], "company_id": ["A"], "share": [0.75]})})
    >>> rows, notes = owners_of(EnterpriseGraph(t), "A")
    >>> rows[0]["holder_id"], rows[0]["ultimate_share"], rows[0]["beneficial_owner"], notes
    ('P', 0.75, True, ['unidentified (ultimate convention): 0.25'])
    """
    c = graph.node(company)
    if c >= graph.n_enterprises:
        raise ValueError(f"{company} is a person; owners are looked up for enterprises")
    w = ownership_matrix(graph)
    nodes = _upstream(w, c)
    sub_ids = [str(graph.node_ids[i]) for i in nodes]
    sub = _subgraph(graph, sub_ids)
    ult_mask = ultimate_holders(sub, state_names)
    ult = ultimate_shares(sub, ultimate=ult_mask)
    sc = sub.node(company)
    integrated, notes = integrated_shares_of(sub, company)
    paths, truncated = simple_paths_to(sub, company, max_depth=max_depth, max_paths=max_paths)
    if truncated:
        notes.append(f"simple paths cut at {max_paths:,} paths")
    for cyc in closed_cycles(sub):
        notes.append(cyc.note + ": " + ", ".join(cyc.members))
    bo = beneficial_owners(sub, profile, companies=[company], state_names=state_names)
    bo_by = bo.set_index("person_id")
    state = state_bodies(sub, state_names)
    col = ult[:, [sc]].toarray().ravel()
    edge_share = _edge_shares(sub)
    by_holder: dict[str, list[tuple[tuple[str, ...], float]]] = {}
    for path, prod in paths:
        by_holder.setdefault(path[0], []).append((path, prod))
    rows = []
    for i in range(sub.n_nodes):
        hid = str(sub.node_ids[i])
        if hid == company:
            continue
        kind = "person" if i >= sub.n_enterprises else ("state" if state[i] else "enterprise")
        hp = by_holder.get(hid, [])
        integ = integrated.get(hid, 0.0)
        if hid in bo_by.index:
            flag = bo_by.loc[hid, "beneficial_owner"]
            bo_val: bool | str = True if flag == "yes" else "possible"
            basis = str(bo_by.loc[hid, "basis"])
        else:
            bo_val, basis = False, ""
        rows.append(
            {
                "holder_id": hid,
                "holder_kind": kind,
                "ultimate_share": round(float(col[i]), 10) if ult_mask[i] else None,
                "integrated_share": None if pd.isna(integ) else round(float(integ), 10),
                "simple_path_share": round(sum(p for _, p in hp), 10),
                "beneficial_owner": bo_val,
                "basis": basis,
                "paths": [
                    [{"from": a, "to": b, "share": edge_share[(a, b)]} for a, b in pairwise(path)] for path, _ in hp
                ],
            }
        )
    unidentified = max(0.0, 1.0 - float(col[ult_mask].sum()))
    notes.insert(0, f"unidentified (ultimate convention): {round(unidentified, 10)}")
    rows.sort(key=_owner_order)
    return rows, notes


def _owner_order(row: dict[str, Any]) -> tuple[float, float, str]:
    """Largest ultimate owners first, then largest integrated holders."""
    return (-float(row["ultimate_share"] or 0.0), -float(row["integrated_share"] or 0.0), str(row["holder_id"]))


def _edge_shares(graph: EnterpriseGraph) -> dict[tuple[str, str], float]:
    w = ownership_matrix(graph).tocoo()
    ids = graph.node_ids
    return {(str(ids[a]), str(ids[b])): float(v) for a, b, v in zip(w.row, w.col, w.data, strict=True)}


def _subgraph(graph: EnterpriseGraph, ids: list[str]) -> EnterpriseGraph:
    """The induced graph on ``ids`` (holdings and officers among them): small, for one company's questions."""
    from graphrisk.tables import Tables

    keep = set(ids)
    t = graph.tables
    frames = {
        "enterprises": t["enterprises"][t["enterprises"]["id"].isin(keep)],
        "persons": t["persons"][t["persons"]["id"].isin(keep)],
        "shareholdings": t["shareholdings"][
            t["shareholdings"]["holder_id"].isin(keep) & t["shareholdings"]["company_id"].isin(keep)
        ],
        "officers": t["officers"][t["officers"]["company_id"].isin(keep) & t["officers"]["person_id"].isin(keep)],
    }
    return EnterpriseGraph(Tables.from_frames(frames))


# ----------------------------------------------------------------------------------------------- the scan


@register(
    "ownership",
    title="Ownership, control and beneficial owners",
    order=25,  # before guarantees, which use the actual controllers for intra-group guarantees
    description="Majority-control closure, actual controller per company, corporate groups, cross-holdings and "
    "beneficial owners (cn-2024).",
)
def ownership(graph: EnterpriseGraph, context: AnalysisContext) -> AnalysisResult:
    cfg = context.config
    cs = cfg.threshold("control_share")
    control = control_closure(graph, control_share=cs)
    controllers = actual_controllers(
        graph,
        control_share=cs,
        relative_share=cfg.threshold("relative_control_share"),
        relative_lead=cfg.threshold("relative_control_lead"),
    )
    bo = beneficial_owners(graph, "cn-2024", controllers=controllers, control_share=cs)
    groups = corporate_groups(controllers)
    cross = cross_holdings(graph)
    flags: list[dict[str, Any]] = []
    held = graph.edges("ownership")["dst"].to_numpy()
    has_holders = np.zeros(graph.n_nodes, dtype=bool)
    has_holders[held] = True
    none = controllers[(controllers["rule"] == "none") & has_holders[: graph.n_enterprises]]
    for cid in none["company_id"]:
        flags.append(
            {
                "entity_id": cid,
                "flag": "no_identifiable_controller",
                "severity": "low",
                "reason": "no holder group reaches majority or relative control (无实际控制人)",
                "evidence": json.dumps({"rule": "none"}, ensure_ascii=False),
            }
        )
    for r in cross.itertuples(index=False):
        for m in str(r.members).split(";"):
            flags.append(
                {
                    "entity_id": m,
                    "flag": "circular_ownership",
                    "severity": "high" if r.closed else "medium",
                    "reason": f"in a cross-holding of {r.size} firms"
                    + (" that holds 100 % of itself" if r.closed else ""),
                    "evidence": json.dumps(
                        {"cross_holding_id": str(r.cross_holding_id), "members": str(r.members).split(";")},
                        ensure_ascii=False,
                    ),
                }
            )
    many = int(cfg.threshold("controller_many_borrowers"))
    borrowers = graph.ead[: graph.n_enterprises] > 0
    ctl_b = controllers[borrowers & controllers["controller_id"].notna().to_numpy()]
    counts = ctl_b.groupby("controller_id")["company_id"].agg(list)
    for head, members in counts.items():
        if len(members) >= many:
            flags.append(
                {
                    "entity_id": head,
                    "flag": "controller_of_many_borrowers",
                    "severity": "medium",
                    "reason": f"actual controller of {len(members)} borrowers (threshold controller_many_borrowers "
                    f"= {many})",
                    "evidence": json.dumps({"borrowers": sorted(map(str, members))[:50]}, ensure_ascii=False),
                }
            )
    rule_counts = controllers["rule"].value_counts().to_dict()
    kind_counts = controllers["controller_kind"].value_counts().to_dict()
    summary = {
        "control_pairs": len(control),
        "controllers_by_rule": {str(k): int(v) for k, v in rule_counts.items()},
        "controllers_by_kind": {str(k): int(v) for k, v in kind_counts.items()},
        "corporate_groups": len(groups),
        "cross_holdings": len(cross),
        "closed_cycles": int(cross["closed"].sum()) if len(cross) else 0,
        "beneficial_owner_rows": len(bo),
        "beneficial_owner_profile": "cn-2024",
    }
    section = ReportSection(
        title="Ownership, control and beneficial owners",
        paragraphs=(
            f"{len(control):,} majority-control pairs (control share > {cs:.0%}, voting share where given). Actual "
            "controllers by rule: " + ", ".join(f"{k} {v:,}" for k, v in sorted(rule_counts.items())) + ".",
            f"{len(groups):,} corporate groups under a common actual controller; {len(cross):,} cross-holdings "
            f"({summary['closed_cycles']} closed 100 % cycles). Beneficial owners under cn-2024 (≥ 25 %, "
            "ultimate convention, max(equity, voting) per layer).",
        ),
        figures=(
            ("Control pairs", f"{len(control):,}"),
            ("Corporate groups", f"{len(groups):,}"),
            ("Cross-holdings", f"{len(cross):,}"),
        ),
        tables=(("Largest corporate groups", groups.head(15)), ("Cross-holdings", cross.head(15))),
    )
    return AnalysisResult(
        name="ownership",
        tables={
            "control": control,
            "controllers": controllers,
            "beneficial_owners": bo,
            "groups_corporate": groups,
            "cross_holdings": cross,
        },
        flags=pd.DataFrame(flags) if flags else empty_flags(),
        summary=summary,
        section=section,
        writeback=(
            ("writeback/ownership_controls.cypher", LazyRows(lambda: controls_rows(controllers))),
            # CONTROLS relations of earlier runs that this run did not confirm are removed.
            ("writeback/ownership_controls_stale.cypher", [{"run": True}]),
        ),
    )
