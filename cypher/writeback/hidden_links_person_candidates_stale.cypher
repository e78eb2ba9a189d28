// Removes same-name person candidates written by another run: Neo4j then holds exactly this run's candidates.
// Rows: one placeholder row; parameters: $run_id, $algorithm.
UNWIND $rows AS placeholder
MATCH (:Person)-[c:SAME_PERSON_CANDIDATE]->(:Person)
WHERE c.run_id <> $run_id
DELETE c;
