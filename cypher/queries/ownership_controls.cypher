// The CONTROLS relations written back by the ownership analysis for one company.
// Parameters: $company_id.
MATCH (a:Entity)-[r:CONTROLS]->(b:Enterprise {id: $company_id})
RETURN a.id AS controller_id, r.rule AS rule, r.share AS share, r.path AS path
ORDER BY controller_id;
