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


def test_report_page(spark_report: Path, summary: dict[str, Any], graph: EnterpriseGraph) -> None:
    """report.html: self-contained, the most severe flag with its firm's name, the top row of each main table, the
    contagion figures, and the cluster counts the summary gives."""
    import html as html_module

    page = (spark_report / "report.html").read_text(encoding="utf-8")
    assert summary["steps"]["report"]["file"] == "report.html" and summary["steps"]["report"]["rows"] > 50
    # Nothing loaded from anywhere, and no script: the Spark page draws no pictures.
    assert "default-src 'none'" in page and "<script" not in page
    assert 'src="http' not in page and 'href="http' not in page
    for title in ("Guarantee circles and chains", "Connected counterparties", "Contagion", "Hidden links",
                  "Risk clusters", "Ownership and actual controllers", "Input data"):  # fmt: skip
        assert f"<h2>{title}" in page, title
    flags = pd.read_csv(spark_report / "flags.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    first = flags.iloc[0]
    assert first["severity"] == "high" and html_module.escape(first["reason"]) in page
    firms = graph.nodes[graph.nodes["kind"] == "enterprise"]
    names = dict(zip(firms["id"].astype(str), firms["name"], strict=True))
    if first["entity_id"] in names:
        assert html_module.escape(str(names[first["entity_id"]])) in page
    exposures = pd.read_csv(spark_report / "group_exposures.csv", encoding="utf-8-sig", dtype={"counterparty_id": str})
    top = exposures.sort_values(["ead", "counterparty_id"], ascending=[False, True]).iloc[0]
    assert html_module.escape(top["counterparty_id"]) in page
    systemic = pd.read_csv(spark_report / "systemic_importance.csv", encoding="utf-8-sig", dtype={"id": str})
    assert html_module.escape(systemic.sort_values("rank").iloc[0]["id"]) in page
    radius = summary["contagion"]["spectral_radius"]
    assert radius is not None and f"{radius:.3f}" in page
    clusters = pd.read_csv(spark_report / "clusters.csv", encoding="utf-8-sig")
    assert summary["risk_clusters_by_severity"] == clusters["severity"].value_counts().to_dict()
    assert f"{summary['risk_clusters_by_severity'].get('high', 0):,}" in page
    assert "Loss exceedance" in page  # the Monte Carlo chart, from losses.json


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "portfolio"


def test_since_marks_new_and_resolved_flags(spark: SparkSession, tmp_path: Path) -> None:
    """``--since`` with --engine spark: against the embedded scan's flags of the example minus three rows and plus
    two made-up ones, the three come back ``new``, the two are ``resolved``, the rest ``unchanged`` — as the embedded
    ``compare_flags`` marks the same flags — and the page lists the changes."""
    from graphrisk.scan import compare_flags

    env = {"GRAPHRISK_PSEUDONYM_KEY": "spark-since"}
    first = tmp_path / "embedded"
    r = CliRunner(env=env).invoke(main, ["scan", str(EXAMPLE), "--out", str(first), "--as-of", DAY])
    assert r.exit_code == 0, r.output
    previous = pd.read_csv(first / "flags.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    dropped = previous[previous["analysis"] == "guarantees"].head(3)
    assert len(dropped) == 3
    made_up = pd.DataFrame(
        [{"entity_id": f"GONE-{i}", "flag": "in_large_circle", "severity": "high",
          "reason": 'circle, "quoted"\nover two lines', "evidence": "{}", "analysis": "guarantees"} for i in (1, 2)]
    )  # fmt: skip
    previous = pd.concat([previous.drop(dropped.index), made_up], ignore_index=True)
    (tmp_path / "previous").mkdir()
    previous.to_csv(tmp_path / "previous" / "flags.csv", index=False, encoding="utf-8-sig")
    out = tmp_path / "spark"
    r = CliRunner(env=env).invoke(
        main, ["scan", str(EXAMPLE), "--engine", "spark", "--as-of", DAY, "--out", str(out),
               "--since", str(tmp_path / "previous")]
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "since" in r.output and "3 new" in r.output
    got = pd.read_csv(out / "flags.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    key = ["entity_id", "flag", "analysis"]
    new = got[got["change"] == "new"]
    assert sorted(map(tuple, new[key].to_numpy().tolist())) == sorted(map(tuple, dropped[key].to_numpy().tolist()))
    assert set(got["change"]) == {"new", "unchanged"}
    resolved = pd.read_csv(out / "resolved_flags.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert set(resolved["change"]) == {"resolved"}
    assert {"GONE-1", "GONE-2"} <= set(resolved["entity_id"])
    assert resolved.set_index("entity_id").loc["GONE-1", "reason"] == 'circle, "quoted"\nover two lines'
    # The embedded rule on the same two sets gives the same marks and the same resolved rows.
    marked, gone = compare_flags(got.drop(columns=["change"]), previous)
    assert marked["change"].tolist() == got["change"].tolist()
    assert sorted(map(tuple, gone[key].to_numpy().tolist())) == sorted(map(tuple, resolved[key].to_numpy().tolist()))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["changes"] == {"since": str(tmp_path / "previous"), "new": 3, "unchanged": len(got) - 3,
                                  "resolved": len(resolved)}  # fmt: skip
    assert summary["steps"]["resolved_flags"]["file"] == "resolved_flags.csv"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Changes since" in page and "GONE-1" in page


def test_since_without_flags_is_a_clear_error(spark: SparkSession, tmp_path: Path) -> None:
    out = tmp_path / "spark"
    r = CliRunner().invoke(
        main, ["scan", str(EXAMPLE), "--engine", "spark", "--out", str(out), "--since", str(tmp_path / "nothing")]
    )
    assert r.exit_code == 1 and "point --since at a previous scan" in r.output and "Traceback" not in r.output
    assert not (out / "summary.json").exists()
