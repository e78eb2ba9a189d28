"""The Spark engine: the batch scan's whole-portfolio steps as DataFrame operations (issue 9, milestone 1).

Only this package imports pyspark; ``graphrisk`` itself never does, so the embedded engine needs no Spark.
Install with ``pip install -e ".[spark]"`` and fetch the connector jars with ``python scripts/spark.py fetch``.

Modules: :mod:`.session` (SparkSession with the cached jars), :mod:`.io` (input tables as DataFrames),
:mod:`.graph` (connected components), :mod:`.steps` (the distributed steps), :mod:`.scan` (``graphrisk scan
--engine spark``).
"""

from __future__ import annotations

from graphrisk.engines.spark.session import SparkEngineError, jar_paths, session

__all__ = ["SparkEngineError", "jar_paths", "session"]
