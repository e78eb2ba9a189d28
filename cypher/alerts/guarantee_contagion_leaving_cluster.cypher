// alert: guarantee_contagion_leaving_cluster
// severity: high
// finds: a guarantee in force on $as_of that carries the risk of a high-severity RiskCluster to a firm outside
//   it. A guarantee g -> b means g answers for b's loan, so b's default calls g: risk travels against the arrow.
//   The alert is therefore a guarantor outside the cluster standing behind a borrower inside it: a default in the
//   cluster would reach that guarantor.
// parameters: $as_of (date: a guarantee is in force when start_date <= $as_of <= end_date, a missing date is
//   open). $since is not used: the alert holds for as long as the guarantee and the cluster do.
// columns: alert, severity, entity_id, entity_name (the guarantor outside), related_id, related_name (the
//   borrower in the cluster), amount (the guaranteed amounts in force), reason.
MATCH (b:Enterprise)-[:IN_CLUSTER]->(c:RiskCluster {severity: 'high'})
WITH DISTINCT b, c
MATCH (g:Enterprise)-[r:GUARANTEES]->(b)
WHERE NOT EXISTS { (g)-[:IN_CLUSTER]->(c) }
  AND (r.start_date IS NULL OR r.start_date <= $as_of) AND (r.end_date IS NULL OR r.end_date >= $as_of)
WITH g, b, c, sum(coalesce(r.amount, 0.0)) AS amount
RETURN 'guarantee_contagion_leaving_cluster' AS alert,
       'high' AS severity,
       g.id AS entity_id,
       g.name AS entity_name,
       b.id AS related_id,
       b.name AS related_name,
       amount,
       coalesce(g.name, g.id) + ', outside high-severity risk cluster ' + toString(c.cluster_id) +
       CASE WHEN c.score IS NULL THEN '' ELSE ' (score ' + toString(round(c.score, 3)) + ')' END +
       ', guarantees its member ' + coalesce(b.name, b.id) + ' for ' + toString(round(amount / 10000.0, 1)) +
       '万: a default in the cluster would call it' AS reason
ORDER BY entity_id, related_id;
