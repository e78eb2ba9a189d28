// Removes connected-counterparty groups and memberships written by another run: after a scan, Neo4j holds exactly
// this run's groups (a group id this run reuses keeps its node, but loses the old run's members).
// Rows: one placeholder row; parameters: $run_id, $algorithm.
UNWIND $rows AS placeholder
OPTIONAL MATCH (:Enterprise)-[m:MEMBER_OF_GROUP]->(:CounterpartyGroup)
WHERE m.run_id <> $run_id
DELETE m
WITH DISTINCT placeholder
OPTIONAL MATCH (g:CounterpartyGroup)
WHERE g.run_id <> $run_id
DETACH DELETE g;
