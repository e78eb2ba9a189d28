"""The data of a one-page dossier on one entity: identity, exposure, owners, controller, guarantees, flags.

Pure functions of the graph: nothing is printed or written here (``graphrisk.report.viz`` renders the page).
The portfolio-wide analyses take seconds on a large portfolio; a dossier needs one entity's answer, so the
analyses run on the entity's *neighbourhood*: its ownership upstream (which decides its controller and
beneficial owners) and the weakly connected component of its active guarantees (which holds every circle,
chain and cycle it belongs to). The answers equal the portfolio scan's for these questions.

>>> import pandas as pd
>>> from graphrisk.tables import Tables
>>> t = Tables.from_frames({
...     "enterprises": pd.DataFrame({"id": ["A", "B"], "name": ["甲公司", "乙公司"], "pd": [0.01, 0.2]}),
...     "persons": pd.DataFrame({"id": ["P"], "name": ["张三丰"]}),
...     "shareholdings": pd.DataFrame({"holder_id": ["P"], "company_id": ["A"], "share": [0.6]}),
... })
>>> d = build_dossier(EnterpriseGraph(t), "A")
>>> d.controller["controller_id"], d.controller["controller_name"], d.identity["pd_band"]
('P', '张*丰', 'low')
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphrisk.analysis import AnalysisContext
from graphrisk.config import Config
from graphrisk.graph import EnterpriseGraph
from graphrisk.privacy import mask_personal
from graphrisk.schema import SCHEMA
from graphrisk.tables import Tables
from graphrisk.units import format_cny, format_share

__all__ = [
    "MISSING_ANALYSES",
    "Dossier",
    "LocalAnalysis",
    "build_dossier",
    "display_name",
    "local_analysis",
    "local_flags",
    "neighbourhood",
    "pd_band",
    "subgraph",
]

# Analyses planned but not built yet: (module under graphrisk.analysis, dossier section, issue).
MISSING_ANALYSES: tuple[tuple[str, str, str], ...] = (
    ("hidden_links", "suspected_links", "issue 6 (suspected links)"),
    ("contagion", "contagion", "issue 5 (contagion)"),
    ("groups", "group_and_limits", "issue 7 (connected-counterparty groups and limit use)"),
)
# The analyses whose flags a dossier or picture can compute on a neighbourhood.
LOCAL_ANALYSES: tuple[str, ...] = ("ownership", "guarantees")


def pd_band(pd_value: float | None) -> str:
    """PD band used for colour when an entity has no flag: high ≥ 10 %, medium ≥ 2 %, low > 0, else unknown.

    >>> pd_band(0.15), pd_band(0.03), pd_band(0.001), pd_band(None)
    ('high', 'medium', 'low', 'unknown')
    """
    if pd_value is None or (isinstance(pd_value, float) and math.isnan(pd_value)):
        return "unknown"
    if pd_value >= 0.10:
        return "high"
    if pd_value >= 0.02:
        return "medium"
    return "low"


def display_name(graph: EnterpriseGraph, node: int, *, show_names: bool = False) -> str:
    """The name shown for a node: persons masked (张*三) unless ``show_names``; ID-number shapes always hidden.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> g = EnterpriseGraph(Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A"], "name": ["甲"]}),
    ...     "persons": pd.DataFrame({"id": ["P"], "name": ["李小龙"]})}))
    >>> display_name(g, 1), display_name(g, 1, show_names=True)
    ('李*龙', '李小龙')
    """
    name = g_name(graph, node)
    if node >= graph.n_enterprises and not show_names:
        return mask_personal(name)
    # mask_personal hides an ID-number shaped value whole and leaves other text alone when shown.
    return mask_personal(name) if _looks_like_id_number(name) else name


def g_name(graph: EnterpriseGraph, node: int) -> str:
    value = graph.nodes["name"].iat[node]
    return "" if _missing(value) else str(value)


def safe_id(graph: EnterpriseGraph, value: str) -> str:
    """An id as shown. A *person* id shaped like a resident ID number becomes a stable token (the loaders
    pseudonymise such ids already; this guards graphs built otherwise). Enterprise ids stay: a USCC of a
    public body can be 18 digits too.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> g = EnterpriseGraph(Tables.from_frames({"enterprises": pd.DataFrame({"id": ["111200006812880531"],
    ...     "name": ["国资委"]}), "persons": pd.DataFrame({"id": ["11010519491231002X"], "name": ["张三"]})}))
    >>> safe_id(g, "111200006812880531"), safe_id(g, "11010519491231002X")[:7]
    ('111200006812880531', 'masked-')
    """
    if not _looks_like_id_number(value) or value not in _person_ids(graph):
        return value
    return "masked-" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]


_PERSON_IDS: weakref.WeakKeyDictionary[EnterpriseGraph, frozenset[str]] = weakref.WeakKeyDictionary()


def _person_ids(graph: EnterpriseGraph) -> frozenset[str]:
    if graph not in _PERSON_IDS:
        _PERSON_IDS[graph] = frozenset(str(v) for v in graph.node_ids[graph.n_enterprises :])
    return _PERSON_IDS[graph]


def _looks_like_id_number(value: str) -> bool:
    return mask_personal(value).startswith("<ID number")


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    if _missing(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


# ------------------------------------------------------------------------------------------- neighbourhood


def _bfs(matrix: sp.csr_array, start: np.ndarray, max_depth: int = 64) -> np.ndarray:
    """Every node reachable from ``start`` along the matrix's rows (start included), as sorted positions."""
    seen = np.zeros(matrix.shape[0], dtype=bool)
    seen[start] = True
    frontier = np.unique(start)
    for _ in range(max_depth):
        if not len(frontier):
            break
        nxt = np.unique(matrix[frontier].tocoo().col)
        nxt = nxt[~seen[nxt]]
        seen[nxt] = True
        frontier = nxt
    return np.flatnonzero(seen)


def neighbourhood(graph: EnterpriseGraph, nodes: Iterable[int], *, as_of: date | None = None) -> np.ndarray:
    """The nodes whose data decide the local analyses of ``nodes``: ownership upstream and guarantee components.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> g = EnterpriseGraph(Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABCD"), "name": list("甲乙丙丁")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A"], "borrower_id": ["B"], "amount": [1.0]}),
    ...     "shareholdings": pd.DataFrame({"holder_id": ["C"], "company_id": ["A"], "share": [0.5]})}))
    >>> [str(g.node_ids[i]) for i in neighbourhood(g, [g.node("A")])]
    ['A', 'B', 'C']
    """
    start = np.asarray(sorted(set(int(n) for n in nodes)), dtype=np.int64)
    holders = sp.csr_array(graph.adjacency("ownership").T)  # company → its holders
    up = _bfs(holders, start)
    keep = np.zeros(graph.n_nodes, dtype=bool)
    keep[up] = True
    g = graph.edges("guarantee")
    if len(g):
        active = _active(g, as_of)
        s, d = g["src"].to_numpy()[active], g["dst"].to_numpy()[active]
        n = graph.n_nodes
        m = sp.csr_array(sp.coo_array((np.ones(len(s)), (s, d)), shape=(n, n)).tocsr())
        und = sp.csr_array(m + m.T)
        keep[_bfs(und, start[start < graph.n_enterprises], max_depth=n)] = True
    # A declared controller must be in the subgraph, or the ownership analysis cannot name it.
    ent = graph.enterprises
    if "declared_controller_id" in ent:
        dec = ent["declared_controller_id"].iloc[np.flatnonzero(keep[: graph.n_enterprises])].dropna()
        known = [str(v) for v in dec if _known(graph, str(v))]
        if known:
            keep[graph.index_of(known)] = True
    return np.flatnonzero(keep)


def _known(graph: EnterpriseGraph, entity: str) -> bool:
    try:
        graph.node(entity)
    except Exception:
        return False
    return True


def subgraph(graph: EnterpriseGraph, nodes: Iterable[int]) -> EnterpriseGraph:
    """The induced graph on ``nodes``: every table cut to rows whose ends are all kept.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> g = EnterpriseGraph(Tables.from_frames({"enterprises": pd.DataFrame({"id": list("AB"), "name": list("甲乙")})}))
    >>> subgraph(g, [1]).node_ids.tolist()
    ['B']
    """
    keep = np.zeros(graph.n_nodes, dtype=bool)
    keep[np.asarray(list(nodes), dtype=np.int64)] = True
    n_ent = graph.n_enterprises
    # Integer masks, not string look-ups: the graph's tables are in node order (enterprises, then persons) and
    # each relation table is in the order of its edge table.
    frames: dict[str, pd.DataFrame] = {
        "enterprises": graph.tables["enterprises"][keep[:n_ent]],
        "persons": graph.tables["persons"][keep[n_ent:]],
    }
    for table in SCHEMA.relation_tables:
        e = graph.edges(table.relation)
        frames[table.name] = graph.tables[table.name][keep[e["src"].to_numpy()] & keep[e["dst"].to_numpy()]]
    exp = graph.tables["exposures"]
    frames["exposures"] = exp[keep[graph.index_of(exp["borrower_id"])]] if len(exp) else exp
    if "declared_controller_id" in frames["enterprises"]:
        # A declaration pointing outside the subgraph would be an unknown id there: the full graph keeps it.
        ids = set(str(v) for v in graph.node_ids[keep])
        ent = frames["enterprises"].copy()
        dec = ent["declared_controller_id"]
        ent["declared_controller_id"] = dec.where(dec.astype(str).isin(ids) | dec.isna(), None)
        frames["enterprises"] = ent
    return EnterpriseGraph(Tables.from_frames(frames))


@dataclass(frozen=True)
class LocalAnalysis:
    """The local analyses of some nodes: their flags and the guarantee patterns of their neighbourhood.

    ``patterns`` is the guarantees analysis's ``guarantee_patterns`` table (members joined by ``;``), or None
    when that analysis is not available; pattern ids are numbered within the neighbourhood, not the portfolio.
    """

    graph: EnterpriseGraph  # the neighbourhood the analyses ran on
    flags: pd.DataFrame
    patterns: pd.DataFrame | None


def local_analysis(
    graph: EnterpriseGraph,
    nodes: Sequence[int],
    *,
    as_of: date | None = None,
    config: Config | None = None,
) -> LocalAnalysis:
    """Run the analyses a neighbourhood decides (ownership, guarantees) once on the neighbourhood of ``nodes``.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> g = EnterpriseGraph(Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABC"), "name": list("甲乙丙")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": list("ABC"), "borrower_id": list("BCA"),
    ...                                 "amount": [1.0] * 3})}))
    >>> sorted(set(local_analysis(g, [0]).patterns["pattern"]))
    ['circle', 'revolving']
    """
    from graphrisk.scan import run_scan

    sub = subgraph(graph, neighbourhood(graph, nodes, as_of=as_of))
    context = AnalysisContext(config=config or Config(), as_of=as_of or date.today())
    scan = run_scan(sub, context, only=list(LOCAL_ANALYSES))
    wanted = set(str(v) for v in graph.node_ids[np.asarray(list(nodes), dtype=np.int64)])
    flags = scan.flags[scan.flags["entity_id"].astype(str).isin(wanted)].reset_index(drop=True)
    patterns = next(
        (r.tables.get("guarantee_patterns") for r in scan.results if r.name == "guarantees"),
        None,
    )
    return LocalAnalysis(graph=sub, flags=flags, patterns=patterns)


def local_flags(
    graph: EnterpriseGraph,
    nodes: Sequence[int],
    *,
    as_of: date | None = None,
    config: Config | None = None,
) -> pd.DataFrame:
    """Flags of ``nodes`` from the analyses that a neighbourhood decides (ownership, guarantees).

    Flags that need the whole portfolio (a controller behind many borrowers, hubs) come from `graphrisk scan`.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> g = EnterpriseGraph(Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": list("ABC"), "name": list("甲乙丙")}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": list("ABC"), "borrower_id": list("BCA"),
    ...                                 "amount": [1.0] * 3})}))
    >>> sorted(set(local_flags(g, [0])["flag"]))[:1]
    ['in_revolving_cycle']
    """
    return local_analysis(graph, nodes, as_of=as_of, config=config).flags


# ------------------------------------------------------------------------------------------------ dossier


@dataclass(frozen=True)
class Dossier:
    """Everything the one-page dossier shows, as plain data (``to_dict`` is the JSON form)."""

    entity_id: str
    kind: str
    as_of: str
    identity: dict[str, Any]
    exposure: dict[str, Any]
    owners: list[dict[str, Any]] = field(default_factory=list)
    controller: dict[str, Any] | None = None
    beneficial_owners: list[dict[str, Any]] = field(default_factory=list)
    holdings: list[dict[str, Any]] = field(default_factory=list)
    roles: list[dict[str, Any]] = field(default_factory=list)
    guarantees: dict[str, Any] = field(default_factory=dict)
    flags: list[dict[str, Any]] = field(default_factory=list)
    sections_missing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_dossier(
    graph: EnterpriseGraph,
    entity: str,
    *,
    as_of: date | None = None,
    config: Config | None = None,
    show_names: bool = False,
) -> Dossier:
    """The dossier of one enterprise or person; persons' names masked unless ``show_names``.

    Sections whose analysis does not exist yet are listed in ``sections_missing`` with a note.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> g = EnterpriseGraph(Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A"], "name": ["甲"]})}))
    >>> sorted(build_dossier(g, "A").sections_missing)
    ['contagion', 'group_and_limits', 'suspected_links']
    """
    day = as_of or date.today()
    cfg = config or Config()
    node = graph.node(entity)
    is_ent = node < graph.n_enterprises
    local = local_analysis(graph, [node], as_of=day, config=cfg)
    sub = local.graph

    def name_of(entity_id: str) -> str:
        return display_name(graph, graph.node(entity_id), show_names=show_names)

    identity: dict[str, Any] = {
        "id": safe_id(graph, entity),
        "name": name_of(entity),
        "kind": "enterprise" if is_ent else "person",
    }
    exposure: dict[str, Any] = {}
    notes: list[str] = []
    if is_ent:
        row = graph.enterprises.iloc[node]
        for col in (
            "uscc",
            "status",
            "industry",
            "region",
            "established",
            "pd",
            "rating",
            "defaulted",
            "listed",
            "state_owned",
            "net_assets",
            "total_assets",
            "total_liabilities",
            "revenue",
        ):
            if col in row.index:
                identity[col] = _plain(row[col])
        identity["pd_band"] = pd_band(identity.get("pd"))
        exp = graph.tables["exposures"]
        mine = exp[exp["borrower_id"].astype(str) == entity]
        ead = float(graph.ead[node])
        exposure = {
            "ead": ead,
            "ead_text": format_cny(ead),
            "facilities": [
                {k: _plain(v) for k, v in rec.items() if k != "borrower_id"} for rec in mine.to_dict("records")
            ],
        }
    dossier_parts: dict[str, Any] = {}
    if is_ent:
        dossier_parts.update(_ownership_parts(sub, entity, name_of, notes, cfg))
    else:
        dossier_parts.update(_person_parts(graph, node, name_of))
    guarantees = _guarantee_parts(sub, entity, name_of, day, local.patterns) if is_ent else {}
    flags = local.flags
    if local.patterns is not None and is_ent:
        notes.append("guarantee pattern ids are numbered within the entity's neighbourhood, not the portfolio scan")
    missing = {
        section: f"{issue} is not built yet: this section is left out"
        for module, section, issue in MISSING_ANALYSES
        if importlib.util.find_spec(f"graphrisk.analysis.{module}") is None
    }
    for _module, section, issue in MISSING_ANALYSES:
        if section not in missing:
            missing[section] = f"{issue}: the analysis exists but the dossier does not show it yet"
    notes.append(
        "flags computed on the entity's neighbourhood (ownership upstream, guarantee component); "
        "portfolio-wide flags such as controller_of_many_borrowers come from `graphrisk scan`"
    )
    return Dossier(
        entity_id=safe_id(graph, entity),
        kind=identity["kind"],
        as_of=day.isoformat(),
        identity=identity,
        exposure=exposure,
        guarantees=guarantees,
        flags=[{str(k): _plain(v) for k, v in rec.items()} for rec in flags.to_dict("records")],
        sections_missing=missing,
        notes=notes,
        **dossier_parts,
    )


def _ownership_parts(sub: EnterpriseGraph, entity: str, name_of: Any, notes: list[str], cfg: Config) -> dict[str, Any]:
    from graphrisk.analysis.ownership import actual_controllers, owners_of

    rows, own_notes = owners_of(sub, entity, max_depth=int(cfg.threshold("simple_path_depth")))
    notes.extend(f"ownership: {n}" for n in own_notes)
    owners = []
    for r in rows:
        owners.append(
            {
                "holder_id": safe_id(sub, r["holder_id"]),
                "holder_name": name_of(r["holder_id"]),
                "holder_kind": r["holder_kind"],
                "direct_share": _direct_share(sub, r["holder_id"], entity),
                "ultimate_share": r["ultimate_share"],
                "integrated_share": r["integrated_share"],
                "simple_path_share": r["simple_path_share"],
                "beneficial_owner": r["beneficial_owner"],
                "basis": r["basis"],
                "paths": [
                    [{"from": safe_id(sub, h["from"]), "to": safe_id(sub, h["to"]), "share": h["share"]} for h in p]
                    for p in r["paths"][:5]
                ],
            }
        )
    table = actual_controllers(
        sub,
        control_share=cfg.threshold("control_share"),
        relative_share=cfg.threshold("relative_control_share"),
        relative_lead=cfg.threshold("relative_control_lead"),
    )
    row = table[table["company_id"] == entity].iloc[0]
    cid = row["controller_id"]
    path = [] if _missing(row["path"]) else str(row["path"]).split(">")
    controller = {
        "controller_id": None if _missing(cid) else safe_id(sub, str(cid)),
        "controller_name": None if _missing(cid) else name_of(str(cid)),
        "controller_kind": row["controller_kind"],
        "rule": row["rule"],
        "control_share": _plain(row["control_share"]),
        "control_share_text": format_share(_plain(row["control_share"])),
        "chain": [{"id": safe_id(sub, i), "name": name_of(i)} for i in path],
    }
    bos = [
        {
            "person_id": safe_id(sub, o["holder_id"]),
            "person_name": o["holder_name"],
            "beneficial_owner": o["beneficial_owner"],
            "basis": o["basis"],
            "ultimate_share": o["ultimate_share"],
        }
        for o in owners
        if o["holder_kind"] == "person" and o["beneficial_owner"] is not False
    ]
    if not any(o["beneficial_owner"] is not False for o in owners):
        notes.append("beneficial owners: no holder qualifies by ownership (profile cn-2024)")
    return {"owners": owners, "controller": controller, "beneficial_owners": bos}


def _direct_share(graph: EnterpriseGraph, holder: str, company: str) -> float | None:
    e = graph.edges("ownership")
    hit = e[(e["src"] == graph.node(holder)) & (e["dst"] == graph.node(company))]
    return float(hit["share"].astype("float64").sum()) if len(hit) else None


def _person_parts(graph: EnterpriseGraph, node: int, name_of: Any) -> dict[str, Any]:
    ids = graph.node_ids
    own = graph.edges("ownership")
    off = graph.edges("officer")
    holdings = [
        {"company_id": str(ids[r["dst"]]), "company_name": name_of(str(ids[r["dst"]])), "share": _plain(r["share"])}
        for r in own[own["src"] == node].to_dict("records")
    ]
    roles = [
        {"company_id": str(ids[r["dst"]]), "company_name": name_of(str(ids[r["dst"]])), "role": _plain(r["role"])}
        for r in off[off["src"] == node].to_dict("records")
    ]
    return {"holdings": holdings, "roles": roles}


def _active(edges: pd.DataFrame, as_of: date | None) -> np.ndarray:
    """Guarantees in force on ``as_of``: start ≤ as_of ≤ end, a missing date an open end (as the analysis)."""
    day = pd.Timestamp(as_of or date.today())
    start = pd.to_datetime(edges["start_date"]) if "start_date" in edges else pd.Series(pd.NaT, index=edges.index)
    end = pd.to_datetime(edges["end_date"]) if "end_date" in edges else pd.Series(pd.NaT, index=edges.index)
    return ((start.isna() | (start <= day)) & (end.isna() | (end >= day))).to_numpy(dtype=bool)


def _guarantee_parts(
    sub: EnterpriseGraph, entity: str, name_of: Any, day: date, patterns: pd.DataFrame | None
) -> dict[str, Any]:
    """Direct guarantees in force and the patterns the entity is a member of (when the analysis exists)."""
    node = sub.node(entity)
    g = sub.edges("guarantee")
    active = g[_active(g, day)]
    ids = sub.node_ids

    def rows(frame: pd.DataFrame, other: str) -> list[dict[str, Any]]:
        out = []
        for r in frame.to_dict("records"):
            oid = str(ids[r[other]])
            out.append(
                {
                    "counterparty_id": safe_id(sub, oid),
                    "counterparty_name": name_of(oid),
                    "amount": _plain(r.get("amount")),
                    "amount_text": format_cny(_plain(r.get("amount"))),
                    "loan_id": _plain(r.get("loan_id")),
                    "kind": _plain(r.get("kind")),
                    "end_date": _plain(r.get("end_date")),
                }
            )
        return out

    given = rows(active[active["src"] == node], "dst")
    received = rows(active[active["dst"] == node], "src")
    out: dict[str, Any] = {
        "available": patterns is not None,
        "given": given,
        "received": received,
        "given_total": float(sum(r["amount"] or 0.0 for r in given)),
        "received_total": float(sum(r["amount"] or 0.0 for r in received)),
        "patterns": [],
    }
    if patterns is None:
        out["note"] = "guarantee pattern analysis not available: circles and chains are left out"
        return out
    for p in patterns.to_dict("records"):
        members = str(p["members"]).split(";")
        if entity not in members:
            continue
        out["patterns"].append(
            {
                "pattern": str(p["pattern"]),
                "pattern_id": str(p["pattern_id"]),
                "members": members,
                "size": len(members),
                "guaranteed_amount": float(p["guaranteed_amount"]),
                "guaranteed_amount_text": format_cny(float(p["guaranteed_amount"])),
                "ead": float(p["ead"]),
                "defaulted_members": int(p["defaulted_members"]),
                "reason": str(p["reason"]),
            }
        )
    return out
