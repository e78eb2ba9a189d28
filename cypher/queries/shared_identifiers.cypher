// A company's shared identifiers (issue 6 §4): every reified Address, Phone and Email the company holds (written by
// `graphrisk load`; only identifiers two or more entities share exist as nodes), how many entities hold each (a
// large count is a hub: a registered-agent address, a call centre), and the other holders.
// Parameters: $company_id; $max_others (int): at most this many other holders listed per identifier.
// One row per identifier: kind ('address' | 'phone' | 'email'), key (the normalised value), text (a firm's
// spelling of an address), holders, enterprises, persons (counts, the company included), others (list of
// {id, kind, name, relation}, firms first, then by id). A company without shared identifiers gives one row with a
// null kind; a company not in the graph gives no row.
MATCH (e:Enterprise {id: $company_id})
OPTIONAL MATCH (e)-[:REGISTERED_AT|HAS_PHONE|HAS_EMAIL]->(c)
WHERE c:Address OR c:Phone OR c:Email
WITH DISTINCT c
CALL (c) {
  MATCH (c)<-[r:REGISTERED_AT|LIVES_AT|HAS_PHONE|HAS_EMAIL]-(h:Entity)
  WITH h, r
  ORDER BY CASE WHEN h:Enterprise THEN 0 ELSE 1 END, h.id
  RETURN count(DISTINCT h) AS holders,
         count(DISTINCT CASE WHEN h:Enterprise THEN h END) AS enterprises,
         count(DISTINCT CASE WHEN h:Person THEN h END) AS persons,
         collect(CASE WHEN h.id <> $company_id THEN {
           id: h.id,
           kind: CASE WHEN h:Enterprise THEN 'enterprise' ELSE 'person' END,
           name: h.name,
           relation: type(r)
         } END)[..$max_others] AS others
}
RETURN CASE WHEN c:Address THEN 'address' WHEN c:Phone THEN 'phone' WHEN c:Email THEN 'email' END AS kind,
       c.key AS key,
       c.text AS text,
       holders,
       enterprises,
       persons,
       others
ORDER BY kind, key;
