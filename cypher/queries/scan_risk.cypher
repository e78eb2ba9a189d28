// Entities carrying a scan's verdict, riskiest first. Parameters: $limit.
MATCH (e:Entity)
WHERE e.risk_run_id IS NOT NULL
RETURN e.id AS id, e.name AS name, e.risk_score AS risk_score, e.risk_severity AS risk_severity,
       e.risk_flags AS risk_flags, e.risk_run_id AS run_id
ORDER BY e.risk_score DESC, e.id
LIMIT $limit;
