// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
MATCH (a:Person)-[r:OFFICER_OF]->(b:Enterprise)
RETURN a.id AS person_id, b.id AS company_id, r.role AS role
ORDER BY r.key;
