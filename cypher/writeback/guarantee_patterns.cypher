// Write guarantee patterns back: one (:GuaranteePattern) per pattern, linked from each member firm.
// Rows: pattern_id, pattern, member, position, guaranteed_amount, ead, reason, as_of; $run_id and $algorithm
// name the scan.
UNWIND $rows AS row
MATCH (e:Enterprise {id: row.member})
MERGE (p:GuaranteePattern {id: row.pattern_id, run_id: $run_id})
SET p.pattern = row.pattern,
    p.guaranteed_amount = row.guaranteed_amount,
    p.ead = row.ead,
    p.reason = row.reason,
    p.as_of = row.as_of,
    p.algorithm = $algorithm
MERGE (e)-[m:IN_GUARANTEE_PATTERN {run_id: $run_id}]->(p)
SET m.position = row.position
RETURN count(*) AS rows;
