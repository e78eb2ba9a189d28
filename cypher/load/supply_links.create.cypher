// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
UNWIND $rows AS row
MATCH (a:Enterprise {id: row.supplier_id})
MATCH (b:Enterprise {id: row.customer_id})
CREATE (a)-[r:SUPPLIES {key: row.key}]->(b)
SET r.amount = row.amount,
    r.share_of_supplier_revenue = row.share_of_supplier_revenue,
    r.share_of_customer_purchases = row.share_of_customer_purchases,
    r.year = row.year
RETURN count(*) AS rows;
