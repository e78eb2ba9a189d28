// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
UNWIND $rows AS row
MERGE (n:Person:Entity {id: row.id})
SET n.name = row.name,
    n.id_pseudonym = row.id_pseudonym,
    n.address = row.address,
    n.phone = row.phone
RETURN count(*) AS rows;
