"""Benchmark: the contagion steps of the Spark engine alone, per impact component or in distributed rounds.

    python bench/spark_contagion.py                                  # 1M portfolio, local[2], default cap
    python bench/spark_contagion.py --size 100000 --scenarios 500
    python bench/spark_contagion.py --cap 0                          # every component in the distributed rounds
    python bench/spark_contagion.py --skip-network-pd

Reads ``bench/out/portfolio-<N>-s0`` (``bench/spark.py`` generates it) without validation, builds the impact
edges, and prints on stdout the seconds of each step: impact components, systemic importance of
``contagion_candidates`` firms, the Monte Carlo (``--scenarios``), network PD (all per batch of impact components
up to the cap, distributed rounds above it). The scan's thresholds otherwise.
Session 5 measured with it on 1M, local[2], a quiet machine: components 73 s, systemic 19 s, Monte Carlo 326 s
(docs/spark-sizing.md). Never part of the test suite.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from datetime import date  # noqa: E402

from graphrisk.config import Config  # noqa: E402
from graphrisk.synth import AS_OF  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--cap", type=int, default=None, help="component cap (default COMPONENT_CAP; 0: all rounds)")
    parser.add_argument("--scenarios", type=int, default=None, help="Monte Carlo scenarios (default: the scan's)")
    parser.add_argument("--skip-network-pd", action="store_true")
    parser.add_argument("--driver-memory", default="8g")
    args = parser.parse_args(argv)

    from graphrisk.engines.spark import contagion as CT
    from graphrisk.engines.spark.io import read_tables
    from graphrisk.engines.spark.session import session
    from graphrisk.engines.spark.steps import impact_edges

    data = ROOT / "bench" / "out" / f"portfolio-{args.size}-s0"
    if not (data / "enterprises.csv").exists():
        print(f"no portfolio at {data}: python bench/spark.py --sizes {args.size} generates it", file=sys.stderr)
        return 2
    th = Config().threshold
    cap = CT.COMPONENT_CAP if args.cap is None else args.cap
    scenarios = int(th("contagion_mc_scenarios")) if args.scenarios is None else args.scenarios
    spark = session(args.master, "bench-contagion", driver_memory=args.driver_memory, shuffle_partitions=8)
    figures: list[tuple[str, float, int]] = []

    def timed(name: str, frame_of):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        frame = frame_of().localCheckpoint()
        rows = frame.count()
        figures.append((name, time.perf_counter() - start, rows))
        print(f"{name}: {rows:,} rows, {figures[-1][1]:.1f} s", file=sys.stderr, flush=True)  # progress
        return frame

    tables = read_tables(spark, str(data))
    impact = timed(
        "impact edges",
        lambda: impact_edges(
            tables,
            date.fromisoformat(str(AS_OF)),
            guarantee_recovery=th("contagion_guarantee_recovery"),
            supply_loss_factor=th("contagion_supply_loss_factor"),
            substitution_cost=th("contagion_substitution_cost"),
        ),
    )
    p = CT.standalone_pd(tables).localCheckpoint()
    exposure = CT.firm_exposure(tables).localCheckpoint()
    components = timed("impact components", lambda: CT.impact_components(impact, batches=8, cap=cap))
    candidates = CT.candidates_by_exposure(impact, exposure, int(th("contagion_candidates"))).localCheckpoint()
    timed(
        "systemic importance",
        lambda: CT.systemic_importance(
            impact,
            candidates,
            exposure,
            hit_distress=th("contagion_hit_distress"),
            min_distress=th("contagion_min_distress"),
            components=components,
        ),
    )
    timed(
        "monte carlo",
        lambda: CT.monte_carlo(
            impact, p, exposure, scenarios=scenarios, rho=th("contagion_mc_rho"), components=components
        ),
    )
    if not args.skip_network_pd:
        timed("network pd", lambda: CT.network_pd(p, impact, components=components))
    largest = components.agg({"firms": "max"}).first()
    print(f"contagion steps on {args.size:,} firms, {args.master}, cap {cap:,}, {scenarios:,} scenarios, "
          f"largest impact component {int(largest[0] or 0) if largest else 0:,}")  # fmt: skip
    for name, seconds, rows in figures:
        print(f"  {name:<22} {seconds:8.1f} s  {rows:>12,} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
