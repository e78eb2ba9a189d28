"""The ``spark-submit`` application: the Spark engine's scan on whatever cluster the submitter names.

    spark-submit --master yarn --deploy-mode client \\
        --jars "$(python3 scripts/spark.py jars --comma)" --driver-memory 8g \\
        "$(python3 scripts/spark.py app)" DATA --out REPORT_DIR [--as-of YYYY-MM-DD] [--fail-on high] [--neo4j-uri …]

The arguments are those of ``graphrisk scan`` (``--engine spark`` is implied; ``--spark-master`` is refused,
spark-submit's ``--master`` decides). The exit code is the scan's (0 done, 1 an error, 2 a usage error, 3 flags
at ``--fail-on``), which spark-submit passes on. Every executor's Python needs graphrisk and its dependencies
(``pip install 'graphrisk[spark]'`` on the nodes, or a packed environment given with ``--archives``).
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run ``graphrisk scan ARGV --engine spark`` in the session spark-submit started; return its exit code."""
    from graphrisk.cli.main import main as cli

    args = list(sys.argv[1:] if argv is None else argv)
    if any(a == "--spark-master" or a.startswith("--spark-master=") for a in args):
        print("Error: under spark-submit the master is spark-submit's --master; drop --spark-master.", file=sys.stderr)
        return 2
    if any(a == "--engine" or a.startswith("--engine=") for a in args):
        print("Error: the spark-submit application always runs --engine spark; drop --engine.", file=sys.stderr)
        return 2
    try:
        cli.main(["scan", *args, "--engine", "spark"], prog_name="graphrisk-spark-app", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
