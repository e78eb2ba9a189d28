"""The ``structure`` and ``graph_summary`` analyses on Spark against the embedded ones, on the synthetic 10k portfolio
and on a hand-made graph with ties in component size, persons, parallel and self edges.

Degrees per relation and end, component numbers and figures, degree statistics (exact percentiles), hub flags
(reasons and evidence word for word) and the summary must be equal; EAD sums within 1e-9 relative.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from conftest import SPARK_DAY

from graphrisk.analysis import AnalysisContext
from graphrisk.analysis.structure import structure
from graphrisk.config import Config
from graphrisk.graph import EnterpriseGraph

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark


def _compare(got: dict[str, Any], graph: EnterpriseGraph, config: Config) -> None:
    want = structure(graph, AnalysisContext(config=config, as_of=SPARK_DAY))
    degrees = got["degrees"].toPandas().sort_values(["rank", "entity_id"]).drop(columns="rank").reset_index(drop=True)
    emb = want.tables["degrees"].reset_index(drop=True)
    assert list(degrees.columns) == list(emb.columns)
    for column in emb.columns:
        assert degrees[column].astype(str).tolist() == emb[column].astype(str).tolist(), column

    comps = got["components"].toPandas().sort_values("component_id").reset_index(drop=True)
    emb = want.tables["components"].reset_index(drop=True)
    assert list(comps.columns) == list(emb.columns) and len(comps) == len(emb) > 0
    for column in emb.columns:
        if column == "total_ead":
            assert np.allclose(comps[column].astype(float), emb[column].astype(float), rtol=1e-9, atol=0)
        else:
            assert comps[column].astype(str).tolist() == emb[column].astype(str).tolist(), column

    stats = got["degree_stats"].toPandas()
    emb = want.tables["degree_stats"]
    assert list(stats.columns) == list(emb.columns)
    pd.testing.assert_frame_equal(stats, emb, check_dtype=False, rtol=1e-12)

    flags = got["flags"].toPandas()
    key = ["entity_id", "reason"]
    emb = want.flags[["entity_id", "flag", "severity", "reason", "evidence"]]
    assert sorted(map(tuple, flags[emb.columns].astype(str).values.tolist())) == sorted(
        map(tuple, emb.astype(str).values.tolist())
    ), key
    assert got["summary"] == want.summary


def test_structure_parity_on_10k(spark: SparkSession, graph: EnterpriseGraph, tables: dict[str, DataFrame]) -> None:
    from graphrisk.engines.spark.structure import graph_counts, structure_analysis

    config = Config()
    got = structure_analysis(tables, config)
    assert got["summary"]["hubs"] > 0 and got["summary"]["components"] > 10  # the data exercises the flags
    _compare(got, graph, config)
    counts = graph_counts(tables)
    want = graph.summary()
    assert counts["total_ead"] == pytest.approx(want.pop("total_ead"), rel=1e-12)
    counts.pop("total_ead")
    assert counts == want


def test_structure_on_a_hand_graph(spark: SparkSession, tmp_path: Path) -> None:
    """Two components of four nodes (a size tie, broken by the smallest member), persons as officers, isolated
    firms, and hubs at a low threshold."""
    from graphrisk.engines.spark.io import read_tables
    from graphrisk.engines.spark.structure import structure_analysis
    from loaders import load_tables

    pd.DataFrame({"id": list("ABCDEFGH"), "name": [f"公司{c}" for c in "ABCDEFGH"]}).to_csv(
        tmp_path / "enterprises.csv", index=False
    )
    pd.DataFrame({"id": ["P1", "P2"], "name": ["张三", "李四"]}).to_csv(tmp_path / "persons.csv", index=False)
    pd.DataFrame(
        {"guarantor_id": ["E", "E", "H"], "borrower_id": ["F", "G", "E"], "amount": [1.0, 2.0, 3.0]}
    ).to_csv(tmp_path / "guarantees.csv", index=False)  # fmt: skip
    pd.DataFrame({"person_id": ["P1", "P1", "P2"], "company_id": ["B", "C", "B"], "role": ["董事"] * 3}).to_csv(
        tmp_path / "officers.csv", index=False
    )
    pd.DataFrame({"borrower_id": ["G", "B", "E"], "facility_id": ["L1", "L2", "L3"], "ead": [5.0, 5.0, 1.0]}).to_csv(
        tmp_path / "exposures.csv", index=False
    )
    config = Config(thresholds={"hub_degree": 2.0})
    graph = EnterpriseGraph(load_tables(tmp_path, pseudonym_key=b"hand"))
    got = structure_analysis(read_tables(spark, tmp_path), config)
    comps = got["components"].toPandas().sort_values("component_id")
    # {B, C, P1, P2} (4 nodes) first; then {E, F, G, H} (4 nodes, smallest member E > B); A and D alone.
    assert comps["anchor_id"].tolist() == ["B", "G"]
    # Hubs at 2: E guarantees two firms, B has two officers; P1 (an officer of two firms) is a person.
    hubs = got["flags"].toPandas()
    assert sorted(hubs["entity_id"]) == ["B", "E"]
    assert got["summary"]["isolated_entities"] == 2  # A and D
    _compare(got, graph, config)
