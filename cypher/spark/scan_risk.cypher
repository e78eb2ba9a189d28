// The scan's verdict on each flagged entity, written back by the Spark engine through the Neo4j Connector for
// Apache Spark. The connector runs this after `UNWIND $events AS event`, one event per flagged enterprise or
// person: id, risk_score, risk_severity, risk_flags (list), reasons, run_id, algorithm. Same effect as
// writeback/scan_risk.cypher (tests/test_spark_neo4j_writeback.py compares the two graphs).
MATCH (e:Entity {id: event.id})
SET e.risk_score = event.risk_score,
    e.risk_severity = event.risk_severity,
    e.risk_flags = event.risk_flags,
    e.risk_reasons = event.reasons,
    e.risk_run_id = event.run_id;
