"""Embedded and Neo4j give the same graph and the same scan, on the example and on a synthetic portfolio."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from graphrisk.analysis import AnalysisContext
from graphrisk.analysis.structure import components, degree_table
from graphrisk.cli.main import main
from graphrisk.graph import EnterpriseGraph
from graphrisk.scan import run_scan
from graphrisk.synth import generate_portfolio, portfolio_files
from loaders import load_tables

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "portfolio"
KEY = b"parity"

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synthetic")
    for name, data in portfolio_files(generate_portfolio(3000, seed=7)).items():
        (folder / name).write_bytes(data)
    return folder


def _assert_same_graph(a: EnterpriseGraph, b: EnterpriseGraph) -> None:
    assert a.canonical_hash() == b.canonical_hash()
    assert a.summary() == b.summary()
    # Node order may differ between sources; every per-entity figure must not.
    da = degree_table(a).drop(columns="component_id").sort_values("entity_id").reset_index(drop=True)
    db = degree_table(b).drop(columns="component_id").sort_values("entity_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(da, db)
    ca = components(a).drop(columns="component_id")
    cb = components(b).drop(columns="component_id")
    pd.testing.assert_frame_equal(ca, cb)


@pytest.mark.parametrize("which", ["example", "synthetic"])
def test_neo4j_round_trip_gives_the_embedded_graph(which: str, synthetic_dir: Path, neo4j_empty_store) -> None:
    folder = EXAMPLE if which == "example" else synthetic_dir
    tables = load_tables(folder, pseudonym_key=KEY)
    assert tables.rejected_rows == 0
    summary = neo4j_empty_store.load(tables)
    assert summary.rows == sum(len(f) for f in tables.frames.values())
    back = neo4j_empty_store.read_tables()
    embedded, stored = EnterpriseGraph(tables), EnterpriseGraph(back)
    _assert_same_graph(embedded, stored)
    flags_a = run_scan(embedded, AnalysisContext()).flags.sort_values(["flag", "entity_id"]).reset_index(drop=True)
    flags_b = run_scan(stored, AnalysisContext()).flags.sort_values(["flag", "entity_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(flags_a, flags_b)


def test_scan_from_neo4j_matches_embedded_scan(tmp_path: Path, neo4j_empty_store) -> None:
    assert os.environ.get("NEO4J_PASSWORD"), "the Neo4j tests need NEO4J_PASSWORD"
    runner = CliRunner()
    emb = runner.invoke(main, ["scan", str(EXAMPLE), "--out", str(tmp_path / "emb"), "--as-of", "2026-06-30"])
    assert emb.exit_code == 0, emb.output
    neo = runner.invoke(
        main,
        [
            "scan",
            str(EXAMPLE),
            "--out",
            str(tmp_path / "neo"),
            "--as-of",
            "2026-06-30",
            "--neo4j-uri",
            os.environ["NEO4J_URI"],
            "--load",
        ],
    )
    assert neo.exit_code == 0, neo.output
    s_emb = json.loads((tmp_path / "emb" / "summary.json").read_text(encoding="utf-8"))
    s_neo = json.loads((tmp_path / "neo" / "summary.json").read_text(encoding="utf-8"))
    assert s_neo["parameters"]["source"] == "neo4j" and s_emb["parameters"]["source"] == "embedded"
    assert s_emb["graph"] == s_neo["graph"]
    assert s_emb["analyses"] == s_neo["analyses"]
    for name in ("flags.csv", "components.csv", "degree_stats.csv", "data_quality.csv"):
        a = pd.read_csv(tmp_path / "emb" / name, encoding="utf-8-sig")
        b = pd.read_csv(tmp_path / "neo" / name, encoding="utf-8-sig")
        if "entity_id" in a.columns:
            a = a.sort_values(list(a.columns)).reset_index(drop=True)
            b = b.sort_values(list(b.columns)).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_like=False)
    # The scan wrote the actual controllers back as CONTROLS relations, exactly those of controllers.csv.
    ctl = pd.read_csv(tmp_path / "neo" / "controllers.csv", encoding="utf-8-sig", dtype=str)
    identified = ctl[ctl["controller_id"].notna() & (ctl["controller_id"] != ctl["company_id"])]
    assert neo4j_empty_store.counts().get("CONTROLS", 0) == len(identified) > 0
    sample = identified.iloc[0]
    back = neo4j_empty_store.query("queries/ownership_controls.cypher", company_id=sample["company_id"])
    assert [r["controller_id"] for r in back] == [sample["controller_id"]]
    assert back[0]["rule"] == sample["rule"]
    # ... and the guarantee patterns as GuaranteePattern nodes linked from their members.
    patterns = pd.read_csv(tmp_path / "neo" / "guarantee_patterns.csv", encoding="utf-8-sig", dtype=str)
    assert neo4j_empty_store.counts().get("GuaranteePattern", 0) == len(patterns) > 0
    memberships = sum(len(m.split(";")) for m in patterns["members"])
    assert neo4j_empty_store.counts().get("IN_GUARANTEE_PATTERN", 0) == memberships
    # A second run against what is now in Neo4j, without --load, reads the same graph back.
    again = runner.invoke(
        main,
        [
            "scan",
            str(EXAMPLE),
            "--out",
            str(tmp_path / "again"),
            "--as-of",
            "2026-06-30",
            "--neo4j-uri",
            os.environ["NEO4J_URI"],
        ],
    )
    assert again.exit_code == 0, again.output
    s_again = json.loads((tmp_path / "again" / "summary.json").read_text(encoding="utf-8"))
    assert s_again["graph"] == s_emb["graph"]


def test_load_command_twice_changes_nothing(neo4j_empty_store) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["load", str(EXAMPLE), "--neo4j-uri", os.environ["NEO4J_URI"]])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    tables = load_tables(EXAMPLE, pseudonym_key=KEY)
    expected_rels = sum(len(tables[t]) for t in ("shareholdings", "officers", "guarantees", "supply_links"))
    assert summary["relationships_created"] == expected_rels + len(tables["exposures"])  # + HAS_FACILITY
    counts, content = neo4j_empty_store.counts(), neo4j_empty_store.content_hash()
    second = runner.invoke(main, ["load", str(EXAMPLE), "--neo4j-uri", os.environ["NEO4J_URI"], "--workers", "1"])
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout)
    assert again["nodes_created"] == 0 and again["relationships_created"] == 0
    assert neo4j_empty_store.counts() == counts and neo4j_empty_store.content_hash() == content
