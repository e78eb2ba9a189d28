// Relationships per type. A dynamic type in MATCH lets the planner read the count store instead of scanning.
CALL db.relationshipTypes() YIELD relationshipType
CALL (relationshipType) {
  MATCH ()-[r:$(relationshipType)]->()
  RETURN count(r) AS count
}
WITH relationshipType, count
WHERE count > 0
RETURN relationshipType AS name, count
ORDER BY name;
