// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
MATCH (n:Person)
RETURN n.id AS id, n.name AS name, n.id_pseudonym AS id_pseudonym, n.address AS address, n.phone AS phone
ORDER BY n.id;
