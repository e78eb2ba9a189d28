// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
MATCH (n:Enterprise)
RETURN n.id AS id, n.name AS name, n.uscc AS uscc, n.status AS status, n.industry AS industry, n.region AS region, n.established AS established, n.registered_capital AS registered_capital, n.net_assets AS net_assets, n.total_assets AS total_assets, n.total_liabilities AS total_liabilities, n.revenue AS revenue, n.pd AS pd, n.rating AS rating, n.defaulted AS defaulted, n.listed AS listed, n.state_owned AS state_owned, n.declared_controller_id AS declared_controller_id, n.main_repayment_source_id AS main_repayment_source_id, n.main_funding_source_id AS main_funding_source_id, n.address AS address, n.phone AS phone, n.email AS email
ORDER BY n.id;
