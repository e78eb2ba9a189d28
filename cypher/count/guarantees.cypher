// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
MATCH ()-[r:GUARANTEES]->()
RETURN count(r) AS n;
