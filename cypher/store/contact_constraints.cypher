// Uniqueness of the reified contact identifiers that Neo4jStore.load writes (issue 6 §4): one node per
// normalised address, phone number and email. Hand-written (not generated from graphrisk/schema.py) because these
// nodes are derived from columns, not tables of the schema. Run by Neo4jStore.ensure_schema after
// schema/constraints.cypher; the constraints also give the MERGE on key an index to seek.
CREATE CONSTRAINT address_key IF NOT EXISTS FOR (n:Address) REQUIRE n.key IS UNIQUE;
CREATE CONSTRAINT phone_key IF NOT EXISTS FOR (n:Phone) REQUIRE n.key IS UNIQUE;
CREATE CONSTRAINT email_key IF NOT EXISTS FOR (n:Email) REQUIRE n.key IS UNIQUE;
