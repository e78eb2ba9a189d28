"""Benchmark: connected-counterparty groups and large exposures (issue 7 section 1).

    python bench/groups.py                        # the 1M portfolio
    python bench/groups.py --sizes 100000         # only the 100k portfolio

On the synthetic portfolios in ``bench/out/portfolio-<N>-s0`` (loaded with ``loaders.load_tables``; load, graph
build and the actual controllers, which the ownership analysis computes in a scan, are timed separately):
1. the whole ``counterparty_groups`` analysis (ties on every basis, components, member evidence, exposures,
   limits, screening, flags, write-back rows) with the controllers given, as in the scan;
2. its parts: ties, groups, exposures and limits.
The synthetic data has no repayment or funding sources: ``--sources`` gives that share of firms a random source
(seeded) so those bases are measured too. Tier 1 capital is ``--tier1-share`` of the total EAD. Figures go to
stdout; peak RSS is the process's.
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

from graphrisk.analysis import AnalysisContext, AnalysisResult
from graphrisk.analysis.groups import (
    counterparty_groups,
    counterparty_groups_analysis,
    group_ties,
    large_exposures,
    limit_breaches,
)
from graphrisk.analysis.ownership import actual_controllers
from graphrisk.config import Config
from graphrisk.graph import EnterpriseGraph
from graphrisk.synth import AS_OF
from graphrisk.tables import Tables
from loaders import load_tables

ROOT = Path(__file__).resolve().parent.parent
KEY = b"bench"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def with_sources(tables: Tables, share: float, seed: int = 0) -> Tables:
    """A copy of the tables where ``share`` of the firms name a random main repayment and funding source."""
    if share <= 0:
        return tables
    ent = tables["enterprises"].copy()
    n = len(ent)
    rng = np.random.default_rng(seed)
    ids = ent["id"].to_numpy(dtype=object)
    for column in ("main_repayment_source_id", "main_funding_source_id"):
        pick = rng.random(n) < share
        values = np.full(n, None, dtype=object)
        # Sources are drawn from a small pool, so some firms share one (the basis groups them).
        pool = ids[rng.choice(n, size=max(1, int(n * share / 4)), replace=False)]
        values[pick] = pool[rng.integers(0, len(pool), int(pick.sum()))]
        ent[column] = values
    frames = {**tables.frames, "enterprises": ent}
    return Tables.from_frames(frames)


def run(size: int, *, sources: float, tier1_share: float) -> dict[str, float]:
    path = ROOT / "bench" / "out" / f"portfolio-{size}-s0"
    t0 = time.perf_counter()
    tables = with_sources(load_tables(path, pseudonym_key=KEY), sources)
    graph = EnterpriseGraph(tables)
    out = {"size": float(size), "load_s": time.perf_counter() - t0}
    say(f"{size:,}: loaded and built in {out['load_s']:.1f} s")
    t0 = time.perf_counter()
    controllers = actual_controllers(graph)
    out["controllers_s"] = time.perf_counter() - t0
    say(f"{size:,}: actual controllers (the ownership analysis's part) {out['controllers_s']:.1f} s")
    tier1 = float(graph.ead.sum()) * tier1_share
    as_of = date.fromisoformat(AS_OF)

    t0 = time.perf_counter()
    ties = group_ties(graph, controllers, as_of=as_of)
    out["ties_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    groups = counterparty_groups(graph, ties=ties)
    out["groups_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    exposures = large_exposures(groups, graph, tier1)
    limit_breaches(exposures, tier1)
    out["exposures_s"] = time.perf_counter() - t0
    say(
        f"{size:,}: ties {out['ties_s']:.2f} s ({ties.counts()}), groups {out['groups_s']:.2f} s, exposures and "
        f"limits {out['exposures_s']:.2f} s"
    )

    ownership = AnalysisResult(name="ownership", tables={"controllers": controllers})
    context = AnalysisContext(
        config=Config(thresholds={"tier1_capital": tier1}), as_of=as_of, results={"ownership": ownership}
    )
    t0 = time.perf_counter()
    result = counterparty_groups_analysis(graph, context)
    out["analysis_s"] = time.perf_counter() - t0
    s = result.summary
    out["groups"] = float(s["groups"])
    out["firms_in_groups"] = float(s["firms_in_groups"])
    out["largest_group"] = float(s["largest_group"])
    out["flags"] = float(len(result.flags))
    say(
        f"{size:,}: whole analysis {out['analysis_s']:.2f} s: {s['groups']:,} groups, {s['firms_in_groups']:,} firms "
        f"(largest {s['largest_group']:,}), {s['counterparties']:,} counterparties, {s['breaches']:,} breaches, "
        f"{len(result.flags):,} flags, {len(result.writeback[0][1]):,} write-back rows"
    )
    out["peak_rss_gb"] = rss_gb()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000", help="portfolio sizes, comma-separated")
    ap.add_argument("--sources", type=float, default=0.05, help="share of firms given a random source (0: none)")
    ap.add_argument("--tier1-share", type=float, default=0.02, help="Tier 1 capital as a share of total EAD")
    args = ap.parse_args()
    rows = [run(int(s), sources=args.sources, tier1_share=args.tier1_share) for s in args.sizes.split(",")]
    cols = ["size", "load_s", "controllers_s", "ties_s", "groups_s", "exposures_s", "analysis_s", "groups"]
    print(" ".join(f"{c:>13}" for c in [*cols, "peak_rss_gb"]))
    for r in rows:
        print(" ".join(f"{r.get(c, float('nan')):>13.2f}" for c in [*cols, "peak_rss_gb"]))


if __name__ == "__main__":
    main()
