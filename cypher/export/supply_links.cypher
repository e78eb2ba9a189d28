// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
MATCH (a:Enterprise)-[r:SUPPLIES]->(b:Enterprise)
RETURN a.id AS supplier_id, b.id AS customer_id, r.amount AS amount, r.share_of_supplier_revenue AS share_of_supplier_revenue, r.share_of_customer_purchases AS share_of_customer_purchases, r.year AS year
ORDER BY r.key;
