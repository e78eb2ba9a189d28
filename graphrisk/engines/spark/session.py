"""A SparkSession with the connector jars that ``scripts/spark.py fetch`` cached.

>>> from graphrisk.engines.spark.session import jar_home
>>> jar_home().name
'.spark'
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "INSTALL_HINT",
    "RETENTION_DEFAULTS",
    "SparkEngineError",
    "jar_home",
    "jar_paths",
    "require_pyspark",
    "session",
    "spark_settings",
    "submitted",
]

INSTALL_HINT = (
    'Fix: python3 -m pip install -e ".[spark]" (pyspark 3.5, Java 17) and python3 scripts/spark.py fetch '
    "(the connector jars, through Maven, into .spark/jars/)."
)


class SparkEngineError(RuntimeError):
    """The Spark engine cannot run here; the message says what is missing and how to fix it."""


def require_pyspark() -> Any:
    """The pyspark module, or a :class:`SparkEngineError` naming the fix (never a bare ImportError)."""
    try:
        import pyspark
    except ImportError as exc:
        raise SparkEngineError(f"pyspark is not installed ({exc}). {INSTALL_HINT}") from exc
    if not pyspark.__version__.startswith("3.5."):
        # The jars are built for Spark 3.5 / Scala 2.12: another Spark would load them and fail later.
        raise SparkEngineError(f"pyspark {pyspark.__version__} is installed; the engine needs 3.5.x. {INSTALL_HINT}")
    return pyspark


def jar_home() -> Path:
    """Where the jars are cached: $GRAPHRISK_SPARK_HOME, else ``.spark`` in the checkout (found from the package,
    which an editable install keeps in the checkout), else ``.spark`` in the working directory."""
    env = os.environ.get("GRAPHRISK_SPARK_HOME")
    if env:
        return Path(env).resolve()
    checkout = Path(__file__).resolve().parents[3] / ".spark"
    return checkout if checkout.is_dir() else Path.cwd() / ".spark"


def jar_paths(home: Path | None = None) -> list[Path]:
    """The cached jars listed in the manifest; a :class:`SparkEngineError` when a required one is missing."""
    root = home or jar_home()
    manifest = root / "jars" / "manifest.json"
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8"))["artifacts"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError) as exc:
        raise SparkEngineError(f"no jar manifest at {manifest} ({type(exc).__name__}). {INSTALL_HINT}") from exc
    connector = entries.get("neo4j-connector", {})
    if connector.get("status") != "fetched":
        raise SparkEngineError(f"the Neo4j Connector for Apache Spark is not in {root / 'jars'}. {INSTALL_HINT}")
    out = [root / "jars" / str(f) for e in entries.values() if e.get("status") == "fetched" for f in e["files"]]
    missing = [p.name for p in out if not p.is_file()]
    if missing:
        raise SparkEngineError(f"jars listed in {manifest} are gone: {', '.join(missing[:3])}. {INSTALL_HINT}")
    return out


# The driver keeps every finished job, stage and SQL query (with its plan text and metrics) for the web UI, even
# with the UI off; a scan runs hundreds of iterative queries, and 1,000 retained plans filled a 1 GB driver on the
# 300-firm example. Keep the recent ones only (each is a default the submitter may override).
RETENTION_DEFAULTS = {
    "spark.sql.ui.retainedExecutions": "50",
    "spark.ui.retainedJobs": "100",
    "spark.ui.retainedStages": "100",
    "spark.ui.retainedTasks": "10000",
}


# The settings a report records: what sizes the run (docs/spark-sizing.md) and what the driver retains.
REPORTED_SETTINGS = (
    "spark.driver.memory",
    "spark.executor.memory",
    "spark.executor.cores",
    "spark.sql.shuffle.partitions",
    "spark.sql.adaptive.enabled",
    *RETENTION_DEFAULTS,
)


def spark_settings(spark: SparkSession) -> dict[str, str]:
    """The sizing and retention settings the session runs with (those set), for ``summary.json``."""
    conf = spark.sparkContext.getConf()
    runtime = {"spark.sql.shuffle.partitions", "spark.sql.adaptive.enabled"}
    out = {}
    for key in REPORTED_SETTINGS:
        # SQL settings may change at runtime (the session's value); the others are fixed when the context starts.
        value = spark.conf.get(key, None) if key in runtime else conf.get(key)
        if value is not None:
            out[key] = str(value)
    return out


def submitted() -> bool:
    """True inside ``spark-submit``: its launcher started the JVM and hands the gateway to this Python process, and
    its options (``--master``, ``--jars``, ``--driver-memory``, ``--conf``) are already the session's."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def session(
    master: str | None = "local[2]",
    app: str = "graphrisk",
    *,
    shuffle_partitions: int = 4,
    driver_memory: str = "2g",
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """Get or create a SparkSession with the cached jars on its classpath.

    Local defaults suit tests on a 2-core machine: four shuffle partitions (Spark's 200 would schedule 200 tiny
    tasks per join), no web UI, UTC session time zone (as-of dates compare as dates, whatever the host's zone).
    On a cluster pass ``master`` (``yarn``, ``spark://…``, ``k8s://…``) and raise ``shuffle_partitions``.

    Under ``spark-submit`` (:func:`submitted`) the submitter's settings win: ``master`` (``None`` there), the jars
    and the driver's memory come from its command line, and only the defaults it did not set are added.
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    # Sizing without code changes (bench/spark.py, a larger machine): the environment overrides the defaults.
    driver_memory = os.environ.get("GRAPHRISK_SPARK_DRIVER_MEMORY", driver_memory)
    shuffle_partitions = int(os.environ.get("GRAPHRISK_SPARK_SHUFFLE_PARTITIONS", shuffle_partitions))

    if submitted():
        # A cluster's own default (200, coalesced by adaptive execution) suits it better than the local 4.
        given = os.environ.get("GRAPHRISK_SPARK_SHUFFLE_PARTITIONS")
        return _submitted_session(app, int(given) if given else None, conf or {})
    master = master or "local[2]"
    jars = jar_paths()
    # Executors run our pandas UDFs: in local mode they must use this interpreter (with graphrisk installed).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    local = master.startswith("local")
    if local:
        # Local mode talks to itself only: bind to loopback instead of the first network interface.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.jars", ",".join(str(p) for p in jars))
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.adaptive.enabled", "true")
    )
    for key, value in RETENTION_DEFAULTS.items():
        builder = builder.config(key, value)
    if local:
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _submitted_session(app: str, shuffle_partitions: int | None, conf: dict[str, str]) -> SparkSession:
    """The session ``spark-submit`` prepared, with this engine's defaults where the submitter set nothing."""
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    # Retention is read when the context starts: the launcher's JVM is up (its settings are system properties that
    # a SparkConf loads once the gateway is open), so add only the retention defaults the submitter left unset.
    SparkContext._ensure_initialized()
    before = SparkConf()
    builder = SparkSession.builder.appName(app)
    for key, value in RETENTION_DEFAULTS.items():
        if not before.contains(key):
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    # The submitter's --conf, --master and --jars are the JVM's: read them from the running context, then add only
    # the SQL settings it left unset; they apply at runtime.
    given = spark.sparkContext.getConf()
    if not any("neo4j-connector-apache-spark" in j for j in (given.get("spark.jars") or "").split(",")):
        # Only the Neo4j source and write-back need the connector: warn now rather than fail in the middle.
        print("graphrisk: spark-submit without the Neo4j connector jar (--jars \"$(python3 scripts/spark.py jars "
              "--comma)\"): --neo4j-uri will not work", file=sys.stderr)  # fmt: skip
    defaults = {"spark.sql.execution.arrow.pyspark.enabled": "true", "spark.sql.adaptive.enabled": "true"}
    if shuffle_partitions is not None:
        defaults["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    for key, value in defaults.items():
        if not given.contains(key):
            spark.conf.set(key, value)
    # As-of dates compare as dates in UTC whatever the cluster's zone: the results must not depend on it.
    for key, value in {"spark.sql.session.timeZone": "UTC", **conf}.items():
        spark.conf.set(key, value)
    spark.sparkContext.setLogLevel("ERROR")
    return spark
