// Risky clusters written back by the Spark engine through the connector: one event per cluster (cluster_id,
// score, severity, size, reasons, members: a list of enterprise ids, run_id, algorithm), run after
// `UNWIND $events AS event`. Same effect as writeback/risk_clusters.cypher.
MERGE (c:RiskCluster {cluster_id: event.cluster_id})
SET c.run_id = event.run_id,
    c.algorithm = event.algorithm,
    c.score = event.score,
    c.severity = event.severity,
    c.size = event.size,
    c.reasons = event.reasons
WITH c, event
UNWIND event.members AS member_id
MATCH (e:Enterprise {id: member_id})
MERGE (e)-[m:IN_CLUSTER {run_id: event.run_id}]->(c);
