"""The embedded graph: contiguous integer node ids, one edge table per relation, sparse adjacency on demand.

Enterprises take node ids ``0 … n_enterprises − 1`` and persons follow, so an enterprise-only matrix is the
top-left block of any adjacency. Whole-portfolio algorithms run on the arrays; :meth:`EnterpriseGraph.to_networkx`
is for small subgraphs and for users.

>>> import pandas as pd
>>> from graphrisk.tables import Tables
>>> t = Tables.from_frames({
...     "enterprises": pd.DataFrame({"id": ["A", "B", "C"], "name": ["甲", "乙", "丙"]}),
...     "guarantees": pd.DataFrame({"guarantor_id": ["A", "B"], "borrower_id": ["B", "C"],
...                                 "amount": [100.0, 50.0]}),
... })
>>> g = EnterpriseGraph(t)
>>> g.n_nodes, g.edges("guarantee")[["src", "dst"]].values.tolist()
(3, [[0, 1], [1, 2]])
>>> g.adjacency("guarantee", weight="amount").toarray()[0, 1]
np.float64(100.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from graphrisk.errors import UnknownEntityError
from graphrisk.schema import SCHEMA
from graphrisk.tables import Tables, positions_in

__all__ = ["RELATIONS", "EnterpriseGraph"]

RELATIONS: tuple[str, ...] = tuple(t.relation for t in SCHEMA.relation_tables)


class EnterpriseGraph:
    """Enterprises and persons as nodes; ownership, officer, guarantee and supply relations as edge tables."""

    def __init__(self, tables: Tables) -> None:
        # Nodes in id order and edges in (src, dst, key) order: the same data gives the same integer ids and
        # the same edge order whether it came from files or from Neo4j, so every result is identical.
        ent = _by_id(tables["enterprises"])
        per = _by_id(tables["persons"])
        ids = np.concatenate([ent["id"].to_numpy(dtype=object), per["id"].to_numpy(dtype=object)])
        self.n_enterprises = len(ent)
        self.n_persons = len(per)
        self.node_ids: np.ndarray = ids
        self._ids_arrow = pa.array(ids, type=pa.large_string())
        kinds = np.array(["enterprise"] * len(ent) + ["person"] * len(per), dtype=object)
        self.nodes = pd.DataFrame(
            {
                "id": ids,
                "kind": kinds,
                "name": np.concatenate([ent["name"].to_numpy(dtype=object), per["name"].to_numpy(dtype=object)]),
            }
        )
        self._edges: dict[str, pd.DataFrame] = {}
        frames = {"enterprises": ent, "persons": per}
        endpoints = self._endpoint_ids(tables)
        for table in SCHEMA.relation_tables:
            frame = tables[table.name]
            src, dst = endpoints[table.name]
            rest = [k for k in table.key if k not in (table.source, table.target)]
            order = _edge_order(src, dst, frame, rest)
            frame = frame.iloc[order].reset_index(drop=True)
            edges = frame.drop(columns=[table.source, table.target])
            edges.insert(0, "src", src[order])
            edges.insert(1, "dst", dst[order])
            self._edges[table.relation] = edges
            frames[table.name] = frame
        for table in SCHEMA:
            if table.name not in frames:
                frames[table.name] = _sorted(tables[table.name], list(table.key))
        self.tables = Tables(frames=frames, rejects=tables.rejects, warnings=tables.warnings, stats=tables.stats)
        self._adjacency: dict[tuple[str, str | None], sp.csr_array] = {}

    def _endpoint_ids(self, tables: Tables) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Integer ids of every relation's endpoints, in one Arrow look-up: the hash table of node ids is
        built once instead of once per column (eight times for a million-firm portfolio)."""
        columns: list[tuple[str, str]] = []
        parts: list[pa.Array] = []
        for table in SCHEMA.relation_tables:
            for col in (table.source, table.target):
                columns.append((table.name, col))
                arrow = pa.array(tables[table.name][col].astype("string[pyarrow]").array)
                if isinstance(arrow, pa.ChunkedArray):
                    arrow = arrow.combine_chunks()
                parts.append(arrow.cast(pa.large_string()))
        if not parts:
            return {}
        allpos = self.index_of_arrow(pa.concat_arrays(parts))
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        start = 0
        found: dict[tuple[str, str], np.ndarray] = {}
        for key, part in zip(columns, parts, strict=True):
            found[key] = allpos[start : start + len(part)]
            start += len(part)
        for table in SCHEMA.relation_tables:
            out[table.name] = (found[(table.name, table.source)], found[(table.name, table.target)])
        return out

    def index_of_arrow(self, values: pa.Array) -> np.ndarray:
        idx = positions_in(values, self._ids_arrow)
        if (idx < 0).any():
            missing = pa.array(values).filter(pa.array(idx < 0)).slice(0, 3).to_pylist()
            raise UnknownEntityError(f"ids not in the graph: {', '.join(map(str, missing))}")
        return idx

    # -- ids ----------------------------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    def index_of(self, ids: Iterable[str] | pd.Series) -> np.ndarray:
        """Integer node ids for external ids; every id must exist (loaders guarantee it for edges)."""
        values = ids if isinstance(ids, pd.Series) else pd.Series(list(ids), dtype=object)
        idx = positions_in(values, self._ids_arrow)
        if (idx < 0).any():
            missing = values[idx < 0].head(3).tolist()
            raise UnknownEntityError(f"ids not in the graph: {', '.join(map(str, missing))}")
        return idx

    def positions(self, ids: Iterable[str]) -> np.ndarray:
        """Integer node ids for external ids, −1 where an id is not in the graph (no error)."""
        return positions_in(pd.Series(list(ids), dtype=object), self._ids_arrow)

    def node(self, entity_id: str) -> int:
        """The integer id of one entity; a clear error when it is not in the data."""
        pos = positions_in(pd.Series([entity_id], dtype=object), self._ids_arrow)[0]
        if pos < 0:
            raise UnknownEntityError(
                f"'{entity_id}' is not an enterprise or person in this data. Fix: check the id (the USCC for "
                "firms) against enterprises.csv / persons.csv."
            )
        return int(pos)

    def is_enterprise(self, node: int | np.ndarray) -> np.ndarray | bool:
        return np.asarray(node) < self.n_enterprises

    # -- relations ----------------------------------------------------------------------------------------
    def edges(self, relation: str) -> pd.DataFrame:
        """The edge table of a relation: integer ``src``, ``dst`` and the relation's attributes."""
        if relation not in self._edges:
            raise KeyError(f"unknown relation {relation!r}; known: {', '.join(RELATIONS)}")
        return self._edges[relation]

    def adjacency(self, relation: str, weight: str | None = None) -> sp.csr_array:
        """n × n CSR adjacency of one relation (``A[src, dst]``), summing parallel edges; built once, cached.

        With ``weight=None`` entries count edges; otherwise they sum the named attribute (missing as 0).
        """
        key = (relation, weight)
        if key not in self._adjacency:
            e = self.edges(relation)
            data = np.ones(len(e)) if weight is None else e[weight].astype("float64").fillna(0.0).to_numpy()
            n = self.n_nodes
            m = sp.coo_array((data, (e["src"].to_numpy(), e["dst"].to_numpy())), shape=(n, n)).tocsr()
            m.sum_duplicates()
            self._adjacency[key] = m
        return self._adjacency[key]

    def combined_adjacency(self, relations: Sequence[str] | None = None) -> sp.csr_array:
        """Edge counts over several relations (all by default)."""
        rels = relations or RELATIONS
        total = sp.csr_array((self.n_nodes, self.n_nodes))
        for r in rels:
            total = total + self.adjacency(r)
        return sp.csr_array(total)

    # -- views ----------------------------------------------------------------------------------------------
    @cached_property
    def enterprises(self) -> pd.DataFrame:
        return self.tables["enterprises"]

    @cached_property
    def persons(self) -> pd.DataFrame:
        return self.tables["persons"]

    @cached_property
    def ead(self) -> np.ndarray:
        """Bank exposure at default per node (0 for persons and firms without a facility)."""
        exp = self.tables["exposures"]
        out = np.zeros(self.n_nodes)
        if len(exp):
            np.add.at(out, self.index_of(exp["borrower_id"]), exp["ead"].to_numpy(dtype="float64"))
        return out

    def to_networkx(
        self, relations: Sequence[str] | None = None, nodes: Iterable[str] | None = None
    ) -> nx.MultiDiGraph:
        """A networkx MultiDiGraph keyed by external ids, with node and edge attributes.

        ``relations`` limits the relations (all by default); ``nodes`` limits to an induced subgraph. Meant
        for small subgraphs: the whole of a million-firm portfolio does not belong in networkx.
        """
        rels = relations or RELATIONS
        keep: np.ndarray | None = None
        if nodes is not None:
            keep = np.zeros(self.n_nodes, dtype=bool)
            keep[self.index_of(list(nodes))] = True
        g = nx.MultiDiGraph()
        node_frame = self.nodes if keep is None else self.nodes[keep]
        ent_records: dict[str, dict[str, Any]] = {
            str(r["id"]): {str(k): v for k, v in r.items() if k != "id"}
            for r in self.enterprises.to_dict("records")
            if keep is None or keep[self.node(str(r["id"]))]
        }
        for row in node_frame.itertuples(index=False):
            attrs: dict[str, Any] = {"kind": row.kind, "name": row.name}
            if row.kind == "enterprise":
                rec: dict[str, Any] = ent_records[str(row.id)]
                attrs.update({k: _plain(v) for k, v in rec.items() if not _is_missing(v)})
            g.add_node(row.id, **attrs)
        for r in rels:
            e = self.edges(r)
            if keep is not None:
                e = e[keep[e["src"].to_numpy()] & keep[e["dst"].to_numpy()]]
            src = self.node_ids[e["src"].to_numpy()]
            dst = self.node_ids[e["dst"].to_numpy()]
            attrs_frame = e.drop(columns=["src", "dst"])
            for s, d, erec in zip(src, dst, attrs_frame.to_dict("records"), strict=True):
                props = {str(k): _plain(v) for k, v in erec.items() if not _is_missing(v)}
                g.add_edge(s, d, key=None, relation=r, **props)
        return g

    def summary(self) -> dict[str, Any]:
        """Counts of nodes and edges per kind and relation."""
        return {
            "nodes": int(self.n_nodes),
            "enterprises": int(self.n_enterprises),
            "persons": int(self.n_persons),
            "edges": {r: len(self.edges(r)) for r in RELATIONS},
            "facilities": len(self.tables["exposures"]),
            "total_ead": float(self.ead.sum()),
        }

    def canonical_hash(self) -> str:
        """Content hash of the underlying tables; equal for equal data whatever its source."""
        return self.tables.canonical_hash()


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    """Nodes sorted by id (Arrow sorts a million strings in a fraction of pandas' time)."""
    if len(frame) < 2:
        return frame.reset_index(drop=True)
    ids = pa.array(frame["id"].astype("string[pyarrow]").array)
    order = pc.sort_indices(ids).to_numpy()
    return frame.iloc[order].reset_index(drop=True)


def _edge_order(src: np.ndarray, dst: np.ndarray, frame: pd.DataFrame, rest: list[str]) -> np.ndarray:
    """Row order by (src, dst) and, only among parallel edges, by the rest of the key."""
    order = np.lexsort((dst, src))
    if not rest or len(order) < 2:
        return order
    s, d = src[order], dst[order]
    same = (s[1:] == s[:-1]) & (d[1:] == d[:-1])
    parallel = np.zeros(len(order), dtype=bool)
    parallel[1:] |= same
    parallel[:-1] |= same
    if parallel.any():
        rows = order[parallel]
        sub = pd.DataFrame({"src": src[rows], "dst": dst[rows], "row": rows})
        for k in rest:
            # Sorted codes of the key among these rows only: canonical whatever the input order.
            sub[k] = pd.factorize(frame[k].iloc[rows].astype(str).to_numpy(dtype=object), sort=True)[0]
        # Parallel blocks already sit in (src, dst) order; sorting just them by the key keeps the blocks in place.
        order[parallel] = sub.sort_values(["src", "dst", *rest], kind="stable")["row"].to_numpy()
    return order


def _sorted(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Rows in a canonical order (missing values last); stable, so equal keys keep their order."""
    if len(frame) < 2:
        return frame.reset_index(drop=True)
    return frame.sort_values(by, kind="stable", na_position="last").reset_index(drop=True)


def _is_missing(v: object) -> bool:
    try:
        return bool(pd.isna(v))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _plain(v: object) -> object:
    """numpy and pandas scalars as plain Python values (networkx users expect them)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.date()
    return v
