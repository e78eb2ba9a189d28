// Removes risky clusters and memberships written by another run: after a scan, Neo4j holds exactly this run's
// clusters (a cluster id this run reuses keeps its node, but its memberships of the other run go).
// Rows: one placeholder row; parameters: $run_id, $algorithm.
UNWIND $rows AS placeholder
CALL {
  MATCH (:Enterprise)-[m:IN_CLUSTER]->(:RiskCluster)
  WHERE m.run_id <> $run_id
  DELETE m
}
CALL {
  MATCH (c:RiskCluster)
  WHERE c.run_id <> $run_id
  DETACH DELETE c
}
RETURN count(*) AS rows;
