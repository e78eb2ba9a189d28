"""Benchmark: validate a synthetic portfolio's files and build the EnterpriseGraph.

    python bench/validate_build.py --enterprises 100000 1000000

Generates each portfolio once into bench/out/portfolio-N (reused on later runs), then, in a fresh child
process per size so that peak RSS is the validation's own, times reading + validation and graph building.
Target (issue 2): 1M enterprises with about 4 relations each in < 90 s, peak RSS < 8 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"


def ensure_portfolio(n: int, seed: int) -> Path:
    folder = OUT / f"portfolio-{n}-s{seed}"
    if (folder / "enterprises.csv").exists():
        return folder
    from graphrisk.synth import generate_portfolio, portfolio_files

    t0 = time.perf_counter()
    portfolio = generate_portfolio(n, seed=seed, progress=lambda m: print(f"  generate: {m}", file=sys.stderr))
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in portfolio_files(portfolio).items():
        (folder / name).write_bytes(data)
    print(f"generated {folder} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return folder


def measure(folder: Path) -> dict[str, object]:
    """Runs in the child process."""
    from graphrisk.graph import EnterpriseGraph
    from loaders import load_tables

    t0 = time.perf_counter()
    tables = load_tables(folder, pseudonym_key=b"bench", progress=lambda m: print(f"  {m}", file=sys.stderr))
    t1 = time.perf_counter()
    graph = EnterpriseGraph(tables)
    for r in ("ownership", "guarantee", "supply", "officer"):
        graph.adjacency(r)
    t2 = time.perf_counter()
    rows = sum(s.rows for s in tables.stats.values())
    relations = sum(graph.summary()["edges"].values())
    return {
        "enterprises": graph.n_enterprises,
        "rows": rows,
        "relations": relations,
        "rejected": tables.rejected_rows,
        "validate_s": round(t1 - t0, 2),
        "build_graph_s": round(t2 - t1, 2),
        "total_s": round(t2 - t0, 2),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--enterprises", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    rows = []
    for n in args.enterprises:
        folder = ensure_portfolio(n, args.seed)
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(folder)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            sys.exit(proc.stderr)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    cols = ["enterprises", "rows", "relations", "rejected", "validate_s", "build_graph_s", "total_s", "peak_rss_gb"]
    print("validate + build EnterpriseGraph (target at 1M: total < 90 s, peak RSS < 8 GB)")
    print("  ".join(f"{c:>13}" for c in cols))
    for r in rows:
        print("  ".join(f"{r[c]:>13,}" if isinstance(r[c], int) else f"{r[c]:>13}" for c in cols))


if __name__ == "__main__":
    main()
