// The name is a parameter: schema object names are never spliced into Cypher text.
DROP INDEX $name IF EXISTS;
