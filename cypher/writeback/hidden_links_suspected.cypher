// Write suspected links (疑似关联) back: one SUSPECTED_LINK relation per pair of firms, with score and reasons.
// Rows: a_id, b_id, score, reasons, signals, as_of; $run_id and $algorithm name the scan.
UNWIND $rows AS row
MATCH (a:Enterprise {id: row.a_id})
MATCH (b:Enterprise {id: row.b_id})
MERGE (a)-[s:SUSPECTED_LINK]->(b)
SET s.score = row.score,
    s.reasons = row.reasons,
    s.signals = row.signals,
    s.as_of = row.as_of,
    s.run_id = $run_id,
    s.algorithm = $algorithm
RETURN count(*) AS rows;
