"""Benchmark: generate a synthetic portfolio, serialise it and write it to a temporary folder.

    python bench/generate.py [--enterprises 1000000] [--seed 0]

Prints seconds per stage, rows per table, the files' size and the peak RSS of this process.
Target: 1,000,000 enterprises generated and serialised in < 180 s on 2 cores, peak RSS well under 8 GB.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from graphrisk.synth import generate_portfolio, portfolio_files

TARGET_S = 180.0
TARGET_N = 1_000_000


def _peak_rss_gb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--enterprises", type=int, default=TARGET_N)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()

    def progress(msg: str) -> None:
        if not args.quiet:
            print(f"  {time.perf_counter() - t0:7.1f} s  {msg}", file=sys.stderr, flush=True)

    portfolio = generate_portfolio(args.enterprises, seed=args.seed, progress=progress)
    t1 = time.perf_counter()
    files = portfolio_files(portfolio)
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="graphrisk-bench-") as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        t3 = time.perf_counter()

    total = t3 - t0
    rows = {name: len(df) for name, df in portfolio.tables.items()}
    size_mb = sum(len(b) for b in files.values()) / 1e6
    stages = [("generate_portfolio", t1 - t0), ("portfolio_files", t2 - t1), ("write files", t3 - t2), ("total", total)]
    print(f"graphrisk generate benchmark: n = {args.enterprises:,}, seed = {args.seed}")
    print(f"{'stage':<24}{'seconds':>10}")
    for name, sec in stages:
        print(f"{name:<24}{sec:>10.1f}")
    print(f"{'table':<24}{'rows':>12}")
    for name, k in rows.items():
        print(f"{name:<24}{k:>12,}")
    print(f"{'all tables':<24}{sum(rows.values()):>12,}")
    print(f"{'planted patterns':<24}{len(portfolio.ground_truth['patterns']):>12,}")
    print(f"{'files (MB)':<24}{size_mb:>12,.1f}")
    print(f"{'peak RSS (GB)':<24}{_peak_rss_gb():>12.2f}")
    budget = TARGET_S * args.enterprises / TARGET_N
    ok = total < budget
    print(
        f"target: < {TARGET_S:.0f} s for {TARGET_N:,} enterprises (scaled: < {budget:.1f} s) -> "
        f"{'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
