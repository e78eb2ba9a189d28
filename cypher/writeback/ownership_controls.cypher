// Actual controllers written back as (controller)-[:CONTROLS {share, rule, path, run_id}]->(company).
// Rows: {controller_id, company_id, share, rule, path}; parameters: $run_id, $algorithm.
UNWIND $rows AS row
MATCH (a:Entity {id: row.controller_id})
MATCH (b:Enterprise {id: row.company_id})
MERGE (a)-[r:CONTROLS]->(b)
SET r.share = row.share,
    r.rule = row.rule,
    r.path = row.path,
    r.run_id = $run_id,
    r.algorithm = $algorithm;
