// Removes guarantee patterns written by another run: after a scan, Neo4j holds exactly this run's patterns.
// Rows: one placeholder row; parameters: $run_id, $algorithm.
UNWIND $rows AS placeholder
MATCH (p:GuaranteePattern)
WHERE p.run_id <> $run_id
DETACH DELETE p;
