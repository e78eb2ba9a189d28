"""Contagion: the impact network, DebtRank, cascades, network PD, Eisenberg–Noe, Monte Carlo, the scan analysis
and `graphrisk stress`; checked against the NetworkRiskMeasures R package (../shared/data/networkriskmeasures)."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from graphrisk.analysis import AnalysisContext
from graphrisk.analysis.contagion import (
    candidates_by_exposure,
    clearing_vector,
    contagion_analysis,
    debtrank,
    default_cascade,
    impact_matrix,
    monte_carlo,
    network_pd,
    spectral_radius,
    stress_test,
    systemic_importance,
)
from graphrisk.cli.main import main
from graphrisk.graph import EnterpriseGraph
from graphrisk.tables import Tables

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT.parent / "shared" / "data" / "networkriskmeasures"
EXAMPLE = ROOT / "examples" / "portfolio"
# SOURCE.txt: the peer stops iterating when ||s_t − s_{t−1}||₂ < eps^0.2 and asks for atol ~1e-3.
PEER_TOL = float(np.finfo(float).eps ** 0.2)
PEER_ATOL = 1e-3


# ------------------------------------------------------------------------------------------ peer adapter


def peer_impact_from_assets(assets: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """NetworkRiskMeasures' assets convention → our impact matrix.

    assets[i, j] = what i lent to j, so j's default costs i assets[i, j] of its buffer: I[j, i] =
    assets[i, j] / buffer[i]. The peer leaves entries above 1 uncapped (a loss bigger than the buffer), and our
    models accept that; distress itself is capped at 1 on both sides."""
    return (assets / buffer[:, None]).T


def peer_impact_from_liabilities(liabilities: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """liabilities[i, j] = what i owes j: i's default costs j that much: I[i, j] = liabilities[i, j] / buffer[j]."""
    return liabilities / buffer[None, :]


def _toy6() -> tuple[list[str], np.ndarray, np.ndarray]:
    """The 6-node network of the peer's tests/testthat/tests.R, rows owing columns."""
    names = ["A", "B", "C", "E", "F", "D"]
    owes = {("A", "B"): 5, ("D", "B"): 2, ("B", "C"): 3, ("F", "C"): 2, ("D", "C"): 2, ("C", "E"): 4}
    owes |= {("F", "E"): 5, ("A", "F"): 10, ("B", "F"): 2, ("F", "F"): 5, ("A", "D"): 2}
    liab = np.zeros((6, 6))
    for (i, j), v in owes.items():
        liab[names.index(i), names.index(j)] = v
    buffer = np.array([10.0, 2, 2, 1, 10, 4])
    return names, liab, buffer


@pytest.fixture(scope="module")
def sim() -> tuple[np.ndarray, np.ndarray]:
    md = pd.read_csv(PEER / "md_mat_seed15.csv", index_col=0)
    data = pd.read_csv(PEER / "sim_data.csv")
    assert list(md.index) == list(data["bank"])
    return peer_impact_from_assets(md.to_numpy(), data["buffer"].to_numpy()), data["weights"].to_numpy()


def test_toy6_adapter_reproduces_the_peer_vulnerability_matrix() -> None:
    # tests.R expects min(1, L / buffer) for the binary=FALSE vulnerability matrix.
    _, liab, buffer = _toy6()
    capped = np.minimum(1.0, peer_impact_from_liabilities(liab, buffer))
    assert capped[0, 1] == 1.0 and capped[1, 4] == pytest.approx(0.2) and capped[0, 5] == pytest.approx(0.5)


@pytest.mark.parametrize("model", ["debtrank", "threshold"])
def test_toy6_final_stress_matches_the_peer(model: str) -> None:
    names, liab, buffer = _toy6()
    impact = peer_impact_from_liabilities(liab, buffer)
    expected = pd.read_csv(PEER / f"toy6_{model}_final_stress_by_shocked_node.csv", index_col=0)
    summary = pd.read_csv(PEER / f"toy6_{model}_summary.csv")
    for shocked, row in expected.iterrows():
        seed = names.index(str(shocked))
        if model == "debtrank":
            r = debtrank(impact, [seed], method="linear", tol=PEER_TOL)
            distress, dr = r.distress, r.debtrank
        else:
            c = default_cascade(impact, [seed])
            distress, dr = c.distress, float(c.distress.mean() - 1 / 6)
        # The peer reports uncapped stress; distress is the capped value.
        np.testing.assert_allclose(distress, np.minimum(1.0, row[names].to_numpy(float)), atol=PEER_ATOL)
        s = summary.set_index("scenario").loc[shocked]
        assert dr == pytest.approx(s["additional_stress"], abs=PEER_ATOL)
        assert int((distress >= 1 - 1e-12).sum()) - 1 == s["additional_defaults"]


def test_toy6_half_shock_on_a() -> None:
    names, liab, buffer = _toy6()
    expected = pd.read_csv(PEER / "toy6_debtrank_A_half_shock.csv", index_col=0).loc["half", names].to_numpy(float)
    r = debtrank(peer_impact_from_liabilities(liab, buffer), [0], psi=0.5, method="linear", tol=PEER_TOL)
    np.testing.assert_allclose(r.distress, np.minimum(1.0, expected), atol=PEER_ATOL)


def test_sim125_debtrank_single_shocks_match_the_peer(sim: tuple[np.ndarray, np.ndarray]) -> None:
    impact, weights = sim
    expected = pd.read_csv(PEER / "sim_debtrank_all_single_shocks.csv")
    for i, row in expected.iterrows():
        r = debtrank(impact, [int(i)], weights=weights, method="linear", tol=PEER_TOL)
        assert r.debtrank == pytest.approx(row["additional_stress"], abs=PEER_ATOL), row["scenario"]
        assert len(r.defaulted) - 1 == row["additional_defaults"], row["scenario"]


def test_sim125_debtrank_uniform_shocks_match_the_peer(sim: tuple[np.ndarray, np.ndarray]) -> None:
    impact, weights = sim
    expected = pd.read_csv(PEER / "sim_debtrank_uniform_shocks_1_to_25pct.csv")
    everyone = np.arange(impact.shape[0])
    for k, row in expected.iterrows():
        psi = (int(k) + 1) / 100
        r = debtrank(impact, everyone, psi=psi, weights=weights, method="linear", tol=PEER_TOL)
        assert r.debtrank == pytest.approx(row["additional_stress"], abs=PEER_ATOL), row["scenario"]
        assert int((r.distress >= 1 - 1e-12).sum()) == row["additional_defaults"], row["scenario"]


def test_sim125_threshold_cascades_match_the_peer(sim: tuple[np.ndarray, np.ndarray]) -> None:
    impact, weights = sim
    w = weights / weights.sum()
    expected = pd.read_csv(PEER / "sim_threshold_all_single_shocks.csv")
    for i, row in expected.iterrows():
        c = default_cascade(impact, [int(i)])
        assert c.distress @ w - w[int(i)] == pytest.approx(row["additional_stress"], abs=PEER_ATOL)
        assert len(c.defaulted) - 1 == row["additional_defaults"]


# ------------------------------------------------------------------------------------- models by hand


def test_single_hit_propagates_once_and_linear_keeps_going() -> None:
    # Ring 0 → 1 → 2 → 0 with impact .5: single hit stops when 2 reaches inactive 0 (.25);
    # linear sends 2's increment back to 0 (already at 1), so the same here, and no node exceeds 1.
    ring = np.array([[0, 0.5, 0], [0, 0, 0.5], [0.5, 0, 0]])
    single = debtrank(ring, [0])
    assert single.distress.tolist() == [1.0, 0.5, 0.25]
    assert single.debtrank == pytest.approx((0.5 + 0.25) / 3)
    # Mutual pair 0 ↔ 1 with impact .5, shock .5 on 0: single hit: 1 gets .25, 0 gets .125 more once.
    pair = np.array([[0, 0.5], [0.5, 0]])
    assert debtrank(pair, [0], psi=0.5).distress.tolist() == [0.625, 0.25]
    # Linear: increments bounce back and forth: h0 = .5 + .125 + .03125 + … = 2/3, h1 = 1/3.
    lin = debtrank(pair, [0], psi=0.5, method="linear")
    np.testing.assert_allclose(lin.distress, [2 / 3, 1 / 3], atol=1e-9)


def test_single_hit_is_not_monotone_in_seeds() -> None:
    # A known property of Battiston's single-hit DebtRank, kept here so nobody "fixes" the property test: a
    # node propagates once, with the distress it has when first hit. 2 → 0 and 3 → 0 have impact .9, 0 → 4
    # impact 1. Seeds {2, 3} at ψ .2: 0 gets .36 and passes .36 to 4. Seeds {0, 2, 3}: 0 passes only its own .2
    # in round 1 and is inactive when the .36 arrives, so 4 ends at .2. Linear DebtRank and the cascade are
    # monotone (test_properties).
    impact = np.zeros((5, 5))
    impact[2, 0] = impact[3, 0] = 0.9
    impact[0, 4] = 1.0
    alone = debtrank(impact, [2, 3], psi=0.2)
    more = debtrank(impact, [0, 2, 3], psi=0.2)
    assert alone.distress[4] == pytest.approx(0.36) and more.distress[4] == pytest.approx(0.2)
    assert more.debtrank < alone.debtrank  # the additional distress too: .56 against .72
    linear = debtrank(impact, [0, 2, 3], psi=0.2, method="linear")
    assert (linear.distress >= debtrank(impact, [2, 3], psi=0.2, method="linear").distress - 1e-12).all()


def test_default_cascade_rounds_and_threshold() -> None:
    # 0 → 1 (0.6) and 2 → 1 (0.5): 1 defaults only when both 0 and 2 default.
    impact = np.array([[0, 0.6, 0, 0], [0, 0, 0, 1.0], [0, 0.5, 0, 0], [0, 0, 0, 0]])
    assert default_cascade(impact, [0]).defaulted.tolist() == [0]
    r = default_cascade(impact, [0, 2])
    assert r.defaulted.tolist() == [0, 1, 2, 3] and r.rounds == 2
    assert r.to_frame().set_index("id")["round"].to_dict() == {0: 0, 1: 1, 2: 0, 3: 2}
    assert default_cascade(impact, [0], threshold=0.5).defaulted.tolist() == [0, 1, 3]


def test_network_pd_fixed_point_with_a_cycle() -> None:
    # Mutual impact 1 between 0 and 1, pd .1 each: p = 1 − .9 (1 − p) → p = .1 + .9 p … fixed point p = 1?
    # No: p(v) = 1 − (1 − .1)(1 − p) has the fixed point p = 1 only in the limit; with impact .5 the fixed
    # point solves p = 1 − .9 (1 − .5 p) → p = .1 / .55.
    r = network_pd([0.1, 0.1], [[0, 0.5], [0.5, 0]])
    np.testing.assert_allclose(r.network_pd, [0.1 / 0.55] * 2, atol=1e-10)
    assert (r.to_frame()["uplift"] > 0).all()
    # No edges: network PD is the standalone PD.
    np.testing.assert_allclose(network_pd([0.2, 0.3], np.zeros((2, 2))).network_pd, [0.2, 0.3])


def test_clearing_vector_eisenberg_noe_and_default_costs() -> None:
    # 0 owes 1 10, 1 owes 2 10; 0 holds 4 outside: 0 pays 4, 1 then holds 4 + 0 = 4 of its own? 1 has 0 outside
    # assets, receives 4, pays 4; 2 receives 4.
    liab = [[0, 10, 0], [0, 0, 10], [0, 0, 0]]
    r = clearing_vector(liab, [4, 0, 0])
    np.testing.assert_allclose(r.payments, [4, 4, 0])
    assert r.defaulted.tolist() == [0, 1]
    np.testing.assert_allclose(r.equity, [-6, -6, 4])
    # Rogers–Veraart: a defaulting firm passes on only α of outside assets and β of receipts.
    rv = clearing_vector(liab, [4, 0, 0], alpha=0.5, beta=0.5)
    np.testing.assert_allclose(rv.payments, [2, 1, 0])
    # Enough assets everywhere: everyone pays in full.
    assert clearing_vector(liab, [10, 0, 0]).defaulted.tolist() == []
    # A cycle: 0 and 1 owe each other 10, 0 holds 5: both pay in full (the greatest clearing vector).
    np.testing.assert_allclose(clearing_vector([[0, 10], [10, 0]], [5, 0]).payments, [10, 10])


def test_spectral_radius() -> None:
    assert spectral_radius(sp.csr_array(np.diag([0.5, 0.2, 0.1]))) == pytest.approx(0.5)
    assert spectral_radius(np.zeros((3, 3))) == 0.0


# ---------------------------------------------------------------------------------------- properties

matrices = st.integers(2, 7).flatmap(
    lambda n: st.lists(
        st.lists(st.sampled_from([0.0, 0.0, 0.0, 0.1, 0.3, 0.5, 0.9, 1.0]), min_size=n, max_size=n),
        min_size=n,
        max_size=n,
    )
)


@given(matrices, st.data())
@settings(max_examples=60, deadline=None)
def test_properties(rows: list[list[float]], data: st.DataObject) -> None:
    impact = np.array(rows)
    np.fill_diagonal(impact, 0.0)
    n = len(impact)
    seeds = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    extra = data.draw(st.integers(0, n - 1))
    psi = data.draw(st.sampled_from([0.2, 0.5, 1.0]))
    for method in ("single_hit", "linear"):
        r = debtrank(impact, seeds, psi=psi, method=method)  # type: ignore[arg-type]
        # distress stays in [0, 1]
        assert (r.distress >= 0).all() and (r.distress <= 1).all()
        if method == "linear":
            # adding a seed never lowers the loss (single hit: see test_single_hit_is_not_monotone_in_seeds)
            more = debtrank(impact, sorted({*seeds, extra}), psi=psi, method=method)  # type: ignore[arg-type]
            assert more.distress @ more.weights >= r.distress @ r.weights - 1e-9
        # results do not depend on node order
        perm = np.array(data.draw(st.permutations(range(n))))
        inv = np.argsort(perm)
        shuffled = debtrank(impact[np.ix_(perm, perm)], inv[seeds], psi=psi, method=method)  # type: ignore[arg-type]
        np.testing.assert_allclose(shuffled.distress[inv], r.distress, atol=1e-9)
    # linear ≥ single hit
    single = debtrank(impact, seeds, psi=psi).distress
    linear = debtrank(impact, seeds, psi=psi, method="linear").distress
    assert (linear >= single - 1e-9).all()
    # no edges, no propagation
    assert debtrank(np.zeros_like(impact), seeds, psi=psi).debtrank == 0.0
    assert default_cascade(np.zeros_like(impact), seeds).defaulted.tolist() == sorted(seeds)
    # cascade: more seeds, at least the same defaults; distress in [0, 1]
    c = default_cascade(impact, seeds)
    assert set(c.defaulted) <= set(default_cascade(impact, sorted({*seeds, extra})).defaulted)
    assert (c.distress >= 0).all() and (c.distress <= 1).all()
    # network PD between the standalone PD and 1
    p = np.full(n, 0.05)
    q = network_pd(p, impact).network_pd
    assert (q >= p - 1e-12).all() and (q <= 1).all()


# ------------------------------------------------------------------------------------- graph and scan


def _graph() -> EnterpriseGraph:
    t = Tables.from_frames(
        {
            "enterprises": pd.DataFrame(
                {
                    "id": ["A", "B", "C", "D"],
                    "name": ["甲", "乙", "丙", "丁"],
                    "net_assets": [100.0, 50.0, 200.0, None],
                    "registered_capital": [10.0, 10.0, 10.0, 40.0],
                    "pd": [0.01, 0.05, 0.02, 0.03],
                    "industry": ["制造业", "制造业", "房地产", "房地产"],
                }
            ),
            "guarantees": pd.DataFrame(
                {
                    "guarantor_id": ["A", "C"],
                    "borrower_id": ["B", "A"],
                    "amount": [40.0, 500.0],
                    "end_date": [None, "2020-01-01"],
                }
            ),
            "supply_links": pd.DataFrame(
                {
                    "supplier_id": ["C"],
                    "customer_id": ["D"],
                    "amount": [1.0],
                    "share_of_supplier_revenue": [0.3],
                    "share_of_customer_purchases": [0.8],
                }
            ),
            "shareholdings": pd.DataFrame({"holder_id": ["C"], "company_id": ["B"], "share": [0.6]}),
            "exposures": pd.DataFrame(
                {"borrower_id": ["A", "B", "C"], "facility_id": ["f1", "f2", "f3"], "ead": [100.0, 50.0, 10.0]}
            ),
        }
    )
    return EnterpriseGraph(t)


def test_impact_matrix_worked_by_hand() -> None:
    net = impact_matrix(_graph(), as_of=date(2026, 6, 30))
    got = {(s, t): round(v, 6) for s, t, v in net.to_frame().itertuples(index=False)}
    assert got == {
        ("B", "A"): 0.4,  # B's default calls A's guarantee: 40 / 100 (C's guarantee expired in 2020)
        ("B", "C"): 0.15,  # C's 60 % stake in B: 0.6 × 50 / 200
        ("D", "C"): 0.3,  # D was 30 % of C's revenue
        ("C", "D"): 0.4,  # C was 80 % of D's purchases, × substitution cost 0.5
    }
    assert any("registered capital" in n for n in net.notes)  # D has no net assets
    # Each factor is a parameter: no recovery → half recovered halves the guarantee impact.
    half = impact_matrix(_graph(), as_of=date(2026, 6, 30), guarantee_recovery=0.5).to_frame()
    assert half.query("source_id == 'B' and target_id == 'A'")["impact"].item() == pytest.approx(0.2)
    # The old guarantee counts while active, capped at 1: 500 / 200.
    old = impact_matrix(_graph(), as_of=date(2019, 6, 30)).to_frame()
    assert old.query("source_id == 'A' and target_id == 'C'")["impact"].item() == 1.0


def test_stress_test_and_paths() -> None:
    g = _graph()
    ctx = AnalysisContext(as_of=date(2026, 6, 30))
    # B hits A (.4) and C (.15); C hits D (.4 × .15 = .06); D propagates once, back to C: + .3 × .06.
    r = stress_test(g, ["B"], context=ctx)
    assert r.hit.set_index("id")["distress"].round(6).to_dict() == {"B": 1.0, "A": 0.4, "C": 0.168, "D": 0.06}
    # the bank's loss: Σ EAD × LGD (0.45 by default) × distress
    assert r.bank_loss == pytest.approx(0.45 * (50 + 100 * 0.4 + 10 * 0.168))
    assert r.paths.set_index("id")["path"].to_dict() == {"A": "B > A", "C": "B > C", "D": "B > C > D"}
    casc = stress_test(g, ["B"], model="cascade", context=ctx)
    assert casc.bank_loss == pytest.approx(0.45 * 50) and casc.new_defaults == 0
    shocked = stress_test(g, ["B"], shock=1.0, where={"industry": "房地产"}, model="cascade", context=ctx)
    assert set(shocked.shocked) == {"C", "D"}
    with pytest.raises(ValueError):
        stress_test(g, ["B"], where={"colour": "red"}, context=ctx)


def test_systemic_importance_ranking_and_candidates() -> None:
    impact = sp.csr_array(np.array([[0, 1.0, 0, 0], [0, 0, 0.5, 0], [0, 0, 0, 0], [0, 0.2, 0, 0]]))
    frame = systemic_importance(impact, [3, 0, 1], loss_weight=[1, 2, 3, 4], ead=[1, 1, 1, 1], ids=list("abcd"))
    assert frame["id"].tolist() == ["a", "b", "d"] and frame["rank"].tolist() == [1, 2, 3]
    row = frame.set_index("id").loc["a"]
    assert row["firms_hit"] == 2 and row["new_defaults"] == 1
    assert row["loss_if_default"] == pytest.approx(1 + 2 + 3 * 0.5)
    # batching does not change anything
    pd.testing.assert_frame_equal(
        frame,
        systemic_importance(impact, [3, 0, 1], loss_weight=[1, 2, 3, 4], ead=[1, 1, 1, 1], ids=list("abcd"), batch=1),
    )
    assert candidates_by_exposure(impact, np.array([0.0, 5, 5, 1]), 2).tolist() == [1, 3]


def test_monte_carlo_is_seeded_and_contagion_only_adds_loss() -> None:
    impact = sp.csr_array(np.array([[0, 1.0, 0], [0, 0, 0.5], [0, 0, 0]]))
    pd_, lw = [0.1, 0.05, 0.02], [1.0, 2.0, 3.0]
    a = monte_carlo(impact, pd_, lw, scenarios=3000, rho=0.2, seed=7, batch=128)
    b = monte_carlo(impact, pd_, lw, scenarios=3000, rho=0.2, seed=7, batch=1000)
    np.testing.assert_array_equal(a.contagion, b.contagion)
    assert (a.contagion >= a.standalone).all()
    f = a.figures()
    assert f["with_contagion"]["el"] >= f["without_contagion"]["el"]
    assert f["with_contagion"]["es_99.9"] >= f["with_contagion"]["var_99.9"] >= f["with_contagion"]["var_99"]
    # independent draws: EL without contagion ≈ Σ pd × loss
    ind = monte_carlo(impact, pd_, lw, scenarios=20000, seed=1)
    assert ind.standalone.mean() == pytest.approx(0.1 + 0.1 + 0.06, rel=0.1)
    assert len(a.to_frame()) == 3000


def test_scan_analysis_on_the_example_portfolio() -> None:
    from graphrisk.cli.data import load_graph

    graph, config = load_graph(EXAMPLE)
    result = contagion_analysis(graph, AnalysisContext(config=config, as_of=date(2026, 6, 30)))
    table = result.tables["contagion"]
    assert list(table.columns) == [
        "id",
        "pd",
        "network_pd",
        "systemic_debtrank",
        "rank",
        "firms_hit",
        "loss_if_default",
        "reasons",
    ]
    assert len(table) == graph.n_enterprises
    assert (table["network_pd"] >= table["pd"] - 1e-12).all()
    assert set(result.flags["flag"]) <= {"too_connected_to_fail", "network_pd_uplift"}
    assert (result.flags["reason"].str.contains("threshold")).all()
    losses = result.summary["losses"]
    assert losses["with_contagion"]["el"] >= losses["without_contagion"]["el"]
    flagged = set(result.flags["entity_id"])
    assert flagged == set(table.loc[table["reasons"] != "", "id"])


def test_stress_command(tmp_path: Path) -> None:
    from graphrisk.cli.data import load_graph

    graph, config = load_graph(EXAMPLE)
    ranked = contagion_analysis(graph, AnalysisContext(config=config)).tables["contagion"].sort_values("rank")
    top = str(ranked["id"].iloc[0])
    r = CliRunner().invoke(main, ["stress", str(EXAMPLE), "--default", top, "--format", "json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["defaults"] == [top] and payload["firms_hit"] > 0 and payload["bank_loss"] > 0
    r = CliRunner().invoke(main, ["stress", str(EXAMPLE), "--default", "NOPE"])
    assert r.exit_code == 1 and "NOPE" in r.output
    r = CliRunner().invoke(main, ["stress", str(EXAMPLE), "--default", top, "--shock", "0.2"])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["stress", str(EXAMPLE), "--default", top, "--shock", "0.2", "--where", "x=1"])
    assert r.exit_code == 2
    exe = shutil.which("graphrisk")
    assert exe, "the graphrisk console script is not installed (pip install -e .)"
    done = subprocess.run(
        [exe, "stress", str(EXAMPLE), "--default", top, "--model", "cascade"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "stress (cascade)" in done.stdout


def test_systemic_importance_agrees_with_debtrank_one_seed_at_a_time() -> None:
    rng = np.random.default_rng(3)
    dense = np.where(rng.random((40, 40)) < 0.08, rng.random((40, 40)), 0.0)
    np.fill_diagonal(dense, 0.0)
    w = rng.random(40)
    frame = systemic_importance(sp.csr_array(dense), np.arange(40), weights=w, batch=7).set_index("id")
    for i in range(40):
        assert frame.loc[i, "systemic_debtrank"] == pytest.approx(debtrank(dense, [i], weights=w).debtrank)
    linear = systemic_importance(dense, np.arange(40), weights=w, method="linear").set_index("id").sort_index()
    frame = frame.sort_index()
    assert (linear["systemic_debtrank"] >= frame["systemic_debtrank"] - 1e-9).all()
