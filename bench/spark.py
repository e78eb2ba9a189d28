"""Benchmark: the Spark engine (issue 9) on local[1] and local[2], and the speed-up of the second core.

    python bench/spark.py                                   # the 1M portfolio, local[1] then local[2]
    python bench/spark.py --sizes 100000 --masters 'local[2]'
    python bench/spark.py --reuse                           # report runs made earlier (one master per sitting)

Runs ``graphrisk scan DATA --engine spark --spark-master M`` as a child process (one JVM per run: a SparkSession's
master cannot change inside one process) on ``bench/out/portfolio-<N>-s0`` (generated when missing, seed 0), with
``--as-of`` the generator's date. Prints the wall time, the peak RSS of the child and its JVM, the seconds of
every step from ``summary.json`` per master, and the speed-up per step. Never part of the test suite.

Memory: the driver heap is ``GRAPHRISK_SPARK_DRIVER_MEMORY`` (default here 6g: one JVM is driver and executor in
local mode), and shuffle partitions ``GRAPHRISK_SPARK_SHUFFLE_PARTITIONS`` (default here 8).
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


def run(size: int, master: str, *, reuse: bool = False) -> dict[str, object]:
    data = portfolio(size)
    cores = master.removeprefix("local[").removesuffix("]")
    out = ROOT / "bench" / "out" / f"spark-{size}-local{cores}"
    kept = out / "bench.json"
    if reuse and kept.exists():
        # A run measured earlier (one master per sitting: a 1M run takes long), reported with the others.
        say(f"reusing {kept}")
        return dict(json.loads(kept.read_text(encoding="utf-8")))
    env = {**os.environ}
    env.setdefault("GRAPHRISK_SPARK_DRIVER_MEMORY", "6g")
    env.setdefault("GRAPHRISK_SPARK_SHUFFLE_PARTITIONS", "8")
    env.pop("NEO4J_URI", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "graphrisk", "scan", str(data), "--engine", "spark", "--spark-master", master,
           "--out", str(out), "--as-of", str(AS_OF)]  # fmt: skip
    # The scan's step lines pass through to stderr as they come (a 1M run takes a while); the tail is kept for errors.
    tail: list[str] = []
    with subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True) as child:
        assert child.stderr is not None
        for line in child.stderr:
            if " WARN " not in line:
                say(line.rstrip())
            tail = [*tail[-80:], line]
    done = subprocess.CompletedProcess(cmd, child.returncode, stderr="".join(tail))
    wall = time.perf_counter() - t0
    # ru_maxrss of children is the largest child so far (the JVM is a grandchild: counted when it is reaped).
    rss = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024**2
    if done.returncode != 0:
        say(done.stderr[-4000:])
        raise SystemExit(f"scan on {master} failed with exit code {done.returncode}")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    result = {"master": master, "wall": wall, "rss_gb": rss, "steps": summary["steps"], "measured": time.ctime()}
    kept.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000", help="comma-separated portfolio sizes")
    parser.add_argument("--masters", default="local[1],local[2]", help="comma-separated Spark masters")
    parser.add_argument(
        "--reuse", action="store_true", help="report a master's earlier run (bench.json) if there is one"
    )
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        runs = []
        for master in args.masters.split(","):
            say(f"{size:,} firms on {master} …")
            runs.append(run(size, master, reuse=args.reuse))
        print(f"\nSpark engine, {size:,} firms (seconds per step)")
        header = f"{'step':28}" + "".join(f"{r['master']:>12}" for r in runs)
        if len(runs) == 2:
            header += f"{'speed-up':>10}"
        print(header)
        steps = list(runs[0]["steps"])  # type: ignore[call-overload]
        for name in steps:
            secs = [float(r["steps"].get(name, {}).get("seconds", "nan")) for r in runs]  # type: ignore[attr-defined]
            line = f"{name:28}" + "".join(f"{s:12.1f}" for s in secs)
            if len(secs) == 2 and secs[1] > 0:
                line += f"{secs[0] / secs[1]:10.2f}"
            print(line)
        walls = [float(r["wall"]) for r in runs]  # type: ignore[arg-type]
        line = f"{'wall (JVM start included)':28}" + "".join(f"{w:12.1f}" for w in walls)
        if len(walls) == 2:
            line += f"{walls[0] / walls[1]:10.2f}"
        print(line)
        print(f"{'peak RSS, GB':28}" + "".join(f"{float(r['rss_gb']):12.2f}" for r in runs))  # type: ignore[arg-type]
        rows = {name: runs[0]["steps"][name]["rows"] for name in steps}  # type: ignore[index]
        print("rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))


if __name__ == "__main__":
    main()
