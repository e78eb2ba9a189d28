// Actual controllers written back by the Spark engine through the connector as
// (controller)-[:CONTROLS]->(company): one event per controlled company (controller_id, company_id, share, rule,
// path, run_id, algorithm), run after `UNWIND $events AS event`. Same effect as writeback/ownership_controls.cypher.
MATCH (a:Entity {id: event.controller_id})
MATCH (b:Enterprise {id: event.company_id})
MERGE (a)-[r:CONTROLS]->(b)
SET r.share = event.share,
    r.rule = event.rule,
    r.path = event.path,
    r.run_id = event.run_id,
    r.algorithm = event.algorithm;
