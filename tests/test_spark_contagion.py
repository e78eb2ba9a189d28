"""The contagion analysis on Spark (issue 9, step 8) against the embedded ``contagion`` analysis.

Tiny hand-worked graphs first, then parity on the synthetic 10k portfolio (seed 0, as of ``SPARK_DAY``) with the
scan's thresholds, except fewer systemic-importance candidates and Monte Carlo scenarios (both engines get the same
config) so the module stays near two minutes on two cores.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from conftest import SPARK_DAY

from graphrisk.analysis import AnalysisContext, registered_analyses
from graphrisk.analysis import contagion as C
from graphrisk.config import Config

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from graphrisk.graph import EnterpriseGraph

pytestmark = pytest.mark.spark

# The scan's thresholds, with 60 candidates (of 1,000) and 100 Monte Carlo scenarios (of 2,000).
CONFIG = Config(thresholds={"contagion_candidates": 60.0, "contagion_mc_scenarios": 100.0})


def impact_frame(spark: SparkSession, edges: list[tuple[str, str, float]]) -> DataFrame:
    return spark.createDataFrame(edges, "source_id string, target_id string, impact double")


def relative(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    return float((np.abs(a - b) / np.maximum(np.abs(b), 1e-300)).max(initial=0.0))


# ----------------------------------------------------------------------------------------------- by hand


def test_network_pd_by_hand(spark: SparkSession) -> None:
    from graphrisk.engines.spark.contagion import network_pd

    # A (pd 10 %) wipes out half of B's equity: B fails only through A, 0.5 × 0.1 = 5 %. C (defaulted, pd 1)
    # stays at 1 whatever D does to it.
    impact = impact_frame(spark, [("A", "B", 0.5), ("D", "C", 0.3)])
    pds = spark.createDataFrame([("A", 0.1), ("B", 0.0), ("C", 1.0), ("D", 0.2)], "id string, pd double")
    got = {r["id"]: r["network_pd"] for r in network_pd(pds, impact).collect()}
    assert got == pytest.approx({"A": 0.1, "B": 0.05, "C": 1.0, "D": 0.2}, rel=1e-12)


def test_network_pd_by_component_by_hand(spark: SparkSession) -> None:
    from graphrisk.engines.spark.contagion import impact_components, network_pd

    # The case above plus the ring E → F → E (impact 0.5 each way, pd 0.2 and 0): with a cap of 2 firms, {A, B}
    # {C, D} and {E, F} run in tasks and nothing in the rounds; with a cap of 1, all of them run in the rounds.
    # The ring's fixed point: f = 0.5 e, e = 1 − 0.8 (1 − 0.5 f) → e = 0.2 / 0.8 = 0.25, f = 0.125. G is on no
    # impact edge and keeps its PD.
    impact = impact_frame(spark, [("A", "B", 0.5), ("D", "C", 0.3), ("E", "F", 0.5), ("F", "E", 0.5)])
    pds = spark.createDataFrame(
        [("A", 0.1), ("B", 0.0), ("C", 1.0), ("D", 0.2), ("E", 0.2), ("F", None), ("G", 0.3)], "id string, pd double"
    )
    want = {"A": 0.1, "B": 0.05, "C": 1.0, "D": 0.2, "E": 0.25, "F": 0.125, "G": 0.3}
    tasks = impact_components(impact, batches=2, cap=2)
    ranks = sorted((r["_batch"], r["local"], r["id"]) for r in tasks.collect())
    for b in {b for b, _, _ in ranks}:  # ranks 0..n−1 in id order within each batch
        mine = [(k, i) for bb, k, i in ranks if bb == b]
        assert [k for k, _ in mine] == list(range(len(mine))) and [i for _, i in mine] == sorted(i for _, i in mine)
    rounds = impact_components(impact, batches=2, cap=1)
    assert {r["_batch"] for r in tasks.collect()} <= {0, 1} and {r["_batch"] for r in rounds.collect()} == {-1}
    assert {r["local"] for r in rounds.collect()} == {None}
    for components in (tasks, rounds, None):
        out = network_pd(pds, impact, components=components).toPandas().set_index("id")
        assert out["network_pd"].to_dict() == pytest.approx(want, rel=1e-9)
        assert out["pd"].to_dict() == pytest.approx({**want, "B": 0.0, "E": 0.2, "F": 0.0}, rel=1e-12)
        assert (out["uplift"] == out["network_pd"] - out["pd"]).all()


def test_cascade_and_linear_debtrank_by_hand(spark: SparkSession) -> None:
    from graphrisk.engines.spark.contagion import default_cascade, linear_debtrank

    # Cascade: 0 defaults, wipes out 1 (impact 1, default in round 1), which costs 2 60 % (no default).
    chain = impact_frame(spark, [("0", "1", 1.0), ("1", "2", 0.6)])
    seeds = spark.createDataFrame([("s", "0", 1.0)], "scenario string, id string, initial double")
    got = {r["id"]: (r["distress"], r["defaulted"], r["round"]) for r in default_cascade(chain, seeds).collect()}
    assert got == {"0": (1.0, True, 0), "1": (1.0, True, 1), "2": (pytest.approx(0.6), False, -1)}
    # Linear DebtRank on the ring 0 → 1 → 2 → 0 (impact 0.5 each): 1 gets 0.5, 2 gets 0.25, 0 is back at
    # min(1, 1.125) = 1, so its increment is 0 and nothing moves any more. Scenario b, in the same state, shocks
    # 1 fully: the same by rotation. Scenario c shocks 0 by 0.8 on the chain 0 → 1 (1.0) → 2 (0.6): 1 gets 0.8,
    # 2 gets 0.48.
    ring = impact_frame(spark, [("0", "1", 0.5), ("1", "2", 0.5), ("2", "0", 0.5), ("3", "4", 1.0), ("4", "5", 0.6)])
    seeds = spark.createDataFrame(
        [("a", "0", 1.0), ("b", "1", 1.0), ("c", "3", 0.8)], "scenario string, id string, initial double"
    )
    out = linear_debtrank(ring, seeds).collect()
    got = {s: {r["id"]: r["distress"] for r in out if r["scenario"] == s} for s in "abc"}
    assert got["a"] == pytest.approx({"0": 1.0, "1": 0.5, "2": 0.25})
    assert got["b"] == pytest.approx({"1": 1.0, "2": 0.5, "0": 0.25})
    assert got["c"] == pytest.approx({"3": 0.8, "4": 0.8, "5": 0.48})


def test_systemic_importance_by_hand(spark: SparkSession) -> None:
    from graphrisk.engines.spark.contagion import systemic_importance

    # A's default wipes out B (impact 1), which costs C half its equity. EAD 100, 200, 100 (total 400), LGD 45 %.
    # A: B at 1 and C at 0.5 → DebtRank (200 + 50) / 400, 2 firms hit, 1 new default, loss 45 + 90 + 22.5,
    # EAD share 300 / 400. B: C at 0.5 → 50 / 400, loss 90 + 22.5, share 100 / 400. C reaches no one.
    # One candidate per batch: three batches, ranked together.
    impact = impact_frame(spark, [("A", "B", 1.0), ("B", "C", 0.5)])
    exposure = spark.createDataFrame(
        [("A", 100.0, 45.0), ("B", 200.0, 90.0), ("C", 100.0, 45.0)], "id string, ead double, loss_weight double"
    )
    candidates = spark.createDataFrame([("A",), ("B",), ("C",)], "id string")
    got = systemic_importance(impact, candidates, exposure, batch=1).orderBy("rank").toPandas()
    assert got["id"].tolist() == ["A", "B", "C"] and got["rank"].tolist() == [1, 2, 3]
    assert got["systemic_debtrank"].tolist() == pytest.approx([0.625, 0.125, 0.0])
    assert got["firms_hit"].tolist() == [2, 1, 0] and got["new_defaults"].tolist() == [1, 0, 0]
    assert got["loss_if_default"].tolist() == pytest.approx([157.5, 112.5, 45.0])
    assert got["ead_hit_share"].tolist() == pytest.approx([0.75, 0.25, 0.0])


def test_systemic_importance_by_component_by_hand(spark: SparkSession) -> None:
    from graphrisk.engines.spark.contagion import impact_components, systemic_importance

    # The hand case above plus D → E (impact 0.4; EAD 100 each, total 600). With a cap of 2 firms, {A, B, C} runs
    # in the distributed rounds and {D, E} in one task: the same figures as both in the rounds.
    impact = impact_frame(spark, [("A", "B", 1.0), ("B", "C", 0.5), ("D", "E", 0.4)])
    exposure = spark.createDataFrame(
        [("A", 100.0, 45.0), ("B", 200.0, 90.0), ("C", 100.0, 45.0), ("D", 100.0, 45.0), ("E", 100.0, 45.0)],
        "id string, ead double, loss_weight double",
    )
    candidates = spark.createDataFrame([("A",), ("B",), ("D",), ("E",)], "id string")
    components = impact_components(impact, batches=3, cap=2)
    batches = {r["id"]: (r["component"], r["firms"], r["_batch"]) for r in components.collect()}
    assert {k: v[:2] for k, v in batches.items()} == {
        "A": ("A", 3), "B": ("A", 3), "C": ("A", 3), "D": ("D", 2), "E": ("D", 2)
    }  # fmt: skip
    assert batches["A"][2] == -1 and batches["D"][2] >= 0
    got = systemic_importance(impact, candidates, exposure, components=components).orderBy("rank").toPandas()
    want = systemic_importance(impact, candidates, exposure).orderBy("rank").toPandas()
    assert got["id"].tolist() == want["id"].tolist() == ["A", "B", "D", "E"]
    # D: E at 0.4 → 40 / 600; loss 45 + 18; 1 firm hit (0.4 > 0), EAD share 100 / 600.
    d = got.set_index("id").loc["D"]
    assert d["systemic_debtrank"] == pytest.approx(40 / 600) and d["loss_if_default"] == pytest.approx(63.0)
    assert d["firms_hit"] == 1 and d["ead_hit_share"] == pytest.approx(100 / 600)
    for column in ("systemic_debtrank", "firms_hit", "new_defaults", "loss_if_default", "ead_hit_share"):
        assert got[column].tolist() == pytest.approx(want[column].tolist(), rel=1e-12), column


# ------------------------------------------------------------------------------------------------ parity


@pytest.fixture(scope="module")
def impact(tables: dict[str, DataFrame]) -> DataFrame:
    from graphrisk.engines.spark.steps import impact_edges

    return impact_edges(tables, SPARK_DAY).localCheckpoint()


@pytest.fixture(scope="module")
def embedded(graph: EnterpriseGraph) -> AnalysisContext:
    """The embedded scan's analyses up to contagion (guarantee patterns feed chain_losses), as ``run_scan``."""
    context = AnalysisContext(config=CONFIG, as_of=SPARK_DAY)
    for analysis in registered_analyses():
        if analysis.name in ("ownership", "guarantees", "contagion"):
            context.results[analysis.name] = analysis.run(graph, context)
    return context


@pytest.fixture(scope="module")
def spark_results(
    spark: SparkSession, tables: dict[str, DataFrame], impact: DataFrame, embedded: AnalysisContext
) -> dict[str, Any]:
    from graphrisk.engines.spark.contagion import contagion_analysis, contagion_summary

    pats = embedded.results["guarantees"].tables["guarantee_patterns"][["pattern", "pattern_id", "members"]]
    rows = [tuple(str(v) for v in r) for r in pats.itertuples(index=False)]
    patterns = spark.createDataFrame(rows, "pattern string, pattern_id string, members string")
    # One batch each of candidates and of scenarios (the batching is tested by hand above and in the cascades).
    out = contagion_analysis(tables, SPARK_DAY, CONFIG, impact, patterns=patterns, batch=64, mc_batch=100)
    frames: dict[str, Any] = {name: frame.toPandas() for name, frame in out.items()}
    frames["summary"] = contagion_summary(tables, out, impact, SPARK_DAY, CONFIG)
    return frames


def test_contagion_table_parity(embedded: AnalysisContext, spark_results: dict[str, Any]) -> None:
    """The per-firm table: same firms in the same order, PD equal, network PD within 1e-9 relative (the same
    fixed point; the rounds stop by the same rule), the candidates' DebtRank, rank, firms hit and loss, reasons."""
    want = embedded.results["contagion"].tables["contagion"]
    got = spark_results["contagion"]
    assert list(got.columns) == list(want.columns)
    assert got["id"].tolist() == want["id"].tolist()
    assert (got["pd"].to_numpy() == want["pd"].to_numpy()).all()
    assert relative(got["network_pd"], want["network_pd"]) <= 1e-9
    assert (want["network_pd"] > want["pd"]).sum() > 1000
    scored = want["rank"].notna().to_numpy()
    assert scored.sum() == 60 and (got["rank"].notna().to_numpy() == scored).all()
    for column in ("systemic_debtrank", "loss_if_default"):
        assert relative(got[column][scored], want[column][scored]) <= 1e-9, column
    for column in ("rank", "firms_hit"):
        assert got[column][scored].astype(int).tolist() == want[column][scored].astype(int).tolist(), column
    assert got["reasons"].tolist() == want["reasons"].tolist()


def test_systemic_importance_parity(graph: EnterpriseGraph, embedded: AnalysisContext, spark_results: dict) -> None:
    """The ranking of the candidates with every embedded column (new defaults and EAD share too)."""
    net = C.graph_impact(graph, embedded)
    ead = graph.ead[: graph.n_enterprises]
    cand = C.candidates_by_exposure(net.matrix, ead, 60)
    th = CONFIG.threshold
    want = C.systemic_importance(
        net.matrix, cand, weights=ead, loss_weight=C.loss_weights(graph), ead=ead, ids=net.ids,
        hit_distress=th("contagion_hit_distress"), min_distress=th("contagion_min_distress"),
    )  # fmt: skip
    got = spark_results["systemic_importance"]
    assert list(got.columns) == list(want.columns)
    assert got["id"].tolist() == want["id"].tolist() and got["rank"].tolist() == want["rank"].tolist()
    assert got["firms_hit"].tolist() == want["firms_hit"].tolist()
    assert got["new_defaults"].tolist() == want["new_defaults"].tolist()
    assert (want["firms_hit"] >= CONFIG.threshold("contagion_firms_hit")).sum() > 10
    for column in ("systemic_debtrank", "loss_if_default", "ead_hit_share"):
        assert relative(got[column], want[column]) <= 1e-9, column


def test_contagion_flags_parity(embedded: AnalysisContext, spark_results: dict[str, Any]) -> None:
    """The same flags with the same reasons; evidence equal (its floats within 1e-9 relative)."""
    key = ["flag", "entity_id"]
    want = embedded.results["contagion"].flags.sort_values(key).reset_index(drop=True)
    got = spark_results["flags"].sort_values(key).reset_index(drop=True)
    assert set(want["flag"]) == {"too_connected_to_fail", "network_pd_uplift"}
    cols = ["entity_id", "flag", "severity", "reason"]
    assert got[cols].values.tolist() == want[cols].values.tolist()
    for g, w in zip(got["evidence"], want["evidence"], strict=True):
        a, b = json.loads(g), json.loads(w)
        assert a.keys() == b.keys()
        assert all(a[k] == pytest.approx(b[k], rel=1e-9) for k in b)


def test_chain_losses_parity(embedded: AnalysisContext, spark_results: dict[str, Any]) -> None:
    want = embedded.results["contagion"].tables["chain_losses"]
    got = spark_results["chain_losses"]
    assert len(want) > 50 and list(got.columns) == list(want.columns)
    same = ["pattern", "pattern_id", "size", "members_with_exposure", "top_member", "reason"]
    assert got[same].values.tolist() == want[same].values.tolist()
    for column in ("ead_lgd", "el_standalone", "el_network", "el_added"):
        assert relative(got[column], want[column]) <= 1e-9, column


def test_monte_carlo_parity(graph: EnterpriseGraph, embedded: AnalysisContext, spark_results: dict) -> None:
    """The same draws (the embedded generator on the driver) and the same cascades: equal default counts per
    scenario, losses within 1e-9 relative, the same EL / VaR / ES figures in the summary."""
    th = CONFIG.threshold
    net = C.graph_impact(graph, embedded)
    p, _ = C.standalone_pd(graph)
    want = C.monte_carlo(
        net.matrix, p, C.loss_weights(graph), scenarios=100, rho=th("contagion_mc_rho"), seed=0
    ).to_frame()
    got = spark_results["monte_carlo"]
    assert got["scenario"].tolist() == want["scenario"].tolist()
    for column in ("defaults_without_contagion", "defaults_with_contagion"):
        assert got[column].tolist() == want[column].tolist(), column
    assert (want["defaults_with_contagion"] > want["defaults_without_contagion"]).sum() > 50
    for column in ("loss_without_contagion", "loss_with_contagion"):
        assert relative(got[column], want[column]) <= 1e-9, column
    summary, expected = spark_results["summary"], embedded.results["contagion"].summary
    for name in ("impact_links", "candidates", "too_connected_to_fail", "network_pd_uplift", "notes"):
        assert summary[name] == expected[name], name
    assert summary["mean_network_pd"] == pytest.approx(expected["mean_network_pd"], rel=1e-9)
    # The largest eigenvalue over the component batches, each to ARPACK's 1e-8: the whole matrix's.
    assert expected["spectral_radius"] > 0.1
    assert summary["spectral_radius"] == pytest.approx(expected["spectral_radius"], rel=1e-6)
    for dist in ("without_contagion", "with_contagion"):
        assert summary["losses"][dist] == pytest.approx(expected["losses"][dist], rel=1e-9)


def test_impact_components_in_the_summary(spark_results: dict[str, Any]) -> None:
    """At the default cap every impact component of 10k runs in one task each: nothing in the rounds."""
    info = spark_results["summary"]["impact_components"]
    assert info["largest"] > 100 and info["largest_collected"] == info["largest"]
    assert info["firms_in_distributed_rounds"] == 0


def test_spectral_radius_by_hand(spark: SparkSession) -> None:
    from graphrisk.engines.spark.contagion import impact_components, spectral_radius

    # Two components: the ring A ⇄ B (0.5 and 0.8: eigenvalues ±√0.4) and the chain C → D → E (nilpotent: 0).
    # The matrix's spectral radius is the larger of the blocks', √0.4, whether they share a task or not; above
    # the cap there is no figure.
    impact = impact_frame(spark, [("A", "B", 0.5), ("B", "A", 0.8), ("C", "D", 0.9), ("D", "E", 0.9)])
    for batches in (1, 2):
        radius = spectral_radius(impact, impact_components(impact, batches=batches, cap=3))
        assert radius == pytest.approx(0.4**0.5, rel=1e-9)
    assert spectral_radius(impact, impact_components(impact, batches=2, cap=2)) is None
    chain = impact_frame(spark, [("C", "D", 0.9), ("D", "E", 0.9)])
    # Nilpotent: 0, to ARPACK's tolerance (the embedded solve gives the same few 1e-9 on this matrix).
    assert spectral_radius(chain, impact_components(chain, batches=1, cap=3)) == pytest.approx(0.0, abs=1e-7)


def test_mixed_components_and_rounds_parity(
    spark: SparkSession, graph: EnterpriseGraph, embedded: AnalysisContext, tables: dict[str, DataFrame],
    impact: DataFrame,
) -> None:  # fmt: skip
    """A cap just below the largest impact component sends that component to the distributed rounds and every other
    to one task per batch: network PD, systemic importance and the Monte Carlo still equal the embedded ones."""
    from pyspark.sql import functions as F

    from graphrisk.engines.spark import contagion as CT

    everything = CT.impact_components(impact, batches=4, cap=10**9)
    largest = int(everything.agg(F.max("firms")).first()[0])
    components = CT.impact_components(impact, batches=4, cap=largest - 1).localCheckpoint()
    th = CONFIG.threshold
    exposure = CT.firm_exposure(tables).localCheckpoint()
    # The 40 largest borrowers (all in the largest component) and up to 20 firms of smaller ones that impact someone.
    top = CT.candidates_by_exposure(impact, exposure, 40).select("id")
    sources = impact.select(F.col("source_id").alias("id")).distinct()
    others = components.where(F.col("_batch") >= 0).join(sources, "id", "left_semi").orderBy("id").limit(20)
    cands = top.unionByName(others.select("id")).localCheckpoint()
    sides = cands.join(components, "id").groupBy(F.col("_batch") < 0).count().collect()
    counts = sorted(r["count"] for r in sides)  # both paths, or the test proves nothing (10k has 8 such firms)
    assert len(counts) == 2 and counts[0] >= 5 and counts[1] == 40, sides
    got = CT.systemic_importance(
        impact, cands, exposure, components=components, batch=64,
        hit_distress=th("contagion_hit_distress"), min_distress=th("contagion_min_distress"),
    ).orderBy("rank").toPandas()  # fmt: skip
    net = C.graph_impact(graph, embedded)
    ead = graph.ead[: graph.n_enterprises]
    position = {str(i): k for k, i in enumerate(net.ids)}
    chosen = [position[r["id"]] for r in cands.collect()]
    want = C.systemic_importance(
        net.matrix, chosen, weights=ead, loss_weight=C.loss_weights(graph),
        ead=ead, ids=net.ids, hit_distress=th("contagion_hit_distress"), min_distress=th("contagion_min_distress"),
    )  # fmt: skip
    assert (want["firms_hit"] > 0).sum() > 30
    assert got["id"].tolist() == want["id"].tolist()
    assert got["firms_hit"].tolist() == want["firms_hit"].tolist()
    assert got["new_defaults"].tolist() == want["new_defaults"].tolist()
    for column in ("systemic_debtrank", "loss_if_default", "ead_hit_share"):
        assert relative(got[column], want[column]) <= 1e-9, column
    p, _ = C.standalone_pd(graph)
    npd = CT.network_pd(CT.standalone_pd(tables), impact, components=components).orderBy("id").toPandas()
    expected_npd = C.network_pd(p, net.matrix, ids=net.ids).to_frame().sort_values("id")
    assert npd["id"].tolist() == expected_npd["id"].tolist()
    assert (expected_npd["uplift"] > 0).sum() > 1000
    assert relative(npd["network_pd"], expected_npd["network_pd"]) <= 1e-9
    rho = th("contagion_mc_rho")
    mc = CT.monte_carlo(
        impact, CT.standalone_pd(tables), exposure, scenarios=60, rho=rho, seed=0, batch=30, components=components
    ).orderBy("scenario").toPandas()  # fmt: skip
    expected = C.monte_carlo(net.matrix, p, C.loss_weights(graph), scenarios=60, rho=rho, seed=0).to_frame()
    for column in ("defaults_without_contagion", "defaults_with_contagion"):
        assert mc[column].tolist() == expected[column].tolist(), column
    for column in ("loss_without_contagion", "loss_with_contagion"):
        assert relative(mc[column], expected[column]) <= 1e-9, column


def test_default_cascade_parity(spark: SparkSession, graph: EnterpriseGraph, impact: DataFrame) -> None:
    """Several scenarios in one state: each equals the embedded ``default_cascade`` of its seeds (a firm on the
    edge of default in one engine would show up as a different default set)."""
    from graphrisk.engines.spark.contagion import default_cascade

    net = C.impact_matrix(graph, as_of=SPARK_DAY)
    ead = graph.ead[: graph.n_enterprises]
    seeds = [np.argsort(-ead, kind="stable")[i : i + 3] for i in (0, 3, 6, 9)]  # three big borrowers each
    rows = [(k, str(net.ids[s]), 1.0) for k, group in enumerate(seeds) for s in group]
    frame = spark.createDataFrame(rows, "scenario long, id string, initial double")
    got = default_cascade(impact, frame).toPandas()
    reached = 0
    for k, group in enumerate(seeds):
        want = C.default_cascade(net.matrix, group, ids=net.ids).to_frame().set_index("id")
        mine = got[got["scenario"] == k].set_index("id")
        assert set(mine.index) == set(want.index)
        mine = mine.reindex(want.index)
        assert mine["defaulted"].tolist() == want["defaulted"].tolist()
        assert mine["round"].tolist() == want["round"].astype(int).tolist()
        assert relative(mine["distress"], want["distress"]) <= 1e-9
        reached += int(want["defaulted"].sum()) - 3
    assert reached > 0  # some cascade goes beyond its seeds


def test_candidates_by_exposure_parity(graph: EnterpriseGraph, tables: dict[str, DataFrame], impact: DataFrame) -> None:
    from graphrisk.engines.spark.contagion import candidates_by_exposure, firm_exposure

    net = C.impact_matrix(graph, as_of=SPARK_DAY)
    ead = graph.ead[: graph.n_enterprises]
    for limit in (1, 500, 5000):
        want = {str(net.ids[i]) for i in C.candidates_by_exposure(net.matrix, ead, limit)}
        got = candidates_by_exposure(impact, firm_exposure(tables), limit).toPandas()
        assert set(got["id"]) == want, limit
    assert len(want) > (ead > 0).sum()  # 5,000 reaches past the borrowers: ties on EAD 0 broken by degree, id
    pd.testing.assert_series_equal(
        pd.Series(C.loss_weights(graph), index=list(net.ids), name="loss_weight"),
        firm_exposure(tables).toPandas().set_index("id")["loss_weight"].reindex(list(net.ids)),
        rtol=1e-12, check_names=False, check_index_type=False,
    )  # fmt: skip
