// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
MATCH (:Enterprise)-[:HAS_FACILITY]->(f:Facility)
RETURN f.borrower_id AS borrower_id, f.ead AS ead, f.lgd AS lgd, f.facility_id AS facility_id
ORDER BY f.key;
