"""EnterpriseGraph and the foundation analyses on hand-built graphs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from graphrisk.analysis import AnalysisContext, registered_analyses
from graphrisk.analysis.structure import component_labels, components, degree_table
from graphrisk.config import Config
from graphrisk.errors import UnknownEntityError
from graphrisk.graph import RELATIONS, EnterpriseGraph
from graphrisk.scan import run_scan
from graphrisk.tables import Tables


@pytest.fixture
def small() -> EnterpriseGraph:
    # A guarantees B twice (two loans), B guarantees C; P1 holds 60 % of A and is A's legal representative;
    # D supplies A; E stands alone. Components: {A, B, C, D, P1} and {E}.
    return EnterpriseGraph(
        Tables.from_frames(
            {
                "enterprises": pd.DataFrame(
                    {"id": list("ABCDE"), "name": list("甲乙丙丁戊"), "net_assets": [100.0, 50.0, None, 10.0, 1.0]}
                ),
                "persons": pd.DataFrame({"id": ["P1"], "name": ["张三"]}),
                "shareholdings": pd.DataFrame({"holder_id": ["P1"], "company_id": ["A"], "share": [0.6]}),
                "officers": pd.DataFrame({"person_id": ["P1"], "company_id": ["A"], "role": ["legal_representative"]}),
                "guarantees": pd.DataFrame(
                    {
                        "guarantor_id": ["A", "A", "B"],
                        "borrower_id": ["B", "B", "C"],
                        "amount": [100.0, 30.0, 20.0],
                        "loan_id": ["L1", "L2", "L3"],
                    }
                ),
                "supply_links": pd.DataFrame({"supplier_id": ["D"], "customer_id": ["A"], "amount": [5.0]}),
                "exposures": pd.DataFrame({"borrower_id": ["B", "B", "C"], "ead": [10.0, 5.0, 7.0]}),
            }
        )
    )


def test_ids_are_contiguous_enterprises_first(small: EnterpriseGraph) -> None:
    assert small.n_nodes == 6 and small.n_enterprises == 5
    assert small.node("A") == 0 and small.node("P1") == 5
    assert small.nodes["kind"].tolist() == ["enterprise"] * 5 + ["person"]
    with pytest.raises(UnknownEntityError, match="'Z'"):
        small.node("Z")


def test_adjacency_sums_parallel_edges(small: EnterpriseGraph) -> None:
    counts = small.adjacency("guarantee").toarray()
    amounts = small.adjacency("guarantee", weight="amount").toarray()
    assert counts[0, 1] == 2 and counts[1, 2] == 1 and counts.sum() == 3
    assert amounts[0, 1] == 130.0 and amounts[1, 2] == 20.0
    assert small.adjacency("guarantee") is small.adjacency("guarantee")  # cached
    assert small.adjacency("ownership", weight="share").toarray()[5, 0] == 0.6


def test_ead_and_summary(small: EnterpriseGraph) -> None:
    assert small.ead.tolist() == [0.0, 15.0, 7.0, 0.0, 0.0, 0.0]
    s = small.summary()
    assert s["edges"] == {"ownership": 1, "officer": 1, "guarantee": 3, "supply": 1}
    assert s["total_ead"] == 22.0 and s["persons"] == 1


def test_to_networkx_keeps_attributes_and_subsets(small: EnterpriseGraph) -> None:
    g = small.to_networkx()
    assert g.number_of_nodes() == 6 and g.number_of_edges() == 6
    assert sorted(d["amount"] for _, _, d in g.edges(data=True) if d["relation"] == "guarantee") == [20, 30, 100]
    assert g.nodes["A"]["net_assets"] == 100.0 and "net_assets" not in g.nodes["C"]
    sub = small.to_networkx(relations=["guarantee"], nodes=["A", "B"])
    assert sorted(sub.nodes) == ["A", "B"] and sub.number_of_edges() == 2


def test_components_and_degrees(small: EnterpriseGraph) -> None:
    labels = component_labels(small)
    assert labels[small.node("A")] == labels[small.node("P1")] == labels[small.node("D")] == 0
    assert labels[small.node("E")] == 1
    comps = components(small, labels)
    assert comps["size"].tolist() == [5]
    row = comps.iloc[0]
    assert row["enterprises"] == 4 and row["persons"] == 1 and row["guarantee_edges"] == 3
    assert row["total_ead"] == 22.0 and row["anchor_id"] == "B"
    deg = degree_table(small, labels).set_index("entity_id")
    assert deg.loc["A", "guarantee_out"] == 2 and deg.loc["B", "guarantee_in"] == 2
    assert deg.loc["A", "degree"] == 5 and deg.loc["E", "degree"] == 0


def test_components_do_not_depend_on_row_order(small: EnterpriseGraph) -> None:
    t = small.tables
    shuffled = Tables.from_frames({k: v.sample(frac=1.0, random_state=3) for k, v in t.frames.items()})
    other = EnterpriseGraph(shuffled)
    a = components(small).drop(columns="component_id")
    b = components(other).drop(columns="component_id")
    pd.testing.assert_frame_equal(a, b)
    assert small.canonical_hash() == other.canonical_hash()
    # Row order of the input does not change integer ids or edge order (parallel A→B edges ordered by loan).
    assert list(small.node_ids) == list(other.node_ids)
    for r in RELATIONS:
        pd.testing.assert_frame_equal(small.edges(r), other.edges(r))
    assert small.edges("guarantee")["loan_id"].tolist() == ["L1", "L2", "L3"]


def test_hub_flags_carry_reasons(small: EnterpriseGraph) -> None:
    ctx = AnalysisContext(config=Config(thresholds={"hub_degree": 2.0}))
    result = run_scan(small, ctx, only=["structure"])
    hubs = result.flags[result.flags["flag"] == "hub"]
    assert set(hubs["entity_id"]) == {"A", "B"}
    ev = json.loads(hubs[hubs["entity_id"] == "A"]["evidence"].iloc[0])
    assert ev == {"relation": "guarantee", "direction": "out", "degree": 2, "threshold": 2}
    assert "threshold hub_degree = 2" in hubs["reason"].iloc[0]


def test_scan_runs_every_registered_analysis(small: EnterpriseGraph) -> None:
    result = run_scan(small, AnalysisContext())
    assert [r.name for r in result.results] == [a.name for a in registered_analyses()]
    dq = next(r for r in result.results if r.name == "data_quality")
    lacking = set(result.flags.loc[result.flags["flag"] == "incomplete_financials", "entity_id"])
    # B and C have exposure; B lacks a PD, C lacks a PD and net assets; A has no exposure.
    assert lacking == {"B", "C"}
    assert dq.summary["exposures_without_financials"] == 2
    reason_c = result.flags[(result.flags["entity_id"] == "C") & (result.flags["flag"] == "incomplete_financials")]
    assert "pd, net_assets" in reason_c["reason"].iloc[0]


def test_relations_match_schema() -> None:
    assert RELATIONS == ("ownership", "officer", "guarantee", "supply")
