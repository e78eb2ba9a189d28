"""graphrisk: the network risk no single credit file shows.

Guarantee circles and chains, ownership penetration and actual controllers, default contagion, hidden
associations and connected-counterparty groups, computed from a bank's and a registry's tables, embedded
(in-process) or on Neo4j.
"""

from graphrisk.errors import GraphriskError
from graphrisk.schema import SCHEMA

__version__ = "0.1.0"

__all__ = ["SCHEMA", "GraphriskError", "__version__"]
