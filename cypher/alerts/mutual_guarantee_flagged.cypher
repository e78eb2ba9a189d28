// alert: mutual_guarantee_flagged
// severity: high
// finds: a new mutual guarantee (互保) between two firms the scan flagged: A guarantees B and B guarantees A, both
//   in force on $as_of, at least one of them started on or after $since, and both firms carry a risk_severity
//   (written by `graphrisk scan --neo4j-uri`).
// parameters: $as_of (date: a guarantee is in force when start_date <= $as_of <= end_date, a missing date is
//   open); $since (date or null: null reports every such pair, however old).
// columns: alert, severity, entity_id, entity_name, related_id, related_name (the pair, smaller id first),
//   amount (the guaranteed amounts in force, both directions), reason.
MATCH (a:Enterprise)-[g:GUARANTEES]->(b:Enterprise)
WHERE a.id < b.id
  AND a.risk_severity IS NOT NULL AND b.risk_severity IS NOT NULL
  AND (g.start_date IS NULL OR g.start_date <= $as_of) AND (g.end_date IS NULL OR g.end_date >= $as_of)
WITH a, b, sum(coalesce(g.amount, 0.0)) AS ab_amount, max(g.start_date) AS ab_start
MATCH (b)-[h:GUARANTEES]->(a)
WHERE (h.start_date IS NULL OR h.start_date <= $as_of) AND (h.end_date IS NULL OR h.end_date >= $as_of)
WITH a, b, ab_amount, ab_start, sum(coalesce(h.amount, 0.0)) AS ba_amount, max(h.start_date) AS ba_start
WHERE $since IS NULL OR ab_start >= $since OR ba_start >= $since
WITH a, b, ab_amount, ba_amount,
     CASE WHEN ba_start IS NULL OR ab_start >= ba_start THEN ab_start ELSE ba_start END AS newest
RETURN 'mutual_guarantee_flagged' AS alert,
       'high' AS severity,
       a.id AS entity_id,
       a.name AS entity_name,
       b.id AS related_id,
       b.name AS related_name,
       ab_amount + ba_amount AS amount,
       'mutual guarantee (互保) between flagged firms: ' + coalesce(a.name, a.id) + ' guarantees ' +
       coalesce(b.name, b.id) + ' for ' + toString(round(ab_amount / 10000.0, 1)) + '万 and ' +
       coalesce(b.name, b.id) + ' guarantees ' + coalesce(a.name, a.id) + ' for ' +
       toString(round(ba_amount / 10000.0, 1)) + '万' +
       CASE WHEN newest IS NULL THEN '' ELSE ', newest started ' + toString(newest) END +
       ', scan severity ' + a.risk_severity + ' / ' + b.risk_severity AS reason
ORDER BY entity_id, related_id;
