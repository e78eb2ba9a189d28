"""Guarantee networks: hand graphs per pattern, invariants, the synthetic ground truth, the CLI, Neo4j parity."""

from __future__ import annotations

import json
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphrisk.analysis import AnalysisContext
from graphrisk.analysis.guarantees import (
    TRIAD_TYPES,
    chain_levels,
    circle_measures,
    core_numbers,
    firm_measures,
    guarantee_analysis,
    guarantee_chain,
    guarantee_circles,
    guarantee_network,
    guarantee_patterns,
    intra_group_guarantees,
    joint_guarantees,
    longest_chains,
    mutual_guarantees,
    path_hops,
    relation_path,
    revolving_guarantees,
    shortest_path_nodes,
    star_guarantors,
)
from graphrisk.cli.main import main
from graphrisk.graph import EnterpriseGraph
from graphrisk.synth import AS_OF, generate_portfolio, portfolio_files
from graphrisk.tables import Tables
from loaders import load_tables

DAY = date(2026, 6, 30)
KEY = b"guarantees"


def _graph(
    edges: list[tuple[str, str, float]],
    *,
    firms: str | list[str] | None = None,
    loans: list[str | None] | None = None,
    starts: list[str | None] | None = None,
    ends: list[str | None] | None = None,
    extra: dict[str, list[Any]] | None = None,
) -> EnterpriseGraph:
    ids = sorted(set(firms or []) | {s for s, _, _ in edges} | {d for _, d, _ in edges})
    ent = pd.DataFrame({"id": ids, "name": [f"firm {i}" for i in ids], **(extra or {})})
    g = pd.DataFrame(
        {
            "guarantor_id": [s for s, _, _ in edges],
            "borrower_id": [d for _, d, _ in edges],
            "amount": [a for _, _, a in edges],
            "loan_id": loans if loans is not None else [f"L{k}" for k in range(len(edges))],
            "start_date": starts if starts is not None else [None] * len(edges),
            "end_date": ends if ends is not None else [None] * len(edges),
        }
    )
    return EnterpriseGraph(Tables.from_frames({"enterprises": ent, "guarantees": g}))


# ------------------------------------------------------------------------------------------ hand graphs


def test_mutual_pairs_by_hand() -> None:
    # A ⇄ B (10 and 20) is mutual; B → C alone is not; C ⇄ D has the D → C side expired, so it is not.
    g = _graph(
        [("A", "B", 10.0), ("B", "A", 20.0), ("B", "C", 5.0), ("C", "D", 1.0), ("D", "C", 1.0)],
        ends=[None, None, None, None, "2020-01-01"],
    )
    found = mutual_guarantees(guarantee_network(g, as_of=DAY))
    assert [(p.members, p.guaranteed_amount) for p in found] == [(("A", "B"), 30.0)]
    assert "互保" in found[0].reason and "A guarantees B" in found[0].reason


def test_joint_loans_and_pairwise_groups_by_hand() -> None:
    # Loan L1 of C is guaranteed by A and B: one joint guarantee (amount = the loan's 50, not 100).
    # D, E, F guarantee each other both ways (6 guarantees of 1): a pairwise joint group of three, amount 6.
    edges = [("A", "C", 50.0), ("B", "C", 50.0)]
    edges += [(x, y, 1.0) for x in "DEF" for y in "DEF" if x != y]
    loans: list[str | None] = ["L1", "L1", *[f"M{k}" for k in range(6)]]
    found = joint_guarantees(guarantee_network(_graph(edges, loans=loans), as_of=DAY))
    assert [(p.members, p.guaranteed_amount) for p in found] == [(("A", "B", "C"), 50.0), (("D", "E", "F"), 6.0)]
    assert found[0].details["loan_id"] == "L1"


def test_revolving_cycles_by_hand() -> None:
    # A → B → C → A is a ring of three; D ⇄ E is a 2-cycle (mutual, not revolving); A → D leaves the ring.
    g = _graph([("A", "B", 1.0), ("B", "C", 2.0), ("C", "A", 3.0), ("D", "E", 1.0), ("E", "D", 1.0), ("A", "D", 1.0)])
    found = revolving_guarantees(guarantee_network(g, as_of=DAY))
    assert [(p.members, p.guaranteed_amount) for p in found] == [(("A", "B", "C"), 6.0)]
    assert found[0].details["truncated"] is False
    # The length bound: a ring of four is not listed with length_bound=3.
    g4 = _graph([("A", "B", 1.0), ("B", "C", 1.0), ("C", "D", 1.0), ("D", "A", 1.0)])
    assert revolving_guarantees(guarantee_network(g4, as_of=DAY), length_bound=3) == []


def test_revolving_cap_says_truncated() -> None:
    # The complete digraph on four firms has 8 cycles of three (4 triangles × 2 ways) and 6 of four: 14.
    g = _graph([(x, y, 1.0) for x in "ABCD" for y in "ABCD" if x != y])
    net = guarantee_network(g, as_of=DAY)
    assert len(revolving_guarantees(net)) == 14
    capped = revolving_guarantees(net, cap=5)
    assert len(capped) == 5 and all(p.details["truncated"] for p in capped)


def test_circles_and_large_by_hand() -> None:
    # {A, B, C} (A → B ← C) is a circle of three; {D, E} is too small; {F … J} a chain of five is large.
    edges = [("A", "B", 1.0), ("C", "B", 1.0), ("D", "E", 1.0)]
    edges += [(a, b, 1.0) for a, b in zip("FGHI", "GHIJ", strict=True)]
    g = _graph(edges)
    net = guarantee_network(g, as_of=DAY)
    circles = guarantee_circles(net)
    assert [net.ids(c) for c in circles] == [("F", "G", "H", "I", "J"), ("A", "B", "C")]
    table = circle_measures(net, circles, large_size=5)
    assert table["large"].tolist() == [True, False]
    assert table["circle_id"].tolist() == ["circle-00001", "circle-00002"]
    # Five firms, four guarantees: density 4 / (5·4) = 0.2; no mutual pairs; the longest chain has 4 layers.
    assert table.iloc[0]["density"] == pytest.approx(0.2)
    assert table.iloc[0]["longest_chain"] == 4


def test_chain_depths_treat_a_core_as_one_layer() -> None:
    # A → B, B ⇄ C (a core), C → D. Upstream depth of A: B's core is one layer, then D: 2.
    # Downstream reach of D: C and B (the core) and A behind them: 3 firms.
    g = _graph([("A", "B", 1.0), ("B", "C", 1.0), ("C", "B", 1.0), ("C", "D", 1.0)])
    net = guarantee_network(g, as_of=DAY)
    lv = chain_levels(net)
    assert lv.upstream_depth.tolist() == [2, 1, 1, 0]
    assert lv.downstream_depth.tolist() == [0, 1, 1, 2]
    assert lv.downstream_reach.tolist() == [0, 2, 2, 3]
    chains = longest_chains(net, lv, guarantee_circles(net))
    assert [p.members for p in chains] == [("A", "B", "D")]


def test_star_by_count_and_by_share() -> None:
    # H guarantees five borrowers: a star by count. In circle {P, Q, R, S, T}, P gives 90 of 100: a star by
    # share (≥ 50 % of a circle of five); Q … gives 10 in all.
    edges = [("H", b, 1.0) for b in ["B1", "B2", "B3", "B4", "B5"]]
    edges += [("P", "Q", 90.0), ("Q", "R", 4.0), ("R", "S", 3.0), ("S", "T", 3.0)]
    net = guarantee_network(_graph(edges), as_of=DAY)
    stars = star_guarantors(net, guarantee_circles(net))
    assert [p.members[0] for p in stars] == ["H", "P"]
    assert "5 borrowers" in stars[0].reason and "90%" in stars[1].reason


def test_intra_group_by_hand() -> None:
    # A → B under controller X; B → C where C has another controller; D has none.
    net = guarantee_network(_graph([("A", "B", 1.0), ("B", "C", 1.0), ("C", "D", 1.0)]), as_of=DAY)
    found = intra_group_guarantees(net, {"A": "X", "B": "X", "C": "Y"})
    assert [p.members for p in found] == [("A", "B")]
    assert found[0].details["controller"] == "X"


def test_expired_and_future_guarantees_do_not_count() -> None:
    # Ring A → B → C → A, but C → A ended before the as-of date and B → C starts after it: nothing active
    # but A → B; on a date when all three run, the ring is back.
    g = _graph(
        [("A", "B", 1.0), ("B", "C", 1.0), ("C", "A", 1.0)],
        starts=["2020-01-01", "2026-07-01", "2020-01-01"],
        ends=[None, None, "2026-06-29"],
    )
    net = guarantee_network(g, as_of=DAY)
    assert len(net.edges) == 1 and net.expired == 2
    assert revolving_guarantees(net) == []
    assert len(revolving_guarantees(guarantee_network(g, as_of=date(2026, 6, 29)))) == 0  # B → C not started
    assert len(revolving_guarantees(guarantee_network(_graph([("A", "B", 1.0), ("B", "C", 1.0), ("C", "A", 1.0)]))))


def test_capacity_triggers_by_hand() -> None:
    # A (net assets 100) guarantees B for 60 and C for 5: 65 % of net assets (> 50 %), single 60 % (> 10 %).
    # B's debt ratio 80 / 100 = 0.8 > 0.7: A guarantees a weak borrower. C has no balance sheet.
    # D (net assets 1000) guarantees C for 50: 5 %, no trigger.
    g = _graph(
        [("A", "B", 60.0), ("A", "C", 5.0), ("D", "C", 50.0)],
        extra={
            "net_assets": [100.0, 20.0, None, 1000.0],
            "total_assets": [200.0, 100.0, None, 2000.0],
            "total_liabilities": [100.0, 80.0, None, 1000.0],
        },
    )
    net = guarantee_network(g, as_of=DAY)
    firms = firm_measures(net, guarantee_circles(net)).set_index("entity_id")
    assert firms.loc["A", "leverage"] == pytest.approx(0.65)
    assert firms.loc["A", "triggers"] == "external;single;weak_borrower"
    assert firms.loc["D", "triggers"] == ""
    assert firms.loc["C", "role"] == "borrower" and firms.loc["A", "role"] == "guarantor"
    assert "csrc_external_guarantee_ratio" in firms.loc["A", "reason"]


def test_triads_and_reciprocity_by_hand() -> None:
    # A ⇄ B, B → C: triad {A, B, C} is 111U or 111D (one mutual dyad, one single edge): share of triads with a
    # mutual dyad 1/1. Reciprocity = 1 mutual pair / 2 connected pairs = 0.5.
    net = guarantee_network(_graph([("A", "B", 1.0), ("B", "A", 1.0), ("B", "C", 1.0)]), as_of=DAY)
    row = circle_measures(net, guarantee_circles(net)).iloc[0]
    census = json.loads(row["triad_census"])
    assert sum(census.values()) == 1 and census["111U"] + census["111D"] == 1
    assert row["reciprocity"] == 0.5 and row["mutual_triad_share"] == 1.0


def test_scan_analysis_tables_and_flags() -> None:
    # Ring A → B → C → A (revolving, circle of three); F defaulted and guaranteed by A.
    g = _graph(
        [("A", "B", 1.0), ("B", "C", 1.0), ("C", "A", 1.0), ("A", "F", 1.0)],
        extra={"defaulted": [False, False, False, True], "net_assets": [1.0, 100.0, 100.0, 100.0]},
    )
    result = guarantee_analysis(g, AnalysisContext(as_of=DAY))
    patterns = result.tables["guarantee_patterns"]
    assert {"pattern", "pattern_id", "members", "guaranteed_amount", "ead", "defaulted_members", "reason"} <= set(
        patterns.columns
    )
    assert set(patterns["pattern"]) == {"revolving", "circle"}
    flags = result.flags
    assert set(flags.loc[flags["flag"] == "in_revolving_cycle", "entity_id"]) == {"A", "B", "C"}
    assert set(flags.loc[flags["flag"] == "guarantees_defaulted_firm", "entity_id"]) == {"A"}
    # A gives 2 against net assets of 1: 200 % > 100 %, so over-guaranteed with high severity.
    over = flags[flags["flag"] == "over_guaranteed"]
    assert over["entity_id"].tolist() == ["A"] and over["severity"].tolist() == ["high"]
    for ev in flags["evidence"]:
        json.loads(ev)
    assert result.summary["patterns"]["revolving"] == 1
    assert "intra_group skipped" in result.summary["notes"][0]
    assert result.section is not None


# ------------------------------------------------------------------------------------------- properties


@st.composite
def _random_guarantees(draw: st.DrawFn) -> EnterpriseGraph:
    n = draw(st.integers(2, 9))
    firms = [f"F{i}" for i in range(n)]
    m = draw(st.integers(0, 25))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=m, max_size=m))
    ends = draw(st.lists(st.sampled_from([None, "2026-01-01", "2027-01-01"]), min_size=m, max_size=m))
    edges = [(firms[a], firms[b], 1.0) for a, b in pairs]
    return _graph(edges, firms=firms, ends=ends)


def _active_pairs(g: EnterpriseGraph) -> set[tuple[str, str]]:
    e = g.edges("guarantee")
    ok = e["end_date"].isna() | (e["end_date"] >= pd.Timestamp(DAY))
    e = e[ok.to_numpy(dtype=bool)]
    return {(str(g.node_ids[s]), str(g.node_ids[d])) for s, d in zip(e["src"], e["dst"], strict=True) if s != d}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_random_guarantees())
def test_revolving_cycles_are_active_directed_cycles(g: EnterpriseGraph) -> None:
    active = _active_pairs(g)
    net = guarantee_network(g, as_of=DAY)
    found = revolving_guarantees(net)
    for p in found:
        ring = [*p.members, p.members[0]]
        assert len(p.members) >= 3 and len(set(p.members)) == len(p.members)
        assert all((a, b) in active for a, b in pairwise(ring))
    # And nothing is missed: networkx over the active pairs finds the same cycles.
    want = nx.DiGraph(list(active))
    expected = sum(1 for c in nx.simple_cycles(want, length_bound=8) if len(c) >= 3)
    assert len(found) == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_random_guarantees())
def test_circles_weakly_connected_and_active_only(g: EnterpriseGraph) -> None:
    active = _active_pairs(g)
    a = guarantee_patterns(g, as_of=DAY)
    sub = nx.DiGraph(list(active))
    for p in a.patterns:
        if p.pattern == "circle":
            assert len(p.members) >= 3 and nx.is_weakly_connected(sub.subgraph(p.members))
        if p.pattern == "mutual":
            x, y = p.members
            assert (x, y) in active and (y, x) in active
    involved = {x for pair in active for x in pair}
    assert set(a.firms["entity_id"]) == involved  # a firm with expired guarantees only never appears


@settings(max_examples=40, deadline=None)
@given(_random_guarantees())
def test_core_numbers_and_triad_share_match_networkx(g: EnterpriseGraph) -> None:
    net = guarantee_network(g, as_of=DAY)
    sub = nx.DiGraph(list(_active_pairs(g)))
    cores = core_numbers(net)
    for node, k in nx.core_number(sub).items():
        assert cores[g.node(node)] == k
    table = circle_measures(net, guarantee_circles(net))
    for row in table.itertuples(index=False):
        census = json.loads(str(row.triad_census))
        total = sum(census.values())
        with_mutual = sum(v for t, v in census.items() if t[0] != "0")
        assert set(census) == set(TRIAD_TYPES)
        assert row.mutual_triad_share == pytest.approx(with_mutual / total)


# --------------------------------------------------------------------------------------- synthetic truth


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("guarantees")
    for name, data in portfolio_files(generate_portfolio(3000, seed=11)).items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def synthetic(synthetic_dir: Path) -> tuple[EnterpriseGraph, dict[str, Any]]:
    graph = EnterpriseGraph(load_tables(synthetic_dir, pseudonym_key=KEY))
    truth = json.loads((synthetic_dir / "ground_truth.json").read_text(encoding="utf-8"))
    return graph, truth


def _ring(members: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    k = members.index(min(members))
    return tuple(members[k:]) + tuple(members[:k])


def test_synthetic_ground_truth_is_found_exactly(synthetic: tuple[EnterpriseGraph, dict[str, Any]]) -> None:
    graph, truth = synthetic
    a = guarantee_patterns(graph, as_of=date.fromisoformat(AS_OF))
    planted = truth["patterns"]
    by = {k: [p for p in a.patterns if p.pattern == k] for k in ("mutual", "joint", "revolving", "circle")}
    # Background guarantees only run up a global order, so every cycle, every mutual pair and every shared
    # loan in the data is a planted one: found must equal planted, in both directions.
    want_mutual = {frozenset(p["members"]) for p in planted if p["kind"] == "mutual_guarantee"}
    assert {frozenset(p.members) for p in by["mutual"]} == want_mutual
    want_rings = {_ring(p["members"]) for p in planted if p["kind"] == "revolving_cycle"}
    assert {_ring(p.members) for p in by["revolving"]} == want_rings
    want_joint = {
        (p["loan_id"], p["borrower"], frozenset(p["guarantors"])) for p in planted if p["kind"] == "joint_guarantee"
    }
    got_joint = {
        (p.details["loan_id"], p.details["borrower"], frozenset(p.details["guarantors"]))
        for p in by["joint"]
        if "loan_id" in p.details
    }
    assert got_joint == want_joint
    # Every planted ring, chain and hub sits inside one reported circle.
    circle_of = {m: p.pattern_id for p in by["circle"] for m in p.members}
    for p in planted:
        if p["kind"] in ("revolving_cycle", "guarantee_chain", "hub_guarantor"):
            assert len({circle_of.get(m) for m in p["members"]}) == 1 and p["members"][0] in circle_of
    # Every planted hub is a star guarantor.
    stars = {p.members[0] for p in a.patterns if p.pattern == "star"}
    assert {p["hub"] for p in planted if p["kind"] == "hub_guarantor"} <= stars
    # Nothing is reported that is not in the data: each pattern's members are linked by active guarantees.
    active = {
        (str(graph.node_ids[s]), str(graph.node_ids[d])) for s, d in zip(a.network.src, a.network.dst, strict=True)
    }
    for p in by["revolving"]:
        ring = [*p.members, p.members[0]]
        assert all(pair in active for pair in pairwise(ring))
    for p in by["mutual"]:
        x, y = p.members
        assert (x, y) in active and (y, x) in active


# ----------------------------------------------------------------------------------------------- the CLI


def _cycle_member(truth: dict[str, Any]) -> str:
    return next(p["members"][0] for p in truth["patterns"] if p["kind"] == "revolving_cycle")


def test_chain_command_table_and_json(synthetic_dir: Path, synthetic: tuple[EnterpriseGraph, dict[str, Any]]) -> None:
    _, truth = synthetic
    firm = _cycle_member(truth)
    runner = CliRunner()
    args = ["chain", str(synthetic_dir), "--company", firm, "--as-of", AS_OF]
    out = runner.invoke(main, [*args, "--format", "json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert payload["company"] == firm and payload["depth"] == 4
    assert any(p["pattern"] == "revolving" for p in payload["patterns"]) or any(
        len(p["members"]) > 5 for p in truth["patterns"] if p["kind"] == "revolving_cycle" and firm in p["members"]
    )
    assert all(e["hop"] <= 4 for e in payload["edges"])
    table = runner.invoke(main, [*args, "--direction", "up", "--depth", "2"])
    assert table.exit_code == 0 and "guarantee chain of" in table.stdout
    bad = runner.invoke(main, ["chain", str(synthetic_dir), "--company", "NOPE"])
    assert bad.exit_code == 1 and "NOPE" in bad.output


def test_path_command_table_and_json(synthetic_dir: Path, synthetic: tuple[EnterpriseGraph, dict[str, Any]]) -> None:
    _, truth = synthetic
    ring = next(p["members"] for p in truth["patterns"] if p["kind"] == "revolving_cycle")
    runner = CliRunner()
    out = runner.invoke(main, ["path", str(synthetic_dir), "--from", ring[0], "--to", ring[1], "--format", "json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert payload["length"] == 1
    assert f"{ring[0]} guarantees {ring[1]}" in " ".join(payload["hops"][0]["relations"])
    table = runner.invoke(main, ["path", str(synthetic_dir), "--from", ring[0], "--to", ring[2]])
    assert table.exit_code == 0 and "hop(s)" in table.stdout


def test_path_labels_officers_by_hand() -> None:
    # P1 is legal representative of A; A guarantees B. Path P1 — A — B reads both ways it is written.
    t = Tables.from_frames(
        {
            "enterprises": pd.DataFrame({"id": ["A", "B"], "name": ["甲", "乙"]}),
            "persons": pd.DataFrame({"id": ["P1"], "name": ["张三"]}),
            "officers": pd.DataFrame({"person_id": ["P1"], "company_id": ["A"], "role": ["legal_representative"]}),
            "guarantees": pd.DataFrame({"guarantor_id": ["A"], "borrower_id": ["B"], "amount": [1.0]}),
        }
    )
    g = EnterpriseGraph(t)
    nodes = shortest_path_nodes(g, "B", "P1")
    assert nodes == ["B", "A", "P1"]
    path = relation_path("B", "P1", nodes, path_hops(g, nodes))
    assert path.hops == (("A guarantees B (1)",), ("P1 is legal_representative of A",))


# ------------------------------------------------------------------------------------------ Neo4j parity


def _firms_to_try(truth: dict[str, Any]) -> list[str]:
    kinds = ("revolving_cycle", "hub_guarantor", "joint_guarantee", "mutual_guarantee", "guarantee_chain")
    return [next(p["members"][0] for p in truth["patterns"] if p["kind"] == k) for k in kinds]


@pytest.mark.neo4j
def test_chain_and_path_parity_with_neo4j(
    synthetic_dir: Path, synthetic: tuple[EnterpriseGraph, dict[str, Any]], neo4j_empty_store: Any
) -> None:
    from graphrisk.cli.guarantees import chain_on_store, path_on_store

    graph, truth = synthetic
    neo4j_empty_store.load(load_tables(synthetic_dir, pseudonym_key=KEY))
    day = date.fromisoformat(AS_OF)
    firms = _firms_to_try(truth)
    for firm in firms:
        for direction in ("up", "down", "both"):
            for depth in (1, 4):
                a = guarantee_chain(graph, firm, depth=depth, direction=direction, as_of=day)
                b = chain_on_store(neo4j_empty_store, firm, depth=depth, direction=direction, as_of=day)
                assert a.to_dict() == b.to_dict(), (firm, direction, depth)
    for x, y in pairwise(firms):
        nodes = shortest_path_nodes(graph, x, y)
        embedded = relation_path(x, y, nodes, path_hops(graph, nodes))
        assert path_on_store(neo4j_empty_store, x, y).to_dict() == embedded.to_dict()


@pytest.mark.neo4j
def test_chain_command_on_neo4j(synthetic_dir: Path, synthetic: tuple[EnterpriseGraph, dict[str, Any]]) -> None:
    import os

    # Runs after the parity test has loaded the synthetic portfolio into the server.
    _g, truth = synthetic
    firm = _cycle_member(truth)
    args = ["chain", str(synthetic_dir), "--company", firm, "--as-of", AS_OF, "--format", "json"]
    runner = CliRunner()
    embedded = runner.invoke(main, args)
    stored = runner.invoke(main, [*args, "--neo4j-uri", os.environ["NEO4J_URI"]])
    assert stored.exit_code == 0, stored.output
    assert json.loads(stored.stdout) == json.loads(embedded.stdout)
    np.testing.assert_equal(len(json.loads(stored.stdout)["edges"]) > 0, True)


@pytest.mark.neo4j
def test_writeback_of_patterns(neo4j_empty_store: Any) -> None:
    from graphrisk.analysis.guarantees import patterns_frame, writeback_rows, writeback_rows_from_table
    from graphrisk.cli.guarantees import writeback_guarantee_patterns

    # Ring A → B → C → A: one revolving pattern and one circle, each with three members: six rows.
    t = Tables.from_frames(
        {
            "enterprises": pd.DataFrame({"id": list("ABC"), "name": list("甲乙丙")}),
            "guarantees": pd.DataFrame(
                {"guarantor_id": list("ABC"), "borrower_id": list("BCA"), "amount": [1.0, 2.0, 3.0]}
            ),
        }
    )
    neo4j_empty_store.load(t)
    analysis = guarantee_patterns(EnterpriseGraph(t), as_of=DAY)
    rows = writeback_rows(analysis)
    assert len(rows) == 6
    assert writeback_rows_from_table(patterns_frame(analysis.patterns)) == rows  # what the scan would send
    writeback_guarantee_patterns(neo4j_empty_store, rows, run_id="r1", as_of=DAY)
    writeback_guarantee_patterns(neo4j_empty_store, rows, run_id="r1", as_of=DAY)  # idempotent
    got = neo4j_empty_store.query("queries/guarantee_patterns_of.cypher", company="B", run_id="r1")
    assert [(r["pattern_id"], r["position"]) for r in got] == [("circle-00001", 1), ("revolving-00001", 1)]
    assert got[1]["guaranteed_amount"] == 6.0


def test_scan_finds_intra_group_guarantees_through_the_ownership_analysis() -> None:
    from graphrisk.scan import run_scan

    # P holds 80 % of A and 60 % of B, so P is the actual controller of both (majority chain); A guarantees B:
    # an intra-group guarantee. C is held by Q and guarantees B: not intra-group.
    t = Tables.from_frames(
        {
            "enterprises": pd.DataFrame({"id": list("ABC"), "name": ["甲", "乙", "丙"]}),
            "persons": pd.DataFrame({"id": ["P", "Q"], "name": ["张三", "李四"]}),
            "shareholdings": pd.DataFrame(
                {"holder_id": ["P", "P", "Q"], "company_id": ["A", "B", "C"], "share": [0.8, 0.6, 0.9]}
            ),
            "guarantees": pd.DataFrame(
                {"guarantor_id": ["A", "C"], "borrower_id": ["B", "B"], "amount": [100.0, 50.0]}
            ),
        }
    )
    result = run_scan(EnterpriseGraph(t), AnalysisContext(as_of=date(2026, 6, 30)), only=["ownership", "guarantees"])
    patterns = next(r for r in result.results if r.name == "guarantees").tables["guarantee_patterns"]
    intra = patterns[patterns["pattern"] == "intra_group"]
    assert intra["members"].tolist() == ["A;B"]
    assert "P" in intra["reason"].iloc[0]


def test_very_large_circles_flag_only_the_innermost_shell() -> None:
    from graphrisk.analysis.guarantees import guarantee_flags

    # Ring A → B → C → D → A (k-shell 2) with four tails E..H guaranteeing A (k-shell 1); the bank lends to E.
    ring = list("ABCD")
    tails = list("EFGH")
    t = Tables.from_frames(
        {
            "enterprises": pd.DataFrame({"id": ring + tails, "name": [f"企业{c}" for c in ring + tails]}),
            "guarantees": pd.DataFrame(
                {"guarantor_id": ring + tails, "borrower_id": ["B", "C", "D", "A"] + ["A"] * 4, "amount": [1.0] * 8}
            ),
            "exposures": pd.DataFrame({"borrower_id": ["E"], "ead": [100.0]}),
        }
    )
    analysis = guarantee_patterns(EnterpriseGraph(t), as_of=DAY)
    every = guarantee_flags(analysis, large_circle=5, flag_all_max=100)
    assert sorted(every.loc[every["flag"] == "in_large_circle", "entity_id"]) == sorted(ring + tails)
    few = guarantee_flags(analysis, large_circle=5, flag_all_max=5)
    flagged = few[few["flag"] == "in_large_circle"]
    assert sorted(flagged["entity_id"]) == ["A", "B", "C", "D"]  # E's loan does not make it part of the core
    assert "innermost k-shell (2)" in flagged["reason"].iloc[0]
    assert json.loads(flagged["evidence"].iloc[0])["members_flagged"] == 4
