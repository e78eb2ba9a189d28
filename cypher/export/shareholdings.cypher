// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
MATCH (a:Entity)-[r:HOLDS_SHARES]->(b:Enterprise)
RETURN a.id AS holder_id, b.id AS company_id, r.share AS share, r.voting_share AS voting_share, r.share_min AS share_min, r.share_max AS share_max, r.amount AS amount, r.as_of AS as_of
ORDER BY r.key;
