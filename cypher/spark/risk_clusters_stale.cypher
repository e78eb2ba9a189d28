// Removes risky clusters and memberships written by another run, as writeback/risk_clusters_stale.cypher does
// (a cluster id this run reuses keeps its node, but loses the other run's memberships). The connector runs it
// after `UNWIND $events AS event` with one event: run_id.
OPTIONAL MATCH (:Enterprise)-[m:IN_CLUSTER]->(:RiskCluster)
WHERE m.run_id <> event.run_id
DELETE m
WITH DISTINCT event
OPTIONAL MATCH (c:RiskCluster)
WHERE c.run_id <> event.run_id
DETACH DELETE c;
