"""The scan as a nightly batch job: entity risk scores, --fail-on, --since, JSON logs, determinism, the report's
executive summary and pictures, and the write-back of the scan's verdict to Neo4j."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from test_views import assert_offline

from graphrisk.cli.main import main
from graphrisk.config import Config
from graphrisk.scan import compare_flags, risk_scores, severity_at_least

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "portfolio"
VOLATILE = ("started_at", "timings")  # the only parts of summary.json that differ between two identical runs


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def example_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scan") / "report"
    r = CliRunner().invoke(main, ["scan", str(EXAMPLE), "--out", str(out), "--as-of", "2026-06-30"])
    assert r.exit_code == 0, r.output
    return out


def _flags(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"entity_id": e, "flag": f, "severity": s, "reason": f"{f} on {e}", "evidence": "{}", "analysis": "a"}
         for e, f, s in rows]
    )  # fmt: skip


def test_risk_score_is_a_noisy_or_of_distinct_flags_with_configurable_weights() -> None:
    flags = _flags([("A", "x", "high"), ("A", "x", "high"), ("A", "y", "medium"), ("B", "z", "low")])
    scores = risk_scores(flags).set_index("entity_id")
    assert scores.loc["A", "risk_score"] == pytest.approx(1 - 0.5 * 0.8)  # the repeated x counts once
    assert scores.loc["A", ["severity", "flag_count", "flags"]].tolist() == ["high", 2, "x;y"]
    assert scores.loc["A", "reasons"] == "x: x on A (+1 more flag in flags.csv)"  # the worst flag's reason
    long = _flags([("C", "w", "low")]).assign(reason="長" * 500)
    assert risk_scores(long, reason_chars=10).loc[0, "reasons"] == "w: " + "長" * 10 + "…"
    assert scores.loc["B", "risk_score"] == pytest.approx(0.05)
    heavier = risk_scores(flags, Config(thresholds={"risk_weight_low": 0.9})).set_index("entity_id")
    assert heavier.loc["B", "risk_score"] == pytest.approx(0.9)
    assert heavier.index[0] == "B"  # ordered by score
    assert risk_scores(flags.iloc[0:0]).empty


def test_compare_flags_marks_new_unchanged_and_resolved() -> None:
    now = _flags([("A", "x", "high"), ("B", "x", "medium")])
    before = _flags([("B", "x", "high"), ("C", "y", "low")])  # B's severity moved: still the same flag
    marked, resolved = compare_flags(now, before)
    assert marked["change"].tolist() == ["new", "unchanged"]
    assert resolved[["entity_id", "flag", "change"]].values.tolist() == [["C", "y", "resolved"]]
    assert severity_at_least("high") == ["high"] and severity_at_least("low") == ["high", "medium", "low"]


def test_scan_writes_scores_summary_and_an_offline_report(example_report: Path) -> None:
    flags = read_csv(example_report / "flags.csv")
    scores = read_csv(example_report / "risk_scores.csv")
    assert set(scores["entity_id"]) == set(flags["entity_id"])
    summary = json.loads((example_report / "summary.json").read_text(encoding="utf-8"))
    assert sum(summary["flags_by_kind"].values()) == len(flags)
    assert sum(summary["flags"].values()) == len(flags)
    for name in summary["files"]:
        assert (example_report / name).exists(), name
    stages = {t["stage"] for t in summary["timings"]}
    assert {"validate", "build_graph", "write", "report_pictures"} <= stages
    assert {f"analysis:{a}" for a in ("ownership", "guarantees", "hidden_links", "contagion")} <= stages
    page = (example_report / "report.html").read_text(encoding="utf-8")
    assert "Executive summary" in page and "Bank loss with and without contagion" in page
    if 'id="vis-network-lib"' in page:
        assert_offline(page)
    else:
        assert not re.search(r"https?://", page)


def test_fail_on_exits_three_only_when_flags_reach_the_severity(tmp_path: Path, example_report: Path) -> None:
    counts = json.loads((example_report / "summary.json").read_text(encoding="utf-8"))["flags"]
    assert counts["high"] > 0
    r = CliRunner().invoke(main, ["scan", str(EXAMPLE), "--out", str(tmp_path / "o"), "--fail-on", "high"])
    assert r.exit_code == 3, r.output
    assert (tmp_path / "o" / "report.html").exists()  # everything is written before the exit
    # A portfolio without any relation raises no flag: --fail-on low passes.
    quiet = tmp_path / "quiet"
    quiet.mkdir()
    (quiet / "enterprises.csv").write_text("id,name\nA,甲\nB,乙\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["scan", str(quiet), "--out", str(tmp_path / "q"), "--fail-on", "low"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["scan", str(quiet), "--out", str(tmp_path / "q"), "--fail-on", "severe"])
    assert r.exit_code == 2


def test_since_marks_new_and_resolved_flags(tmp_path: Path, example_report: Path) -> None:
    previous = tmp_path / "yesterday"
    shutil.copytree(example_report, previous)
    flags = read_csv(previous / "flags.csv")
    dropped = flags.iloc[0]
    invented = {**flags.iloc[1].to_dict(), "entity_id": "GONE-FIRM", "flag": "old_flag"}
    edited = pd.concat([flags.iloc[1:], pd.DataFrame([invented])], ignore_index=True)
    edited.to_csv(previous / "flags.csv", index=False, encoding="utf-8-sig")
    out = tmp_path / "today"
    r = CliRunner().invoke(main, ["scan", str(EXAMPLE), "--out", str(out), "--as-of", "2026-06-30", "--since",
                                  str(previous)])  # fmt: skip
    assert r.exit_code == 0, r.output
    now = read_csv(out / "flags.csv")
    new = now[now["change"] == "new"]
    assert new[["entity_id", "flag"]].values.tolist() == [[dropped["entity_id"], dropped["flag"]]]
    assert (now["change"] != "").all()
    resolved = read_csv(out / "resolved_flags.csv")
    assert resolved[["entity_id", "flag", "change"]].values.tolist() == [["GONE-FIRM", "old_flag", "resolved"]]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["changes"] == {"since": str(previous), "new": 1, "unchanged": len(now) - 1, "resolved": 1}
    assert "1 new, 1 resolved" in r.stdout
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Changes since" in page and "GONE-FIRM" in page
    # A folder without flags.csv is an error that says what to do, not a traceback.
    empty = tmp_path / "empty"
    empty.mkdir()
    r = CliRunner().invoke(main, ["scan", str(EXAMPLE), "--out", str(out), "--since", str(empty)])
    assert r.exit_code == 1 and "point --since at a previous scan" in r.output and "Traceback" not in r.output


def test_json_logs_and_json_errors(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["scan", str(EXAMPLE), "--out", str(tmp_path / "o"), "--log-format", "json"])
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in r.stderr.splitlines() if line.strip()]
    assert records and all(rec["level"] == "info" and "time" in rec for rec in records)
    stages = {rec["stage"] for rec in records if "stage" in rec}
    assert {"validate", "analysis:contagion", "write"} <= stages
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "graphrisk.toml").write_text("[[stress]]\nname = 'x'\n", encoding="utf-8")
    (bad / "enterprises.csv").write_text("id,name\nA,甲\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["scan", str(bad), "--out", str(tmp_path / "b"), "--log-format", "json"])
    assert r.exit_code == 1
    last = json.loads(r.stderr.strip().splitlines()[-1])
    assert last["level"] == "error" and "stresses nothing" in last["message"]


def test_rerun_gives_the_same_output(tmp_path: Path) -> None:
    outs = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        r = CliRunner().invoke(main, ["scan", str(EXAMPLE), "--out", str(out), "--as-of", "2026-06-30"])
        assert r.exit_code == 0, r.output
        outs.append(out)
    a, b = outs
    files = sorted(p.name for p in a.iterdir())
    assert files == sorted(p.name for p in b.iterdir())
    for name in files:
        if name.endswith((".csv", ".json")) and name != "summary.json":
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    sa, sb = (json.loads((d / "summary.json").read_text(encoding="utf-8")) for d in (a, b))
    for key in VOLATILE:
        sa.pop(key), sb.pop(key)
    assert sa == sb


@pytest.mark.neo4j
def test_scan_writes_its_verdict_to_neo4j_and_a_rerun_replaces_it(neo4j_empty_store: Any, tmp_path: Path) -> None:
    uri = os.environ["NEO4J_URI"]
    args = ["scan", str(EXAMPLE), "--neo4j-uri", uri]
    r = CliRunner().invoke(main, [*args, "--load", "--out", str(tmp_path / "a"), "--as-of", "2026-06-30"])
    assert r.exit_code == 0, r.output
    before = neo4j_empty_store.counts()
    first = json.loads((tmp_path / "a" / "summary.json").read_text(encoding="utf-8"))["run_id"]
    scores = read_csv(tmp_path / "a" / "risk_scores.csv")
    entities = scores[~scores["entity_id"].str.match(r"^(RC|CG)-")]
    stored = neo4j_empty_store.query("queries/scan_risk.cypher", limit=1_000_000)
    assert {s["id"] for s in stored} == set(entities["entity_id"])
    assert {s["run_id"] for s in stored} == {first}
    top = stored[0]
    expected = entities.set_index("entity_id").loc[top["id"]]
    assert top["risk_score"] == pytest.approx(float(expected["risk_score"]))
    assert top["risk_flags"] == expected["flags"].split(";")
    # Another as-of date is another run: its verdict replaces the first run's, and the loaded data is untouched.
    r = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "b"), "--as-of", "2027-06-30"])
    assert r.exit_code == 0, r.output
    second = json.loads((tmp_path / "b" / "summary.json").read_text(encoding="utf-8"))["run_id"]
    assert second != first
    stored = neo4j_empty_store.query("queries/scan_risk.cypher", limit=1_000_000)
    assert stored and {s["run_id"] for s in stored} == {second}
    loaded = ("Enterprise", "Person", "Facility", "HOLDS_SHARES", "OFFICER_OF", "GUARANTEES", "SUPPLIES")
    after = neo4j_empty_store.counts()
    assert [after.get(k) for k in loaded] == [before.get(k) for k in loaded] and before["GUARANTEES"] > 0
