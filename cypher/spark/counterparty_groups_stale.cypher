// Removes connected-counterparty groups and memberships written by another run, as
// writeback/counterparty_groups_stale.cypher does: run after this run's groups are written, Neo4j then holds
// exactly this run's groups. The connector runs it after `UNWIND $events AS event` with one event: run_id.
OPTIONAL MATCH (:Enterprise)-[m:MEMBER_OF_GROUP]->(:CounterpartyGroup)
WHERE m.run_id <> event.run_id
DELETE m
WITH DISTINCT event
OPTIONAL MATCH (g:CounterpartyGroup)
WHERE g.run_id <> event.run_id
DETACH DELETE g;
