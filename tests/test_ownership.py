"""Ownership penetration, control, actual controllers and beneficial owners: hand-worked cases, invariants, CLI,
and embedded-vs-Neo4j parity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphrisk.analysis import AnalysisContext
from graphrisk.analysis.ownership import (
    actual_controllers,
    beneficial_owners,
    closed_cycles,
    control_closure,
    corporate_groups,
    cross_holdings,
    integrated_shares_of,
    owners_of,
    ownership,
    simple_paths_to,
    ultimate_shares,
)
from graphrisk.cli.main import main
from graphrisk.graph import EnterpriseGraph
from graphrisk.synth import generate_portfolio, portfolio_files
from graphrisk.tables import Tables
from loaders import load_tables

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "portfolio"


def make_graph(
    holdings: list[tuple[str, str, float]] | list[tuple],
    *,
    persons: tuple[str, ...] = (),
    names: dict[str, str] | None = None,
    state_owned: tuple[str, ...] = (),
    officers: list[tuple[str, str, str]] | None = None,
) -> EnterpriseGraph:
    """A graph from (holder, company, share[, voting, min, max]) rows; ids in ``persons`` are natural persons."""
    ids = sorted({h[0] for h in holdings} | {h[1] for h in holdings} | set(persons) | set(state_owned))
    ent = [i for i in ids if i not in persons]
    cols = ["holder_id", "company_id", "share", "voting_share", "share_min", "share_max"]
    rows = [tuple(h) + (None,) * (6 - len(h)) for h in holdings]
    frames = {
        "enterprises": pd.DataFrame(
            {
                "id": ent,
                "name": [(names or {}).get(i, f"firm {i}") for i in ent],
                "state_owned": [i in state_owned for i in ent],
            }
        ),
        "persons": pd.DataFrame({"id": list(persons), "name": [f"person {p}" for p in persons]}),
        "shareholdings": pd.DataFrame(rows, columns=cols).astype(
            {c: "float64" for c in ["share", "voting_share", "share_min", "share_max"]}
        ),
    }
    if officers:
        frames["officers"] = pd.DataFrame(officers, columns=["person_id", "company_id", "role"])
    return EnterpriseGraph(Tables.from_frames(frames))


def u(g: EnterpriseGraph, holder: str, company: str) -> float:
    return float(ultimate_shares(g)[g.node(holder), g.node(company)])


def controller_of(g: EnterpriseGraph, company: str, **kw: float) -> dict:
    c = actual_controllers(g, **kw).set_index("company_id")
    return c.loc[company].to_dict()


# --------------------------------------------------------------------------------------- hand-worked cases


def test_chain() -> None:
    # P 80 % A, A 60 % B, B 70 % C: ultimate P in C = 0.8 · 0.6 · 0.7 = 0.336; majority at every layer.
    g = make_graph([("P", "A", 0.8), ("A", "B", 0.6), ("B", "C", 0.7)], persons=("P",))
    assert u(g, "P", "C") == pytest.approx(0.336)
    c = controller_of(g, "C")
    assert (c["controller_id"], c["rule"], c["path"]) == ("P", "majority_chain", "P>A>B>C")
    closure = control_closure(g)
    assert set(zip(closure["controller_id"], closure["company_id"], strict=True)) == {
        ("P", "A"),
        ("P", "B"),
        ("P", "C"),
        ("A", "B"),
        ("A", "C"),
        ("B", "C"),
    }
    paths, _ = simple_paths_to(g, "C")
    assert paths[-1] == (("P", "A", "B", "C"), pytest.approx(0.336))


def test_diamond() -> None:
    # P holds 100 % of A and of B; A 30 % and B 25 % of C. Ultimate P in C = 0.55, and by the group rule
    # P controls C (0.30 + 0.25 > 0.5) although neither A nor B does.
    g = make_graph([("P", "A", 1.0), ("P", "B", 1.0), ("A", "C", 0.3), ("B", "C", 0.25)], persons=("P",))
    assert u(g, "P", "C") == pytest.approx(0.55)
    closure = control_closure(g)
    pairs = set(zip(closure["controller_id"], closure["company_id"], strict=True))
    assert ("P", "C") in pairs and ("A", "C") not in pairs and ("B", "C") not in pairs
    assert closure.set_index(["controller_id", "company_id"]).loc[("P", "C"), "control_share"] == pytest.approx(0.55)
    integrated, _ = integrated_shares_of(g, "C")
    assert integrated["P"] == pytest.approx(0.55)


def test_pyramid_control_with_small_equity() -> None:
    # Pyramid: P 51 % A, A 51 % B, B 51 % C: P controls C with only 0.51³ ≈ 0.1327 of its equity.
    g = make_graph([("P", "A", 0.51), ("A", "B", 0.51), ("B", "C", 0.51), ("Q", "C", 0.49)], persons=("P", "Q"))
    assert u(g, "P", "C") == pytest.approx(0.51**3)
    assert controller_of(g, "C")["controller_id"] == "P"
    # cn-2024: P is below 25 % of C by ownership, Q holds 49 % → Q is the only ownership beneficial owner.
    bo = beneficial_owners(g, "cn-2024")
    assert bo[bo["company_id"] == "C"]["person_id"].tolist() == ["Q"]
    # uk-psc look-through: P holds a majority of A, A of B → B's whole 51 % is P's: P is a PSC of C.
    uk = beneficial_owners(g, "uk-psc")
    assert sorted(uk[uk["company_id"] == "C"]["person_id"]) == ["P", "Q"]
    assert uk.set_index(["company_id", "person_id"]).loc[("C", "P"), "share"] == pytest.approx(0.51)


def test_cross_holding() -> None:
    # A and B hold 20 % of each other; P holds 80 % of A, Q 80 % of B.
    # Ultimate: U_A = P·0.8 + U_B·0.2 and U_B = Q·0.8 + U_A·0.2 ⇒ P owns 0.8/(1−0.04) = 0.8333 of A,
    # Q owns 0.16/0.96 = 0.1667 of A; the column sums to 1.
    g = make_graph([("P", "A", 0.8), ("Q", "B", 0.8), ("A", "B", 0.2), ("B", "A", 0.2)], persons=("P", "Q"))
    assert u(g, "P", "A") == pytest.approx(0.8 / 0.96)
    assert u(g, "Q", "A") == pytest.approx(0.16 / 0.96)
    x = cross_holdings(g)
    assert x["members"].tolist() == ["A;B"] and not x["closed"].iloc[0]
    # self-ownership of A through the cycle: 0.2·0.2 + 0.2⁴ + … = 0.04/0.96
    assert float(x["self_ownership"].iloc[0].split(";")[0]) == pytest.approx(0.04 / 0.96, abs=1e-4)


def test_mutual_100_percent_cycle_terminates_with_a_note() -> None:
    # A owns all of B, B owns all of A: I − W is singular. Everything must terminate and say why.
    g = make_graph([("A", "B", 1.0), ("B", "A", 1.0), ("B", "C", 0.6)])
    assert [c.members for c in closed_cycles(g)] == [("A", "B")]
    integrated, notes = integrated_shares_of(g, "A")
    assert np.isnan(integrated["B"]) and "closed 100 % ownership cycle" in notes[0]
    rows, notes = owners_of(g, "A")
    assert any("closed ownership cycle" in n for n in notes)
    assert all(r["holder_id"] != "A" for r in rows)
    c = actual_controllers(g).set_index("company_id")
    assert c.loc["A", "rule"] == "control_cycle" and c.loc["A", "controller_kind"] == "none"
    x = cross_holdings(g)
    assert bool(x["closed"].iloc[0])
    # C's 60 % holder B sits in the closed cycle: B is its own ultimate holder, C's remainder unidentified.
    assert u(g, "B", "C") == pytest.approx(0.6)


def test_dispersed_ownership_has_no_controller() -> None:
    # Ten holders of 10 % each: no majority, nobody ≥ 30 % → 无实际控制人.
    persons = tuple(f"P{i}" for i in range(10))
    g = make_graph([(p, "A", 0.1) for p in persons], persons=persons)
    c = controller_of(g, "A")
    assert c["rule"] == "none" and c["controller_kind"] == "none"
    result = ownership(g, AnalysisContext())
    assert "no_identifiable_controller" in set(result.flags["flag"])


def test_relative_control_needs_the_lead() -> None:
    g = make_graph([("P", "A", 0.32), ("Q", "A", 0.25)], persons=("P", "Q"))
    assert controller_of(g, "A", relative_lead=0.05)["rule"] == "relative_control"
    assert controller_of(g, "A", relative_lead=0.10)["rule"] == "none"  # lead 0.07 < 0.10


def test_state_root() -> None:
    # 某市国资委 holds 100 % of a holding company that holds 55 % of an operating company: state control.
    g = make_graph([("S", "H", 1.0), ("H", "O", 0.55), ("P", "O", 0.45)], persons=("P",), names={"S": "某市国资委"})
    c = controller_of(g, "O")
    assert (c["controller_id"], c["controller_kind"]) == ("S", "state")
    # An enterprise flagged state_owned with no holders is a state body too.
    g2 = make_graph([("T", "X", 0.7)], state_owned=("T",))
    assert controller_of(g2, "X")["controller_kind"] == "state"
    assert controller_of(g2, "T")["rule"] == "state_body"
    groups = corporate_groups(actual_controllers(g))
    assert groups[["head_id", "head_kind", "members"]].values.tolist() == [["S", "state", "H;O"]]


def test_voting_share_decides_control() -> None:
    # P holds 40 % of equity but 60 % of votes: P controls A; Q has 60 % of equity but 40 % of votes.
    g = make_graph([("P", "A", 0.4, 0.6), ("Q", "A", 0.6, 0.4)], persons=("P", "Q"))
    assert controller_of(g, "A")["controller_id"] == "P"


def test_interval_shares_give_possible() -> None:
    # P holds between 20 % and 40 % (share 0.2 = the known minimum): cn-2024 → "possible".
    g = make_graph([("P", "A", 0.2, None, 0.2, 0.4), ("Q", "A", 0.3)], persons=("P", "Q"))
    bo = beneficial_owners(g, "cn-2024").set_index("person_id")
    assert bo.loc["P", "beneficial_owner"] == "possible"
    assert bo.loc["Q", "beneficial_owner"] == "yes"
    # Through a chain the bounds multiply: P [0.5, 1.0] of H, H 40 % of A → [0.2, 0.4].
    g2 = make_graph([("P", "H", 0.5, None, 0.5, 1.0), ("H", "A", 0.4)], persons=("P",))
    bo2 = beneficial_owners(g2, "eu-amlr").set_index(["company_id", "person_id"])
    assert bo2.loc[("A", "P"), "share_min"] == pytest.approx(0.2)
    assert bo2.loc[("A", "P"), "share_max"] == pytest.approx(0.4)
    assert bo2.loc[("A", "P"), "beneficial_owner"] == "possible"


@pytest.mark.parametrize(
    ("profile", "expected"),
    [("cn-2024", "yes"), ("cn-2017", None), ("eu-amlr", "yes"), ("uk-psc", None)],
)
def test_25_percent_boundary(profile: str, expected: str | None) -> None:
    # Exactly 25 %: "≥ 25 %" profiles (cn-2024, eu-amlr) say yes; "> 25 %" (cn-2017, uk-psc) do not.
    g = make_graph([("P", "A", 0.25), ("Q", "A", 0.2)], persons=("P", "Q"))
    bo = beneficial_owners(g, profile)
    ownership_rows = bo[bo["basis"].str.startswith("ownership")]
    got = ownership_rows.set_index("person_id")["beneficial_owner"].get("P")
    assert got == expected


def test_25_percent_boundary_through_a_chain() -> None:
    # P 50 % of H, H 50 % of A: ultimate 0.25 exactly (floating point must not break the boundary).
    g = make_graph([("P", "H", 0.5), ("H", "A", 0.5)], persons=("P",))
    assert "P" in set(beneficial_owners(g, "cn-2024").query("company_id == 'A'")["person_id"])
    cn17 = beneficial_owners(g, "cn-2017").query("company_id == 'A' and basis == 'ownership'")
    assert cn17.empty


def test_uk_psc_look_through_versus_product() -> None:
    # P holds 60 % of H, H holds 30 % of A. Multiply: 0.18 (< 25 %, no BO under eu-amlr). UK look-through: P
    # holds a majority of H, so H's whole 30 % counts as P's: P is a PSC of A (> 25 %).
    g = make_graph([("P", "H", 0.6), ("H", "A", 0.3), ("Q", "H", 0.4)], persons=("P", "Q"))
    eu = beneficial_owners(g, "eu-amlr").query("company_id == 'A' and basis == 'ownership'")
    assert eu.empty
    uk = beneficial_owners(g, "uk-psc").query("company_id == 'A'")
    assert uk["person_id"].tolist() == ["P"] and uk["share"].iloc[0] == pytest.approx(0.3)
    # Q (40 % of H, no majority) gets nothing of A under the look-through.
    assert "Q" not in set(uk["person_id"])


def test_fallback_to_controller_and_senior_manager() -> None:
    # Dispersed: nobody ≥ 25 %, nobody controls → the legal representative is the beneficial owner (cn-2024).
    persons = ("P1", "P2", "P3", "P4", "M")
    g = make_graph(
        [(p, "A", 0.2) for p in persons[:4]],
        persons=persons,
        officers=[("M", "A", "legal_representative")],
    )
    bo = beneficial_owners(g, "cn-2024")
    assert bo[["person_id", "basis"]].values.tolist() == [["M", "senior_manager:legal_representative"]]
    assert beneficial_owners(g, "uk-psc").empty  # the PSC register has no senior-manager fallback


def test_owners_json_shape() -> None:
    g = make_graph([("P", "A", 0.6), ("A", "B", 0.5), ("P", "B", 0.2)], persons=("P",))
    rows, notes = owners_of(g, "B")
    by = {r["holder_id"]: r for r in rows}
    assert by["P"]["ultimate_share"] == pytest.approx(0.5)  # 0.2 + 0.6 · 0.5
    assert by["P"]["simple_path_share"] == pytest.approx(0.5)
    assert by["P"]["beneficial_owner"] is True
    assert by["A"]["ultimate_share"] is None and by["A"]["holder_kind"] == "enterprise"
    assert sorted(len(p) for p in by["P"]["paths"]) == [1, 2]
    assert {"from": "P", "to": "A", "share": 0.6} in [h for p in by["P"]["paths"] for h in p]
    assert notes[0] == "unidentified (ultimate convention): 0.5"


# ----------------------------------------------------------------------------------------- properties


@st.composite
def random_holdings(draw: st.DrawFn) -> tuple[list[tuple[str, str, float]], tuple[str, ...]]:
    n_ent = draw(st.integers(2, 7))
    n_per = draw(st.integers(0, 3))
    ents = [f"E{i}" for i in range(n_ent)]
    pers = tuple(f"P{i}" for i in range(n_per))
    rows: dict[tuple[str, str], float] = {}
    for company in ents:
        holders = draw(st.lists(st.sampled_from([*ents, *pers]), max_size=4, unique=True))
        holders = [h for h in holders if h != company]
        if not holders:
            continue
        weights = draw(st.lists(st.floats(0.01, 1.0), min_size=len(holders), max_size=len(holders)))
        total = draw(st.floats(0.1, 1.0))
        scale = total / sum(weights)
        for h, wgt in zip(holders, weights, strict=True):
            rows[(h, company)] = round(wgt * scale, 6)
    return [(h, c, s) for (h, c), s in rows.items()], pers


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_holdings())
def test_properties(data: tuple[list[tuple[str, str, float]], tuple[str, ...]]) -> None:
    holdings, persons = data
    if not holdings:
        return
    g = make_graph(holdings, persons=persons)
    # Ultimate shares of every company sum to at most 1.
    col_sums = np.asarray(ultimate_shares(g).sum(axis=0)).ravel()
    assert (col_sums <= 1.0 + 1e-9).all()
    # Simple-path share ≤ integrated share (simple paths are a subset of the walks), per holder.
    for company in sorted({c for _, c, _ in holdings})[:3]:
        integrated, _ = integrated_shares_of(g, company)
        paths, truncated = simple_paths_to(g, company, max_depth=20)
        assert not truncated
        sums: dict[str, float] = {}
        for path, prod in paths:
            sums[path[0]] = sums.get(path[0], 0.0) + prod
        for holder, s in sums.items():
            if not np.isnan(integrated[holder]):
                assert s <= integrated[holder] + 1e-9
    # Control is transitive: X controls Y and Y controls Z ⇒ X controls Z.
    closure = control_closure(g)
    pairs = set(zip(closure["controller_id"], closure["company_id"], strict=True))
    for x, y in pairs:
        for y2, z in pairs:
            if y2 == y and x != z:
                assert (x, z) in pairs


# ----------------------------------------------------------------------------------------- synthetic truth


def test_synthetic_patterns_are_found(tmp_path: Path) -> None:
    portfolio = generate_portfolio(3000, seed=3)
    for name, data in portfolio_files(portfolio).items():
        (tmp_path / name).write_bytes(data)
    truth = json.loads((tmp_path / "ground_truth.json").read_text())
    patterns = truth["patterns"] if isinstance(truth, dict) else truth
    g = EnterpriseGraph(load_tables(tmp_path, pseudonym_key=b"t"))
    cross = cross_holdings(g)
    found = {frozenset(m.split(";")) for m in cross["members"]}
    planted = [p for p in patterns if p["kind"] == "cross_holding"]
    assert planted and all(any(set(p["members"]) <= f for f in found) for p in planted)
    controllers = actual_controllers(g).set_index("company_id")
    for p in [p for p in patterns if p["kind"] == "state_root"][:20]:
        kinds = controllers.loc[p["members"][1:], "controller_kind"]
        assert (kinds == "state").mean() > 0.5, p["root"]


# ------------------------------------------------------------------------------------------------- CLI


def test_cli_owners_and_controller_json() -> None:
    ctl = json.loads(
        CliRunner()
        .invoke(main, ["controller", str(EXAMPLE), "--company", "91110101848156344W", "--format", "json"])
        .output
    )
    assert ctl == {
        "company_id": "91110101848156344W",
        "controller_id": "P000001",
        "controller_kind": "person",
        "rule": "majority_chain",
        "control_share": 1.0,
        "path": "P000001>91110101366886395D>91110101848156344W",
    }
    res = CliRunner().invoke(main, ["owners", str(EXAMPLE), "--company", "91110101848156344W", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert {r["holder_id"] for r in rows} >= {"P000001", "91110101366886395D"}
    assert set(rows[0]) == {
        "holder_id",
        "holder_kind",
        "ultimate_share",
        "integrated_share",
        "simple_path_share",
        "beneficial_owner",
        "basis",
        "paths",
    }


def test_cli_table_formats_and_profiles() -> None:
    res = CliRunner().invoke(
        main, ["owners", str(EXAMPLE), "--company", "91110101848156344W", "--profile", "uk-psc", "--max-depth", "3"]
    )
    assert res.exit_code == 0, res.output
    assert "profile uk-psc" in res.stdout and "P000001" in res.stdout
    res = CliRunner().invoke(main, ["controller", str(EXAMPLE), "--company", "91110101848156344W"])
    assert "majority_chain" in res.stdout


def test_cli_errors_are_messages() -> None:
    res = CliRunner().invoke(main, ["controller", str(EXAMPLE), "--company", "NOPE"])
    assert res.exit_code == 1 and "NOPE" in res.output


def test_scan_writes_ownership_files(tmp_path: Path) -> None:
    out = tmp_path / "report"
    res = subprocess.run(
        [sys.executable, "-m", "graphrisk", "scan", str(EXAMPLE), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stderr
    for name in ("control", "controllers", "beneficial_owners", "groups_corporate", "cross_holdings"):
        assert (out / f"{name}.csv").exists()
    controllers = pd.read_csv(out / "controllers.csv", encoding="utf-8-sig")
    assert set(controllers.columns) == {
        "company_id",
        "controller_id",
        "controller_kind",
        "rule",
        "control_share",
        "path",
    }
    summary = json.loads((out / "summary.json").read_text())
    assert "ownership" in summary["analyses"]


# ------------------------------------------------------------------------------------------------ Neo4j


def _example_tables() -> Tables:
    return load_tables(EXAMPLE, pseudonym_key=b"parity")


@pytest.mark.neo4j
def test_neo4j_parity_and_cypher_penetration(neo4j_empty_store) -> None:
    tables = _example_tables()
    neo4j_empty_store.load(tables)
    embedded, stored = EnterpriseGraph(tables), EnterpriseGraph(neo4j_empty_store.read_tables())
    pd.testing.assert_frame_equal(actual_controllers(embedded), actual_controllers(stored))
    pd.testing.assert_frame_equal(control_closure(embedded), control_closure(stored))
    pd.testing.assert_frame_equal(beneficial_owners(embedded), beneficial_owners(stored))
    # Cypher penetration upstream equals the embedded simple_paths answer, path by path.
    companies = actual_controllers(embedded).query("rule == 'majority_chain'")["company_id"].head(15)
    for company in companies:
        paths, _ = simple_paths_to(embedded, company, max_depth=10)
        rows = neo4j_empty_store.query("queries/ownership_upstream.cypher", company_id=company, max_depth=10)
        got = sorted((tuple(r["path"]), round(r["share"], 9)) for r in rows)
        assert got == sorted((p, round(s, 9)) for p, s in paths)
    # Downstream from a controller reaches the companies it controls.
    top = actual_controllers(embedded).query("rule == 'majority_chain'").iloc[0]
    down = neo4j_empty_store.query("queries/ownership_downstream.cypher", holder_id=top["controller_id"], max_depth=10)
    assert top["company_id"] in {r["company_id"] for r in down}


@pytest.mark.neo4j
def test_neo4j_cli_and_write_back(neo4j_empty_store, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from graphrisk.analysis.ownership import controls_rows

    tables = _example_tables()
    neo4j_empty_store.load(tables)
    uri = os.environ["NEO4J_URI"]
    company = "91110101848156344W"
    embedded = CliRunner().invoke(main, ["controller", str(EXAMPLE), "--company", company, "--format", "json"])
    remote = CliRunner().invoke(
        main, ["controller", str(EXAMPLE), "--company", company, "--format", "json", "--neo4j-uri", uri]
    )
    assert remote.exit_code == 0, remote.output
    assert json.loads(embedded.stdout) == json.loads(remote.stdout)
    owners_e = CliRunner().invoke(main, ["owners", str(EXAMPLE), "--company", company, "--format", "json"])
    owners_n = CliRunner().invoke(
        main, ["owners", str(EXAMPLE), "--company", company, "--format", "json", "--neo4j-uri", uri]
    )
    assert json.loads(owners_e.stdout) == json.loads(owners_n.stdout)
    rows = controls_rows(actual_controllers(EnterpriseGraph(tables)))
    assert neo4j_empty_store.write(
        "writeback/ownership_controls.cypher", rows, params={"run_id": "test", "algorithm": "ownership"}
    ) == len(rows)
    back = neo4j_empty_store.query("queries/ownership_controls.cypher", company_id=company)
    assert back == [
        {
            "controller_id": "P000001",
            "rule": "majority_chain",
            "share": 1.0,
            "path": "P000001>91110101366886395D>91110101848156344W",
        }
    ]


def test_declared_controller_column_takes_precedence(tmp_path: Path) -> None:
    # P holds 60 % of A, so the shareholdings make P the majority controller; the file declares Q (实际控制人).
    # B declares an id that is not in the data: a warning, B is kept, and B's controller is derived.
    (tmp_path / "enterprises.csv").write_text("id,name,实际控制人\nA,甲,Q\nB,乙,NOBODY\n", encoding="utf-8")
    (tmp_path / "persons.csv").write_text("id,name\nP,张三\nQ,李四\n", encoding="utf-8")
    (tmp_path / "shareholdings.csv").write_text("holder_id,company_id,share\nP,A,0.6\nP,B,0.7\n", encoding="utf-8")
    tables = load_tables(tmp_path, pseudonym_key=b"k")
    assert tables.rejected_rows == 0
    assert tables.warnings["reason"].tolist() == ["unknown_reference"]
    assert tables.warnings["line"].tolist() == [3]
    ctl = actual_controllers(EnterpriseGraph(tables)).set_index("company_id")
    assert ctl.loc["A", ["controller_id", "rule"]].tolist() == ["Q", "declared"]
    assert ctl.loc["B", ["controller_id", "rule"]].tolist() == ["P", "majority_chain"]
