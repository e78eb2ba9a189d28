"""Parity on the synthetic 100k portfolio (issue 9, part 3): ``graphrisk scan --engine spark`` against the embedded
scan, file against file.

Both scans run once, through their command lines (the Spark one in its own process with a 4 GB driver). For every
analysis the Spark engine ports (``summary.json`` → ``analyses``) the flags and risk scores must be the embedded
ones, and the main result tables the same rows: guarantee patterns, counterparty groups, suspected links,
controllers and risky clusters (text equal; numbers within 1e-9 relative).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import comparable_flags

from graphrisk.cli.main import main
from graphrisk.scan import risk_scores

pytestmark = pytest.mark.spark

DAY = "2026-06-30"
ENV = {"GRAPHRISK_PSEUDONYM_KEY": "spark-parity-100k"}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("p100k")
    data, embedded, spark = root / "data", root / "embedded", root / "spark"
    made = CliRunner().invoke(main, ["generate", str(data), "--enterprises", "100000", "--seed", "0"])
    assert made.exit_code == 0, made.output
    done = CliRunner(env=ENV).invoke(main, ["scan", str(data), "--as-of", DAY, "--out", str(embedded)])
    assert done.exit_code == 0, done.output
    env = {**os.environ, **ENV, "GRAPHRISK_SPARK_DRIVER_MEMORY": "4g", "GRAPHRISK_SPARK_SHUFFLE_PARTITIONS": "8"}
    cmd = [sys.executable, "-m", "graphrisk", "scan", str(data), "--engine", "spark", "--as-of", DAY,
           "--out", str(spark)]  # fmt: skip
    ran = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    assert ran.returncode == 0, ran.stderr[-4000:]
    return embedded, spark


def _summary(spark: Path) -> dict[str, object]:
    return dict(json.loads((spark / "summary.json").read_text(encoding="utf-8")))


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)


def test_flags_and_scores_equal_the_embedded_scan(reports: tuple[Path, Path]) -> None:
    embedded, spark = reports
    ported = _summary(spark)["analyses"]
    assert isinstance(ported, list)
    assert {"ownership", "guarantees", "hidden_links", "counterparty_groups", "contagion", "risk_clusters"} <= set(
        ported
    )
    want = _read(embedded / "flags.csv")
    want = want[want["analysis"].isin(ported)]
    got = _read(spark / "flags.csv")
    assert len(want) > 1000 and comparable_flags(got) == comparable_flags(want)
    assert got["entity_id"].tolist() == want["entity_id"].tolist()  # and in the embedded order

    # The embedded scan's scores count every analysis: score the ported analyses' flags as it scores them.
    theirs = risk_scores(_read(embedded / "flags.csv").query("analysis in @ported"))
    mine = _read(spark / "risk_scores.csv")
    assert len(theirs) > 1000 and mine["entity_id"].astype(str).tolist() == theirs["entity_id"].astype(str).tolist()
    for column in ("severity", "flag_count", "flags", "reasons"):
        assert mine[column].astype(str).tolist() == theirs[column].astype(str).tolist(), column
    assert np.allclose(mine["risk_score"].astype(float), theirs["risk_score"].astype(float), rtol=1e-9, atol=0)


def _same_rows(got: pd.DataFrame, want: pd.DataFrame, name: str, atol: float = 1e-12) -> None:
    """Same columns and rows: text equal, numbers within 1e-9 relative (+ ``atol``), empty cells in the same places."""
    assert list(got.columns) == list(want.columns), name
    assert len(got) == len(want) and len(want) > 0, name

    def numeric(column: str) -> bool:
        filled = want[column][want[column] != ""]
        return len(filled) > 0 and bool(pd.to_numeric(filled, errors="coerce").notna().all())

    numbers = [c for c in want.columns if numeric(c)]
    text = [c for c in want.columns if c not in numbers]
    key = text or list(want.columns)
    got = got.sort_values(key, kind="stable").reset_index(drop=True)
    want = want.sort_values(key, kind="stable").reset_index(drop=True)
    for column in text:
        assert got[column].tolist() == want[column].tolist(), f"{name}.{column}"
    for column in numbers:
        assert (got[column] == "").tolist() == (want[column] == "").tolist(), f"{name}.{column} (empty cells)"
        a = pd.to_numeric(got[column].astype(object).where(got[column] != "")).to_numpy(dtype=float, na_value=np.nan)
        b = pd.to_numeric(want[column].astype(object).where(want[column] != "")).to_numpy(dtype=float, na_value=np.nan)
        assert np.allclose(a, b, rtol=1e-9, atol=atol, equal_nan=True), f"{name}.{column}"


@pytest.mark.parametrize(
    "table", ["guarantee_patterns", "guarantors", "groups", "suspected_links", "suspected_groups", "controllers",
              "clusters", "cluster_members", "components", "degree_stats", "data_quality", "beneficial_owners"],
)  # fmt: skip
def test_result_tables_equal_the_embedded_ones(reports: tuple[Path, Path], table: str) -> None:
    embedded, spark = reports
    # Beneficial-owner shares are rounded to 10 places after a propagation that agrees to 1e-9 relative.
    _same_rows(_read(spark / f"{table}.csv"), _read(embedded / f"{table}.csv"), table,
               atol=2e-10 if table == "beneficial_owners" else 1e-12)  # fmt: skip
