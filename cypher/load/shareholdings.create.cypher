// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
UNWIND $rows AS row
MATCH (a:Entity {id: row.holder_id})
MATCH (b:Enterprise {id: row.company_id})
CREATE (a)-[r:HOLDS_SHARES {key: row.key}]->(b)
SET r.share = row.share,
    r.voting_share = row.voting_share,
    r.share_min = row.share_min,
    r.share_max = row.share_max,
    r.amount = row.amount,
    r.as_of = row.as_of
RETURN count(*) AS rows;
