// Reified addresses: one (:Address {key, text}) per normalised address (graphrisk.analysis.hidden_links
// .normalize_address) that two or more entities share, with (:Enterprise)-[:REGISTERED_AT]->(a) for registered
// addresses and (:Person)-[:LIVES_AT]->(a) for persons' addresses.
// Rows: key, text (an enterprise's spelling, or null), enterprises (ids), persons (ids). Returns the links matched.
UNWIND $rows AS row
MERGE (c:Address {key: row.key})
SET c.text = coalesce(row.text, c.text)
WITH c, row
CALL (c, row) {
  UNWIND row.enterprises AS id
  MATCH (e:Enterprise {id: id})
  MERGE (e)-[:REGISTERED_AT]->(c)
  RETURN count(*) AS firms
}
CALL (c, row) {
  UNWIND row.persons AS id
  MATCH (p:Person {id: id})
  MERGE (p)-[:LIVES_AT]->(c)
  RETURN count(*) AS people
}
RETURN sum(firms + people) AS rows;
