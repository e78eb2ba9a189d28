"""The Spark engine: the batch scan as DataFrame operations (issue 9).

Only this package imports pyspark; ``graphrisk`` itself never does, so the embedded engine needs no Spark.
Install with ``pip install -e ".[spark]"`` and fetch the connector jars with ``python scripts/spark.py fetch``.

Modules: :mod:`.session` (SparkSession with the cached jars), :mod:`.io` (input tables and cells with line
numbers), :mod:`.validate` (the loader's rules, rejects), :mod:`.neo4j_io` (the Neo4j connector: read, write-back),
:mod:`.graph` (connected and strong components), :mod:`.steps` (guarantee components, mutual pairs, group ties,
contact pairs, impact edges, DebtRank), :mod:`.ownership`, :mod:`.guarantees`, :mod:`.hidden_links`,
:mod:`.groups`, :mod:`.contagion`, :mod:`.clusters` (the analyses), :mod:`.flags` (flags and risk scores),
:mod:`.scan` (``graphrisk scan --engine spark``).
"""

from __future__ import annotations

from graphrisk.engines.spark.session import SparkEngineError, jar_paths, session

__all__ = ["SparkEngineError", "jar_paths", "session"]
