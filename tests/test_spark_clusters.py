"""Risky clusters on Spark (issue 9, step 7) against the embedded ``risk_clusters`` analysis.

The 10k portfolio (seed 0) runs through the embedded scan (ownership, guarantees, hidden links, contagion, risk
clusters); the earlier analyses' tables are handed to Spark as DataFrames (their Spark ports are tested apart).
The clusters (members, numbers), every figure (within 1e-9 relative), the members' roles and the flags (reasons
equal, evidence equal with floats within 1e-9) must agree. A small portfolio (hand-built firms, plus two
components of 30 firms tied by seeded random suspected links) checks person hubs, ties that must not count,
numbering across batches and both Leiden scopes: there one Leiden call per large component (the default of both
engines) and one call over the two large components give different partitions; the default must equal the
embedded scan and ``leiden_scope="portfolio"`` the embedded steps run with ``per_component=False``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pytest
from conftest import SPARK_DAY

from graphrisk.analysis import AnalysisContext, AnalysisResult
from graphrisk.analysis.clusters import (
    INDICATORS,
    _flags,
    cluster_indicators,
    cluster_inputs,
    cluster_tables,
    risk_clusters,
    risk_clusters_analysis,
    risk_graph,
    score_clusters,
)
from graphrisk.config import Config
from graphrisk.graph import EnterpriseGraph
from graphrisk.scan import run_scan

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

_EARLIER = ["ownership", "guarantees", "hidden_links", "contagion"]
KEYS = {"clusters": ["cluster_id"], "cluster_members": ["member_id"], "flags": ["entity_id"]}


# ------------------------------------------------------------------------------------------------ helpers


def _to_spark(spark: SparkSession, frame: pd.DataFrame, columns: dict[str, str]) -> DataFrame:
    """Columns of an embedded table as a Spark DataFrame (object dtype, None for missing: pyspark 3.5 and pandas 3)."""
    kinds = list(columns.values())
    rows = [
        tuple(None if pd.isna(v) else (float(v) if k == "double" else str(v)) for v, k in zip(r, kinds, strict=True))
        for r in frame[list(columns)].itertuples(index=False)
    ]
    return spark.createDataFrame(rows, ", ".join(f"{c} {t}" for c, t in columns.items()))


def _spark_inputs(spark: SparkSession, results: dict[str, AnalysisResult], names: list[str]) -> dict[str, Any]:
    """The earlier analyses' tables that the cluster analysis reads, as keyword arguments of clusters_analysis."""
    out: dict[str, Any] = {}
    if "ownership" in names:
        out["controllers"] = _to_spark(
            spark,
            results["ownership"].tables["controllers"],
            {"company_id": "string", "controller_id": "string", "controller_kind": "string"},
        )
    if "hidden_links" in names:
        out["suspected_links"] = _to_spark(
            spark,
            results["hidden_links"].tables["suspected_links"],
            {"a_id": "string", "b_id": "string", "score": "double"},
        )
    if "guarantees" in names:
        g = results["guarantees"].tables
        out["guarantors"] = _to_spark(spark, g["guarantors"], {"entity_id": "string", "circle_id": "string"})
        out["guarantee_patterns"] = _to_spark(
            spark, g["guarantee_patterns"], {"pattern": "string", "pattern_id": "string", "members": "string"}
        )
    if "contagion" in names:
        out["contagion"] = _to_spark(
            spark, results["contagion"].tables["contagion"], {"id": "string", "pd": "double", "network_pd": "double"}
        )
    return out


def _plain(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def _same(a: Any, b: Any) -> bool:
    """Equal, floats within 1e-9 relative; JSON evidence compared as data."""
    a, b = _plain(a), _plain(b)
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and (a == b or math.isclose(a, b, rel_tol=1e-9))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def assert_same_rows(want: pd.DataFrame, got: pd.DataFrame, key: list[str]) -> None:
    """Same columns and rows (after sorting by ``key``); floats within 1e-9 relative, everything else equal."""
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    w = want.sort_values(key, kind="stable").reset_index(drop=True)
    g = got.sort_values(key, kind="stable").reset_index(drop=True)
    bad: list[str] = []
    for column in w.columns:
        for row, (a, b) in enumerate(zip(w[column], g[column], strict=True)):
            if column == "evidence":
                a, b = json.loads(a), json.loads(b)
            if not _same(a, b):
                bad.append(f"{column} row {row}: embedded {a!r} spark {b!r}")
    assert not bad, f"{len(bad)} differences, first: " + "; ".join(bad[:3])


def _embedded_tables(result: AnalysisResult) -> dict[str, pd.DataFrame]:
    return {**result.tables, "flags": result.flags}


def _partition(members: pd.Series) -> set[frozenset[str]]:
    return {frozenset(str(m).split(";")) for m in members}


# ------------------------------------------------------------------------------------------------ 10k parity


@pytest.fixture(scope="module")
def scan(graph: EnterpriseGraph) -> AnalysisContext:
    """The embedded scan's earlier analyses and the risk clusters, as the scan runs them."""
    context = AnalysisContext(config=Config(), as_of=SPARK_DAY)
    run_scan(graph, context, only=[*_EARLIER, "risk_clusters"])
    return context


@pytest.fixture(scope="module")
def both(
    spark: SparkSession, tables: dict[str, DataFrame], scan: AnalysisContext
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], dict[str, Any]]:
    from graphrisk.engines.spark.clusters import clusters_analysis

    stats: dict[str, Any] = {}
    inputs = _spark_inputs(spark, scan.results, _EARLIER)
    out = clusters_analysis(tables, SPARK_DAY, Config(), stats=stats, **inputs)
    got = {name: frame.toPandas() for name, frame in out.items()}
    return _embedded_tables(scan.results["risk_clusters"]), got, stats


def test_clusters_parity(both: tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], dict[str, Any]]) -> None:
    want, got, _ = both
    clusters = want["clusters"]
    # Enough of everything to test: hundreds of clusters, each severity, cut from a component Leiden split.
    assert len(clusters) > 500 and clusters["component_firms"].max() > 1000
    assert {"high", "medium", "low", "none"} <= set(clusters["severity"])
    assert _partition(got["clusters"]["members"]) == _partition(clusters["members"])
    assert_same_rows(clusters, got["clusters"], KEYS["clusters"])


def test_members_parity(both: tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], dict[str, Any]]) -> None:
    want, got, _ = both
    roles = set(";".join(want["cluster_members"]["role"]).split(";"))
    assert roles == {"hub", "controller", "guarantor", "borrower", "member"}
    assert_same_rows(want["cluster_members"], got["cluster_members"], KEYS["cluster_members"])


def test_flags_parity(both: tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], dict[str, Any]]) -> None:
    want, got, _ = both
    assert set(want["flags"]["severity"]) == {"high", "medium"} and len(want["flags"]) > 50
    assert_same_rows(want["flags"], got["flags"], KEYS["flags"])


def test_components_as_embedded(
    both: tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], dict[str, Any]],
    scan: AnalysisContext,
    graph: EnterpriseGraph,
) -> None:
    """The components clustered and split are the embedded ones, and the largest (the bound of one task) is the
    embedded risk graph's largest component: the giant one of the synthetic portfolios."""
    import scipy.sparse.csgraph as csgraph

    _, _, stats = both
    summary = scan.results["risk_clusters"].summary
    assert stats["components_clustered"] == summary["components_clustered"]
    assert stats["components_split"] == summary["components_split"] == 1
    risk = risk_graph(
        graph,
        as_of=SPARK_DAY,
        controllers=scan.results["ownership"].tables["controllers"],
        suspected_links=scan.results["hidden_links"].tables["suspected_links"],
    )
    _, comp = csgraph.connected_components(risk.matrix, directed=False)
    assert stats["largest_component"] == np.bincount(comp).max() > 0.9 * risk.matrix.shape[0]


# ------------------------------------------------------------------------------------------------ small portfolio


def _embedded_one_call(graph: EnterpriseGraph, context: AnalysisContext) -> dict[str, pd.DataFrame]:
    """The embedded analysis with Leiden run once over all the large components: the steps of
    risk_clusters_analysis with ``per_component=False``."""
    th = context.config.threshold
    res = context.results
    x = cluster_inputs(graph, as_of=context.as_of, results=res)
    risk = risk_graph(
        graph,
        as_of=context.as_of,
        controllers=res["ownership"].tables["controllers"] if "ownership" in res else None,
        suspected_links=res["hidden_links"].tables["suspected_links"] if "hidden_links" in res else None,
        supply_share=th("cluster_supply_share"),
    )
    clustering = risk_clusters(
        risk,
        min_size=int(th("cluster_min_size")),
        split_min_size=int(th("cluster_split_min_size")),
        resolution=th("cluster_resolution"),
        seed=int(th("cluster_seed")),
        per_component=False,
    )
    values = cluster_indicators(
        clustering.labels,
        x,
        pd_full=th("cluster_pd_full"),
        uplift_full=th("cluster_uplift_full"),
        ead_share_full=th("cluster_ead_share_full"),
    )
    high, medium = th("cluster_high"), th("cluster_medium")
    weights = {i.name: th(f"cluster_weight_{i.name}") for i in INDICATORS}
    scored = score_clusters(values, weights, high=high, medium=medium, low=th("cluster_low"))
    clusters, members = cluster_tables(graph, risk, clustering, scored, x)
    return {"clusters": clusters, "cluster_members": members, "flags": _flags(clusters, high=high, medium=medium)}


# ------------------------------------------------------------------------------------------------ by hand


def _write(folder: Path, name: str, frame: pd.DataFrame) -> None:
    frame.to_csv(folder / f"{name}.csv", index=False, encoding="utf-8")


def _random_links(seed: int = 7, firms: int = 30, extra: int = 20) -> pd.DataFrame:
    """Suspected links of two components, V00 … V29 and W00 … W29: a random spanning tree and ``extra`` more pairs
    each, scores 0.02 … 1 (two decimals), from a seeded generator. With seed 7, one Leiden call over both and one
    call per component give different partitions (found by trying seeds; the test checks it)."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, float]] = []
    for prefix in ("V", "W"):
        ids = [f"{prefix}{i:02d}" for i in range(firms)]
        pairs = {(int(rng.integers(0, i)), i) for i in range(1, firms)}
        while len(pairs) < firms - 1 + extra:
            i, j = sorted(rng.choice(firms, 2, replace=False).tolist())
            pairs.add((i, j))
        rows += [(ids[i], ids[j], round(float(rng.uniform(0.02, 1.0)), 2)) for i, j in sorted(pairs)]
    return pd.DataFrame(rows, columns=["a_id", "b_id", "score"])


def _hand_portfolio(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The files of the small portfolio (see the test) and its controllers and suspected links tables."""
    random_links = _random_links()
    firms = [*"ABCDEFGHIJKLMN", *sorted(set(random_links["a_id"]) | set(random_links["b_id"]))]
    rest = len(firms) - 14
    _write(
        folder,
        "enterprises",
        pd.DataFrame({
            "id": firms,
            "name": [f"firm {f}" for f in firms],
            "net_assets": [100.0, 50.0, 0.0, None, 200.0, *[100.0] * 9, *[100.0] * rest],
            "registered_capital": [None, None, 80.0, *[None] * 11, *[None] * rest],
            "pd": [0.05, 0.1, 0.2, None, 0.3, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09,
                   *[0.01 * (1 + i % 20) for i in range(rest)]],
            "defaulted": [False, False, False, False, True, *[False] * 9, *[i % 17 == 0 for i in range(rest)]],
        }),
    )  # fmt: skip
    _write(folder, "persons", pd.DataFrame({"id": ["P1", "P2"], "name": ["甲", "乙"]}))
    rows = [("A", "B", 30.0, "L1", None), ("A", "B", 20.0, "L2", None), ("B", "C", 60.0, "L3", None),
            ("C", "A", 40.0, "L4", None), ("C", "D", 20.0, "L5", None), ("D", "E", 10.0, "L6", None),
            ("E", "F", 300.0, "L7", None), ("F", "D", 50.0, "L8", None), ("K", "G", 30.0, "L9", None),
            ("L", "M", 10.0, "L10", None), ("K", "L", 99.0, "L11", "2025-01-01")]  # fmt: skip
    _write(folder, "guarantees", pd.DataFrame(rows, columns=["guarantor_id", "borrower_id", "amount", "loan_id",
                                                             "end_date"]))  # fmt: skip
    _write(
        folder,
        "supply_links",
        pd.DataFrame({"supplier_id": ["G", "H", "N"], "customer_id": ["J", "K", "L"],
                      "share_of_supplier_revenue": [0.7, 0.55, 0.3], "share_of_customer_purchases": [None, 0.1, 0.2],
                      "year": [2025, 2025, 2025]}),
    )  # fmt: skip
    _write(
        folder,
        "exposures",
        pd.DataFrame({"borrower_id": ["A", "A", "E", "G", "J", "L", "V03", "W05", "W05"],
                      "facility_id": [f"f{i}" for i in range(9)],
                      "ead": [10.0, 5.0, 7.0, 20.0, 3.0, 4.0, 50.0, 8.0, 9.0]}),
    )  # fmt: skip
    controllers = pd.DataFrame({
        "company_id": ["G", "H", "I", "J", "N", "A"],
        "controller_id": ["P1", "P1", "P1", "I", "P2", "SASAC"],
        "controller_kind": ["person", "person", "person", "enterprise", "person", "state"],
    })  # fmt: skip
    links = pd.DataFrame({"a_id": ["A", "C", "J"], "b_id": ["B", "G", "K"], "score": [0.0, 0.0, 0.9]})
    links = pd.concat([links, random_links], ignore_index=True)
    return controllers, links


def test_small_portfolio_both_leiden_scopes(spark: SparkSession, tmp_path: Path) -> None:
    """Hubs, ties that must not count, numbering across batches and both Leiden scopes on a small portfolio.

    Component X: guarantee rings A → B → C → A and D → E → F → D joined by C → D (6 firms; A → B twice, summed);
    a suspected link A–B of score 0 ties nothing but counts in X's link density (1 of 15 pairs); B, C and E
    guarantee more than their net assets (60 > 50, 60 > 0, 300 > 200). Component Y: person P1 actually controls
    G, H and I (a hub: in Y, not a member), firm I controls J, G supplies 70 % of its revenue to J, H 55 % to K,
    J–K is a suspected link (0.9), K guarantees G (5 firms). Both are below the split size (10 firms): one cluster
    each. L → M is a pair (too small); N is controlled by P2 alone (no hub) and supplies L below 50 % (no tie); the
    link C–G of score 0 ties nothing; the state controller of A ties nothing; K → L expired. Components V and W
    (30 firms each, random suspected links) are split by Leiden, and one call each (the embedded scan) gives
    another partition than one call over both: the default ``leiden_scope="component"`` must equal the embedded
    scan, ``"portfolio"`` the embedded steps with ``per_component=False``.
    """
    from graphrisk.engines.spark.clusters import _batch_of, clusters_analysis
    from graphrisk.engines.spark.io import read_tables
    from loaders import load_tables

    controllers, links = _hand_portfolio(tmp_path)
    graph = EnterpriseGraph(load_tables(tmp_path, pseudonym_key=b"hand"))
    earlier = {
        "ownership": AnalysisResult(name="ownership", tables={"controllers": controllers}),
        "hidden_links": AnalysisResult(name="hidden_links", tables={"suspected_links": links}),
    }
    context = AnalysisContext(config=Config(), as_of=SPARK_DAY, results=earlier)
    run_scan(graph, context, only=["guarantees"])
    result = risk_clusters_analysis(graph, context)
    assert result.summary["components_clustered"] == 4 and result.summary["components_split"] == 2
    per, whole = _embedded_tables(result), _embedded_one_call(graph, context)
    assert _partition(whole["clusters"]["members"]) != _partition(per["clusters"]["members"])
    clusters = per["clusters"].set_index("members")
    assert sum(m[0] in "VW" for m in clusters.index) >= 3  # Leiden cut at least one of V and W
    clusters = clusters.loc[["A;B;C;D;E;F", "G;H;I;J;K"]]  # X and Y whole; L, M and N in no cluster
    assert len(per["cluster_members"]) == 6 + 5 + 60
    assert clusters["controllers"].tolist() == ["", "P1"]
    assert clusters["suspected_links"].tolist() == [1, 1]
    assert clusters["revolving_count"].tolist() == [2, 0]
    assert clusters["over_guaranteed_count"].tolist() == [3, 0]
    assert "controller" in str(per["cluster_members"].set_index("member_id").loc["I", "role"])

    tables = read_tables(spark, tmp_path)
    inputs = {
        "controllers": _to_spark(spark, controllers, dict.fromkeys(controllers.columns, "string")),
        "suspected_links": _to_spark(spark, links, {"a_id": "string", "b_id": "string", "score": "double"}),
        **_spark_inputs(spark, context.results, ["guarantees"]),
    }
    keys = spark.createDataFrame([(k,) for k in ("A", "G", "V00", "W00")], "component string")
    assert keys.select(_batch_of(3, None)).distinct().count() >= 2  # the clusters come from several batches
    runs: list[tuple[Literal["component", "portfolio"], dict[str, pd.DataFrame]]] = [
        ("portfolio", whole),
        ("component", per),
    ]
    for scope, want in runs:
        stats: dict[str, Any] = {}
        out = clusters_analysis(tables, SPARK_DAY, Config(), batches=3, leiden_scope=scope, stats=stats, **inputs)
        assert (stats["components_clustered"], stats["components_split"], stats["largest_component"]) == (4, 2, 30)
        got = {name: frame.toPandas() for name, frame in out.items()}
        for name, key in KEYS.items():
            assert_same_rows(want[name], got[name], key)
