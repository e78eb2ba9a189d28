// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
MATCH ()-[r:HOLDS_SHARES]->()
RETURN count(r) AS n;
