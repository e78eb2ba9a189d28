"""Investigator pictures: an entity's neighbourhood (or the path between two entities) as one offline HTML page.

The only module that imports pyvis. pyvis builds the node and edge option records; the page is our own: pyvis's
template loads vis-network, bootstrap and tom-select from CDNs, and a bank laptop has no internet. The page
inlines the vendored vis-network build (``assets/``), carries the data as JSON inside a
``<script type="application/json">`` block that no name can close, builds tooltips as DOM text (never HTML),
and declares a Content-Security-Policy that forbids every network request.

>>> import pandas as pd
>>> from graphrisk.tables import Tables
>>> g = EnterpriseGraph(Tables.from_frames({
...     "enterprises": pd.DataFrame({"id": ["A", "B"], "name": ["甲", "</script><b>"]}),
...     "guarantees": pd.DataFrame({"guarantor_id": ["A"], "borrower_id": ["B"], "amount": [5e6]}),
... }))
>>> view = ego_view(g, "A", analyse=False)
>>> [n["id"] for n in view.nodes], [e["label"] for e in view.edges]
(['A', 'B'], ['500万'])
>>> page = render_view_html(view)
>>> "</script><b>" in page, "http://" in page.split('id="vis-network-lib"')[0]
(False, False)
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyvis.network import Network

from graphrisk.analysis.guarantees import undirected_shortest_path
from graphrisk.config import Config
from graphrisk.graph import RELATIONS, EnterpriseGraph
from graphrisk.report.dossier import Dossier, display_name, local_analysis, pd_band, safe_id
from graphrisk.units import format_cny, format_share

__all__ = [
    "CSP",
    "VIS_NETWORK_VERSION",
    "View",
    "cluster_view",
    "ego_view",
    "json_for_script",
    "path_view",
    "pictures_block",
    "render_dossier_html",
    "render_view_html",
]

VIS_NETWORK_VERSION = "10.1.5"
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"

SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1, "none": 0, "unknown": 0}
RISK_COLOURS = {"high": "#d7301f", "medium": "#fc8d59", "low": "#fdd49e", "none": "#a6cee3", "unknown": "#d0d7de"}
PERSON_COLOUR = "#c5b3e6"
RELATION_STYLE: dict[str, dict[str, Any]] = {
    # colour, dashes, label of the legend; arrows always point the way the relation reads (holder → company …)
    "ownership": {"color": "#1f5fa8", "dashes": False, "legend": "ownership: holder → company (share)"},
    "officer": {"color": "#7f7f7f", "dashes": [6, 4], "legend": "officer: person → company (role)"},
    "guarantee": {"color": "#c0392b", "dashes": False, "legend": "guarantee: guarantor → borrower (amount)"},
    "supply": {"color": "#2e8b57", "dashes": [2, 6], "legend": "supply: supplier → customer (amount)"},
}
ROLE_LABELS = {
    "legal_representative": "法定代表人",
    "chairman": "董事长",
    "director": "董事",
    "supervisor": "监事",
    "manager": "经理",
    "finance_head": "财务负责人",
    "secretary": "董秘",
    "other": "其他",
}
HIGHLIGHT = "#ff00aa"  # circles, cycles, chains and the path: one colour nothing else uses


@dataclass(frozen=True)
class View:
    """A picture's content: vis-network node and edge records, a title, a legend and notes."""

    title: str
    focus: tuple[str, ...]
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    physics: dict[str, Any] = field(default_factory=dict)

    def data(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "focus": list(self.focus),
            "nodes": self.nodes,
            "edges": self.edges,
            "physics": self.physics,
            "notes": self.notes,
        }


# ------------------------------------------------------------------------------------------------- selection


def _undirected(graph: EnterpriseGraph, relations: Sequence[str]) -> sp.csr_array:
    adj = graph.combined_adjacency(list(relations))
    return sp.csr_array(adj + adj.T)


def _select_ego(
    graph: EnterpriseGraph, start: int, und: sp.csr_array, hops: int, max_neighbours: int, max_nodes: int
) -> tuple[list[int], dict[int, int], int]:
    """Breadth-first selection: at most ``max_neighbours`` new nodes per expanded node, and at most ``max_nodes``
    drawn nodes in all, counting the "… and K more" nodes. Returns the nodes, the count left out per node, and
    how many nodes at the edge were not expanded once the picture was full.

    Neighbours are taken largest exposure first, then by id, so the firms that matter to the bank show first.
    """
    ead = graph.ead
    ids = graph.node_ids
    order: list[int] = [start]
    seen = {start}
    more: dict[int, int] = {}
    unexpanded = 0
    frontier = [start]
    for _ in range(hops):
        nxt: list[int] = []
        for u in frontier:
            nb = und.indices[und.indptr[u] : und.indptr[u + 1]]
            new = [int(v) for v in np.unique(nb) if int(v) not in seen]
            if not new:
                continue
            room = max_nodes - len(order) - len(more)
            if room <= 0:
                unexpanded += 1
                continue
            new.sort(key=lambda v: (-ead[v], str(ids[v])))
            cut = min(max_neighbours, len(new), room)
            if cut < len(new):
                cut = min(cut, room - 1)  # one place for the "… and K more" node
            take, rest = new[:cut], new[cut:]
            if rest:
                more[u] = len(rest)
            for v in take:
                seen.add(v)
                order.append(v)
                nxt.append(v)
        frontier = nxt
    return order, more, unexpanded


def _shortest_path(graph: EnterpriseGraph, a: int, b: int, und: sp.csr_array) -> list[int]:
    """Shortest path over the given relations read undirected; ties go to the smallest ids (stable pictures)."""
    return undirected_shortest_path(und, a, b, graph.node_ids)


# ------------------------------------------------------------------------------------------------- styling


def _flags_by_entity(flags: pd.DataFrame | None) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    if flags is None or not len(flags):
        return out
    for rec in flags.to_dict("records"):
        out.setdefault(str(rec["entity_id"]), []).append(
            {"flag": str(rec["flag"]), "severity": str(rec["severity"]), "reason": str(rec["reason"])}
        )
    return out


def _worst(flags: list[dict[str, str]]) -> str:
    best = "none"
    for f in flags:
        if SEVERITY_RANK.get(f["severity"], 0) > SEVERITY_RANK[best]:
            best = f["severity"]
    return best


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _node_records(
    graph: EnterpriseGraph,
    nodes: Sequence[int],
    *,
    focus: set[int],
    flags: dict[str, list[dict[str, str]]],
    show_names: bool,
    marked: dict[int, list[str]],
) -> list[dict[str, Any]]:
    ent = graph.enterprises
    cols = {c: ent[c].to_numpy() for c in ("pd", "rating", "status", "defaulted") if c in ent}
    ead = graph.ead
    max_ead = float(ead[list(nodes)].max()) if len(nodes) else 0.0
    records = []
    for v in nodes:
        vid = str(graph.node_ids[v])
        name = display_name(graph, v, show_names=show_names)
        is_ent = v < graph.n_enterprises
        tip = [f"{name}", f"id: {safe_id(graph, vid)}"]
        mine = flags.get(vid, [])
        if is_ent:
            pdv = _num(cols["pd"][v]) if "pd" in cols else None
            defaulted = (
                bool(cols["defaulted"][v]) if "defaulted" in cols and not pd.isna(cols["defaulted"][v]) else False
            )
            band = pd_band(pdv)
            worst = _worst(mine)
            risk = worst if SEVERITY_RANK[worst] >= SEVERITY_RANK[band] and worst != "none" else band
            status = cols["status"][v] if "status" in cols and not pd.isna(cols["status"][v]) else "—"
            rating = cols["rating"][v] if "rating" in cols and not pd.isna(cols["rating"][v]) else "—"
            tip.append(f"status: {status} · PD {format_share(pdv)} ({band}) · rating {rating}")
            tip.append(f"exposure (EAD): {format_cny(float(ead[v]))}" + (" · DEFAULTED 已违约" if defaulted else ""))
            size = 12.0 + (28.0 * math.sqrt(float(ead[v]) / max_ead) if max_ead > 0 else 0.0)
            rec: dict[str, Any] = {
                "shape": "dot",
                "size": round(size, 1),
                "color": {"background": RISK_COLOURS[risk], "border": "#000000" if defaulted else "#4a5560"},
                "borderWidth": 4 if defaulted else 1,
                "kind": "enterprise",
                "risk": risk,
                "defaulted": defaulted,
            }
            label = ("✖ " if defaulted else "") + name
        else:
            rec = {
                "shape": "triangle",
                "size": 10,
                "color": {"background": PERSON_COLOUR, "border": "#5e4b8b"},
                "borderWidth": 1,
                "kind": "person",
                "risk": _worst(mine),
                "defaulted": False,
            }
            label = name
        for f in mine:
            tip.append(f"[{f['severity']}] {f['flag']}: {f['reason']}")
        for m in marked.get(v, []):
            tip.append(m)
        if v in marked:
            rec["color"]["border"] = HIGHLIGHT
            rec["borderWidth"] = max(rec["borderWidth"], 3)
        if v in focus:
            rec["borderWidth"] = 6
            rec["color"]["border"] = "#0b3d91"
            rec["font"] = {"size": 18, "bold": True}
            rec["focus"] = True
            rec["size"] = max(float(rec["size"]), 24.0)
        rec.update({"id": safe_id(graph, vid), "label": label, "tip": tip})
        records.append(rec)
    return records


def _edge_records(graph: EnterpriseGraph, keep: np.ndarray, relations: Sequence[str]) -> list[dict[str, Any]]:
    ids = graph.node_ids
    out: list[dict[str, Any]] = []
    for rel in relations:
        e = graph.edges(rel)
        sel = e[keep[e["src"].to_numpy()] & keep[e["dst"].to_numpy()]]
        style = RELATION_STYLE[rel]
        big = 1.0
        if rel in ("guarantee", "supply") and "amount" in sel and len(sel):
            big = float(np.nanmax(np.r_[sel["amount"].to_numpy(dtype="float64", na_value=np.nan), 1.0]))
        for rec in sel.to_dict("records"):
            src, dst = safe_id(graph, str(ids[rec["src"]])), safe_id(graph, str(ids[rec["dst"]]))
            width = 1.0
            label = ""
            tip = [f"{rel}: {src} → {dst}"]
            if rel == "ownership":
                share = _num(rec.get("share"))
                label = format_share(share) if share is not None else ""
                width = 1.0 + 7.0 * (share or 0.0)
                tip.append(
                    f"share {label}"
                    + (
                        f" · voting {format_share(_num(rec.get('voting_share')))}"
                        if _num(rec.get("voting_share")) is not None
                        else ""
                    )
                )
            elif rel == "officer":
                role = str(rec.get("role") or "other")
                label = ROLE_LABELS.get(role, role)
                tip.append(f"role {role}")
            else:
                amount = _num(rec.get("amount"))
                label = format_cny(amount) if amount is not None else ""
                width = 1.0 + (6.0 * math.log1p(amount) / math.log1p(big) if amount and big > 1 else 0.0)
                if rel == "guarantee":
                    for k in ("loan_id", "kind", "start_date", "end_date"):
                        if rec.get(k) is not None and not pd.isna(rec.get(k)):
                            tip.append(f"{k}: {pd.Timestamp(rec[k]).date() if 'date' in k else rec[k]}")
                if label:
                    tip.append(f"amount {label}")
            out.append(
                {
                    "from": src,
                    "to": dst,
                    "relation": rel,
                    "label": label,
                    "width": round(width, 2),
                    "color": {"color": style["color"]},
                    "dashes": style["dashes"],
                    "arrows": "to",
                    "tip": tip,
                }
            )
    return out


def _physics(n_nodes: int) -> dict[str, Any]:
    """barnesHut with a bounded stabilisation: 1,000 nodes settle in a few seconds, then physics is switched off."""
    return {
        "enabled": True,
        "solver": "barnesHut",
        "barnesHut": {
            "gravitationalConstant": -6000,
            "centralGravity": 0.3,
            "springLength": 110,
            "springConstant": 0.04,
            "damping": 0.35,
            "avoidOverlap": 0.1,
        },
        "stabilization": {
            "enabled": True,
            "iterations": 200 if n_nodes > 300 else 300,
            "updateInterval": 50,
            "fit": True,
        },
        "minVelocity": 1.0,
    }


def _build(
    graph: EnterpriseGraph,
    nodes: list[int],
    *,
    title: str,
    focus: set[int],
    relations: Sequence[str],
    more: dict[int, int],
    flags: pd.DataFrame | None,
    show_names: bool,
    marked: dict[int, list[str]],
    highlight_pairs: set[tuple[str, str]],
    notes: list[str],
) -> View:
    keep = np.zeros(graph.n_nodes, dtype=bool)
    keep[nodes] = True
    node_recs = _node_records(
        graph, nodes, focus=focus, flags=_flags_by_entity(flags), show_names=show_names, marked=marked
    )
    edge_recs = _edge_records(graph, keep, relations)
    for e in edge_recs:
        if (e["from"], e["to"]) in highlight_pairs or (e["to"], e["from"]) in highlight_pairs:
            e["color"] = {"color": HIGHLIGHT}
            e["width"] = float(e["width"]) + 3.0
            e["highlight"] = True
    # pyvis builds the records (its checks: ids exist, edges join known nodes); the page itself is ours.
    net = Network(directed=True)
    for rec in node_recs:
        rest = {k: v for k, v in rec.items() if k not in ("id", "label", "shape", "color")}
        net.add_node(rec["id"], label=rec["label"], shape=rec["shape"], color=rec["color"], **rest)
    for u, k in sorted(more.items()):
        vid = safe_id(graph, str(graph.node_ids[u]))
        mid = f"more:{vid}"
        net.add_node(
            mid,
            label=f"… and {k} more",
            shape="box",
            color={"background": "#f2f2f2", "border": "#999999"},
            kind="more",
            size=10,
            tip=[f"{k} more neighbours of {vid} not drawn (--max-neighbours)"],
        )
        net.add_edge(
            vid,
            mid,
            relation="more",
            color={"color": "#bbbbbb"},
            dashes=[2, 4],
            arrows="",
            width=1,
            label="",
            tip=[f"{k} more"],
        )
    for rec in edge_recs:
        rest = {k: v for k, v in rec.items() if k not in ("from", "to")}
        net.add_edge(rec["from"], rec["to"], **rest)
    return View(
        title=title,
        focus=tuple(safe_id(graph, str(graph.node_ids[f])) for f in sorted(focus)),
        nodes=list(net.nodes),
        edges=list(net.edges),
        notes=notes,
        physics=_physics(len(net.nodes)),
    )


def _guarantee_marks(
    graph: EnterpriseGraph, entity: str, patterns: pd.DataFrame | None, nodes: Sequence[int]
) -> tuple[dict[int, list[str]], set[tuple[str, str]], list[str]]:
    """Circles, cycles, mutual pairs and chains ``entity`` belongs to, from the guarantees analysis's patterns."""
    if patterns is None:
        return {}, set(), ["guarantee patterns not available: circles and chains are not highlighted"]
    pos = {str(graph.node_ids[v]): int(v) for v in nodes}
    marked: dict[int, list[str]] = {}
    pairs: set[tuple[str, str]] = set()
    notes: list[str] = []
    for p in patterns.to_dict("records"):
        members = str(p["members"]).split(";")
        if entity not in members or p["pattern"] not in ("circle", "revolving", "mutual", "chain", "joint"):
            continue
        size = len(members)
        notes.append(f"{p['pattern']} {p['pattern_id']}: {size} firms, {format_cny(float(p['guaranteed_amount']))}")
        for m in members:
            if m in pos:
                marked.setdefault(pos[m], []).append(f"in {p['pattern']} {p['pattern_id']} ({size} firms)")
        if p["pattern"] in ("revolving", "chain", "mutual"):
            ring = members + ([members[0]] if p["pattern"] == "revolving" else [])
            pairs.update((safe_id(graph, x), safe_id(graph, y)) for x, y in pairwise(ring))
    return marked, pairs, notes


def ego_view(
    graph: EnterpriseGraph,
    entity: str,
    *,
    hops: int = 2,
    relations: Sequence[str] = RELATIONS,
    max_neighbours: int = 25,
    max_nodes: int = 1000,
    show_names: bool = False,
    as_of: date | None = None,
    flags: pd.DataFrame | None = None,
    analyse: bool = True,
    config: Config | None = None,
) -> View:
    """The bounded neighbourhood of ``entity``: at most ``max_neighbours`` new neighbours per node, the rest
    summarised by one "… and K more" node; at most ``max_nodes`` nodes drawn in all. Flags come from ``flags``
    (e.g. a scan's flags.csv) or, with ``analyse``, from the local analyses
    (:func:`graphrisk.report.dossier.local_analysis`), which also give the guarantee patterns highlighted.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> g = EnterpriseGraph(Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABCD"), "name": list("甲乙丙丁")}),
    ...     "supply_links": pd.DataFrame({"supplier_id": ["A", "A", "A"], "customer_id": list("BCD")})}))
    >>> [n["label"] for n in ego_view(g, "A", max_neighbours=2, analyse=False).nodes]
    ['甲', '乙', '丙', '… and 1 more']
    """
    day = as_of or date.today()
    start = graph.node(entity)
    und = _undirected(graph, relations)
    nodes, more, unexpanded = _select_ego(graph, start, und, hops, max_neighbours, max_nodes)
    local = local_analysis(graph, nodes, as_of=day, config=config) if analyse else None
    if flags is None and local is not None:
        flags = local.flags
    marked: dict[int, list[str]] = {}
    pairs: set[tuple[str, str]] = set()
    notes: list[str] = []
    if local is not None and "guarantee" in relations:
        marked, pairs, notes = _guarantee_marks(graph, entity, local.patterns, nodes)
    if unexpanded:
        notes.append(f"picture full at {max_nodes} nodes (--max-nodes): {unexpanded} entities at its edge not expanded")
    name = display_name(graph, start, show_names=show_names)
    title = f"{name} ({safe_id(graph, entity)}) · {hops} hops · {day.isoformat()}"
    return _build(
        graph,
        nodes,
        title=title,
        focus={start},
        relations=relations,
        more=more,
        flags=flags,
        show_names=show_names,
        marked=marked,
        highlight_pairs=pairs,
        notes=notes,
    )


def path_view(
    graph: EnterpriseGraph,
    source: str,
    target: str,
    *,
    relations: Sequence[str] = RELATIONS,
    show_names: bool = False,
    as_of: date | None = None,
    flags: pd.DataFrame | None = None,
    analyse: bool = True,
    config: Config | None = None,
) -> View:
    """The shortest path between two entities over ``relations`` read undirected, highlighted.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> g = EnterpriseGraph(Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABC"), "name": list("甲乙丙")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "C"], "borrower_id": ["B", "B"], "amount": [1.0, 2.0]})}))
    >>> [n["id"] for n in path_view(g, "A", "C", analyse=False).nodes]
    ['A', 'B', 'C']
    """
    day = as_of or date.today()
    a, b = graph.node(source), graph.node(target)
    path = _shortest_path(graph, a, b, _undirected(graph, relations))
    notes = [f"shortest path: {len(path) - 1} hop(s)"] if path else [f"no path between {source} and {target}"]
    nodes = path or [a, b]
    if flags is None and analyse:
        flags = local_analysis(graph, nodes, as_of=day, config=config).flags
    ids = [safe_id(graph, str(graph.node_ids[v])) for v in path]
    pairs = set(pairwise(ids))
    title = f"path {safe_id(graph, source)} → {safe_id(graph, target)} · {day.isoformat()}"
    return _build(
        graph,
        nodes,
        title=title,
        focus={a, b},
        relations=relations,
        more={},
        flags=flags,
        show_names=show_names,
        marked={},
        highlight_pairs=pairs,
        notes=notes,
    )


def cluster_view(
    graph: EnterpriseGraph,
    members: Sequence[str],
    *,
    title: str,
    relations: Sequence[str] = RELATIONS,
    flags: pd.DataFrame | None = None,
    show_names: bool = False,
    max_nodes: int = 200,
    notes: Sequence[str] = (),
) -> View:
    """A group of firms (a risk cluster, a counterparty group) with the persons tied to two or more of them: the
    shared people are what a reader looks for. At most ``max_nodes`` nodes (members first, by exposure).

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> g = EnterpriseGraph(Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABC"), "name": list("甲乙丙")}),
    ...     "persons": pd.DataFrame({"id": ["P", "Q"], "name": ["张三", "李四"]}),
    ...     "officers": pd.DataFrame({"person_id": ["P", "P", "Q"], "company_id": ["A", "B", "A"],
    ...                               "role": ["legal_representative"] * 3})}))
    >>> [n["id"] for n in cluster_view(g, ["A", "B"], title="t").nodes]
    ['A', 'B', 'P']
    """
    idx = [int(v) for v in graph.positions(members) if v >= 0]
    order = sorted(idx, key=lambda v: (-float(graph.ead[v]), str(graph.node_ids[v])))
    chosen = order[:max_nodes]
    notes_ = list(notes)
    if len(order) > len(chosen):
        notes_.append(f"{len(order) - len(chosen)} members not drawn (picture limited to {max_nodes} nodes)")
    person_rel = [r for r in ("ownership", "officer") if r in relations]
    if person_rel and len(chosen) < max_nodes:
        und = _undirected(graph, person_rel)
        inside = np.zeros(graph.n_nodes)
        inside[chosen] = 1.0
        ties = und @ inside  # for every entity, the members it is tied to
        people = [int(v) for v in np.flatnonzero(ties >= 2) if v >= graph.n_enterprises]
        people.sort(key=lambda v: (-ties[v], str(graph.node_ids[v])))
        chosen += people[: max_nodes - len(chosen)]
    if flags is not None and len(flags):
        # Only the drawn entities' flags: a portfolio scan has hundreds of thousands.
        flags = flags[flags["entity_id"].isin(set(graph.node_ids[chosen].astype(str)))]
    return _build(
        graph,
        sorted(chosen),
        title=title,
        focus=set(),
        relations=relations,
        more={},
        flags=flags,
        show_names=show_names,
        marked={},
        highlight_pairs=set(),
        notes=notes_,
    )


def pictures_block(views: Sequence[View], *, height: str = "520px") -> str:
    """Several pictures in one page (the scan report's top clusters): one container and one JSON block each,
    vis-network inlined once. The page's Content-Security-Policy must allow inline scripts (:data:`CSP`)."""
    if not views:
        return ""
    parts = []
    for k, view in enumerate(views):
        notes = "".join(f'<p class="notes">{html.escape(n)}</p>' for n in view.notes)
        parts.append(
            f"<h3>{html.escape(view.title)}</h3>{notes}"
            f'<div id="graphrisk-picture-{k}" class="picture" style="height:{html.escape(height)}"></div>'
            f'<script type="application/json" class="graphrisk-picture" data-target="graphrisk-picture-{k}">'
            f"{json_for_script(view.data())}</script>"
        )
    parts.append(_legend_html())
    parts.append(f'<script id="vis-network-lib">{_vis_js()}</script><script>{_MULTI_INIT_JS}</script>')
    return "".join(parts)


# ------------------------------------------------------------------------------------------------- the page


def json_for_script(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: ``<``, ``>``, ``&`` and U+2028/9 as escapes.

    >>> json_for_script({"n": "</script><img src=x onerror=alert(1)>"})
    '{"n": "\\\\u003c/script\\\\u003e\\\\u003cimg src=x onerror=alert(1)\\\\u003e"}'
    """
    text = json.dumps(value, ensure_ascii=False, default=str, allow_nan=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


@cache
def _vis_js() -> str:
    js = resources.files("graphrisk.report").joinpath("assets/vis-network.min.js").read_text(encoding="utf-8")
    if "</script" in js.lower():  # would end the inline element early; the vendored build has none
        raise ValueError("vis-network.min.js contains '</script': cannot be inlined")
    return js


_CSS = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei","PingFang SC",system-ui,sans-serif;margin:0;
color:#1d2733}
header{padding:.5rem 1rem;border-bottom:1px solid #d5dde6}header h1{font-size:1.1rem;margin:.2rem 0}
.notes{font-size:.8rem;color:#5b6b7c;margin:.2rem 0;padding:0 1rem}
.graph{width:100%;height:78vh;border-bottom:1px solid #d5dde6;background:#fff}
.legend{display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;padding:.5rem 1rem;font-size:.8rem}
.legend span{display:inline-flex;align-items:center;gap:.3rem}
.sw{display:inline-block;width:14px;height:14px;border-radius:50%;border:1px solid #555}
.ln{display:inline-block;width:26px;height:0;border-top:3px solid}
.tip{font-size:12px;max-width:420px;white-space:normal}.tip div:first-child{font-weight:bold}
main{max-width:1100px;margin:1rem auto;padding:0 1rem;line-height:1.45}
main h2{font-size:1.15rem;border-bottom:2px solid #d5dde6;margin-top:1.6rem}
table{border-collapse:collapse;font-size:.82rem;margin:.4rem 0 1rem;width:100%}
th,td{border:1px solid #d5dde6;padding:.25rem .45rem;text-align:left;vertical-align:top}th{background:#eef2f6}
.missing{color:#8a5a00;background:#fff6e0;padding:.3rem .6rem;border-radius:4px}
.sev-high{color:#fff;background:#b3261e}.sev-medium{background:#f2b84b}.sev-low{background:#dfe7ef}
"""

# Builds the network from the JSON block; tooltips are DOM nodes filled with textContent, so names never become
# markup whatever the vis-network version does with string titles. Timings are left on the page for tests.
_INIT_JS = """
(function(){
  var t0 = performance.now();
  var data = JSON.parse(document.getElementById('graphrisk-data').textContent);
  function tip(lines){
    var box = document.createElement('div'); box.className = 'tip';
    (lines || []).forEach(function(l){ var d = document.createElement('div'); d.textContent = String(l);
      box.appendChild(d); });
    return box;
  }
  data.nodes.forEach(function(n){ n.title = tip(n.tip); });
  data.edges.forEach(function(e){ e.title = tip(e.tip); });
  var container = document.getElementById('graphrisk-graph');
  var options = {
    physics: data.physics,
    layout: {improvedLayout: data.nodes.length <= 60, randomSeed: 7},
    interaction: {hover: true, tooltipDelay: 120, navigationButtons: false, keyboard: false},
    edges: {smooth: data.nodes.length > 300 ? false : {type: 'dynamic'}, font: {size: 11, align: 'middle'},
            arrows: {to: {scaleFactor: 0.6}}},
    nodes: {font: {size: 13, face: '"Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif'}}
  };
  var network = new vis.Network(container, {nodes: new vis.DataSet(data.nodes), edges: new vis.DataSet(data.edges)},
                                options);
  window.graphriskNetwork = network;
  var done = false;
  function settled(){
    if (done) { return; } done = true;
    network.setOptions({physics: false});
    document.body.setAttribute('data-stabilized-ms', String(Math.round(performance.now() - t0)));
  }
  network.once('stabilizationIterationsDone', settled);
  network.once('stabilized', settled);
  if (!data.physics.enabled) { settled(); }
})();
"""


# The report's pictures: the same drawing as _INIT_JS for every JSON block; the body counts the settled ones.
_MULTI_INIT_JS = """
(function(){
  var blocks = document.querySelectorAll('script.graphrisk-picture');
  var settledCount = 0;
  function tip(lines){
    var box = document.createElement('div'); box.className = 'tip';
    (lines || []).forEach(function(l){ var d = document.createElement('div'); d.textContent = String(l);
      box.appendChild(d); });
    return box;
  }
  blocks.forEach(function(block){
    var data = JSON.parse(block.textContent);
    data.nodes.forEach(function(n){ n.title = tip(n.tip); });
    data.edges.forEach(function(e){ e.title = tip(e.tip); });
    var container = document.getElementById(block.getAttribute('data-target'));
    var network = new vis.Network(container, {nodes: new vis.DataSet(data.nodes), edges: new vis.DataSet(data.edges)}, {
      physics: data.physics,
      layout: {improvedLayout: data.nodes.length <= 60, randomSeed: 7},
      interaction: {hover: true, tooltipDelay: 120, keyboard: false},
      edges: {smooth: false, font: {size: 11, align: 'middle'}, arrows: {to: {scaleFactor: 0.6}}},
      nodes: {font: {size: 13, face: '"Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif'}}
    });
    var done = false;
    function settled(){
      if (done) { return; } done = true;
      network.setOptions({physics: false});
      settledCount += 1;
      document.body.setAttribute('data-pictures-settled', String(settledCount));
    }
    network.once('stabilizationIterationsDone', settled);
    network.once('stabilized', settled);
    if (!data.physics.enabled) { settled(); }
  });
})();
"""


def _legend_html() -> str:
    parts = []
    for risk in ("high", "medium", "low", "none", "unknown"):
        label = {"none": "no flag, PD unknown band none", "unknown": "no flag, no PD"}.get(
            risk, f"{risk} (worst flag severity or PD band)"
        )
        if risk == "none":
            continue
        parts.append(f'<span><i class="sw" style="background:{RISK_COLOURS[risk]}"></i>{html.escape(label)}</span>')
    parts += [
        f'<span><i class="sw" style="background:{PERSON_COLOUR};border-radius:0"></i>person (▲; names masked '
        "unless --show-names)</span>",
        '<span><i class="sw" style="background:#fff;border:3px solid #000"></i>✖ defaulted (thick black border)</span>',
        '<span><i class="sw" style="background:#fff;border:3px solid #0b3d91"></i>focus</span>',
        f'<span><i class="sw" style="background:#fff;border:3px solid {HIGHLIGHT}"></i>in a circle / cycle / chain '
        "/ path with the focus</span>",
        "<span>size: exposure (EAD)</span>",
    ]
    for style in RELATION_STYLE.values():
        dash = "dashed" if style["dashes"] else "solid"
        parts.append(
            f'<span><i class="ln" style="border-top-color:{style["color"]};border-top-style:{dash}"></i>'
            f"{html.escape(style['legend'])}</span>"
        )
    parts.append(
        '<span><i class="ln" style="border-top-color:#bbb;border-top-style:dotted"></i>"… and K more": '
        "neighbours not drawn</span>"
    )
    return '<div class="legend">' + "".join(parts) + "</div>"


def _picture_block(view: View) -> str:
    notes = "".join(f'<p class="notes">{html.escape(n)}</p>' for n in view.notes)
    return (
        f'{notes}<div id="graphrisk-graph" class="graph"></div>{_legend_html()}'
        f'<script type="application/json" id="graphrisk-data">{json_for_script(view.data())}</script>'
        f'<script id="vis-network-lib">{_vis_js()}</script>'
        f"<script>{_INIT_JS}</script>"
    )


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def render_view_html(view: View) -> str:
    """The picture as one self-contained page (vis-network inlined, no network request, data escaped)."""
    head = f"<header><h1>{html.escape(view.title)}</h1></header>"
    return _page(f"graphrisk · {view.title}", head + _picture_block(view))


# ------------------------------------------------------------------------------------------------- dossier


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> Any:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value


def render_dossier_html(dossier: Dossier, view: View | None) -> str:
    """The one-page dossier with the picture embedded (same offline and escaping rules as the picture)."""
    d = dossier
    idn = d.identity
    parts = [
        f"<header><h1>Dossier · {_e(idn.get('name'))} ({_e(d.entity_id)})</h1>"
        f'<p class="notes">{_e(d.kind)} · as of {_e(d.as_of)}</p></header><main>'
    ]
    parts.append("<h2>Identity, status, PD and rating, exposure</h2>")
    ident_rows = [{"field": k, "value": v} for k, v in idn.items()]
    if d.exposure:
        ident_rows.append({"field": "exposure (EAD)", "value": d.exposure.get("ead_text")})
        ident_rows.append({"field": "facilities", "value": len(d.exposure.get("facilities", []))})
    parts.append(_table(ident_rows, ["field", "value"]))
    if d.kind == "enterprise":
        parts.append("<h2>Actual controller (实际控制人)</h2>")
        c = d.controller or {}
        chain = " → ".join(f"{x['name']} ({x['id']})" for x in c.get("chain", []))
        parts.append(
            _table(
                [{**c, "chain": chain}],
                ["controller_id", "controller_name", "controller_kind", "rule", "control_share_text", "chain"],
            )
        )
        parts.append("<h2>Owners (股权穿透)</h2>")
        parts.append(
            _table(
                d.owners,
                [
                    "holder_id",
                    "holder_name",
                    "holder_kind",
                    "direct_share",
                    "ultimate_share",
                    "integrated_share",
                    "simple_path_share",
                    "beneficial_owner",
                ],
            )
        )
        parts.append("<h2>Beneficial owners (受益所有人, cn-2024)</h2>")
        parts.append(
            _table(d.beneficial_owners, ["person_id", "person_name", "beneficial_owner", "basis", "ultimate_share"])
        )
        parts.append("<h2>Guarantees, chains and circles (担保链, 担保圈)</h2>")
        g = d.guarantees
        if not g.get("available"):
            parts.append(f'<p class="missing">{_e(g.get("note", "guarantee analysis not available"))}</p>')
        else:
            cols = ["counterparty_id", "counterparty_name", "amount_text", "loan_id", "kind", "end_date"]
            parts.append(f"<h3>Given ({_e(format_cny(g['given_total']))})</h3>" + _table(g["given"], cols))
            parts.append(f"<h3>Received ({_e(format_cny(g['received_total']))})</h3>" + _table(g["received"], cols))
            parts.append("<h3>Patterns it belongs to</h3>")
            parts.append(
                _table(
                    g["patterns"],
                    ["pattern", "pattern_id", "size", "guaranteed_amount_text", "defaulted_members", "reason"],
                )
            )
    else:
        parts.append("<h2>Holdings</h2>" + _table(d.holdings, ["company_id", "company_name", "share"]))
        parts.append("<h2>Roles</h2>" + _table(d.roles, ["company_id", "company_name", "role"]))
    for section, note in d.sections_missing.items():
        parts.append(f'<h2>{_e(section.replace("_", " "))}</h2><p class="missing">{_e(note)}</p>')
    parts.append("<h2>Flags</h2>")
    flag_rows = "".join(
        f'<tr><td class="sev-{_e(f.get("severity"))}">{_e(f.get("severity"))}</td><td>{_e(f.get("flag"))}</td>'
        f"<td>{_e(f.get('reason'))}</td><td>{_e(f.get('analysis'))}</td></tr>"
        for f in d.flags
    )
    parts.append(
        f"<table><thead><tr><th>severity</th><th>flag</th><th>reason</th><th>analysis</th></tr></thead>"
        f"<tbody>{flag_rows}</tbody></table>"
        if d.flags
        else "<p>none</p>"
    )
    if d.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in d.notes) + "</ul>")
    parts.append("<h2>Picture</h2></main>")
    if view is not None:
        parts.append(_picture_block(view))
    return _page(f"graphrisk dossier · {d.entity_id}", "".join(parts))
