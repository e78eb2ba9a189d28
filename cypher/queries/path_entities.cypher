// Which of the given ids are entities (enterprises or persons) in the database.
UNWIND $ids AS id
MATCH (n:Entity {id: id})
RETURN n.id AS id;
