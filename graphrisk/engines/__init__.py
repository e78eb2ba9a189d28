"""Alternative execution engines. The embedded engine is the default and lives in ``graphrisk.analysis``;
each engine here is an optional package that imports its own runtime (``spark`` imports pyspark) and nothing in
the core imports it."""
