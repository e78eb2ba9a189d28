// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
UNWIND $rows AS row
MATCH (a:Enterprise {id: row.guarantor_id})
MATCH (b:Enterprise {id: row.borrower_id})
CREATE (a)-[r:GUARANTEES {key: row.key}]->(b)
SET r.amount = row.amount,
    r.loan_id = row.loan_id,
    r.kind = row.kind,
    r.start_date = row.start_date,
    r.end_date = row.end_date,
    r.currency = row.currency
RETURN count(*) AS rows;
