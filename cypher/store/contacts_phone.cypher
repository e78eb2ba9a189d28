// Reified phone numbers: one (:Phone {key}) per E.164 number (graphrisk.analysis.hidden_links.normalize_phone,
// extension dropped) that two or more entities share, with (:Enterprise)-[:HAS_PHONE]->(p) and
// (:Person)-[:HAS_PHONE]->(p).
// Rows: key, text (unused: a number needs no second spelling), enterprises (ids), persons (ids). Returns the
// links matched.
UNWIND $rows AS row
MERGE (c:Phone {key: row.key})
WITH c, row
CALL (c, row) {
  UNWIND row.enterprises AS id
  MATCH (e:Enterprise {id: id})
  MERGE (e)-[:HAS_PHONE]->(c)
  RETURN count(*) AS firms
}
CALL (c, row) {
  UNWIND row.persons AS id
  MATCH (p:Person {id: id})
  MERGE (p)-[:HAS_PHONE]->(c)
  RETURN count(*) AS people
}
RETURN sum(firms + people) AS rows;
