"""The Spark engine (issue 9, milestone 1) against the embedded engine on the synthetic 10k portfolio.

Real Spark in local[2] with the jars of ``scripts/spark.py fetch``; one SparkSession for the whole test session.
A missing pyspark or jar fails with the fix (``bash scripts/test.sh`` installs both), never skips.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from graphrisk.analysis import contagion, groups, hidden_links
from graphrisk.analysis.guarantees import guarantee_circles, guarantee_network, mutual_guarantees
from graphrisk.analysis.ownership import actual_controllers
from graphrisk.engines.spark.session import SparkEngineError, jar_paths
from graphrisk.graph import EnterpriseGraph

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

DAY = date(2026, 6, 30)


def sets(frame: pd.DataFrame, key: str, member: str) -> set[frozenset[str]]:
    return {frozenset(v) for v in frame.groupby(key)[member].apply(list)}


# ------------------------------------------------------------------------------------------------ set-up


def test_missing_jars_fail_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SparkEngineError, match=r"scripts/spark.py fetch"):
        jar_paths(tmp_path)


def test_core_does_not_import_pyspark() -> None:
    code = "import sys, graphrisk.cli.main, graphrisk.scan, graphrisk.analysis; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_read_tables_types_and_aliases(spark: SparkSession, tmp_path: Path) -> None:
    from graphrisk.engines.spark.io import read_tables

    (tmp_path / "enterprises.csv").write_text("\ufeff企业编号,name,净资产\nA,甲,100\nB,乙,\n", encoding="utf-8")
    (tmp_path / "担保.csv").write_text(
        "担保人,被担保人,担保金额(万元),start_date\nA,B,12,2024/1/31\n", encoding="utf-8"
    )
    t = read_tables(spark, tmp_path)
    ent = t["enterprises"].orderBy("id").toPandas()
    assert ent["id"].tolist() == ["A", "B"] and ent["net_assets"].tolist()[0] == 100.0
    g = t["guarantees"].collect()[0]
    assert (g["guarantor_id"], g["amount"], g["start_date"]) == ("A", 120000.0, date(2024, 1, 31))
    assert t["supply_links"].count() == 0 and "year" in t["supply_links"].columns


def test_connected_components_by_hand(spark: SparkSession) -> None:
    from graphrisk.engines.spark.graph import connected_components, strong_components

    edges = spark.createDataFrame(
        [("A", "B"), ("B", "A"), ("C", "B"), ("D", "E"), ("F", "G"), ("G", "H"), ("H", "F")], "src string, dst string"
    )
    cc = connected_components(edges, spark.createDataFrame([("Q",)], "id string"))
    got = dict(map(tuple, cc.collect()))
    assert got == {"A": "A", "B": "A", "C": "A", "D": "D", "E": "D", "F": "F", "G": "F", "H": "F", "Q": "Q"}
    scc = dict(map(tuple, strong_components(edges, cc).collect()))
    assert scc == {"A": "A", "B": "A", "F": "F", "G": "F", "H": "F"}


def test_connected_components_long_chain(spark: SparkSession) -> None:
    """A 300-firm chain numbered out of order: the worst case for label propagation converges here too."""
    from graphrisk.engines.spark.graph import connected_components

    ids = [f"{(i * 7919) % 300:04d}" for i in range(300)]
    edges = spark.createDataFrame(list(itertools.pairwise(ids)), "src string, dst string")
    got = {r["component"] for r in connected_components(edges).collect()}
    assert got == {"0000"}


# ------------------------------------------------------------------------------------------------ parity


def test_guarantee_circles_parity(graph: EnterpriseGraph, components: DataFrame) -> None:
    from graphrisk.engines.spark import steps

    net = guarantee_network(graph, as_of=DAY)
    embedded = {frozenset(net.ids(c)) for c in guarantee_circles(net)}
    got = sets(steps.guarantee_circles(components).toPandas(), "circle", "entity_id")
    assert len(embedded) > 20 and got == embedded


def test_guarantee_cores_parity(graph: EnterpriseGraph, active: DataFrame, components: DataFrame) -> None:
    from graphrisk.engines.spark import steps

    net = guarantee_network(graph, as_of=DAY)
    strong = net.strong
    sizes = np.bincount(strong)
    frame = pd.DataFrame({"scc": strong, "id": graph.node_ids[: len(strong)].astype(str)})[sizes[strong] >= 2]
    embedded = sets(frame, "scc", "id")
    got = sets(steps.guarantee_cores(active, components).toPandas(), "core", "entity_id")
    assert len(embedded) > 10 and got == embedded


def test_mutual_guarantees_parity(graph: EnterpriseGraph, active: DataFrame) -> None:
    from graphrisk.engines.spark import steps

    embedded = {p.members: p.guaranteed_amount for p in mutual_guarantees(guarantee_network(graph, as_of=DAY))}
    got = {(r.a_id, r.b_id): r.guaranteed_amount for r in steps.mutual_guarantees(active).toPandas().itertuples()}
    assert len(embedded) > 10 and got.keys() == embedded.keys()
    assert all(got[k] == pytest.approx(v, rel=1e-12) for k, v in embedded.items())


def test_counterparty_groups_parity(spark: SparkSession, graph: EnterpriseGraph, tables: dict[str, Any]) -> None:
    """Control ties from the embedded controllers table (the closure is not ported), the economic ties and the
    components on Spark: the same partition of firms into groups."""
    from graphrisk.engines.spark import steps

    ctrl = actual_controllers(graph)
    embedded = sets(groups.counterparty_groups(graph, ctrl, as_of=DAY), "group_id", "member_id")
    cols = ["company_id", "controller_id", "controller_kind", "path"]
    rows = [tuple(None if pd.isna(v) else str(v) for v in r) for r in ctrl[cols].itertuples(index=False)]
    controllers = spark.createDataFrame(rows, ", ".join(f"{c} string" for c in cols))
    ties = steps.group_ties(tables, DAY, controllers)
    got = sets(steps.counterparty_groups(tables, ties).toPandas(), "group_key", "member_id")
    assert len(embedded) > 20 and got == embedded


def test_contact_pairs_parity(graph: EnterpriseGraph, tables: dict[str, Any]) -> None:
    from graphrisk.engines.spark import steps

    sig = hidden_links.firm_signals(graph)
    sig = sig[sig["signal"].isin(["phone", "email"])]
    ids = graph.node_ids
    embedded = {(ids[a], ids[b], s): w for a, b, s, w in zip(sig.a, sig.b, sig.signal, sig.weight, strict=True)}
    got_frame = steps.contact_pairs(tables).toPandas()
    got = {
        (a, b, s): w
        for a, b, s, w in zip(got_frame.a_id, got_frame.b_id, got_frame.signal, got_frame.weight, strict=True)
    }
    assert len(embedded) > 50 and got.keys() == embedded.keys()
    assert all(abs(got[k] - v) <= 1e-12 for k, v in embedded.items())
    # The cap holds before pairing: no value is shared by more than hidden_links_exclusivity_cap firms.
    assert got_frame["k"].max() <= 10


def test_impact_and_debtrank_parity(graph: EnterpriseGraph, tables: dict[str, Any]) -> None:
    from graphrisk.engines.spark import steps

    impact = contagion.impact_matrix(graph, as_of=DAY)
    edges = steps.impact_edges(tables, DAY).cache()
    emb = impact.to_frame().set_index(["source_id", "target_id"])["impact"]
    got = edges.toPandas().set_index(["source_id", "target_id"])["impact"]
    assert set(got.index) == set(emb.index)
    assert float((got.reindex(emb.index) - emb).abs().max()) <= 1e-12
    seed = str(graph.node_ids[int(np.argmax(graph.ead[: graph.n_enterprises]))])
    want = contagion.debtrank(impact.matrix, [graph.node(seed)], ids=impact.ids).to_frame().set_index("id")
    hit = steps.debtrank_single_hit(edges, [seed]).toPandas().set_index("id")
    assert len(want) > 100 and set(hit.index) == set(want.index)
    assert float((hit["distress"].reindex(want.index) - want["distress"]).abs().max()) <= 1e-9
