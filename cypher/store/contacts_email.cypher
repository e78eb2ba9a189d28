// Reified emails: one (:Email {key}) per normalised address (graphrisk.analysis.hidden_links.normalize_email) that
// two or more entities share, with (:Enterprise)-[:HAS_EMAIL]->(m) (and (:Person)-[:HAS_EMAIL]->(m) should persons
// ever carry an email column).
// Rows: key, text (unused), enterprises (ids), persons (ids). Returns the links matched.
UNWIND $rows AS row
MERGE (c:Email {key: row.key})
WITH c, row
CALL (c, row) {
  UNWIND row.enterprises AS id
  MATCH (e:Enterprise {id: id})
  MERGE (e)-[:HAS_EMAIL]->(c)
  RETURN count(*) AS firms
}
CALL (c, row) {
  UNWIND row.persons AS id
  MATCH (p:Person {id: id})
  MERGE (p)-[:HAS_EMAIL]->(c)
  RETURN count(*) AS people
}
RETURN sum(firms + people) AS rows;
