"""Risky clusters (issue 7 § 2): the combined risk graph, deterministic communities, the declared indicators and
their score, severities, the scan's tables and the Neo4j write-back."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import neo4j
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

from graphrisk.analysis import AnalysisContext, AnalysisResult, registered_analyses
from graphrisk.analysis.clusters import (
    CLUSTER_COLUMNS,
    INDICATORS,
    MEMBER_COLUMNS,
    RiskGraph,
    cluster_indicators,
    cluster_inputs,
    risk_clusters,
    risk_clusters_analysis,
    risk_graph,
    score_clusters,
    severity_of,
    writeback_rows,
)
from graphrisk.analysis.guarantees import guarantee_analysis
from graphrisk.cli.main import main
from graphrisk.config import Config
from graphrisk.graph import EnterpriseGraph
from graphrisk.scan import run_scan
from graphrisk.tables import Tables

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "portfolio"
EARLIER = ("ownership", "guarantees", "hidden_links", "contagion")


def make_graph(**frames: pd.DataFrame) -> EnterpriseGraph:
    return EnterpriseGraph(Tables.from_frames(frames))


def firms(ids: list[str], **columns: list[Any]) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "name": [f"公司{i}" for i in ids], **columns})


def links(pairs: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["a_id", "b_id", "score"])


def clusters_of(graph: EnterpriseGraph, labels: np.ndarray) -> list[list[str]]:
    ids = graph.node_ids[: graph.n_enterprises]
    return sorted(sorted(ids[labels == k].tolist()) for k in range(int(labels.max()) + 1))


# ------------------------------------------------------------------------------------------- risk graph


def test_risk_graph_weights_per_relation() -> None:
    g = make_graph(
        enterprises=firms(list("ABCDEFGH"), net_assets=[40.0, 100.0, 5.0, 10.0, None, None, None, None]),
        persons=pd.DataFrame({"id": ["P1", "S"], "name": ["张三", "国资"]}),
        guarantees=pd.DataFrame(
            {"guarantor_id": ["A", "B", "E"], "borrower_id": ["B", "A", "F"], "amount": [50.0, 30.0, 10.0]}
        ),
        supply_links=pd.DataFrame(
            {
                "supplier_id": ["C", "G", "G"],
                "customer_id": ["D", "H", "H"],
                "share_of_supplier_revenue": [0.6, 0.2, 0.3],
                "share_of_customer_purchases": [0.1, 0.4, 0.7],
                "year": [2025, 2024, 2025],
            }
        ),
    )
    controllers = pd.DataFrame(
        {
            "company_id": ["C", "D", "E", "F", "G"],
            "controller_id": ["P1", "P1", "S", "S", "A"],
            "controller_kind": ["person", "person", "state", "state", "enterprise"],
        }
    )
    risk = risk_graph(g, controllers=controllers, suspected_links=links([("B", "C", 0.7)]))
    got = {(a, b): round(w, 6) for a, b, w in risk.to_frame().values.tolist()}
    assert got == {
        # A → B: 0.5 + 0.5 × min(1, 50 / 40) = 1; B → A: 0.5 + 0.5 × 30 / 100 = 0.65
        ("A", "B"): 1.65,
        ("A", "G"): 1.0,  # enterprise controller
        ("B", "C"): 0.7,  # suspected link
        ("C", "D"): 0.6,  # the supplier's revenue share 0.6 ≥ 0.5
        # E has neither net assets nor capital: fully committed, 1.0
        ("E", "F"): 1.0,
        ("G", "H"): 0.7,  # the strongest year of two
        ("C", "P1"): 1.0,  # the person hub of C and D
        ("D", "P1"): 1.0,
    }
    assert risk.n_hubs == 1 and risk.pairs["control"] == 3 and risk.pairs["supply"] == 2
    weak = risk_graph(g, supply_share=0.8)
    assert ("C", "D") not in {(a, b) for a, b, _ in weak.to_frame().values.tolist()}


def test_inactive_guarantees_do_not_tie() -> None:
    g = make_graph(
        enterprises=firms(list("ABC")),
        guarantees=pd.DataFrame(
            {"guarantor_id": ["A", "B"], "borrower_id": ["B", "C"], "amount": [1.0, 1.0],
             "end_date": ["2020-01-01", None]}
        ),
    )  # fmt: skip
    assert risk_graph(g, as_of=date(2026, 1, 1)).to_frame()[["a_id", "b_id"]].values.tolist() == [["B", "C"]]


# --------------------------------------------------------------------------------------------- clusters


def _dense_groups(k: int) -> tuple[EnterpriseGraph, pd.DataFrame]:
    """Two groups of k firms, each fully tied by strong suspected links, joined by one weak link."""
    a = [f"A{i}" for i in range(k)]
    b = [f"B{i}" for i in range(k)]
    pairs = [(x, y, 0.9) for grp in (a, b) for i, x in enumerate(grp) for y in grp[i + 1 :]]
    pairs.append(("A0", "B0", 0.1))
    return make_graph(enterprises=firms(a + b)), links(pairs)


def test_two_dense_groups_joined_by_one_weak_edge_are_two_clusters() -> None:
    g, sus = _dense_groups(6)
    c = risk_clusters(risk_graph(g, suspected_links=sus), min_size=3, split_min_size=10)
    assert clusters_of(g, c.labels) == [[f"A{i}" for i in range(6)], [f"B{i}" for i in range(6)]]
    assert c.components == 1 and c.split == 1
    assert c.component_firms.tolist() == [12, 12]


def test_a_component_below_the_split_size_is_one_cluster() -> None:
    g, sus = _dense_groups(4)  # 8 firms < 10: the fast path keeps the component whole
    c = risk_clusters(risk_graph(g, suspected_links=sus))
    assert c.k == 1 and (c.labels == 0).all() and c.split == 0
    split = risk_clusters(risk_graph(g, suspected_links=sus), split_min_size=8)
    assert split.k == 2


def test_trivial_components_are_left_out_and_persons_are_no_members() -> None:
    g = make_graph(
        enterprises=firms(list("ABCDEFGHIJ")),
        persons=pd.DataFrame({"id": ["P", "Q"], "name": ["张三", "李四"]}),
    )
    controllers = pd.DataFrame(
        {
            "company_id": ["F", "G", "H", "I", "J"],
            "controller_id": ["P", "P", "P", "Q", "Q"],
            "controller_kind": ["person"] * 5,
        }
    )
    sus = links([("A", "B", 0.9), ("C", "D", 0.9), ("D", "E", 0.9)])
    risk = risk_graph(g, controllers=controllers, suspected_links=sus)
    c = risk_clusters(risk, min_size=3)
    # A–B is a pair, I–J share a controller (two firms): below the minimum; C–D–E and F–G–H (via P) remain.
    assert clusters_of(g, c.labels) == [["C", "D", "E"], ["F", "G", "H"]]
    assert [m.tolist() for m in c.members()] == [[2, 3, 4], [5, 6, 7]]
    assert len(c.labels) == g.n_enterprises and c.labels[[0, 1, 8, 9]].tolist() == [-1, -1, -1, -1]
    assert c.node_labels[-2] == c.labels[5]  # the hub P sits with its firms but is not a member
    assert risk_clusters(risk, min_size=2).k == 4


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_clusters_partition_the_kept_components_and_respect_the_minimum_size(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 80
    u = rng.integers(0, n, 140)
    v = rng.integers(0, n, 140)
    keep = u != v
    w = rng.uniform(0.1, 1.0, keep.sum())
    m = sp.csr_array(sp.coo_array((np.r_[w, w], (np.r_[u[keep], v[keep]], np.r_[v[keep], u[keep]])), shape=(n, n)))
    risk = RiskGraph(matrix=m, n_firms=n, ids=np.array([f"F{i:03d}" for i in range(n)], dtype=object), pairs={})
    c = risk_clusters(risk, min_size=4, split_min_size=6, seed=seed)
    sizes = np.bincount(c.labels[c.labels >= 0])
    assert (sizes >= 4).all()
    import scipy.sparse.csgraph as csgraph

    _, comp = csgraph.connected_components(m, directed=False)
    big = np.bincount(comp)[comp] >= 4
    assert ((c.labels >= 0) == big).all()
    # A cluster never spans two components.
    for k in range(c.k):
        assert len(set(comp[c.labels == k])) == 1
    again = risk_clusters(risk, min_size=4, split_min_size=6, seed=seed)
    assert (again.labels == c.labels).all()


def _sparse_component(rng: np.random.Generator, n: int, extra: int) -> sp.coo_array:
    """One component of ``n`` nodes: a random spanning tree plus ``extra`` random ties, weights 0.02–1 (sparse enough
    for Leiden to split it, and ambiguous enough that its random draws decide where)."""
    u = np.r_[[int(rng.integers(0, i)) for i in range(1, n)], rng.integers(0, n, extra)]
    v = np.r_[np.arange(1, n), rng.integers(0, n, extra)]
    keep = u != v
    u, v = u[keep], v[keep]
    w = rng.uniform(0.02, 1.0, len(u))
    return sp.coo_array((np.r_[w, w], (np.r_[u, v], np.r_[v, u])), shape=(n, n))


# Seeds whose V Leiden splits; with seed 11, one Leiden call over W and V together cuts V differently.
@pytest.mark.parametrize("seed", [0, 3, 11])
def test_a_firms_cluster_does_not_depend_on_unrelated_components(seed: int) -> None:
    """Leiden runs once per large component: adding a component with no tie to V, before or after it, leaves V's
    clusters as they were (a credit officer's cluster must not move because the bank booked an unrelated group)."""
    rng = np.random.default_rng(seed)
    n = 30
    v = _sparse_component(rng, n, 20)
    w = _sparse_component(rng, 30, 20)

    def partition(matrix: sp.coo_array, n: int) -> list[list[int]]:
        risk = RiskGraph(
            matrix=sp.csr_array(matrix), n_firms=matrix.shape[0],
            ids=np.array([f"F{i:03d}" for i in range(matrix.shape[0])], dtype=object), pairs={},
        )  # fmt: skip
        labels = risk_clusters(risk, min_size=3, split_min_size=10, seed=seed).labels[:n]
        return sorted(sorted(np.flatnonzero(labels == k).tolist()) for k in set(labels.tolist()) if k >= 0)

    alone = partition(v, n)
    assert len(alone) >= 2  # Leiden split V: the test could see a change
    assert partition(sp.block_diag([v, w]).tocoo(), n) == alone
    assert partition(sp.block_diag([w, v]).tocoo(), w.shape[0] + n)[-len(alone) :] == [
        [i + w.shape[0] for i in c] for c in alone
    ]


# ------------------------------------------------------------------------------------------- indicators


def _hand_case() -> tuple[EnterpriseGraph, dict[str, AnalysisResult]]:
    """Cluster A, B, C, D (+ the isolated Z, which carries most of the bank's EAD).

    Guarantees A → B 50, B → A 30, B → C 10, C → A 10: one circle (A, B, C), one revolving cycle A → B → C → A,
    mutual A ⇄ B (2 of 4 guarantee edges). D defaulted; suspected links A–D and B–D; person P controls C and D;
    the state body S controls A and B (no tie)."""
    g = make_graph(
        enterprises=firms(
            list("ABCDZ"),
            net_assets=[40.0, 100.0, 5.0, 10.0, 1000.0],
            pd=[0.02, 0.04, 0.10, None, 0.01],
            defaulted=[False, False, False, True, False],
        ),
        persons=pd.DataFrame({"id": ["P", "S"], "name": ["张三", "国资委"]}),
        guarantees=pd.DataFrame(
            {"guarantor_id": list("ABBC"), "borrower_id": list("BACA"), "amount": [50.0, 30.0, 10.0, 10.0]}
        ),
        exposures=pd.DataFrame(
            {"borrower_id": ["A", "B", "C", "Z"], "ead": [100.0, 100.0, 200.0, 9600.0], "facility_id": list("1234")}
        ),
    )
    ctx = AnalysisContext()
    results = {
        "ownership": AnalysisResult(
            name="ownership",
            tables={
                "controllers": pd.DataFrame(
                    {
                        "company_id": list("ABCD"),
                        "controller_id": ["S", "S", "P", "P"],
                        "controller_kind": ["state", "state", "person", "person"],
                    }
                )
            },
        ),
        "guarantees": guarantee_analysis(g, ctx),
        "hidden_links": AnalysisResult(
            name="hidden_links", tables={"suspected_links": links([("A", "D", 0.7), ("B", "D", 0.6)])}
        ),
        "contagion": AnalysisResult(
            name="contagion",
            tables={
                "contagion": pd.DataFrame(
                    {"id": list("ABCD"), "pd": [0.02, 0.04, 0.10, 1.0], "network_pd": [0.05, 0.04, 0.15, 1.0]}
                )
            },
        ),
    }
    return g, results


EXPECTED_VALUES = {
    "guarantee_circle": 1.0,
    "revolving_cycles": 0.5,  # one cycle: 1 − 0.5
    "mutual_guarantees": 0.5,  # A → B and B → A of 4 edges
    "defaulted_members": 0.25,  # D of 4
    "ead_weighted_pd": 0.325,  # (100 × .02 + 100 × .04 + 200 × .10) / 400 = .065, / .2
    "network_pd_uplift": 0.325,  # (100 × .03 + 200 × .05) / 400 = .0325, / .1
    "hidden_link_density": 1 / 3,  # 2 links of 6 pairs
    "exposure_concentration": 0.8,  # 400 / 10,000 = 4 %, / 5 %
    "over_guaranteed": 0.5,  # A gives 50 > 40, C gives 10 > 5
}


def test_each_indicator_on_a_hand_case() -> None:
    g, results = _hand_case()
    ctx = AnalysisContext(results=dict(results))
    out = risk_clusters_analysis(g, ctx)
    clusters = out.tables["clusters"]
    assert clusters["members"].tolist() == ["A;B;C;D"]
    row = clusters.iloc[0]
    for name, value in EXPECTED_VALUES.items():
        assert row[f"{name}_value"] == pytest.approx(value), name
    raw = {c: row[c] for c in ("circle_members", "revolving_count", "guarantee_edges", "mutual_edges")}
    assert raw == {"circle_members": 3, "revolving_count": 1, "guarantee_edges": 4, "mutual_edges": 2}
    assert row["defaulted_count"] == 1 and row["suspected_links"] == 2 and row["over_guaranteed_count"] == 2
    assert row["pd_weighted"] == pytest.approx(0.065) and row["uplift_weighted"] == pytest.approx(0.0325)
    assert row["ead"] == 400.0 and row["ead_share"] == pytest.approx(0.04)
    expected = sum(i.weight * EXPECTED_VALUES[i.name] for i in INDICATORS)
    assert row["score"] == pytest.approx(expected)  # 0.48208…
    assert row["severity"] == "high" and row["controllers"] == "P"  # the state body ties nothing
    assert row["reasons"].startswith("guarantee_circle: 3 of 4 members in a guarantee circle (+0.100); ")
    assert "exposure_concentration: 4.00% of the bank's EAD (+0.080)" in row["reasons"]
    members = out.tables["cluster_members"]
    assert members["member_id"].tolist() == list("ABCD")
    assert members["role"].tolist() == ["hub;guarantor;borrower", "guarantor;borrower", "guarantor;borrower", "member"]
    # A: guarantees with B 1.0 + 0.65, C → A 1.0 (C's 5 of net assets), suspected A–D 0.7
    assert members["strength"].iloc[0] == pytest.approx(3.35)
    assert members["in_revolving_cycle"].tolist() == [True, True, True, False]
    assert members["over_guaranteed"].tolist() == [True, False, True, False]
    assert members["pd"].tolist() == [0.02, 0.04, 0.10, 1.0]
    assert out.summary["notes"] == []


def test_missing_earlier_results_are_recomputed_or_noted() -> None:
    g, results = _hand_case()
    x = cluster_inputs(g)
    assert len(x.notes) == 4
    assert [c.tolist() for c in x.revolving] == [[0, 1, 2]] and x.in_circle.tolist() == [True] * 3 + [False] * 2
    full = cluster_inputs(g, results=results)
    labels = np.array([0, 0, 0, 0, -1])
    a = cluster_indicators(labels, x)
    b = cluster_indicators(labels, full)
    for name in ("guarantee_circle", "revolving_cycles", "mutual_guarantees", "over_guaranteed"):
        assert a[f"{name}_value"].iloc[0] == b[f"{name}_value"].iloc[0]
    assert a["network_pd_uplift_value"].iloc[0] == 0.0 and a["hidden_link_density_value"].iloc[0] == 0.0


def test_contributions_sum_to_the_score_and_weights_are_configurable() -> None:
    g, results = _hand_case()
    values = cluster_indicators(np.array([0, 0, 0, 0, -1]), cluster_inputs(g, results=results))
    s = score_clusters(values)
    contrib = sum(s[f"{i.name}_contribution"] for i in INDICATORS)
    assert np.allclose(contrib, s["score"])
    for i in INDICATORS:
        assert np.allclose(s[f"{i.name}_contribution"], s[f"{i.name}_value"] * i.weight)
    only = score_clusters(values, {i.name: 0.0 for i in INDICATORS} | {"defaulted_members": 1.0})
    assert only["score"].iloc[0] == pytest.approx(0.25)
    assert only["reasons"].iloc[0] == "defaulted_members: 1 of 4 members defaulted (+0.250)"
    config = Config(thresholds={"cluster_weight_revolving_cycles": 1.0})
    out = risk_clusters_analysis(g, AnalysisContext(config=config, results=dict(results)))
    assert out.tables["clusters"]["score"].iloc[0] == pytest.approx(s["score"].iloc[0] + 0.85 * 0.5)
    assert out.summary["weights"]["revolving_cycles"] == 1.0


def test_thresholds_are_declared_with_meaning_and_source() -> None:
    effective = {t["name"]: t for t in Config().effective()}
    for i in INDICATORS:
        t = effective[f"cluster_weight_{i.name}"]
        assert t["value"] == i.weight and t["meaning"] and t["source"]
    assert sum(i.weight for i in INDICATORS) == pytest.approx(1.0)
    for name in ("cluster_min_size", "cluster_high", "cluster_medium", "cluster_low", "cluster_supply_share"):
        assert effective[name]["meaning"] and effective[name]["source"]
    assert effective["cluster_high"]["value"] > effective["cluster_medium"]["value"] > effective["cluster_low"]["value"]


# ------------------------------------------------------------------------------------------- severities


def test_severity_cut_offs() -> None:
    got = severity_of([0.32, 0.3199, 0.25, 0.2499, 0.15, 0.1499, 0.0], high=0.32, medium=0.25, low=0.15)
    assert got.tolist() == ["high", "medium", "medium", "low", "low", "none", "none"]


def test_only_high_and_medium_clusters_are_flagged() -> None:
    g, results = _hand_case()
    for high, medium, expected in ((0.4, 0.3, "high"), (0.9, 0.4, "medium"), (0.9, 0.8, None)):
        config = Config(thresholds={"cluster_high": high, "cluster_medium": medium, "cluster_low": 0.1})
        out = risk_clusters_analysis(g, AnalysisContext(config=config, results=dict(results)))
        flags = out.flags
        if expected is None:
            assert flags.empty and out.tables["clusters"]["severity"].tolist() == ["low"]
            continue
        assert flags[["entity_id", "flag", "severity"]].values.tolist() == [["RC-000001", "risky_cluster", expected]]
        evidence = json.loads(flags["evidence"].iloc[0])
        assert evidence["members"] == list("ABCD") and evidence["members_total"] == 4
        assert evidence["indicators"]["defaulted_members"] == {"value": 0.25, "contribution": 0.0375}
        assert "revolving_cycles: 1 revolving guarantee cycle (+0.075)" in flags["reason"].iloc[0]


# ----------------------------------------------------------------------------------------- determinism


def _shuffled(tables: Tables, seed: int) -> Tables:
    rng = np.random.default_rng(seed)
    return Tables.from_frames(
        {name: f.iloc[rng.permutation(len(f))].reset_index(drop=True) for name, f in tables.frames.items()}
    )


def _clusters_run(graph: EnterpriseGraph, config: Config) -> AnalysisResult:
    ctx = AnalysisContext(config=config, as_of=date(2026, 6, 30))
    run_scan(graph, ctx, only=[*EARLIER, "risk_clusters"])
    return ctx.results["risk_clusters"]


def test_same_clusters_and_ids_for_shuffled_rows_and_repeated_runs() -> None:
    from graphrisk.cli.data import load_graph

    graph, config = load_graph(EXAMPLE)
    first = _clusters_run(graph, config)
    again = _clusters_run(graph, config)
    shuffled = _clusters_run(EnterpriseGraph(_shuffled(graph.tables, 7)), config)
    for other in (again, shuffled):
        for table in ("clusters", "cluster_members"):
            pd.testing.assert_frame_equal(first.tables[table], other.tables[table])
        pd.testing.assert_frame_equal(first.flags, other.flags)
        assert first.summary == other.summary
    clusters = first.tables["clusters"]
    assert clusters["cluster_id"].tolist() == [f"RC-{i:06d}" for i in range(1, len(clusters) + 1)]
    key = list(zip(-clusters["score"], clusters["members"].str.split(";").str[0], strict=True))
    assert key == sorted(key)
    assert first.summary["components_split"] >= 1  # the example's big component went through Leiden


# ---------------------------------------------------------------------------------------------- the scan


def test_registered_after_the_other_analyses() -> None:
    analyses = {a.name: a for a in registered_analyses()}
    a = analyses["risk_clusters"]
    assert a.order == 70 and a.title == "Risky clusters (风险团簇)"
    assert all(analyses[name].order < a.order for name in EARLIER)


def test_scan_of_the_example_writes_clusters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHRISK_PSEUDONYM_KEY", "test")
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["scan", str(EXAMPLE), "--out", str(out), "--as-of", "2026-06-30"])
    assert result.exit_code == 0, result.output
    clusters = pd.read_csv(out / "clusters.csv", encoding="utf-8-sig", dtype={"members": str})
    members = pd.read_csv(out / "cluster_members.csv", encoding="utf-8-sig")
    assert tuple(clusters.columns) == CLUSTER_COLUMNS and tuple(members.columns) == MEMBER_COLUMNS
    assert len(clusters) > 3 and (clusters["size"] >= 3).all()
    assert set(clusters["severity"]) <= {"high", "medium", "low", "none"}
    assert clusters["size"].sum() == len(members)
    assert (clusters["members"].str.split(";").str.len() == clusters["size"]).all()
    contrib = clusters[[f"{i.name}_contribution" for i in INDICATORS]].sum(axis=1)
    assert np.allclose(contrib, clusters["score"])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))["analyses"]["risk_clusters"]
    top = summary["top_clusters"]
    assert [t["cluster_id"] for t in top] == clusters["cluster_id"].head(5).tolist()
    assert top[0]["members"] == clusters["members"].iloc[0].split(";")
    assert sum(summary["by_severity"].values()) == len(clusters)
    flags = pd.read_csv(out / "flags.csv", encoding="utf-8-sig")
    risky = flags[flags["flag"] == "risky_cluster"]
    assert sorted(risky["entity_id"]) == sorted(clusters[clusters["severity"].isin(["high", "medium"])]["cluster_id"])
    assert "Risky clusters (风险团簇)" in (out / "report.html").read_text(encoding="utf-8")


def test_writeback_rows_and_statements() -> None:
    g, results = _hand_case()
    out = risk_clusters_analysis(g, AnalysisContext(results=dict(results)))
    (stmt, rows), (stale, placeholder) = out.writeback
    assert stmt == "writeback/risk_clusters.cypher" and stale == "writeback/risk_clusters_stale.cypher"
    assert rows == writeback_rows(out.tables["clusters"])
    assert rows[0]["members"] == list("ABCD") and rows[0]["cluster_id"] == "RC-000001" and placeholder
    for name in (stmt, stale):
        text = (ROOT / "cypher" / name).read_text(encoding="utf-8")
        assert "RiskCluster" in text and "IN_CLUSTER" in text and "$run_id" in text


# ------------------------------------------------------------------------------------------------- Neo4j


@pytest.mark.neo4j
def test_writeback_to_neo4j_replaces_the_previous_run(neo4j_empty_store: Any) -> None:
    g, results = _hand_case()
    neo4j_empty_store.load(g.tables)
    out = risk_clusters_analysis(g, AnalysisContext(results=dict(results)))

    def write(run_id: str, statements: tuple[tuple[str, list[dict[str, Any]]], ...]) -> None:
        for statement, rows in statements:
            neo4j_empty_store.write(statement, rows, params={"run_id": run_id, "algorithm": "risk_clusters"})

    def state() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        auth = (os.environ.get("NEO4J_USER") or "neo4j", os.environ["NEO4J_PASSWORD"])
        with neo4j.GraphDatabase.driver(os.environ["NEO4J_URI"], auth=auth) as driver:
            db = os.environ.get("NEO4J_DATABASE") or None
            nodes = driver.execute_query(
                "MATCH (c:RiskCluster) RETURN c.cluster_id AS id, c.run_id AS run, c.severity AS severity, "
                "c.size AS size, c.score AS score, c.algorithm AS algorithm ORDER BY id",
                database_=db,
            ).records
            rels = driver.execute_query(
                "MATCH (e:Enterprise)-[m:IN_CLUSTER]->(c:RiskCluster) RETURN e.id AS member, c.cluster_id AS id, "
                "m.run_id AS run ORDER BY id, member",
                database_=db,
            ).records
        return [r.data() for r in nodes], [r.data() for r in rels]

    write("r1", out.writeback)
    write("r1", out.writeback)  # idempotent
    nodes, rels = state()
    score = float(out.tables["clusters"]["score"].iloc[0])
    assert nodes == [
        {"id": "RC-000001", "run": "r1", "severity": "high", "size": 4, "score": score, "algorithm": "risk_clusters"}
    ]
    assert rels == [{"member": m, "id": "RC-000001", "run": "r1"} for m in "ABCD"]
    # Run r2 finds a different cluster with the same id and a second one: r1's memberships are gone.
    second = [
        {**rows, "members": ["A", "B", "C"]} if rows["cluster_id"] == "RC-000001" else rows
        for rows in out.writeback[0][1]
    ] + [{"cluster_id": "RC-000002", "score": 0.1, "severity": "none", "size": 3, "reasons": "", "members": ["Z"]}]
    write("r2", (("writeback/risk_clusters.cypher", second), out.writeback[1]))
    nodes, rels = state()
    assert [(n["id"], n["run"]) for n in nodes] == [("RC-000001", "r2"), ("RC-000002", "r2")]
    assert [(r["member"], r["id"], r["run"]) for r in rels] == [
        ("A", "RC-000001", "r2"),
        ("B", "RC-000001", "r2"),
        ("C", "RC-000001", "r2"),
        ("Z", "RC-000002", "r2"),
    ]
    write("r3", (out.writeback[1],))  # a run without clusters leaves none behind
    assert state() == ([], [])
