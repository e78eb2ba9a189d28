"""Graph summary, degree statistics and connected components of the whole relation graph.

Components are computed on the sparse adjacency (scipy.sparse.csgraph), never on a networkx copy of the
portfolio: a connected component is the widest set of firms and persons a problem can travel through.

>>> import pandas as pd
>>> from graphrisk.tables import Tables
>>> t = Tables.from_frames({
...     "enterprises": pd.DataFrame({"id": list("ABCD"), "name": list("甲乙丙丁")}),
...     "guarantees": pd.DataFrame({"guarantor_id": ["A"], "borrower_id": ["B"], "amount": [1.0]}),
... })
>>> components(EnterpriseGraph(t))["size"].tolist()
[2]
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import scipy.sparse.csgraph as csgraph

from graphrisk.analysis import AnalysisContext, AnalysisResult, ReportSection, empty_flags, register
from graphrisk.graph import RELATIONS, EnterpriseGraph
from graphrisk.units import format_cny

__all__ = ["component_labels", "components", "degree_table", "graph_summary", "structure"]

_RELATION_WORDS = {
    ("ownership", "out"): "holds shares in",
    ("ownership", "in"): "has shareholders:",
    ("officer", "out"): "is officer of",
    ("officer", "in"): "has officers:",
    ("guarantee", "out"): "guarantees",
    ("guarantee", "in"): "is guaranteed by",
    ("supply", "out"): "supplies",
    ("supply", "in"): "buys from",
}


def component_labels(graph: EnterpriseGraph) -> np.ndarray:
    """Weakly connected component label of every node over all relations, numbered by size (0 = largest).

    Ties in size are broken by the smallest member node id, so labels are deterministic.
    """
    n_comp, labels = csgraph.connected_components(graph.combined_adjacency(), directed=True, connection="weak")
    sizes = np.bincount(labels, minlength=n_comp)
    first = np.full(n_comp, graph.n_nodes, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(graph.n_nodes))
    order = np.lexsort((first, -sizes))
    rank = np.empty(n_comp, dtype=np.int64)
    rank[order] = np.arange(n_comp)
    return rank[labels]


def components(graph: EnterpriseGraph, labels: np.ndarray | None = None, *, min_size: int = 2) -> pd.DataFrame:
    """One row per connected component of at least ``min_size`` nodes: sizes, edges per relation, bank EAD."""
    labels = component_labels(graph) if labels is None else labels
    is_ent = np.arange(graph.n_nodes) < graph.n_enterprises
    frame = pd.DataFrame({"component_id": labels, "enterprise": is_ent, "ead": graph.ead})
    agg = frame.groupby("component_id").agg(
        size=("enterprise", "size"), enterprises=("enterprise", "sum"), total_ead=("ead", "sum")
    )
    agg["persons"] = agg["size"] - agg["enterprises"]
    for r in RELATIONS:
        e = graph.edges(r)
        counts = np.bincount(labels[e["src"].to_numpy()], minlength=len(agg)) if len(e) else np.zeros(len(agg))
        agg[f"{r}_edges"] = counts[agg.index.to_numpy()].astype(np.int64)
    # The member with the largest exposure names the component for a reader.
    ent_frame = frame[is_ent].assign(node=np.flatnonzero(is_ent))
    ranked = ent_frame.sort_values(["component_id", "ead", "node"], ascending=[True, False, True])
    top = ranked.groupby("component_id").head(1).set_index("component_id")["node"]
    agg["anchor_id"] = pd.Series(graph.node_ids[top.to_numpy()], index=top.index).reindex(agg.index)
    agg = agg[agg["size"] >= min_size].reset_index()
    return agg[
        ["component_id", "size", "enterprises", "persons", *[f"{r}_edges" for r in RELATIONS], "total_ead", "anchor_id"]
    ]


def degree_table(graph: EnterpriseGraph, labels: np.ndarray | None = None) -> pd.DataFrame:
    """Per entity: out- and in-degree per relation, total degree and component id."""
    out: dict[str, object] = {"entity_id": graph.node_ids, "kind": graph.nodes["kind"].to_numpy()}
    total = np.zeros(graph.n_nodes, dtype=np.int64)
    for r in RELATIONS:
        a = graph.adjacency(r)
        o = np.asarray(a.sum(axis=1)).ravel().astype(np.int64)
        i = np.asarray(a.sum(axis=0)).ravel().astype(np.int64)
        out[f"{r}_out"], out[f"{r}_in"] = o, i
        total += o + i
    out["degree"] = total
    out["component_id"] = component_labels(graph) if labels is None else labels
    return pd.DataFrame(out)


@register(
    "graph_summary",
    title="Graph summary",
    order=0,
    description="Counts of enterprises, persons, relations and bank exposure.",
)
def graph_summary(graph: EnterpriseGraph, context: AnalysisContext) -> AnalysisResult:
    s = graph.summary()
    figures = [("Enterprises", f"{s['enterprises']:,}"), ("Persons", f"{s['persons']:,}")]
    figures += [(f"{r} relations", f"{n:,}") for r, n in s["edges"].items()]
    figures += [("Facilities", f"{s['facilities']:,}"), ("Total EAD", format_cny(s["total_ead"]))]
    return AnalysisResult(
        name="graph_summary", summary=s, section=ReportSection(title="Graph summary", figures=tuple(figures))
    )


@register(
    "structure",
    title="Degrees and connected components",
    order=10,
    description="Degree statistics per relation, hub entities and connected components.",
)
def structure(graph: EnterpriseGraph, context: AnalysisContext) -> AnalysisResult:
    hub_degree = int(context.config.threshold("hub_degree"))
    large = int(context.config.threshold("large_component_size"))
    labels = component_labels(graph)
    degrees = degree_table(graph, labels)
    comps = components(graph, labels)

    stats_rows = []
    flags = []
    ent_mask = (degrees["kind"] == "enterprise").to_numpy()
    for r in RELATIONS:
        for direction in ("out", "in"):
            d = degrees[f"{r}_{direction}"].to_numpy()
            nz = d[d > 0]
            stats_rows.append(
                {
                    "relation": r,
                    "direction": direction,
                    "entities_with_any": len(nz),
                    "mean": float(nz.mean()) if len(nz) else 0.0,
                    "median": float(np.median(nz)) if len(nz) else 0.0,
                    "p99": float(np.percentile(nz, 99)) if len(nz) else 0.0,
                    "max": int(d.max()) if len(d) else 0,
                }
            )
            hubs = np.flatnonzero((d >= hub_degree) & ent_mask)
            for node in hubs:
                flags.append(
                    {
                        "entity_id": graph.node_ids[node],
                        "flag": "hub",
                        "severity": "low",
                        "reason": f"{_RELATION_WORDS[(r, direction)]} {int(d[node])} entities "
                        f"(threshold hub_degree = {hub_degree})",
                        "evidence": json.dumps(
                            {"relation": r, "direction": direction, "degree": int(d[node]), "threshold": hub_degree},
                            ensure_ascii=False,
                        ),
                    }
                )
    degree_stats = pd.DataFrame(stats_rows)
    n_large = int((comps["enterprises"] >= large).sum())
    isolated = int((degrees["degree"] == 0).sum())
    summary = {
        "components": len(comps),
        "largest_component": int(comps["size"].max()) if len(comps) else 0,
        "large_components": n_large,
        "large_component_threshold": large,
        "isolated_entities": isolated,
        "hubs": len(flags),
        "hub_threshold": hub_degree,
    }
    section = ReportSection(
        title="Degrees and connected components",
        paragraphs=(
            f"{len(comps):,} connected components of two or more entities; the largest has "
            f"{summary['largest_component']:,} entities. {n_large:,} components hold at least {large} enterprises "
            f"(large_component_size). {isolated:,} entities have no relation at all.",
            f"{len(flags):,} hub flags: an enterprise with at least {hub_degree} relations of one kind (hub_degree).",
        ),
        tables=(
            ("Degree statistics (entities with at least one relation)", degree_stats),
            ("Largest components", comps.head(15)),
        ),
    )
    return AnalysisResult(
        name="structure",
        tables={"components": comps, "degrees": degrees, "degree_stats": degree_stats},
        flags=pd.DataFrame(flags) if flags else empty_flags(),
        summary=summary,
        section=section,
    )
