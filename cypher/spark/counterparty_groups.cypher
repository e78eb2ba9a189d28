// Connected-counterparty groups written back by the Spark engine through the Neo4j Connector for Apache Spark.
// The connector runs this after `UNWIND $events AS event`, one event per member: group_id, member_id, basis,
// evidence, ead (the group's total), members, ratio_to_tier1, limit_status, large_exposure, run_id, algorithm.
// It writes what writeback/counterparty_groups.cypher writes for the same rows (tests/test_spark_neo4j.py checks
// that the two graphs are equal); the connector passes no other parameters, so the run id travels in each event.
MATCH (e:Enterprise {id: event.member_id})
MERGE (g:CounterpartyGroup {group_id: event.group_id})
SET g.run_id = event.run_id,
    g.algorithm = event.algorithm,
    g.ead = event.ead,
    g.members = event.members,
    g.ratio_to_tier1 = event.ratio_to_tier1,
    g.limit_status = event.limit_status,
    g.large_exposure = event.large_exposure
MERGE (e)-[m:MEMBER_OF_GROUP {run_id: event.run_id}]->(g)
SET m.basis = event.basis,
    m.evidence = event.evidence,
    m.algorithm = event.algorithm;
