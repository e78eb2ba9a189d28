"""Connected counterparties and large exposures: each grouping basis and each limit by hand, groups partition
their members, ids are deterministic, the scan writes the files, and the Neo4j write-back replaces a run."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphrisk.analysis import AnalysisContext, registered_analyses
from graphrisk.analysis.groups import (
    BASES,
    EXPOSURE_COLUMNS,
    GROUP_COLUMNS,
    counterparty_groups,
    counterparty_groups_analysis,
    group_ties,
    limit_breaches,
    screening_list,
    writeback_rows,
)
from graphrisk.cli.main import main
from graphrisk.config import Config
from graphrisk.graph import EnterpriseGraph
from graphrisk.tables import Tables
from loaders import load_tables

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "portfolio"
DAY = date(2026, 6, 30)


def graph(**frames: pd.DataFrame) -> EnterpriseGraph:
    return EnterpriseGraph(Tables.from_frames(dict(frames)))


def firms(ids: list[str], **columns: list[Any]) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "name": [f"企业{i}" for i in ids], **columns})


def members(groups: pd.DataFrame) -> list[list[str]]:
    """Member ids per group, in group-id order."""
    return [sorted(g["member_id"]) for _, g in groups.groupby("group_id", sort=True)]


def row(groups: pd.DataFrame, member: str) -> pd.Series:
    return groups.set_index("member_id").loc[member]


def context(**thresholds: float) -> AnalysisContext:
    return AnalysisContext(config=Config(thresholds=dict(thresholds)), as_of=DAY)


# ------------------------------------------------------------------------------------------------ control


def test_control_groups_firms_under_one_controller_and_a_controlling_firm_is_a_member() -> None:
    # P holds 60 % of A and 70 % of B; firm E holds 80 % of F; Q holds 40 % of C and R 35 % of C: no control.
    g = graph(
        enterprises=firms(["A", "B", "C", "E", "F"]),
        persons=pd.DataFrame({"id": ["P", "Q", "R"], "name": ["张三", "李四", "王五"]}),
        shareholdings=pd.DataFrame(
            {
                "holder_id": ["P", "P", "E", "Q", "R"],
                "company_id": ["A", "B", "F", "C", "C"],
                "share": [0.6, 0.7, 0.8, 0.4, 0.35],
            }
        ),
    )
    groups = counterparty_groups(g, as_of=DAY)
    assert list(groups.columns) == list(GROUP_COLUMNS)
    assert members(groups) == [["A", "B"], ["E", "F"]]
    assert set(groups["basis"]) == {"control"}
    assert row(groups, "A")["evidence"] == "controller P (person, majority_chain, 60.0%)"
    assert row(groups, "E")["evidence"] == "actual controller of F (enterprise, majority_chain, 80.0%)"
    assert row(groups, "F")["evidence"] == "controller E (enterprise, majority_chain, 80.0%)"


def test_controllers_table_from_the_ownership_analysis_is_used() -> None:
    g = graph(enterprises=firms(["A", "B", "C"]))
    controllers = pd.DataFrame({"company_id": ["A", "B", "C"], "controller_id": ["X", "X", None]})
    # X is not in the data: the rows cannot tie anything, and the note says so.
    ties = group_ties(g, controllers, as_of=DAY)
    assert ties.counts()["control"] == 0 and "not in the data" in ties.notes[0]
    controllers = pd.DataFrame({"company_id": ["A", "B", "C"], "controller_id": ["C", "C", None]})
    assert members(counterparty_groups(g, controllers, as_of=DAY)) == [["A", "B", "C"]]


def test_state_controller_does_not_group_unless_configured() -> None:
    # S (a 国资委) holds all of X and Y; X holds 60 % of Z. Under the sovereign treatment only X and Z are tied.
    g = graph(
        enterprises=pd.DataFrame(
            {"id": ["S", "X", "Y", "Z"], "name": ["某市国有资产监督管理委员会", "甲", "乙", "丙"]}
        ),
        shareholdings=pd.DataFrame(
            {"holder_id": ["S", "S", "X"], "company_id": ["X", "Y", "Z"], "share": [1.0, 1.0, 0.6]}
        ),
    )
    groups = counterparty_groups(g, as_of=DAY)
    assert members(groups) == [["X", "Z"]]
    assert row(groups, "Z")["evidence"].startswith("controlled through X (chain S>X>Z; state controller S")
    assert members(counterparty_groups(g, as_of=DAY, group_through_state=True)) == [["S", "X", "Y", "Z"]]
    result = counterparty_groups_analysis(g, context(lex_group_through_state=1.0))
    assert members(result.tables["groups"]) == [["S", "X", "Y", "Z"]]


# ---------------------------------------------------------------------------------------------- guarantee


def guarantee_graph(**guarantee_columns: list[Any]) -> EnterpriseGraph:
    return graph(
        enterprises=firms(list("ABCDEFGHIJ"), net_assets=[100.0, 1, 100.0, 1, -5.0, 1, None, 1, 100.0, 1]),
        guarantees=pd.DataFrame(guarantee_columns),
    )


def test_guarantee_large_against_the_guarantors_net_assets_ties() -> None:
    g = guarantee_graph(
        guarantor_id=["A", "C", "E", "G", "I", "I"],
        borrower_id=["B", "D", "F", "H", "J", "J"],
        amount=[50.0, 49.0, 1.0, 1e9, 30.0, 30.0],
        loan_id=["L1", "L2", "L3", "L4", "L5", "L6"],
    )
    ties = group_ties(g, as_of=DAY)
    groups = counterparty_groups(g, as_of=DAY, ties=ties)
    # A: 50 % exactly ties; C: 49 % does not; E has negative net assets; G has none (noted); I: 30 + 30 = 60 %.
    assert members(groups) == [["A", "B"], ["E", "F"], ["I", "J"]]
    assert set(groups["basis"]) == {"guarantee"}
    assert row(groups, "A")["evidence"] == "guarantees B 50 = 50.0% of its net assets 100"
    assert row(groups, "B")["evidence"] == "guaranteed by A 50 = 50.0% of the guarantor's net assets 100"
    assert row(groups, "E")["evidence"] == "guarantees F 1 with its net assets -5 (not positive)"
    assert row(groups, "I")["evidence"] == "guarantees J 60 = 60.0% of its net assets 100"
    assert any("no net assets" in n for n in ties.notes)
    stricter = counterparty_groups(g, as_of=DAY, guarantee_net_assets=0.55)
    assert members(stricter) == [["E", "F"], ["I", "J"]]


def test_a_guarantee_outside_its_dates_does_not_tie() -> None:
    g = guarantee_graph(
        guarantor_id=["A", "C", "I"],
        borrower_id=["B", "D", "J"],
        amount=[80.0, 80.0, 80.0],
        start_date=["2020-01-01", "2027-01-01", "2026-06-30"],
        end_date=["2026-06-29", None, "2026-06-30"],
    )
    # A's guarantee ended the day before, C's starts later; I's is in force on exactly the as-of day.
    assert members(counterparty_groups(g, as_of=DAY)) == [["I", "J"]]
    assert members(counterparty_groups(g, as_of=date(2026, 6, 1))) == [["A", "B"]]


# ------------------------------------------------------------------------------------------------- supply


def test_supply_dependence_on_either_side_ties_and_the_latest_year_counts() -> None:
    g = graph(
        enterprises=firms(list("ABCDEFGH")),
        supply_links=pd.DataFrame(
            {
                "supplier_id": ["A", "C", "E", "G", "G"],
                "customer_id": ["B", "D", "F", "H", "H"],
                "share_of_supplier_revenue": [0.5, 0.1, 0.49, 0.8, 0.2],
                "share_of_customer_purchases": [None, 0.6, 0.3, None, None],
                "year": [2025, 2025, 2025, 2024, 2025],
            }
        ),
    )
    groups = counterparty_groups(g, as_of=DAY)
    assert members(groups) == [["A", "B"], ["C", "D"]]
    assert row(groups, "A")["evidence"] == "customer B takes 50% of its revenue in 2025"
    assert row(groups, "B")["evidence"] == "takes 50% of supplier A's revenue in 2025"
    assert row(groups, "C")["evidence"] == "supplies 60% of customer D's purchases in 2025"
    assert row(groups, "D")["evidence"] == "supplier C provides 60% of its purchases in 2025"
    assert members(counterparty_groups(g, as_of=DAY, supply_share=0.55)) == [["C", "D"]]


# ----------------------------------------------------------------------------------- repayment and funding


def test_common_repayment_and_funding_sources_tie() -> None:
    g = graph(
        enterprises=firms(
            list("ABCDEFG"),
            main_repayment_source_id=[None, "A", "A", None, None, None, "NOWHERE"],
            main_funding_source_id=[None, None, None, "P", "P", "E", None],
        ),
        persons=pd.DataFrame({"id": ["P"], "name": ["张三"]}),
    )
    ties = group_ties(g, as_of=DAY)
    groups = counterparty_groups(g, ties=ties)
    # B and C repay from A (all three tied); D and E are funded by person P (not a member), F by E.
    assert members(groups) == [["A", "B", "C"], ["D", "E", "F"]]
    assert row(groups, "A")["basis"] == "repayment_source"
    assert row(groups, "A")["evidence"] == "main repayment source of B; main repayment source of C"
    assert row(groups, "D")["evidence"] == "main funding source P"
    # Ties are listed by basis, then by the other end (enterprises before persons).
    assert row(groups, "E")["evidence"] == "main funding source of F; main funding source P"
    assert row(groups, "F")["basis"] == "funding_source"
    assert ties.counts() == {
        "control": 0,
        "guarantee": 0,
        "supply": 0,
        "repayment_source": 2,
        "funding_source": 3,
    }
    assert any("1 main repayment source ids are not in the data" in n for n in ties.notes)


def test_loader_warns_about_an_unknown_source_and_keeps_the_firm(tmp_path: Path) -> None:
    (tmp_path / "enterprises.csv").write_text(
        "id,name,主要还款来源,主要资金来源\nA,甲,,\nB,乙,A,NOBODY\nC,丙,GONE,P\n", encoding="utf-8"
    )
    (tmp_path / "persons.csv").write_text("id,name\nP,张三\n", encoding="utf-8")
    tables = load_tables(tmp_path, pseudonym_key=b"k")
    assert tables.rejected_rows == 0
    warned = tables.warnings[["line", "column", "reason"]].values.tolist()
    assert sorted(warned) == [
        [3, "main_funding_source_id", "unknown_reference"],
        [4, "main_repayment_source_id", "unknown_reference"],
    ]
    ent = tables["enterprises"].set_index("id")
    assert pd.isna(ent.loc["C", "main_repayment_source_id"]) and ent.loc["C", "main_funding_source_id"] == "P"
    assert members(counterparty_groups(EnterpriseGraph(tables))) == [["A", "B"]]


def test_several_bases_are_joined_on_a_member() -> None:
    g = graph(
        enterprises=firms(["A", "B", "C"], net_assets=[10.0, 10.0, 10.0], main_funding_source_id=[None, None, "B"]),
        persons=pd.DataFrame({"id": ["P"], "name": ["张三"]}),
        shareholdings=pd.DataFrame({"holder_id": ["P", "P"], "company_id": ["A", "B"], "share": [0.9, 0.9]}),
        guarantees=pd.DataFrame({"guarantor_id": ["A"], "borrower_id": ["B"], "amount": [20.0]}),
    )
    groups = counterparty_groups(g, as_of=DAY)
    assert members(groups) == [["A", "B", "C"]]
    assert row(groups, "A")["basis"] == "control;guarantee"
    assert row(groups, "B")["basis"] == "control;guarantee;funding_source"
    assert row(groups, "B")["evidence"].split("; ") == [
        "controller P (person, majority_chain, 90.0%)",
        "guaranteed by A 20 = 200.0% of the guarantor's net assets 10",
        "main funding source of C",
    ]


def test_evidence_of_a_hub_is_capped() -> None:
    ids = [f"F{i:02d}" for i in range(9)]
    g = graph(enterprises=firms(["H", *ids], main_repayment_source_id=[None] + ["H"] * 9))
    hub = row(counterparty_groups(g), "H")["evidence"]
    assert hub.count("main repayment source of") == 5 and hub.endswith("… and 4 more ties")


# ---------------------------------------------------------------------------------- partition, determinism


def test_groups_partition_their_members_on_the_example_portfolio() -> None:
    from graphrisk.cli.data import load_graph

    g, _config = load_graph(EXAMPLE)
    ties = group_ties(g, as_of=DAY)
    groups = counterparty_groups(g, ties=ties)
    assert groups["member_id"].is_unique  # every member in exactly one group
    sizes = groups.groupby("group_id").size()
    assert (sizes >= 2).all()
    assert list(sizes.index) == [f"CG-{i:06d}" for i in range(1, len(sizes) + 1)]
    # The groups are exactly the components (two or more firms) of the tie graph.
    tie_frame = ties.to_frame()
    nxg = nx.Graph()
    nxg.add_edges_from(zip(tie_frame["a_id"], tie_frame["b_id"], strict=True))
    enterprises = set(g.enterprises["id"])
    expected = sorted(
        sorted(c & enterprises) for c in map(set, nx.connected_components(nxg)) if len(c & enterprises) >= 2
    )
    assert sorted(members(groups)) == expected
    # Every member's basis names only known bases, and every member has evidence.
    assert set(groups["basis"].str.split(";").explode()) <= set(BASES)
    assert (groups["evidence"].str.len() > 0).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 12),
    edges=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11), st.sampled_from([0.1, 0.5, 0.9])), max_size=25),
    sources=st.lists(st.one_of(st.none(), st.integers(0, 11)), min_size=12, max_size=12),
)
def test_groups_are_the_components_of_the_ties(
    n: int, edges: list[tuple[int, int, float]], sources: list[int | None]
) -> None:
    ids = [f"E{i:02d}" for i in range(n)]
    links = [(ids[a], ids[b], s) for a, b, s in edges if a < n and b < n and a != b]
    links = list({(a, b): (a, b, s) for a, b, s in links}.values())
    src = [None if s is None or s >= n else ids[s] for s in sources[:n]]
    g = graph(
        enterprises=firms(ids, main_repayment_source_id=src),
        supply_links=pd.DataFrame(
            {
                "supplier_id": [a for a, _, _ in links],
                "customer_id": [b for _, b, _ in links],
                "share_of_supplier_revenue": [s for _, _, s in links],
            }
        ),
    )
    groups = counterparty_groups(g, as_of=DAY)
    nxg = nx.Graph()
    nxg.add_nodes_from(ids)
    nxg.add_edges_from((a, b) for a, b, s in links if s >= 0.5)
    nxg.add_edges_from((i, s) for i, s in zip(ids, src, strict=True) if s is not None and s != i)
    expected = sorted(sorted(c) for c in nx.connected_components(nxg) if len(c) >= 2)
    assert groups["member_id"].is_unique
    assert sorted(members(groups)) == expected


def test_group_ids_follow_ead_then_the_smallest_member_and_survive_reordering() -> None:
    frames = {
        "enterprises": firms(list("ABCDEFGH"), main_repayment_source_id=["B", None, "D", None, "F", None, "H", None]),
        "exposures": pd.DataFrame({"borrower_id": ["A", "C", "E", "G"], "ead": [10.0, 20.0, 20.0, 5.0]}),
        "persons": pd.DataFrame({"id": ["P"], "name": ["张三"]}),
        "shareholdings": pd.DataFrame({"holder_id": ["P", "P"], "company_id": ["G", "H"], "share": [0.6, 0.6]}),
    }
    groups = counterparty_groups(EnterpriseGraph(Tables.from_frames(frames)), as_of=DAY)
    # C-D and E-F tie at 20 (C is the smaller member), then A-B at 10, then G-H at 5.
    first = groups.drop_duplicates("group_id").set_index("group_id")["member_id"].to_dict()
    assert first == {"CG-000001": "C", "CG-000002": "E", "CG-000003": "A", "CG-000004": "G"}
    rng = np.random.default_rng(7)
    shuffled = {k: v.iloc[rng.permutation(len(v))].reset_index(drop=True) for k, v in frames.items()}
    again = counterparty_groups(EnterpriseGraph(Tables.from_frames(shuffled)), as_of=DAY)
    pd.testing.assert_frame_equal(groups, again)


def test_the_example_analysis_is_identical_on_reordered_input() -> None:
    tables = load_tables(EXAMPLE, pseudonym_key=b"k")
    rng = np.random.default_rng(3)
    shuffled = Tables.from_frames(
        {k: v.iloc[rng.permutation(len(v))].reset_index(drop=True) for k, v in tables.frames.items()}
    )
    ctx = context(tier1_capital=2e9)
    a = counterparty_groups_analysis(EnterpriseGraph(tables), ctx)
    b = counterparty_groups_analysis(EnterpriseGraph(shuffled), context(tier1_capital=2e9))
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    pd.testing.assert_frame_equal(a.flags, b.flags)


def test_id_lookup_hashes_the_smaller_side_with_the_same_answer() -> None:
    from graphrisk.analysis.groups import _positions

    hay = pd.Series([f"F{i:03d}" for i in range(200)], dtype="str")
    few = pd.Series(["F007", "NOPE", "F199", "F007"], dtype="str")
    many = pd.Series([f"F{i:03d}" for i in range(150, 250)], dtype="str")
    assert _positions(few, hay).tolist() == [7, -1, 199, 7]  # few needles: the needles are hashed
    expected = [i if i < 200 else -1 for i in range(150, 250)]
    assert _positions(many, hay).tolist() == expected  # many needles: the ids are hashed


# ------------------------------------------------------------------------------------------------- limits


def limits_graph() -> EnterpriseGraph:
    """Tier 1 = 100. Groups (control): G1 = A1 10 + A2 11 = 21; G2 = B1 9 + B2 10 = 19; G3 = C1 16 + C2 0.
    Single clients in no group: S26, S16, S15, S14, S11, S6, S4 (EAD = the number)."""
    singles = ["S26", "S16", "S15", "S14", "S11", "S6", "S4"]
    grouped = ["A1", "A2", "B1", "B2", "C1", "C2"]
    return graph(
        enterprises=firms(grouped + singles),
        persons=pd.DataFrame({"id": ["P", "Q", "R"], "name": ["张三", "李四", "王五"]}),
        shareholdings=pd.DataFrame(
            {"holder_id": ["P", "P", "Q", "Q", "R", "R"], "company_id": grouped, "share": [0.9] * 6}
        ),
        exposures=pd.DataFrame(
            {
                "borrower_id": ["A1", "A2", "B1", "B2", "C1", *singles],
                "ead": [10.0, 11.0, 9.0, 10.0, 16.0, 26.0, 16.0, 15.0, 14.0, 11.0, 6.0, 4.0],
            }
        ),
    )


def test_limits_breaches_near_breaches_and_large_exposures() -> None:
    result = counterparty_groups_analysis(limits_graph(), context(tier1_capital=100.0))
    exposures = result.tables["group_exposures"]
    assert list(exposures.columns) == list(EXPOSURE_COLUMNS)
    status = exposures.set_index("counterparty_id")["limit_status"].to_dict()
    assert status["CG-000001"] == "breach"  # 21 % > CBIRC group 20 %
    assert status["CG-000002"] == "near_breach"  # 19 % ≥ 90 % of 20 %
    assert status["CG-000003"] == "within"  # 16 %: below 18 % and 22.5 %
    assert status["C1"] == "breach"  # a member's own 16 % > single-client 15 %
    assert status["S15"] == "near_breach"  # exactly at the limit is not over it
    assert status["S4"] == "within"
    row_g1 = exposures.set_index("counterparty_id").loc["CG-000001"]
    assert row_g1["limits"] == "lex_basel_limit 25%: within; cbirc_group_limit 20%: breach"
    assert row_g1["members"] == 2 and row_g1["ead"] == 21.0 and row_g1["name"] == "企业A2等2户"
    assert row_g1["limit_use"] == pytest.approx(1.05)
    assert exposures.set_index("counterparty_id").loc["C1", "limits"] == "cbirc_single_limit 15%: breach"
    flags = result.flags.set_index("entity_id")
    assert flags["flag"].to_dict() == {
        "C1": "limit_breach",
        "CG-000001": "limit_breach",
        "CG-000002": "limit_near_breach",
        "S14": "limit_near_breach",
        "S15": "limit_near_breach",
        "S16": "limit_breach",
        "S26": "limit_breach",
        "CG-000003": "large_exposure",
        "S11": "large_exposure",
    }
    assert flags["severity"].to_dict()["S26"] == "high" and flags.loc["S14", "severity"] == "medium"
    assert flags.loc["S11", "severity"] == "low"
    reason = flags.loc["S26", "reason"]
    assert "26.0% of Tier 1 capital 100" in reason and "lex_basel_limit" in reason and "cbirc_single_limit" in reason
    assert "Basel LEX20.1" in reason and "Art. 7" in reason
    assert "member of CG-000003" in flags.loc["C1", "reason"]
    near = flags.loc["CG-000002", "reason"]
    assert "95% of the 20% limit cbirc_group_limit" in near and "lex_near_breach" in near
    evidence = json.loads(flags.loc["CG-000001", "evidence"])
    assert evidence["members_total"] == 2 and evidence["ratio_to_tier1"] == pytest.approx(0.21)
    assert [(m["id"], m["ead"]) for m in evidence["members"]] == [("A2", 11.0), ("A1", 10.0)]
    breaches = result.tables["limit_breaches"]
    assert breaches[breaches["counterparty_id"] == "S26"]["limit_name"].tolist() == [
        "cbirc_single_limit",
        "lex_basel_limit",
    ]
    assert set(breaches["status"]) == {"breach", "near_breach"}
    summary = result.summary
    assert summary["breaches"] == 4 and summary["near_breaches"] == 3
    assert summary["large_exposures"] == 8  # 3 groups and 5 single clients in no group of at least 10 %
    assert summary["tier1_configured"] and summary["tier1_capital"] == 100.0


def test_screening_list_of_clients_above_five_percent() -> None:
    result = counterparty_groups_analysis(limits_graph(), context(tier1_capital=100.0))
    screen = result.tables["lex_screening"].set_index("firm_id")
    # 4 % stays off; 6 % is on (in no group: to assess); members are on with their group.
    assert "S4" not in screen.index and not screen.loc["S6", "in_group"]
    assert "assess economic interdependence" in screen.loc["S6", "assessment"]
    assert screen.loc["A2", "group_id"] == "CG-000001" and screen.loc["A2", "basis"] == "control"
    assert len(screen) == 11 and result.summary["screening_not_in_group"] == 6
    assert len(screening_list(result.tables["group_exposures"], result.tables["groups"], 100.0, screening=0.15)) == 3


def test_thresholds_change_the_limits() -> None:
    result = counterparty_groups_analysis(
        limits_graph(), context(tier1_capital=100.0, cbirc_group_limit=0.25, lex_near_breach=0.99)
    )
    status = result.tables["group_exposures"].set_index("counterparty_id")["limit_status"]
    assert status["CG-000001"] == "within" and status["CG-000002"] == "within"


def test_without_tier1_capital_nothing_is_assessed_and_the_report_says_so() -> None:
    result = counterparty_groups_analysis(limits_graph(), context())
    exposures = result.tables["group_exposures"]
    assert exposures["ratio_to_tier1"].isna().all() and exposures["large_exposure"].isna().all()
    assert set(exposures["limit_status"]) == {"not_assessed"}
    assert (
        exposures.set_index("counterparty_id").loc["CG-000001", "limits"]
        == "lex_basel_limit 25%; cbirc_group_limit 20%"
    )
    assert result.flags.empty and result.tables["limit_breaches"].empty and result.tables["lex_screening"].empty
    assert not result.summary["tier1_configured"] and result.summary["tier1_capital"] is None
    assert result.summary["large_exposures"] is None
    assert "Tier 1 capital is not configured" in result.summary["notes"][0]
    assert result.section is not None and any("tier1_capital = 0" in p for p in result.section.paragraphs)
    assert members(result.tables["groups"]) == [["A1", "A2"], ["B1", "B2"], ["C1", "C2"]]


def test_single_clients_in_no_group_are_exposures_but_not_group_members() -> None:
    result = counterparty_groups_analysis(limits_graph(), context(tier1_capital=100.0))
    exposures = result.tables["group_exposures"]
    singles = exposures[exposures["kind"] == "single"]
    assert set(singles.loc[singles["group_id"].isna(), "counterparty_id"]) == {
        "S26",
        "S16",
        "S15",
        "S14",
        "S11",
        "S6",
        "S4",
    }
    assert not set(result.tables["groups"]["member_id"]) & {"S26", "S4"}
    # Groups without any exposure are not counterparties; C2 (no EAD) appears only through its group.
    assert "C2" not in set(exposures["counterparty_id"])
    assert exposures["ead"].is_monotonic_decreasing


def test_limit_breaches_is_empty_without_capital() -> None:
    e = pd.DataFrame({"counterparty_id": ["A"], "kind": ["single"], "members": [1], "group_id": [None],
                      "ead": [50.0], "ratio_to_tier1": [0.5]})  # fmt: skip
    assert limit_breaches(e, 0.0).empty
    assert limit_breaches(e, 100.0)["status"].tolist() == ["breach", "breach"]


# ---------------------------------------------------------------------------------------- scan and registry


def test_registered_after_the_analyses_it_uses_with_documented_thresholds() -> None:
    analysis = {a.name: a for a in registered_analyses()}["counterparty_groups"]
    assert analysis.order == 60
    assert analysis.title == "Connected counterparties and large exposures (关联客户 · 大额风险暴露)"
    order = {a.name: a.order for a in registered_analyses()}
    assert order["ownership"] < order["guarantees"] < order["counterparty_groups"]
    thresholds = {t["name"]: t for t in Config().effective()}
    assert thresholds["tier1_capital"]["value"] == 0.0
    assert thresholds["lex_basel_limit"]["value"] == 0.25 and "LEX20.1" in thresholds["lex_basel_limit"]["source"]
    assert "Art. 7" in thresholds["cbirc_single_limit"]["source"]
    assert "Art. 8" in thresholds["cbirc_group_limit"]["source"]
    for name in ("lex_large_exposure", "lex_near_breach", "lex_screening", "lex_guarantee_net_assets",
                 "lex_supply_share", "lex_group_through_state"):  # fmt: skip
        assert thresholds[name]["meaning"] and thresholds[name]["source"]


def test_writeback_rows_and_statements() -> None:
    result = counterparty_groups_analysis(limits_graph(), context(tier1_capital=100.0))
    (stmt, rows), (stale, placeholder) = result.writeback
    assert stmt == "writeback/counterparty_groups.cypher" and stale == "writeback/counterparty_groups_stale.cypher"
    assert placeholder == [{"run": True}]
    assert rows == writeback_rows(result.tables["groups"], result.tables["group_exposures"])
    first = rows[0]
    assert first == {
        "group_id": "CG-000001",
        "member_id": "A1",
        "basis": "control",
        "evidence": "controller P (person, majority_chain, 90.0%)",
        "ead": 21.0,
        "members": 2,
        "ratio_to_tier1": 0.21,
        "limit_status": "breach",
        "large_exposure": True,
    }
    for name in (stmt, stale):
        text = (ROOT / "cypher" / name).read_text(encoding="utf-8")
        assert "CounterpartyGroup" in text and "MEMBER_OF_GROUP" in text and "$run_id" in text


def test_the_scan_writes_groups_exposures_breaches_and_screening(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for f in EXAMPLE.glob("*.csv"):
        shutil.copy(f, data / f.name)
    (data / "graphrisk.toml").write_text("[thresholds]\ntier1_capital = 5.0e9\n", encoding="utf-8")
    out = tmp_path / "report"
    r = CliRunner().invoke(main, ["scan", str(data), "--out", str(out), "--as-of", DAY.isoformat()])
    assert r.exit_code == 0, r.output
    groups = pd.read_csv(out / "groups.csv", encoding="utf-8-sig", dtype=str)
    assert list(groups.columns) == list(GROUP_COLUMNS) and groups["member_id"].is_unique and len(groups) > 0
    exposures = pd.read_csv(out / "group_exposures.csv", encoding="utf-8-sig")
    assert list(exposures.columns) == list(EXPOSURE_COLUMNS) and set(exposures["kind"]) == {"group", "single"}
    breaches = pd.read_csv(out / "limit_breaches.csv", encoding="utf-8-sig")
    assert set(breaches["status"]) <= {"breach", "near_breach"} and len(breaches) > 0
    assert (out / "lex_screening.csv").exists()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    mine = summary["analyses"]["counterparty_groups"]
    assert mine["tier1_capital"] == 5e9 and mine["groups"] == groups["group_id"].nunique()
    flags = pd.read_csv(out / "flags.csv", encoding="utf-8-sig")
    ours = flags[flags["analysis"] == "counterparty_groups"]
    assert set(ours["flag"]) <= {"limit_breach", "limit_near_breach", "large_exposure"} and len(ours) > 0
    assert mine["breaches"] == int((ours["flag"] == "limit_breach").sum())
    assert "关联客户 · 大额风险暴露" in (out / "report.html").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------------------------- Neo4j


def _stored_groups(store: Any) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """group_id → (run_id, sorted (member, run_id) pairs), read with the store's driver."""
    with store._session() as session:
        records = session.run(
            "MATCH (g:CounterpartyGroup) OPTIONAL MATCH (e:Enterprise)-[m:MEMBER_OF_GROUP]->(g) "
            "RETURN g.group_id AS group_id, g.run_id AS run_id, g.algorithm AS algorithm, "
            "collect([e.id, m.run_id]) AS members"
        ).data()
    return {
        r["group_id"]: (r["run_id"], sorted((m[0], m[1]) for m in r["members"] if m[0] is not None)) for r in records
    }


@pytest.mark.neo4j
def test_writeback_to_neo4j_replaces_the_previous_run(neo4j_empty_store: Any) -> None:
    store = neo4j_empty_store
    first = graph(
        enterprises=firms(list("ABCDE"), main_repayment_source_id=[None, "A", None, "C", None]),
        exposures=pd.DataFrame({"borrower_id": ["B", "D"], "ead": [30.0, 10.0]}),
    )
    store.load(first.tables)
    result = counterparty_groups_analysis(first, context(tier1_capital=100.0))
    for statement, rows in result.writeback:
        store.write(statement, rows, params={"run_id": "r1", "algorithm": "counterparty_groups"})
    for statement, rows in result.writeback:  # a second write of the same run changes nothing
        store.write(statement, rows, params={"run_id": "r1", "algorithm": "counterparty_groups"})
    assert _stored_groups(store) == {
        "CG-000001": ("r1", [("A", "r1"), ("B", "r1")]),
        "CG-000002": ("r1", [("C", "r1"), ("D", "r1")]),
    }
    with store._session() as session:
        g1 = session.run(
            "MATCH (g:CounterpartyGroup {group_id: 'CG-000001'}) RETURN g.ead AS ead, g.members AS members, "
            "g.ratio_to_tier1 AS ratio, g.limit_status AS status, g.algorithm AS algorithm"
        ).single()
        basis = session.run(
            "MATCH (:Enterprise {id: 'B'})-[m:MEMBER_OF_GROUP]->() RETURN m.basis AS basis, m.evidence AS evidence"
        ).single()
    assert g1 is not None and basis is not None
    assert (g1["ead"], g1["members"], g1["ratio"], g1["status"]) == (30.0, 2, 0.3, "breach")
    assert g1["algorithm"] == "counterparty_groups"
    assert (basis["basis"], basis["evidence"]) == ("repayment_source", "main repayment source A")

    # The next run ties C and E instead; A-B and C-D are gone. CG-000001 is reused for the new group.
    second = graph(enterprises=firms(list("ABCDE"), main_repayment_source_id=[None, None, None, None, "C"]))
    result = counterparty_groups_analysis(second, context(tier1_capital=100.0))
    for statement, rows in result.writeback:
        store.write(statement, rows, params={"run_id": "r2", "algorithm": "counterparty_groups"})
    assert _stored_groups(store) == {"CG-000001": ("r2", [("C", "r2"), ("E", "r2")])}
    # The firms themselves are untouched.
    with store._session() as session:
        count = session.run("MATCH (e:Enterprise) RETURN count(e) AS n").single()
    assert count is not None and count["n"] == 5
