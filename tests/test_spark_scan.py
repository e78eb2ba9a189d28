"""``graphrisk scan --engine spark`` end to end on the synthetic 10k portfolio, against the embedded scan.

The Spark scan runs once (the CLI, local[2], in this process's SparkSession); every test reads its folder. For the
analyses the Spark engine has ported in full (``summary.json`` → ``analyses``), flags.csv holds the embedded
scan's flags of those analyses, row for row, and risk_scores.csv their scores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import comparable_flags

from graphrisk.analysis import AnalysisContext
from graphrisk.cli.main import main
from graphrisk.scan import risk_scores, run_scan

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from graphrisk.graph import EnterpriseGraph

pytestmark = pytest.mark.spark

DAY = "2026-06-30"


@pytest.fixture(scope="module")
def spark_report(spark: SparkSession, portfolio: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("spark-scan") / "report"
    result = CliRunner(env={"GRAPHRISK_PSEUDONYM_KEY": "spark-parity"}).invoke(
        main, ["scan", str(portfolio), "--engine", "spark", "--as-of", DAY, "--out", str(out), "--fail-on", "high"]
    )
    # Exit 3: the synthetic portfolio raises high flags, and --fail-on high says so (0 would mean none).
    assert result.exit_code in (0, 3), result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert result.exit_code == (3 if summary["flags_by_severity"].get("high") else 0)
    return out


@pytest.fixture(scope="module")
def summary(spark_report: Path) -> dict[str, Any]:
    return json.loads((spark_report / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def embedded_flags(graph: EnterpriseGraph) -> pd.DataFrame:
    from datetime import date

    return run_scan(graph, AnalysisContext(as_of=date.fromisoformat(DAY))).flags


def test_summary_names_every_step_and_file(spark_report: Path, summary: dict[str, Any]) -> None:
    assert summary["engine"] == "spark" and summary["not_ported"] and len(summary["run_id"]) == 12
    for name, info in summary["steps"].items():
        assert (spark_report / info["file"]).exists(), name
        assert info["where"] and info["seconds"] >= 0
    assert set(summary["steps"]) >= {"guarantee_circles", "mutual_guarantees", "counterparty_groups", "controllers",
                                     "control", "suspected_links", "risk_clusters", "flags", "risk_scores"}  # fmt: skip
    # The risk graph's giant component (one Leiden task) is reported: at 10k it holds most firms.
    assert summary["largest_risk_cluster_component"] > 5_000
    # Validation ran: every row is accounted for (rows in = loaded + rejected), and the 10k portfolio is clean.
    for name, stats in summary["data_quality"]["tables"].items():
        assert stats["rows"] == stats["accepted"] + stats["rejected"], name
        assert stats["loaded"] == stats["accepted"] - stats["duplicates_merged"], name
    assert summary["data_quality"]["tables"]["enterprises"]["accepted"] == 10_000
    assert (spark_report / "rejects.csv").exists()
    mutual = pd.read_csv(spark_report / "mutual_guarantees.csv", encoding="utf-8-sig")
    assert list(mutual.columns) == ["a_id", "b_id", "amount_ab", "amount_ba", "guaranteed_amount"]
    grp = pd.read_csv(spark_report / "groups.csv", encoding="utf-8-sig")
    assert grp["group_id"].str.match(r"^CG-\d{6}$").all()


def test_flags_equal_the_embedded_scan(
    spark_report: Path, summary: dict[str, Any], embedded_flags: pd.DataFrame
) -> None:
    ported = summary["analyses"]
    every = {"ownership", "guarantees", "hidden_links", "counterparty_groups", "contagion", "risk_clusters"}
    assert set(ported) >= every
    want = embedded_flags[embedded_flags["analysis"].isin(ported)]
    got = pd.read_csv(spark_report / "flags.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(got.columns) == list(want.columns)

    assert len(want) > 50 and comparable_flags(got) == comparable_flags(want)
    # And in the embedded order: severity, flag, entity.
    order = {"high": 0, "medium": 1, "low": 2}
    keys = list(zip(got["severity"].map(order), got["flag"], got["entity_id"], strict=True))
    assert keys == sorted(keys)


def test_risk_scores_equal_the_embedded_scores(
    spark_report: Path, summary: dict[str, Any], embedded_flags: pd.DataFrame
) -> None:
    want = risk_scores(embedded_flags[embedded_flags["analysis"].isin(summary["analyses"])])
    got = pd.read_csv(spark_report / "risk_scores.csv", encoding="utf-8-sig", dtype={"entity_id": str})
    assert len(want) > 50 and got["entity_id"].tolist() == want["entity_id"].tolist()
    for col in ("severity", "flag_count", "flags", "reasons"):
        assert got[col].astype(str).tolist() == want[col].astype(str).tolist(), col
    assert (got["risk_score"] - want["risk_score"].astype(float)).abs().max() <= 1e-9
