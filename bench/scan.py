"""Benchmark: the full batch scan, embedded (issue 7).

    python bench/scan.py                          # the 100k and 1M portfolios
    python bench/scan.py --sizes 100000           # one size

Runs ``graphrisk scan`` exactly as a nightly job would (a child process, the installed console script or
``python -m graphrisk``) on the synthetic portfolios in ``bench/out/portfolio-<N>-s0`` (generated when missing,
``graphrisk generate`` with seed 0), with ``--as-of`` set to the generator's date. Prints the wall time, the
child's peak RSS and the per-stage timings the scan wrote to ``summary.json``. Targets: 100k < 60 s;
1M < 10 minutes and < 12 GB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from graphrisk.synth import AS_OF  # noqa: E402

TARGETS = {100_000: (60.0, None), 1_000_000: (600.0, 12.0)}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def portfolio(size: int) -> Path:
    path = ROOT / "bench" / "out" / f"portfolio-{size}-s0"
    if not (path / "enterprises.csv").exists():
        say(f"generating the {size:,} portfolio into {path}")
        subprocess.run(
            [sys.executable, "-m", "graphrisk", "generate", str(path), "--enterprises", str(size), "--seed", "0"],
            check=True,
        )
    return path


def run(size: int) -> dict[str, object]:
    data = portfolio(size)
    out = ROOT / "bench" / "out" / f"scan-{size}"
    env = {**os.environ, "GRAPHRISK_PSEUDONYM_KEY": "bench"}
    env.pop("NEO4J_URI", None)  # embedded: the scan never picks a server up from the environment anyway
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "graphrisk", "scan", str(data), "--out", str(out), "--as-of", str(AS_OF)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        say(done.stderr[-4000:])
        raise SystemExit(f"scan of {size:,} failed with exit code {done.returncode}")
    # ru_maxrss of children is the largest child so far: the scan is by far the largest (generation runs first).
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024**2
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return {"size": size, "wall_s": wall, "peak_rss_gb": peak, "timings": summary["timings"],
            "flags": summary["flags"]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000", help="portfolio sizes, comma-separated")
    args = ap.parse_args()
    rows = [run(int(s)) for s in args.sizes.split(",")]
    for r in rows:
        size = int(r["size"])  # type: ignore[call-overload]
        target_s, target_gb = TARGETS.get(size, (None, None))
        verdict = []
        if target_s is not None:
            verdict.append(f"target < {target_s:.0f} s: {'met' if r['wall_s'] < target_s else 'MISSED'}")  # type: ignore[operator]
        if target_gb is not None:
            verdict.append(f"< {target_gb:.0f} GB: {'met' if r['peak_rss_gb'] < target_gb else 'MISSED'}")  # type: ignore[operator]
        print(f"\nscan of {size:,} enterprises: {r['wall_s']:.1f} s wall, peak RSS {r['peak_rss_gb']:.2f} GB "
              f"({'; '.join(verdict)}); flags {r['flags']}")  # fmt: skip
        print(f"  {'stage':<34} seconds  peak RSS so far")
        for t in r["timings"]:  # type: ignore[attr-defined]
            print(f"  {t['stage']:<34} {t['seconds']:8.2f}  {t.get('peak_rss_gb', float('nan')):6.2f} GB")


if __name__ == "__main__":
    main()
