// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
MATCH ()-[r:OFFICER_OF]->()
RETURN count(r) AS n;
