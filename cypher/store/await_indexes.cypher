// Wait until every index is online: a load that starts while they populate would scan instead of seek.
CALL db.awaitIndexes($timeout_s);
