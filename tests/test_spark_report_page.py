"""The Spark engine's report page (``graphrisk.engines.spark.report``) from hand-made collected rows: no Spark
needed, the page is rendered on the driver from small frames. The page of a real Spark scan is tested in
``test_spark_scan.py``."""

from __future__ import annotations

import html

import pandas as pd


def test_spark_report_escapes_and_shows_listings() -> None:
    """The Spark engine's page: names and reasons are data (escaped), each listing under its section, the
    executive summary reads the breaches and losses, and the page loads nothing."""
    from graphrisk.analysis import FLAG_COLUMNS
    from graphrisk.engines.spark.report import render_spark_report

    evil = '<img src=x onerror="alert(1)">'
    flags = pd.DataFrame(
        [{"entity_id": "F1", "flag": "in_large_circle", "severity": "high", "reason": f"circle of {evil}",
          "evidence": "{}"}]
    )[list(FLAG_COLUMNS)]  # fmt: skip
    listings = {
        "limit_breaches": pd.DataFrame(
            [{"counterparty_id": "F1", "kind": "group", "limit_name": "single", "limit": 0.1, "ratio": 0.25,
              "ead": 5e8, "status": "breach", "reason": "25 % of Tier 1 above the 10 % limit"}]
        ),
        "clusters": pd.DataFrame(
            [{"cluster_id": "RC-000001", "size": 12, "ead": 1e9, "score": 0.9, "severity": "high", "reasons": evil}]
        ),
    }  # fmt: skip
    summary = {
        "run_id": "abc", "steps": {"limit_breaches": {"rows": 1, "seconds": 0.1, "where": "distributed"},
                                   "risk_clusters": {"rows": 7, "seconds": 0.2, "where": "x"}},
        "contagion": {"spectral_radius": 0.8123, "losses": {
            "without_contagion": {"el": 1e6, "var_99": 2e6, "es_99": 3e6, "var_99.9": 4e6, "es_99.9": 5e6},
            "with_contagion": {"el": 2e6, "var_99": 3e6, "es_99": 4e6, "var_99.9": 8e6, "es_99.9": 9e6}}},
        "risk_clusters_by_severity": {"high": 3, "medium": 4},
        "not_ported": ["stress scenarios"],
    }  # fmt: skip
    page = render_spark_report(summary, listings, flags, {"F1": evil})
    assert evil not in page and html.escape(evil) in page
    assert "<h2>Risk clusters</h2>" in page and "RC-000001" in page
    assert "Large-exposure limit breaches" in page and "25 % of Tier 1" in page  # the executive summary's table
    assert "0.812" in page and "800万" in page  # spectral radius; VaR 99.9 % with contagion
    assert "high risk clusters" in page and "stress scenarios" in page
    assert "<script" not in page and "default-src 'none'" in page
