// Generated from graphrisk/schema.py by `python -m graphrisk.schema --write-cypher`. Do not edit.
CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT enterprises_id IF NOT EXISTS FOR (n:Enterprise) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT persons_id IF NOT EXISTS FOR (n:Person) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT exposures_key IF NOT EXISTS FOR (n:Facility) REQUIRE n.key IS UNIQUE;
CREATE INDEX guarantee_pattern_id IF NOT EXISTS FOR (p:GuaranteePattern) ON (p.id, p.run_id);
CREATE CONSTRAINT risk_cluster_id IF NOT EXISTS FOR (c:RiskCluster) REQUIRE c.cluster_id IS UNIQUE;
CREATE CONSTRAINT counterparty_group_id IF NOT EXISTS FOR (g:CounterpartyGroup) REQUIRE g.group_id IS UNIQUE;
