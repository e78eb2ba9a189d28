"""``spark-submit`` of the Spark engine's application (issue 9: "and spark-submit of the same entry point").

The real ``spark-submit`` of the installed pyspark launches its own JVM with ``--master local[2]`` and the cached
jars, runs ``graphrisk/engines/spark/app.py`` on the shipped example, and must give the embedded scan's flags for
the analyses it ports, the scan's exit codes, and a summary that names spark-submit's master. Input and report
folders are given as ``file://`` URIs, the code path of ``hdfs://`` and ``s3a://``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import comparable_flags

from graphrisk.cli.main import main
from graphrisk.engines.spark.session import RETENTION_DEFAULTS

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "portfolio"
DAY = "2026-06-30"
ENV = {"GRAPHRISK_PSEUDONYM_KEY": "spark-submit-test"}


def _spark_submit() -> str:
    found = shutil.which("spark-submit", path=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    # pyspark installs it beside this interpreter: a missing one is a broken test install, not a reason to skip.
    assert found, "spark-submit not found: pip install -e '.[spark]' installs it with pyspark"
    return found


def _submit(*args: str, master: str = "local[2]") -> subprocess.CompletedProcess[str]:
    jars = subprocess.run([sys.executable, str(ROOT / "scripts" / "spark.py"), "jars", "--comma"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    app = subprocess.run([sys.executable, str(ROOT / "scripts" / "spark.py"), "app"],
                         capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert Path(app).name == "app.py" and jars
    env = {**os.environ, **ENV, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1"}  # fmt: skip
    env.pop("PYSPARK_GATEWAY_PORT", None)
    cmd = [_spark_submit(), "--master", master, "--driver-memory", "1g", "--jars", jars,
           "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=4",
           "--conf", "spark.ui.retainedJobs=77", app, *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def submitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("submit") / "report"
    # Both folders as file:// URIs: read and written through Hadoop's FileSystem, as hdfs:// or s3a:// would be.
    args = (EXAMPLE.resolve().as_uri(), "--out", out.resolve().as_uri(), "--as-of", DAY, "--fail-on", "high")
    return _submit(*args), out


def test_spark_submit_runs_the_scan_with_its_master(submitted: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, out = submitted
    assert (out / "summary.json").exists(), (done.stdout + done.stderr)[-5000:]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    # The example raises high flags, so --fail-on high exits 3 through spark-submit (0 would mean none).
    assert summary["flags_by_severity"].get("high"), summary["flags_by_severity"]
    assert done.returncode == 3, (done.stdout + done.stderr)[-3000:]
    assert summary["submitted"] is True and summary["master"] == "local[2]"
    # The submitter's settings win; the retention it left unset is graphrisk's (1,000 retained plans filled the 1 GB
    # driver of this very run before), and the run finishing on 1 GB is the regression test.
    settings = summary["spark_settings"]
    assert settings["spark.ui.retainedJobs"] == "77" and settings["spark.driver.memory"] == "1g"
    assert settings["spark.sql.ui.retainedExecutions"] == RETENTION_DEFAULTS["spark.sql.ui.retainedExecutions"]
    assert settings["spark.sql.shuffle.partitions"] == "4"
    assert "suspected_links" in summary["steps"] and "risk_clusters" in summary["steps"]
    for info in summary["steps"].values():  # every table and Parquet folder landed in the URI's folder
        assert (out / info["file"]).exists(), info
    assert summary["parameters"]["data_dir"].startswith("file:")


def test_spark_submit_gives_the_embedded_flags(
    submitted: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    done, out = submitted
    assert (out / "summary.json").exists(), (done.stdout + done.stderr)[-5000:]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    embedded = tmp_path / "embedded"
    result = CliRunner(env=ENV).invoke(main, ["scan", str(EXAMPLE), "--as-of", DAY, "--out", str(embedded)])
    assert result.exit_code == 0, result.output
    want = pd.read_csv(embedded / "flags.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    want = want[want["analysis"].isin(summary["analyses"])][
        ["entity_id", "flag", "severity", "reason", "evidence", "analysis"]
    ]
    got = pd.read_csv(out / "flags.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert len(want) > 10 and comparable_flags(got) == comparable_flags(want)


def test_spark_submit_refuses_a_second_master() -> None:
    done = _submit(str(EXAMPLE), "--out", "/nonexistent", "--spark-master", "local[1]")
    assert done.returncode == 2
    assert "spark-submit's --master" in done.stdout + done.stderr  # PythonRunner merges the two
