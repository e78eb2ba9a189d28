// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
UNWIND $rows AS row
MATCH (a:Person {id: row.person_id})
MATCH (b:Enterprise {id: row.company_id})
CREATE (a)-[r:OFFICER_OF {key: row.key}]->(b)
SET r.role = row.role
RETURN count(*) AS rows;
