// Delete every node and relationship in batches, so a large graph never needs one huge transaction.
// CALL { ... } IN TRANSACTIONS only runs in an implicit (auto-commit) transaction: Neo4jStore.clear uses session.run.
MATCH (n)
CALL (n) {
  DETACH DELETE n
} IN TRANSACTIONS OF 10000 ROWS;
