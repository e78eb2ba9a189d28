// Risky clusters (风险团簇) written back: one (:RiskCluster) per cluster, linked from each member firm by
// (:Enterprise)-[:IN_CLUSTER {run_id}]->(:RiskCluster).
// Rows: {cluster_id, score, severity, size, reasons, members (list of enterprise ids)}; parameters: $run_id,
// $algorithm.
UNWIND $rows AS row
MERGE (c:RiskCluster {cluster_id: row.cluster_id})
SET c.run_id = $run_id,
    c.algorithm = $algorithm,
    c.score = row.score,
    c.severity = row.severity,
    c.size = row.size,
    c.reasons = row.reasons
WITH c, row
UNWIND row.members AS member_id
MATCH (e:Enterprise {id: member_id})
MERGE (e)-[m:IN_CLUSTER {run_id: $run_id}]->(c)
RETURN count(*) AS rows;
