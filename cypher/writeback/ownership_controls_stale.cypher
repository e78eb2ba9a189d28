// Removes CONTROLS relations written by another run: after a scan, Neo4j holds exactly this run's controllers.
// Rows: one placeholder row; parameters: $run_id, $algorithm.
UNWIND $rows AS placeholder
MATCH ()-[r:CONTROLS]->()
WHERE r.run_id <> $run_id
DELETE r;
