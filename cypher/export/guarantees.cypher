// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
MATCH (a:Enterprise)-[r:GUARANTEES]->(b:Enterprise)
RETURN a.id AS guarantor_id, b.id AS borrower_id, r.amount AS amount, r.loan_id AS loan_id, r.kind AS kind, r.start_date AS start_date, r.end_date AS end_date, r.currency AS currency
ORDER BY r.key;
