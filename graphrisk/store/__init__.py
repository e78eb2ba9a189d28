"""Graph stores. Only graphrisk.store.neo4j imports the Neo4j driver."""
