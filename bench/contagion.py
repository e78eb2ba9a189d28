"""Benchmark: contagion (issue 5).

    python bench/contagion.py                      # everything
    python bench/contagion.py --sizes 100000       # only the 100k portfolio

On the synthetic portfolios in ``bench/out/portfolio-<N>-s0`` (loaded with ``loaders.load_tables``; load and
graph build are timed separately):
1. one stress scenario (single-hit DebtRank from the firm with the largest EAD) on 1M: target < 5 s;
2. systemic importance of the top 10,000 candidates (EAD, then degree) on 1M, single-hit DebtRank with
   distress below 1e-4 of equity not passed on (as the scan does): target < 5 min;
3. Monte Carlo, 10,000 scenarios (one-factor copula ρ = 0.12, cascade) on 100k: target < 5 min.
Each figure is also taken on the smaller portfolio so the growth with size shows. Figures go to stdout.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from graphrisk.analysis.contagion import (
    candidates_by_exposure,
    debtrank,
    impact_matrix,
    loss_weights,
    monte_carlo,
    standalone_pd,
    systemic_importance,
)
from graphrisk.graph import EnterpriseGraph
from graphrisk.synth import AS_OF
from loaders import load_tables

ROOT = Path(__file__).resolve().parent.parent
KEY = b"bench"
# As in the scan (threshold contagion_min_distress): distress below 1e-4 of equity is not passed on; exact
# single-hit reaches ~93 % of the 100k portfolio from every default and costs ~0.08 s per candidate there.
MIN_DISTRESS = 1e-4


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def run(size: int, *, candidates: int, scenarios: int) -> dict[str, float]:
    path = ROOT / "bench" / "out" / f"portfolio-{size}-s0"
    t0 = time.perf_counter()
    tables = load_tables(path, pseudonym_key=KEY)
    graph = EnterpriseGraph(tables)
    out = {"size": float(size), "load_s": time.perf_counter() - t0}
    say(f"{size:,}: loaded in {out['load_s']:.1f} s")
    t0 = time.perf_counter()
    net = impact_matrix(graph, as_of=date.fromisoformat(AS_OF))
    out["impact_s"] = time.perf_counter() - t0
    n = graph.n_enterprises
    ead = graph.ead[:n]
    t0 = time.perf_counter()
    r = debtrank(net.matrix, [int(np.argmax(ead))], weights=ead)
    out["scenario_s"] = time.perf_counter() - t0 + out["impact_s"]
    out["scenario_hit"] = float((r.distress > 0).sum())
    say(f"{size:,}: impact {out['impact_s']:.2f} s, one scenario {out['scenario_s']:.2f} s (impact included)")
    cand = candidates_by_exposure(net.matrix, ead, candidates)
    t0 = time.perf_counter()
    systemic_importance(
        net.matrix,
        cand,
        weights=ead,
        loss_weight=loss_weights(graph),
        ead=ead,
        hit_distress=0.01,
        min_distress=MIN_DISTRESS,
    )
    out["systemic_s"] = time.perf_counter() - t0
    out["candidates"] = float(len(cand))
    say(f"{size:,}: systemic importance of {len(cand):,} candidates {out['systemic_s']:.1f} s")
    if scenarios:
        p, _ = standalone_pd(graph)
        t0 = time.perf_counter()
        mc = monte_carlo(net.matrix, p, loss_weights(graph), scenarios=scenarios, rho=0.12, seed=0)
        out["mc_s"] = time.perf_counter() - t0
        out["mc_scenarios"] = float(scenarios)
        out["mc_el_ratio"] = float(mc.contagion.mean() / max(mc.standalone.mean(), 1e-300))
        say(f"{size:,}: Monte Carlo {scenarios:,} scenarios {out['mc_s']:.1f} s")
    out["peak_rss_gb"] = rss_gb()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000", help="portfolio sizes, comma-separated")
    ap.add_argument("--candidates", type=int, default=10_000)
    ap.add_argument("--scenarios", type=int, default=10_000, help="Monte Carlo scenarios (run up to 100k firms)")
    args = ap.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(run(size, candidates=args.candidates, scenarios=args.scenarios if size <= 100_000 else 0))
    cols = ["size", "load_s", "impact_s", "scenario_s", "candidates", "systemic_s", "mc_scenarios", "mc_s"]
    print(" ".join(f"{c:>12}" for c in [*cols, "peak_rss_gb"]))
    for r in rows:
        print(" ".join(f"{r.get(c, float('nan')):>12.2f}" for c in [*cols, "peak_rss_gb"]))


if __name__ == "__main__":
    main()
