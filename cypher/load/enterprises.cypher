// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
UNWIND $rows AS row
MERGE (n:Enterprise:Entity {id: row.id})
SET n.name = row.name,
    n.uscc = row.uscc,
    n.status = row.status,
    n.industry = row.industry,
    n.region = row.region,
    n.established = row.established,
    n.registered_capital = row.registered_capital,
    n.net_assets = row.net_assets,
    n.total_assets = row.total_assets,
    n.total_liabilities = row.total_liabilities,
    n.revenue = row.revenue,
    n.pd = row.pd,
    n.rating = row.rating,
    n.defaulted = row.defaulted,
    n.listed = row.listed,
    n.state_owned = row.state_owned,
    n.declared_controller_id = row.declared_controller_id,
    n.main_repayment_source_id = row.main_repayment_source_id,
    n.main_funding_source_id = row.main_funding_source_id,
    n.address = row.address,
    n.phone = row.phone,
    n.email = row.email
RETURN count(*) AS rows;
