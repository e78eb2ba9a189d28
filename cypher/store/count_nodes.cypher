// Nodes per label. A dynamic label in MATCH lets the planner read the count store instead of scanning.
CALL db.labels() YIELD label
CALL (label) {
  MATCH (n:$(label))
  RETURN count(n) AS count
}
WITH label, count
WHERE count > 0
RETURN label AS name, count
ORDER BY name;
