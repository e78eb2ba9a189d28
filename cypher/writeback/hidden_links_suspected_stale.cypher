// Removes suspected links written by another run: after a scan, Neo4j holds exactly this run's links.
// Rows: one placeholder row; parameters: $run_id, $algorithm.
UNWIND $rows AS placeholder
MATCH (:Enterprise)-[s:SUSPECTED_LINK]->(:Enterprise)
WHERE s.run_id <> $run_id
DELETE s;
