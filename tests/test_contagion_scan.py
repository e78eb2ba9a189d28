"""Contagion in the scan: configured stress scenarios, the loss distribution file and chart, the chain proxy,
and the write-back to Neo4j."""

from __future__ import annotations

import json
import re
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from graphrisk.analysis import AnalysisContext
from graphrisk.analysis.contagion import (
    chain_losses,
    contagion_analysis,
    loss_exceedance,
    stress_scenarios,
    stress_test,
)
from graphrisk.cli.main import main
from graphrisk.config import Config, StressScenario, load_config
from graphrisk.errors import ConfigError
from graphrisk.graph import EnterpriseGraph
from graphrisk.tables import Tables

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "portfolio"


def _chain() -> EnterpriseGraph:
    # C guarantees B, B guarantees A; A is in real estate. A's shock travels A → B → C.
    return EnterpriseGraph(
        Tables.from_frames(
            {
                "enterprises": pd.DataFrame(
                    {
                        "id": ["A", "B", "C"],
                        "name": ["甲", "乙", "丙"],
                        "industry": ["房地产业", "制造业", "制造业"],
                        "net_assets": [100.0, 50.0, 200.0],
                        "pd": [0.1, 0.02, 0.01],
                    }
                ),
                "guarantees": pd.DataFrame(
                    {"guarantor_id": ["B", "C"], "borrower_id": ["A", "B"], "amount": [25.0, 100.0]}
                ),
                "exposures": pd.DataFrame({"borrower_id": ["A", "B", "C"], "ead": [100.0, 200.0, 400.0]}),
            }
        )
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[stress]]\nname = "x"\nshock = 1.5\nwhere = { industry = "a" }\n', "shock must be a number in [0, 1]"),
        ('[[stress]]\nname = "x"\nshock = 0.2\n', "a shock needs `where`"),
        (
            '[[stress]]\nname = "x"\nshock = 0.2\nwhere = { sector = "a" }\n',
            "where.sector is not an enterprises column",
        ),
        ('[[stress]]\nname = "x"\ndefaults = ["A"]\nmodel = "magic"\n', "model 'magic' is unknown"),
        ('[[stress]]\nname = "x"\n', "stresses nothing"),
        ('[[stress]]\nname = "x"\ndefaults = ["A"]\ncolour = 1\n', "unknown settings ['colour']"),
        ('[[stress]]\nname = "x"\ndefaults = ["A"]\n[[stress]]\nname = "x"\ndefaults = ["B"]\n', "share this name"),
        ('stress = "A"\n', "[[stress]] tables"),
    ],
)
def test_bad_stress_scenarios_are_named_in_the_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "graphrisk.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_stress_scenarios_are_read_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "graphrisk.toml"
    path.write_text(
        '[[stress]]\nname = "地产"\nshock = 0.5\nwhere = { industry = "房地产业" }\n'
        '[[stress]]\ndefaults = "A"\nmodel = "cascade"\n',
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.stress == (
        StressScenario("地产", shock=0.5, where=(("industry", "房地产业"),)),
        StressScenario("scenario 2", defaults=("A",), model="cascade"),
    )


def test_stress_scenarios_agree_with_the_single_stress_test_and_name_unknown_ids() -> None:
    graph = _chain()
    scenarios = [
        StressScenario("地产", shock=0.5, where=(("industry", "房地产业"),)),
        StressScenario("A fails", defaults=("A", "GONE"), model="cascade"),
    ]
    rows, hits = stress_scenarios(graph, scenarios)
    # Shock 0.5 on A: B loses 25/50 × 0.5 = 0.25 of its equity; C loses 100/200 × 0.25 = 0.125.
    first = hits[hits["scenario"] == "地产"].set_index("id")["distress"]
    assert first.to_dict() == pytest.approx({"A": 0.5, "B": 0.25, "C": 0.125})
    single = stress_test(graph, [], shock=0.5, where={"industry": "房地产业"})
    assert rows.loc[0, "bank_loss"] == pytest.approx(single.bank_loss)
    assert rows.loc[0, ["shocked_firms", "firms_hit", "new_defaults"]].tolist() == [1, 2, 0]
    assert rows.loc[0, "top_paths"].split(" | ")[0] in {"A > B", "A > B > C"}
    # The cascade: A defaults, B loses half its equity (below the default threshold 1), C nothing more.
    assert rows.loc[1, "defaults"] == "A" and "GONE" in rows.loc[1, "notes"]
    assert rows.loc[1, "new_defaults"] == 0 and rows.loc[1, "bank_loss"] == pytest.approx(100.0 * 0.45)


def test_chain_losses_proxy_by_hand() -> None:
    patterns = pd.DataFrame(
        {
            "pattern": ["chain", "circle", "star"],
            "pattern_id": ["chain-1", "circle-1", "star-1"],
            "members": ["A;B;C", "B;C;B;X", "A;B"],
        }
    )
    ids = ["A", "B", "C"]
    pd_ = [0.1, 0.02, 0.0]
    npd = [0.1, 0.05, 0.04]
    lw = [10.0, 100.0, 1000.0]
    out = chain_losses(patterns, ids, pd_, npd, lw).set_index("pattern_id")
    assert set(out.index) == {"chain-1", "circle-1"}  # stars are not chains
    assert out.loc["chain-1", "el_standalone"] == pytest.approx(1.0 + 2.0 + 0.0)
    assert out.loc["chain-1", "el_network"] == pytest.approx(1.0 + 5.0 + 40.0)
    # B counted once although listed twice; X is not an enterprise of the data.
    assert out.loc["circle-1", "size"] == 2 and out.loc["circle-1", "el_added"] == pytest.approx(3.0 + 40.0)
    assert out.loc["circle-1", "top_member"] == "C" and "proxy" in out.loc["circle-1", "reason"]
    assert out.index[0] == "chain-1"  # ordered by the loss added, then id


def test_loss_exceedance_is_a_decreasing_step_curve() -> None:
    losses = np.random.default_rng(0).exponential(size=5000)
    xs, ys = loss_exceedance(losses, points=40)
    assert len(xs) <= 40 and list(xs) == sorted(xs)
    assert all(a >= b for a, b in pairwise(ys))
    assert ys[-1] == 0.0 and ys[0] == pytest.approx((losses > xs[0]).mean())
    assert loss_exceedance(np.zeros(0)) == ((), ())


def test_scan_writes_stress_losses_chart_and_chain_losses(tmp_path: Path) -> None:
    out = tmp_path / "report"
    r = CliRunner().invoke(main, ["scan", str(EXAMPLE), "--out", str(out), "--as-of", "2026-06-30"])
    assert r.exit_code == 0, r.output
    config = load_config(EXAMPLE / "graphrisk.toml")
    stress = pd.read_csv(out / "stress.csv", encoding="utf-8-sig")
    assert stress["scenario"].tolist() == [s.name for s in config.stress]
    assert (stress["bank_loss"] > 0).all()
    hits = pd.read_csv(out / "stress_hits.csv", encoding="utf-8-sig", dtype={"id": str})
    assert set(hits["scenario"]) == set(stress["scenario"])
    counted = hits[hits["initial"] == 0].groupby("scenario").size()
    assert counted.reindex(stress["scenario"]).tolist() == stress["firms_hit"].tolist()
    losses = json.loads((out / "losses.json").read_text(encoding="utf-8"))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    in_summary = summary["analyses"]["contagion"]["losses"]
    for key in ("without_contagion", "with_contagion"):
        assert losses[key] == in_summary[key]
        assert losses[key]["es_99.9"] >= losses[key]["var_99.9"] >= losses[key]["var_99"]
    assert losses["with_contagion"]["el"] >= losses["without_contagion"]["el"]
    curve = losses["exceedance"]["with_contagion"]
    assert curve["probability_above"] == sorted(curve["probability_above"], reverse=True)
    assert "losses.json" in summary["files"] and "stress.csv" in summary["files"]
    chains = pd.read_csv(out / "chain_losses.csv", encoding="utf-8-sig")
    assert len(chains) and set(chains["pattern"]) <= {"chain", "circle"}
    assert (chains["el_network"] >= chains["el_standalone"] - 1e-9).all()
    html = (out / "report.html").read_text(encoding="utf-8")
    svg = re.search(r"<svg class=\"chart\".*?</svg>", html, flags=re.S)
    assert svg is not None and svg.group(0).count("<polyline") == 2
    assert "Loss exceedance" in html and "Stress scenarios" in html


@pytest.mark.neo4j
def test_contagion_write_back_replaces_the_previous_run(neo4j_empty_store: Any) -> None:
    from graphrisk.cli.data import load_graph

    graph, config = load_graph(EXAMPLE)
    neo4j_empty_store.load(graph.tables)
    result = contagion_analysis(graph, AnalysisContext(config=config, as_of=date(2026, 6, 30)))
    (scores, rows), (stale, placeholder) = result.writeback
    table = result.tables["contagion"].set_index("id")
    touched = table[(table["network_pd"] > table["pd"]) | table["systemic_debtrank"].notna()]
    assert {r["id"] for r in rows} == set(touched.index)
    for name, payload in ((scores, rows), (stale, placeholder)):
        neo4j_empty_store.write(name, payload, params={"run_id": "r1", "algorithm": "contagion"})
    back = neo4j_empty_store.query("queries/contagion_scores.cypher", limit=100_000)
    assert len(back) == len(rows) and {b["run_id"] for b in back} == {"r1"}
    top = back[0]
    assert top["systemic_rank"] == 1
    assert top["network_pd"] == pytest.approx(table.loc[top["id"], "network_pd"])
    assert top["loss_if_default"] == pytest.approx(table.loc[top["id"], "loss_if_default"])
    # A second run that touches one firm only: the stale statement takes the first run's figures off the rest.
    one = [rows[0]]
    for name, payload in ((scores, one), (stale, placeholder)):
        neo4j_empty_store.write(name, payload, params={"run_id": "r2", "algorithm": "contagion"})
    back = neo4j_empty_store.query("queries/contagion_scores.cypher", limit=100_000)
    assert [(b["id"], b["run_id"]) for b in back] == [(rows[0]["id"], "r2")]


def test_flag_calibration_severity_by_ead_share_and_absolute_pd_uplift() -> None:
    # Hub H supplies half the purchases of ten customers C0..C9: H's default costs each a quarter of its equity.
    customers = [f"C{k}" for k in range(10)]
    ent = pd.DataFrame(
        {
            "id": ["H", *customers, "BIG"],
            "name": ["枢纽", *[f"客户{k}" for k in range(10)], "大户"],
            "net_assets": [1000.0] * 12,
            "pd": [0.01, *[0.001] * 5, *[0.05] * 5, 0.01],
        }
    )
    supply = pd.DataFrame({"supplier_id": ["H"] * 10, "customer_id": customers,
                           "share_of_customer_purchases": [0.5] * 10})  # fmt: skip
    exposures = pd.DataFrame({"borrower_id": [*customers, "BIG"], "ead": [1.0] * 10 + [1000.0]})
    graph = EnterpriseGraph(Tables.from_frames({"enterprises": ent, "supply_links": supply, "exposures": exposures}))
    config = Config(thresholds={"contagion_firms_hit": 10})
    flags = contagion_analysis(graph, AnalysisContext(config=config)).flags
    ttf = flags[flags["flag"] == "too_connected_to_fail"].set_index("entity_id")
    # H hits ten firms holding 10 of the bank's 1,010 EAD (1 %): medium, not high.
    assert ttf.loc["H", "severity"] == "medium"
    config = Config(thresholds={"contagion_firms_hit": 10, "contagion_ead_share": 0.005})
    flags = contagion_analysis(graph, AnalysisContext(config=config)).flags
    assert flags.set_index("flag").loc["too_connected_to_fail", "severity"] == "high"
    # H's PD of 1 % raises each customer's PD by about 1 % × 0.25: tripling a 0.1 % PD is under the 2-point
    # absolute floor; lower the floor and the five tiny-PD customers are flagged.
    uplift = flags[flags["flag"] == "network_pd_uplift"]
    assert uplift.empty
    config = Config(thresholds={"contagion_pd_uplift_min": 0.001})
    uplift = contagion_analysis(graph, AnalysisContext(config=config)).flags
    uplift = uplift[uplift["flag"] == "network_pd_uplift"]
    assert sorted(uplift["entity_id"]) == customers[:5]
