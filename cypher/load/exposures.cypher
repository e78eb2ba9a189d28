// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
UNWIND $rows AS row
MATCH (b:Enterprise {id: row.borrower_id})
MERGE (f:Facility {key: row.key})
SET f.borrower_id = row.borrower_id,
    f.ead = row.ead,
    f.lgd = row.lgd,
    f.facility_id = row.facility_id
MERGE (b)-[:HAS_FACILITY]->(f)
RETURN count(*) AS rows;
