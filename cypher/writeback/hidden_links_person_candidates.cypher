// Write same-name person candidates (同名同姓) back: one SAME_PERSON_CANDIDATE relation per pair judged `same` or
// `unsure`, with score and evidence; persons are never merged. Rows: a_id, b_id, name, score, judgement,
// evidence, as_of; $run_id and $algorithm name the scan.
UNWIND $rows AS row
MATCH (a:Person {id: row.a_id})
MATCH (b:Person {id: row.b_id})
MERGE (a)-[c:SAME_PERSON_CANDIDATE]->(b)
SET c.score = row.score,
    c.judgement = row.judgement,
    c.evidence = row.evidence,
    c.as_of = row.as_of,
    c.run_id = $run_id,
    c.algorithm = $algorithm
RETURN count(*) AS rows;
